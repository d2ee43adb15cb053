/**
 * What a response says about rate limits, for `call`'s summary and its note
 * on a 429 (docs/commands/call.md). Pure: headers and a clock in, facts and
 * text out. Read, in this order of preference:
 *
 * - `RateLimit-Limit` / `-Remaining` / `-Reset` (the IETF httpapi draft's
 *   first versions; oidc-gw serve and Kong send them; Reset in seconds from
 *   now);
 * - the structured `RateLimit: limit=10, remaining=0, reset=42` (drafts 03
 *   to 06) or `RateLimit: "default";r=0;t=42` with `RateLimit-Policy:
 *   "default";q=10;w=60` (draft 07 and later);
 * - `X-RateLimit-Limit` / `-Remaining` / `-Reset` (Tyk, GitHub and many
 *   more; a Reset that looks like a Unix time, past the year 2001, is one,
 *   otherwise it is seconds from now), and Kong's per-period
 *   `X-RateLimit-Limit-Minute` / `X-RateLimit-Remaining-Minute`;
 * - `Retry-After` (RFC 9110 §10.2.3): seconds, or an HTTP date.
 */

export interface LimitPeriod {
  readonly period: string;
  readonly limit?: number;
  readonly remaining?: number;
}

export interface LimitFacts {
  /** Which header family gave limit/remaining/reset. */
  readonly source?: 'RateLimit' | 'X-RateLimit';
  readonly limit?: number;
  readonly remaining?: number;
  /** Seconds from now until the window resets. */
  readonly resetSeconds?: number;
  /** Kong's per-period counters, in the order received. */
  readonly periods: readonly LimitPeriod[];
  /** From Retry-After, in seconds from now (an HTTP date converted). */
  readonly retryAfterSeconds?: number;
}

/** A Unix time in seconds is at least this (September 2001): smaller resets are deltas. */
const EPOCH_SECONDS_FLOOR = 1_000_000_000;

function first(
  headers: ReadonlyArray<readonly [string, string]>,
  name: string,
): string | undefined {
  for (const [n, v] of headers) if (n.toLowerCase() === name) return v;
  return undefined;
}

function count(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  // A list (`10, 10;w=1`): the first member counts.
  const head = (text.split(',')[0] ?? '').split(';')[0]?.trim() ?? '';
  return /^\d{1,15}$/.test(head) ? Number(head) : undefined;
}

/** `key=value` members of a structured header (parameters and list members alike). */
function params(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(/[;,]/)) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const key = part.slice(0, eq).trim().toLowerCase();
    if (!out.has(key))
      out.set(
        key,
        part
          .slice(eq + 1)
          .trim()
          .replace(/^"|"$/g, ''),
      );
  }
  return out;
}

/** Retry-After: delta seconds, or an HTTP date (seconds from `nowMs`, at least 0). */
export function parseRetryAfter(text: string | undefined, nowMs: number): number | undefined {
  if (text === undefined) return undefined;
  const trimmed = text.trim();
  if (/^\d{1,15}$/.test(trimmed)) return Number(trimmed);
  if (!/[a-z]/i.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - nowMs) / 1000));
}

/** The limit facts of a response, or undefined when it says nothing about limits. */
export function readLimitHeaders(
  headers: ReadonlyArray<readonly [string, string]>,
  nowMs: number,
): LimitFacts | undefined {
  let source: LimitFacts['source'];
  let limit = count(first(headers, 'ratelimit-limit'));
  let remaining = count(first(headers, 'ratelimit-remaining'));
  let resetSeconds = count(first(headers, 'ratelimit-reset'));
  if (limit !== undefined || remaining !== undefined || resetSeconds !== undefined) {
    source = 'RateLimit';
  } else {
    const structured = first(headers, 'ratelimit');
    if (structured !== undefined) {
      const p = params(structured);
      const policy = params(first(headers, 'ratelimit-policy') ?? '');
      limit = count(p.get('limit') ?? policy.get('q'));
      remaining = count(p.get('remaining') ?? p.get('r'));
      resetSeconds = count(p.get('reset') ?? p.get('t'));
      if (limit !== undefined || remaining !== undefined || resetSeconds !== undefined)
        source = 'RateLimit';
    }
  }
  if (source === undefined) {
    limit = count(first(headers, 'x-ratelimit-limit'));
    remaining = count(first(headers, 'x-ratelimit-remaining'));
    const reset = count(first(headers, 'x-ratelimit-reset'));
    resetSeconds =
      reset === undefined
        ? undefined
        : reset >= EPOCH_SECONDS_FLOOR
          ? Math.max(0, Math.ceil(reset - nowMs / 1000))
          : reset;
    if (limit !== undefined || remaining !== undefined || resetSeconds !== undefined)
      source = 'X-RateLimit';
  }
  const byPeriod = new Map<string, { limit?: number; remaining?: number }>();
  for (const [name, value] of headers) {
    const m = /^x-ratelimit-(limit|remaining)-([a-z0-9_-]{1,32})$/i.exec(name);
    const n = count(value);
    if (!m || n === undefined) continue;
    const period = (m[2] as string).toLowerCase();
    const entry = byPeriod.get(period) ?? {};
    if ((m[1] as string).toLowerCase() === 'limit') entry.limit ??= n;
    else entry.remaining ??= n;
    byPeriod.set(period, entry);
  }
  const periods: LimitPeriod[] = [...byPeriod].map(([period, e]) => ({ period, ...e }));
  const retryAfterSeconds = parseRetryAfter(first(headers, 'retry-after'), nowMs);
  if (source === undefined && periods.length === 0 && retryAfterSeconds === undefined)
    return undefined;
  return {
    ...(source !== undefined ? { source } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(remaining !== undefined ? { remaining } : {}),
    ...(resetSeconds !== undefined ? { resetSeconds } : {}),
    periods,
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
  };
}

/** `5 s`, `2 min 5 s`, `3 h 20 min`, `2 d 4 h`. */
export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
  if (s < 86_400) {
    const m = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ''}`;
  }
  const h = Math.floor((s % 86_400) / 3600);
  return `${Math.floor(s / 86_400)} d${h ? ` ${h} h` : ''}`;
}

/** For the summary line: `limit 10, 3 left, resets in 42 s` (parts the response gave). */
export function limitSummary(f: LimitFacts): string | undefined {
  const parts: string[] = [];
  if (f.limit !== undefined) parts.push(`limit ${f.limit}`);
  if (f.remaining !== undefined) parts.push(`${f.remaining} left`);
  if (f.resetSeconds !== undefined) parts.push(`resets in ${formatSeconds(f.resetSeconds)}`);
  if (parts.length === 0) {
    for (const p of f.periods) {
      if (p.limit !== undefined && p.remaining !== undefined)
        parts.push(`${p.remaining}/${p.limit} left this ${p.period}`);
    }
  }
  return parts.length > 0 ? parts.join(', ') : undefined;
}

/**
 * The note on a refusal for too many requests: when to retry, from
 * Retry-After, else from the limit's reset; `nowMs` gives the clock time.
 */
export function retryNote(f: LimitFacts | undefined, nowMs: number): string {
  const seconds = f?.retryAfterSeconds ?? f?.resetSeconds;
  if (seconds === undefined) return 'the server did not say when to retry (no Retry-After)';
  const at = new Date(nowMs + seconds * 1000).toISOString().slice(11, 19);
  const from =
    f?.retryAfterSeconds !== undefined
      ? 'Retry-After'
      : f?.source === 'X-RateLimit'
        ? 'X-RateLimit-Reset'
        : 'RateLimit-Reset';
  return `retry in ${formatSeconds(seconds)}, at ${at} UTC (${from})`;
}
