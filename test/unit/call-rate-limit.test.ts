/**
 * `call`'s reading of rate-limit headers (src/core/call/rate-limit.ts):
 * every header family it takes, Retry-After as seconds and as a date, and
 * the text of the summary and the retry note.
 */
import { describe, expect, it } from 'vitest';
import {
  formatSeconds,
  limitSummary,
  parseRetryAfter,
  readLimitHeaders,
  retryNote,
} from '../../src/core/call/rate-limit.js';

const NOW = Date.parse('2026-03-01T12:00:00.000Z');

describe('readLimitHeaders', () => {
  it('RateLimit-Limit/-Remaining/-Reset (seconds from now), names in any case', () => {
    expect(
      readLimitHeaders(
        [
          ['RateLimit-Limit', '10'],
          ['ratelimit-remaining', '3'],
          ['RATELIMIT-RESET', '42'],
        ],
        NOW,
      ),
    ).toEqual({ source: 'RateLimit', limit: 10, remaining: 3, resetSeconds: 42, periods: [] });
  });

  it('the structured RateLimit header of the drafts, old and new', () => {
    expect(
      readLimitHeaders([['ratelimit', 'limit=100, remaining=50, reset=60']], NOW),
    ).toMatchObject({ source: 'RateLimit', limit: 100, remaining: 50, resetSeconds: 60 });
    expect(
      readLimitHeaders(
        [
          ['ratelimit', '"default";r=0;t=7'],
          ['ratelimit-policy', '"default";q=5;w=60'],
        ],
        NOW,
      ),
    ).toMatchObject({ source: 'RateLimit', limit: 5, remaining: 0, resetSeconds: 7 });
  });

  it('X-RateLimit-Reset: a Unix time (Tyk, GitHub) or seconds from now', () => {
    const epoch = String(NOW / 1000 + 90);
    expect(
      readLimitHeaders(
        [
          ['x-ratelimit-limit', '20'],
          ['x-ratelimit-remaining', '0'],
          ['x-ratelimit-reset', epoch],
        ],
        NOW,
      ),
    ).toMatchObject({ source: 'X-RateLimit', limit: 20, remaining: 0, resetSeconds: 90 });
    expect(readLimitHeaders([['x-ratelimit-reset', '30']], NOW)?.resetSeconds).toBe(30);
  });

  it("Kong's per-period headers", () => {
    const f = readLimitHeaders(
      [
        ['x-ratelimit-limit-minute', '5'],
        ['x-ratelimit-remaining-minute', '4'],
        ['x-ratelimit-limit-hour', '100'],
        ['x-ratelimit-remaining-hour', '99'],
      ],
      NOW,
    );
    expect(f?.periods).toEqual([
      { period: 'minute', limit: 5, remaining: 4 },
      { period: 'hour', limit: 100, remaining: 99 },
    ]);
    expect(limitSummary(f!)).toBe('4/5 left this minute, 99/100 left this hour');
  });

  it('nothing about limits: undefined; malformed numbers are ignored', () => {
    expect(readLimitHeaders([['content-type', 'text/plain']], NOW)).toBeUndefined();
    expect(readLimitHeaders([['ratelimit-limit', 'lots']], NOW)).toBeUndefined();
    expect(readLimitHeaders([['ratelimit-limit', '-1']], NOW)).toBeUndefined();
  });
});

describe('Retry-After', () => {
  it('seconds, or an HTTP date (never negative)', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120);
    expect(parseRetryAfter('Sun, 01 Mar 2026 12:01:30 GMT', NOW)).toBe(90);
    expect(parseRetryAfter('Sun, 01 Mar 2026 11:00:00 GMT', NOW)).toBe(0);
    expect(parseRetryAfter('soon', NOW)).toBeUndefined();
    expect(parseRetryAfter('1.5', NOW)).toBeUndefined();
  });
});

describe('text', () => {
  it('the summary part and the retry note', () => {
    const f = readLimitHeaders(
      [
        ['ratelimit-limit', '10'],
        ['ratelimit-remaining', '0'],
        ['ratelimit-reset', '42'],
        ['retry-after', '42'],
      ],
      NOW,
    )!;
    expect(limitSummary(f)).toBe('limit 10, 0 left, resets in 42 s');
    expect(retryNote(f, NOW)).toBe('retry in 42 s, at 12:00:42 UTC (Retry-After)');
    const resetOnly = readLimitHeaders([['x-ratelimit-reset', '3600']], NOW);
    expect(retryNote(resetOnly, NOW)).toBe('retry in 1 h, at 13:00:00 UTC (X-RateLimit-Reset)');
    expect(retryNote(undefined, NOW)).toBe('the server did not say when to retry (no Retry-After)');
  });

  it('formatSeconds', () => {
    expect(formatSeconds(0)).toBe('0 s');
    expect(formatSeconds(59)).toBe('59 s');
    expect(formatSeconds(125)).toBe('2 min 5 s');
    expect(formatSeconds(3600 + 20 * 60)).toBe('1 h 20 min');
    expect(formatSeconds(2 * 86_400 + 4 * 3600)).toBe('2 d 4 h');
  });
});
