/**
 * The counting algorithms of the limits library (docs/limits.md), as pure
 * functions: (rule, stored state, now in epoch ms, cost) -> (answer, next
 * state, when the state may be forgotten). No clock is read here: the
 * caller passes `nowMs` (an injected clock for MemoryStore and the tests).
 * The Lua scripts of RedisStore (redis-scripts.ts) implement the same
 * arithmetic, step for step, and the integration tests hold them to it.
 *
 * Conventions shared by every algorithm:
 *  - times are integer epoch milliseconds (callers floor them);
 *  - a request of `cost` c passes when `used + c <= limit`; a request whose
 *    cost exceeds the limit never passes;
 *  - a passing request is always counted; a refused one only when
 *    `rule.countRefused` (Tyk counts them, Kong's local policy does not);
 *    `mode` (types.ts CountMode) overrides that: `check` counts nothing
 *    (the answer is the same, `remaining` then excludes this request), `add`
 *    counts even a refused request;
 *  - `remaining` is what is left after this request, never below 0;
 *  - `resetMs` is the end of the current window for fixed windows; for the
 *    sliding ones it is, when refused, the first instant a request of the
 *    same cost would pass (nothing else arriving), and when allowed the
 *    next instant the count goes down;
 *  - `retryAfterSeconds` is 0 when allowed, otherwise
 *    ceil((resetMs - now) / 1000), at least 1.
 */
import type { LimitRule } from '../plan.js';
import type { CountMode, LimitState } from './types.js';

/** Whether a request is counted: the mode first, then the rule's countRefused. */
function counts(rule: LimitRule, allowed: boolean, mode: CountMode): boolean {
  if (mode === 'check') return false;
  return allowed || rule.countRefused || mode === 'add';
}

/** A quota that never renews (fixed_from_start with periodMs 0) resets "never": this far ahead. */
export const NEVER_MS = Number.MAX_SAFE_INTEGER;
/** Retry-After of a quota that never renews (one year, in seconds); `neverResets` tells it apart. */
export const NEVER_RETRY_AFTER_SECONDS = 31_536_000;

/** One algorithm step: the answer, the state to keep, and until when it matters. */
export interface Step<S> {
  readonly state: LimitState;
  readonly next: S;
  /** After this instant (epoch ms) the stored state is irrelevant and may be dropped. */
  readonly expiresAtMs: number;
}

/** Builds the answer every algorithm returns, so that the stores agree on rounding. */
export function settle(
  rule: LimitRule,
  allowed: boolean,
  remaining: number,
  resetMs: number,
  nowMs: number,
): LimitState {
  const neverResets = resetMs >= NEVER_MS;
  let retryAfterSeconds = 0;
  if (!allowed) {
    retryAfterSeconds = neverResets
      ? NEVER_RETRY_AFTER_SECONDS
      : Math.max(1, Math.ceil((resetMs - nowMs) / 1000));
  }
  const state: LimitState = {
    rule,
    allowed,
    limit: rule.limit,
    remaining: Math.max(0, remaining),
    resetMs,
    retryAfterSeconds,
  };
  return neverResets ? { ...state, neverResets: true } : state;
}

/** Throws on a rule no algorithm can run (the loaders validate first; this is a last guard). */
export function assertRunnable(rule: LimitRule, cost: number): void {
  if (!Number.isSafeInteger(rule.limit) || rule.limit < 0) {
    throw new RangeError(`limit rule ${rule.id}: limit must be a non-negative integer`);
  }
  if (!Number.isSafeInteger(cost) || cost < 1) {
    throw new RangeError(`limit rule ${rule.id}: cost must be a positive integer`);
  }
  const needsPeriod = rule.algorithm !== 'fixed_calendar' && rule.algorithm !== 'fixed_from_start';
  if (
    !Number.isSafeInteger(rule.periodMs) ||
    rule.periodMs < 0 ||
    (needsPeriod && rule.periodMs === 0)
  ) {
    throw new RangeError(`limit rule ${rule.id}: periodMs must be a positive integer`);
  }
  if (rule.algorithm === 'fixed_calendar' && rule.calendar === undefined) {
    throw new RangeError(`limit rule ${rule.id}: fixed_calendar needs a calendar unit`);
  }
}

// ---------------------------------------------------------------------------
// sliding_log

/** The timestamps of the counted requests, ascending; at most `limit` of them (see below). */
export interface SlidingLogState {
  readonly times: readonly number[];
}

/**
 * sliding_log: Tyk's Redis rolling limiter. At most `limit` requests in any
 * rolling window of `periodMs`: the window at `now` is (now - periodMs, now],
 * so a request counted at t stops counting at exactly t + periodMs.
 *
 * Edge cases:
 *  - refused requests are logged when `countRefused` (Tyk): a client that
 *    keeps sending stays refused until it pauses for a whole period;
 *  - only the newest `limit` timestamps are kept. That changes no answer:
 *    whenever `limit` or more are in the window, the newest `limit` are all
 *    in it (refusal either way, same retry instant); with fewer, all of
 *    them are among the newest `limit`. It bounds memory under a flood.
 *  - refused: resetMs is when the (limit - cost + 1)-th newest entry leaves
 *    the window; cost > limit: now + periodMs (it never passes).
 *  - allowed: resetMs is when the oldest counted entry leaves the window.
 */
export function slidingLog(
  rule: LimitRule,
  prev: SlidingLogState | undefined,
  nowMs: number,
  cost: number,
  mode: CountMode = 'count',
): Step<SlidingLogState> {
  const limit = rule.limit;
  const period = rule.periodMs;
  const cutoff = nowMs - period;
  const times = (prev?.times ?? []).filter((t) => t > cutoff);
  const allowed = times.length + cost <= limit;
  if (counts(rule, allowed, mode)) {
    // Only the newest `limit` are kept, so adding more than `limit` changes nothing.
    for (let i = 0; i < Math.min(cost, limit); i += 1) times.push(nowMs);
    times.sort((a, b) => a - b);
    if (times.length > limit) times.splice(0, times.length - limit);
  }
  const n = times.length;
  let resetMs: number;
  if (allowed) {
    resetMs = n > 0 ? times[0]! + period : nowMs;
  } else if (cost > limit) {
    resetMs = nowMs + period;
  } else {
    resetMs = times[n - (limit - cost) - 1]! + period;
  }
  const newest = n > 0 ? times[n - 1]! : nowMs;
  return {
    state: settle(rule, allowed, limit - n, resetMs, nowMs),
    next: { times },
    expiresAtMs: n > 0 ? newest + period : nowMs,
  };
}

// ---------------------------------------------------------------------------
// sliding_window

/** The current bucket's start and the counts of the current and previous buckets. */
export interface SlidingWindowState {
  readonly start: number;
  readonly current: number;
  readonly previous: number;
}

/**
 * sliding_window: the two-bucket weighted counter (APIM rate-limit-by-key's
 * documented sliding window; oidc-gw's default). Buckets of `periodMs` are
 * aligned to the epoch; at `now`, `elapsed` ms into the current bucket, the
 * count is estimated as
 *
 *     previous * (periodMs - elapsed) / periodMs + current
 *
 * i.e. the previous bucket is assumed to have been spread evenly over its
 * period. That is the approximation: a burst at the very end of the previous
 * bucket weighs less than it really does, so up to about 2 x limit can pass
 * in some rolling period when traffic is bursty, and a burst at its start
 * weighs more (a client can be refused early). Exact for steady traffic.
 *
 * Integer arithmetic: the request passes when
 *     previous * (periodMs - elapsed) <= (limit - cost - current) * periodMs.
 * remaining = limit - current' - ceil(previous * (periodMs - elapsed) / periodMs).
 * Refused: resetMs is the first ms at which a request of the same cost
 * passes (in this bucket, as the previous one's weight decays, or in the
 * next). Allowed: resetMs is the end of the current bucket.
 */
export function slidingWindow(
  rule: LimitRule,
  prev: SlidingWindowState | undefined,
  nowMs: number,
  cost: number,
  mode: CountMode = 'count',
): Step<SlidingWindowState> {
  const limit = rule.limit;
  const period = rule.periodMs;
  const start = Math.floor(nowMs / period) * period;
  let current = 0;
  let previous = 0;
  if (prev !== undefined) {
    if (prev.start === start) {
      current = prev.current;
      previous = prev.previous;
    } else if (prev.start === start - period) {
      previous = prev.current;
    }
  }
  const elapsed = nowMs - start;
  const weighted = previous * (period - elapsed);
  const allowed = weighted <= (limit - cost - current) * period;
  if (counts(rule, allowed, mode)) current += cost;
  const remaining = limit - current - Math.ceil(weighted / period);
  let resetMs: number;
  if (allowed) {
    resetMs = start + period;
  } else {
    resetMs = slidingWindowRetry(limit, period, start, elapsed, previous, current, cost);
  }
  return {
    state: settle(rule, allowed, remaining, resetMs, nowMs),
    next: { start, current, previous },
    expiresAtMs: start + 2 * period,
  };
}

/** The first ms at which a request of `cost` passes a two-bucket counter, nothing else arriving. */
function slidingWindowRetry(
  limit: number,
  period: number,
  start: number,
  elapsed: number,
  previous: number,
  current: number,
  cost: number,
): number {
  const room = limit - cost - current;
  if (room >= 0 && previous > 0) {
    // previous * (period - e) <= room * period  <=>  e >= period * (previous - room) / previous
    const e = Math.ceil((period * (previous - room)) / previous);
    if (e > elapsed && e <= period) return start + e;
  }
  const nextRoom = limit - cost;
  if (nextRoom < 0) return start + elapsed + period; // cost > limit: never passes
  if (current <= nextRoom) return start + period;
  return start + period + Math.ceil((period * (current - nextRoom)) / current);
}

// ---------------------------------------------------------------------------
// fixed windows (calendar, first request, from start)

/** The window a fixed counter counts in, and how much it has counted. */
export interface FixedWindowState {
  readonly start: number;
  readonly count: number;
}

export type CalendarUnit = NonNullable<LimitRule['calendar']>;

const UNIT_MS: Readonly<Record<'second' | 'minute' | 'hour' | 'day', number>> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
};

/**
 * The UTC calendar window holding `nowMs`: [start, end). Seconds to days
 * are fixed lengths from the epoch (Unix time has no leap seconds); a
 * month starts on day 1 at 00:00 UTC and a year on 1 January.
 */
export function calendarWindow(unit: CalendarUnit, nowMs: number): { start: number; end: number } {
  if (unit === 'month' || unit === 'year') {
    const d = new Date(nowMs);
    const y = d.getUTCFullYear();
    if (unit === 'year') return { start: Date.UTC(y, 0, 1), end: Date.UTC(y + 1, 0, 1) };
    const m = d.getUTCMonth();
    return { start: Date.UTC(y, m, 1), end: Date.UTC(y, m + 1, 1) };
  }
  const len = UNIT_MS[unit];
  const start = Math.floor(nowMs / len) * len;
  return { start, end: start + len };
}

/** The shared step of the fixed windows once the window [start, end) is known. */
function fixedStep(
  rule: LimitRule,
  prev: FixedWindowState | undefined,
  start: number,
  end: number,
  nowMs: number,
  cost: number,
  mode: CountMode = 'count',
): Step<FixedWindowState> {
  let count = prev !== undefined && prev.start === start ? prev.count : 0;
  const allowed = count + cost <= rule.limit;
  if (counts(rule, allowed, mode)) count += cost;
  return {
    state: settle(rule, allowed, rule.limit - count, end, nowMs),
    next: { start, count },
    expiresAtMs: end,
  };
}

/**
 * fixed_calendar: Kong's rate-limiting windows, aligned to UTC calendar
 * units (second, minute, hour, day, month from day 1, year from 1 January).
 * Kong's check is `remaining = limit - used before this request`, refused
 * when that is <= 0: the (limit+1)-th request of a window is the first
 * refused. Refused requests count only when `countRefused` (Kong's redis
 * policy increments before checking, its local policy after passing).
 *
 * Edge cases: the window changes at the exact boundary ms (Jan 31
 * 23:59:59.999 is January, Feb 1 00:00:00.000 is February, with a fresh
 * count); resetMs is the window's end; month lengths and leap years follow
 * the UTC calendar.
 */
export function fixedCalendar(
  rule: LimitRule,
  prev: FixedWindowState | undefined,
  nowMs: number,
  cost: number,
  mode: CountMode = 'count',
): Step<FixedWindowState> {
  const { start, end } = calendarWindow(rule.calendar ?? 'minute', nowMs);
  return fixedStep(rule, prev, start, end, nowMs, cost, mode);
}

/**
 * fixed_first_request: Tyk's quota. The window opens at the identity's first
 * request (after the previous window ended) and lasts `periodMs`; blocked
 * requests count too when `countRefused` (Tyk: yes). A window [start,
 * start + periodMs) ends at exactly start + periodMs: a request then opens
 * the next one. resetMs is the window's end.
 */
export function fixedFirstRequest(
  rule: LimitRule,
  prev: FixedWindowState | undefined,
  nowMs: number,
  cost: number,
  mode: CountMode = 'count',
): Step<FixedWindowState> {
  const open = prev !== undefined && nowMs >= prev.start && nowMs < prev.start + rule.periodMs;
  const start = open ? prev.start : nowMs;
  return fixedStep(rule, open ? prev : undefined, start, start + rule.periodMs, nowMs, cost, mode);
}

/**
 * The fixed_from_start window holding `nowMs`: windows of `periodMs` from
 * `startMs` (also before it: floor division); periodMs 0 = one window that
 * never ends.
 */
export function fromStartWindow(rule: LimitRule, nowMs: number): { start: number; end: number } {
  const origin = rule.startMs ?? 0;
  if (rule.periodMs === 0) return { start: origin, end: NEVER_MS };
  const start = origin + Math.floor((nowMs - origin) / rule.periodMs) * rule.periodMs;
  return { start, end: start + rule.periodMs };
}

/**
 * fixed_from_start: APIM quota-by-key. Windows of `periodMs` aligned to
 * `startMs` (APIM `first-period-start`; epoch when absent); `periodMs` 0
 * (APIM renewal-period 0) never resets: resetMs is NEVER_MS, the answer
 * carries `neverResets`, and a refusal's retryAfterSeconds is
 * NEVER_RETRY_AFTER_SECONDS. Requests before `startMs` count in the windows
 * before it (periodMs > 0) or in the single window (periodMs 0).
 */
export function fixedFromStart(
  rule: LimitRule,
  prev: FixedWindowState | undefined,
  nowMs: number,
  cost: number,
  mode: CountMode = 'count',
): Step<FixedWindowState> {
  const { start, end } = fromStartWindow(rule, nowMs);
  return fixedStep(rule, prev, start, end, nowMs, cost, mode);
}

/** Runs the rule's algorithm over whatever state the store kept for it. */
export function step(
  rule: LimitRule,
  prev: unknown,
  nowMs: number,
  cost: number,
  mode: CountMode = 'count',
): Step<SlidingLogState | SlidingWindowState | FixedWindowState> {
  switch (rule.algorithm) {
    case 'sliding_log':
      return slidingLog(rule, prev as SlidingLogState | undefined, nowMs, cost, mode);
    case 'sliding_window':
      return slidingWindow(rule, prev as SlidingWindowState | undefined, nowMs, cost, mode);
    case 'fixed_calendar':
      return fixedCalendar(rule, prev as FixedWindowState | undefined, nowMs, cost, mode);
    case 'fixed_first_request':
      return fixedFirstRequest(rule, prev as FixedWindowState | undefined, nowMs, cost, mode);
    case 'fixed_from_start':
      return fixedFromStart(rule, prev as FixedWindowState | undefined, nowMs, cost, mode);
  }
}
