/** The one relative-time formatter (src/core/jwt/time.ts) and the commands that show times through it. */
import { describe, expect, test } from 'vitest';
import { describeTime, formatDuration, relativeTo } from '../../src/core/jwt/time.js';
import { summaryLines } from '../../src/services/login.js';
import type { TokenSet } from '../../src/core/token-set.js';

const NOW = 1_700_000_000;

describe('formatDuration: one or two units', () => {
  test.each([
    [0, '0s'],
    [45, '45s'],
    [59.9, '59s'],
    [60, '1m'],
    [3599, '59m'],
    [3600, '1h'],
    [7500, '2h 5m'],
    [3 * 3600 + 20 * 60, '3h 20m'],
    [86_400, '1d'],
    [90_000, '1d 1h'],
    [2 * 86_400 + 4 * 3600, '2d 4h'],
    [400 * 86_400, '1y 35d'],
    [5000 * 365 * 86_400, '5000y'],
    [-180, '3m'],
  ])('%s s -> %s', (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe('relativeTo', () => {
  test.each([
    [NOW + 59, 'in 59s'],
    [NOW + 3540, 'in 59m'],
    [NOW + 3600, 'in 1h'],
    [NOW + 7500, 'in 2h 5m'],
    [NOW - 180, '3m ago'],
    [NOW - 7200, '2h ago'],
    [NOW + 90_000, 'in 1d 1h'],
    [NOW, 'now'],
    [NOW + 0.5, 'now'],
    [NOW - 0.5, 'now'],
    [Number.POSITIVE_INFINITY, 'out of range'],
  ])('%s -> %s', (at, text) => {
    expect(relativeTo(at, NOW)).toBe(text);
  });

  test('describeTime: ISO 8601 UTC and the relative form', () => {
    expect(describeTime(NOW + 3600, NOW)).toBe('2023-11-14T23:13:20Z (in 1h)');
    expect(describeTime(1e15, NOW)).toMatch(/^1000000000000000 \(out of range\) \(in \d+y\)$/);
  });
});

describe('every caller shows a time the same way', () => {
  test("login's summary uses the same words as decode", () => {
    const tokens: TokenSet = {
      access_token: 'at',
      expires_at: NOW + 7500,
      issuer: 'https://idp.example/',
      client_id: 'cli',
      grant: 'authorization_code',
      obtained_at: NOW,
    };
    const lines = summaryLines({ tokens, claims: undefined }, 'default', NOW);
    expect(lines).toContain(`  access token:  expires ${describeTime(NOW + 7500, NOW)}`);
    expect(lines.join('\n')).toContain('(in 2h 5m)');
  });
});
