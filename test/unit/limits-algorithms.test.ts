/**
 * The counting algorithms (src/gateway/limits/algorithms.ts) against an
 * injected clock: window edges at the exact ms, calendar rollovers, refused
 * requests counted or not, remaining / reset / Retry-After values.
 */
import { describe, expect, it } from 'vitest';
import type { LimitAlgorithm, LimitRule } from '../../src/gateway/plan.js';
import {
  NEVER_MS,
  NEVER_RETRY_AFTER_SECONDS,
  assertRunnable,
  calendarWindow,
  step,
  type Step,
} from '../../src/gateway/limits/algorithms.js';
import type { LimitState } from '../../src/gateway/limits/types.js';

function rule(
  algorithm: LimitAlgorithm,
  limit: number,
  periodMs: number,
  extra: Partial<LimitRule> = {},
): LimitRule {
  return {
    id: 'r',
    kind: 'rate',
    algorithm,
    limit,
    periodMs,
    countRefused: false,
    key: { by: 'claim', claim: ['sub'] },
    label: 'test',
    ...extra,
  };
}

/** Runs hits through one algorithm, keeping its state as a store would. */
function runner(r: LimitRule) {
  let held: unknown;
  let expires = -Infinity;
  return {
    hit(nowMs: number, cost = 1): LimitState {
      const out: Step<unknown> = step(r, expires > nowMs ? held : undefined, nowMs, cost);
      held = out.next;
      expires = out.expiresAtMs;
      return out.state;
    },
    get next(): unknown {
      return held;
    },
  };
}

const brief = (s: LimitState) => [s.allowed, s.remaining, s.resetMs, s.retryAfterSeconds];

describe('sliding_log (Tyk rolling limiter)', () => {
  it('allows N in any rolling window; the entry at exactly now - period no longer counts', () => {
    const r = runner(rule('sliding_log', 3, 1000));
    expect(brief(r.hit(0))).toEqual([true, 2, 1000, 0]);
    expect(brief(r.hit(1))).toEqual([true, 1, 1000, 0]);
    expect(brief(r.hit(2))).toEqual([true, 0, 1000, 0]);
    // Refused: the oldest entry (t=0) leaves the window at 1000.
    expect(brief(r.hit(3))).toEqual([false, 0, 1000, 1]);
    expect(r.hit(999).allowed).toBe(false);
    // Window (0, 1000]: t=0 is out, so one request passes.
    expect(brief(r.hit(1000))).toEqual([true, 0, 1001, 0]);
    expect(r.hit(1000).allowed).toBe(false);
  });

  it('counts refused requests when countRefused (a client that keeps sending stays blocked)', () => {
    const counting = runner(rule('sliding_log', 3, 1000, { countRefused: true }));
    const plain = runner(rule('sliding_log', 3, 1000));
    for (const t of [0, 1, 2]) {
      counting.hit(t);
      plain.hit(t);
    }
    expect(brief(counting.hit(500))).toEqual([false, 0, 1001, 1]);
    expect(brief(plain.hit(500))).toEqual([false, 0, 1000, 1]);
    // At 1000 t=0 has left: the plain log lets one in, the counting one still holds 1, 2, 500.
    expect(plain.hit(1000).allowed).toBe(true);
    expect(counting.hit(1000).allowed).toBe(false);
    expect(counting.hit(1001).allowed).toBe(false);
    expect(counting.hit(1499).allowed).toBe(false);
    // Only the newest `limit` entries are kept; free again once 1000 has left.
    expect(counting.next).toEqual({ times: [1000, 1001, 1499] });
    expect(counting.hit(1999).allowed).toBe(false);
    expect(counting.hit(2000).allowed).toBe(false);
  });

  it('a request costing more than the limit never passes; retry after one period', () => {
    const r = runner(rule('sliding_log', 2, 10_000));
    expect(brief(r.hit(5, 3))).toEqual([false, 2, 10_005, 10]);
    expect(brief(r.hit(6, 2))).toEqual([true, 0, 10_006, 0]);
  });

  it('with a cost, the retry instant is when enough entries have left', () => {
    const r = runner(rule('sliding_log', 4, 1000));
    r.hit(0);
    r.hit(100);
    r.hit(200);
    // 3 in the window, cost 2 needs one gone: the one at 0 leaves at 1000.
    expect(brief(r.hit(300, 2))).toEqual([false, 1, 1000, 1]);
    expect(r.hit(999, 2).allowed).toBe(false);
    expect(r.hit(1000, 2).allowed).toBe(true);
  });
});

describe('sliding_window (two-bucket weighted counter)', () => {
  it('weights the previous bucket by the part of it still inside the window', () => {
    const r = runner(rule('sliding_window', 10, 60_000));
    for (let i = 0; i < 10; i += 1) expect(r.hit(i).allowed).toBe(true);
    const refused = r.hit(10);
    expect(refused.allowed).toBe(false);
    // Next bucket: 10 * (60000 - e) <= 9 * 60000  <=>  e >= 6000.
    expect(refused.resetMs).toBe(66_000);
    expect(refused.retryAfterSeconds).toBe(66);
    expect(r.hit(65_999).allowed).toBe(false);
    const first = r.hit(66_000);
    expect(first.allowed).toBe(true);
    // Estimate after: 10 * 54000 / 60000 = 9, plus this one: 0 left.
    expect(first.remaining).toBe(0);
    expect(first.resetMs).toBe(120_000);
  });

  it('remaining rounds the weighted previous count up', () => {
    const r = runner(rule('sliding_window', 10, 60_000));
    for (let i = 0; i < 5; i += 1) r.hit(59_000 + i);
    // 30000 ms into the next bucket: 5 * 0.5 = 2.5 -> 3, plus this one.
    expect(brief(r.hit(90_000))).toEqual([true, 6, 120_000, 0]);
    // Two buckets later the past is gone.
    expect(r.hit(200_000).remaining).toBe(9);
  });

  it('refused requests count only with countRefused', () => {
    const plain = runner(rule('sliding_window', 2, 1000));
    const counting = runner(rule('sliding_window', 2, 1000, { countRefused: true }));
    for (const r of [plain, counting]) {
      r.hit(0);
      r.hit(1);
      expect(r.hit(2).allowed).toBe(false);
    }
    expect(plain.next).toEqual({ start: 0, current: 2, previous: 0 });
    expect(counting.next).toEqual({ start: 0, current: 3, previous: 0 });
    // Next bucket at 1500 (half the previous still weighs): 2*0.5=1 -> 1 passes; 3*0.5=1.5 -> 0.
    expect(plain.hit(1500).allowed).toBe(true);
    expect(counting.hit(1500).allowed).toBe(false);
  });

  it('the retry instant inside the current bucket, as the previous bucket decays', () => {
    const r = runner(rule('sliding_window', 4, 1000));
    for (let i = 0; i < 4; i += 1) r.hit(900 + i);
    const s = r.hit(1100);
    // previous 4, current 0, room 3: 4 * (1000 - e) <= 3000  <=>  e >= 250.
    expect([s.allowed, s.resetMs, s.retryAfterSeconds]).toEqual([false, 1250, 1]);
    expect(r.hit(1249).allowed).toBe(false);
    expect(r.hit(1250).allowed).toBe(true);
  });
});

describe('fixed_calendar (Kong)', () => {
  const at = (iso: string) => Date.parse(iso);

  it('the limit+1-th request of a minute is the first refused; the next minute starts fresh', () => {
    const r = runner(rule('fixed_calendar', 2, 60_000, { calendar: 'minute' }));
    const end = at('2027-03-10T12:01:00.000Z');
    expect(brief(r.hit(at('2027-03-10T12:00:00.000Z')))).toEqual([true, 1, end, 0]);
    expect(brief(r.hit(at('2027-03-10T12:00:59.000Z')))).toEqual([true, 0, end, 0]);
    expect(brief(r.hit(at('2027-03-10T12:00:59.999Z')))).toEqual([false, 0, end, 1]);
    expect(brief(r.hit(at('2027-03-10T12:01:00.000Z')))).toEqual([
      true,
      1,
      at('2027-03-10T12:02:00.000Z'),
      0,
    ]);
  });

  it('a month is the calendar month: Jan 31 23:59:59.999 -> Feb 1', () => {
    const r = runner(rule('fixed_calendar', 1, 0, { calendar: 'month' }));
    const feb1 = at('2027-02-01T00:00:00.000Z');
    expect(brief(r.hit(at('2027-01-31T23:59:59.998Z')))).toEqual([true, 0, feb1, 0]);
    expect(brief(r.hit(at('2027-01-31T23:59:59.999Z')))).toEqual([false, 0, feb1, 1]);
    expect(brief(r.hit(feb1))).toEqual([true, 0, at('2027-03-01T00:00:00.000Z'), 0]);
    const s = r.hit(at('2027-02-15T00:00:00.000Z'));
    expect(s.retryAfterSeconds).toBe(14 * 86_400);
  });

  it('calendar windows: leap February, year from 1 January, day, hour, second', () => {
    expect(calendarWindow('month', at('2028-02-29T12:00:00Z'))).toEqual({
      start: at('2028-02-01T00:00:00Z'),
      end: at('2028-03-01T00:00:00Z'),
    });
    expect(calendarWindow('month', at('2027-12-31T23:59:59.999Z'))).toEqual({
      start: at('2027-12-01T00:00:00Z'),
      end: at('2028-01-01T00:00:00Z'),
    });
    expect(calendarWindow('year', at('2027-07-04T00:00:00Z'))).toEqual({
      start: at('2027-01-01T00:00:00Z'),
      end: at('2028-01-01T00:00:00Z'),
    });
    expect(calendarWindow('day', at('2027-07-04T23:59:59.999Z')).end).toBe(
      at('2027-07-05T00:00:00Z'),
    );
    expect(calendarWindow('hour', at('2027-07-04T10:30:00Z')).start).toBe(
      at('2027-07-04T10:00:00Z'),
    );
    expect(calendarWindow('second', 1_500)).toEqual({ start: 1000, end: 2000 });
  });

  it('refused requests count only with countRefused (Kong redis policy vs local)', () => {
    const plain = runner(rule('fixed_calendar', 5, 1000, { calendar: 'second' }));
    const counting = runner(
      rule('fixed_calendar', 5, 1000, { calendar: 'second', countRefused: true }),
    );
    for (const r of [plain, counting]) {
      r.hit(0, 4);
      expect(r.hit(1, 2).allowed).toBe(false);
    }
    expect(plain.hit(2).allowed).toBe(true);
    expect(counting.hit(2).allowed).toBe(false);
    expect(counting.next).toEqual({ start: 0, count: 7 });
  });
});

describe('fixed_first_request (Tyk quota)', () => {
  it('the window opens at the first request and ends exactly period later', () => {
    const r = runner(rule('fixed_first_request', 2, 1000, { countRefused: true }));
    expect(brief(r.hit(500))).toEqual([true, 1, 1500, 0]);
    expect(brief(r.hit(600))).toEqual([true, 0, 1500, 0]);
    expect(brief(r.hit(700))).toEqual([false, 0, 1500, 1]);
    expect(r.next).toEqual({ start: 500, count: 3 });
    expect(r.hit(1499).allowed).toBe(false);
    expect(brief(r.hit(1500))).toEqual([true, 1, 2500, 0]);
  });

  it('an idle gap: the next window opens at the next request, not at the old boundary', () => {
    const r = runner(rule('fixed_first_request', 1, 1000));
    r.hit(0);
    expect(brief(r.hit(5_300))).toEqual([true, 0, 6_300, 0]);
  });
});

describe('fixed_from_start (APIM quota-by-key)', () => {
  it('windows of period from startMs, before it too', () => {
    const r = runner(rule('fixed_from_start', 1, 500, { startMs: 1000 }));
    expect(brief(r.hit(1200))).toEqual([true, 0, 1500, 0]);
    expect(brief(r.hit(1499))).toEqual([false, 0, 1500, 1]);
    expect(brief(r.hit(1500))).toEqual([true, 0, 2000, 0]);
    expect(brief(r.hit(900))).toEqual([true, 0, 1000, 0]);
  });

  it('periodMs 0 never resets', () => {
    const r = runner(rule('fixed_from_start', 2, 0, { startMs: 0 }));
    expect(r.hit(1).allowed).toBe(true);
    expect(r.hit(10 ** 12).allowed).toBe(true);
    const s = r.hit(2 * 10 ** 12);
    expect(s).toMatchObject({
      allowed: false,
      remaining: 0,
      resetMs: NEVER_MS,
      retryAfterSeconds: NEVER_RETRY_AFTER_SECONDS,
      neverResets: true,
    });
  });
});

describe('guards', () => {
  it('refuses a cost that is not a positive integer and a rule without its period or unit', () => {
    const ok = rule('sliding_log', 1, 1000);
    expect(() => assertRunnable(ok, 1)).not.toThrow();
    expect(() => assertRunnable(ok, 0)).toThrow(RangeError);
    expect(() => assertRunnable(ok, 1.5)).toThrow(RangeError);
    expect(() => assertRunnable(rule('sliding_window', 1, 0), 1)).toThrow(RangeError);
    expect(() => assertRunnable(rule('fixed_calendar', 1, 0), 1)).toThrow(RangeError);
    expect(() => assertRunnable(rule('fixed_from_start', 1, 0), 1)).not.toThrow();
    expect(() => assertRunnable(rule('fixed_first_request', -1, 10), 1)).toThrow(RangeError);
  });
});
