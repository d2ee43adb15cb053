/**
 * NumericDate display: ISO 8601 UTC and a short relative form ("in 59m",
 * "3h 20m ago"). The one formatter of relative times: `decode`, `call`'s
 * diagnosis and `login`'s summary all show a time through it, so one token's
 * exp reads the same everywhere. Pure functions; the clock is a parameter.
 */

/** The largest NumericDate (seconds) a JavaScript Date can show. */
const MAX_SECONDS = 8.64e12;

export interface TimeView {
  /** The claim value as given (seconds since the epoch). */
  readonly epoch: number;
  /** ISO 8601 UTC without fractions, e.g. `2025-01-31T09:30:00Z`; `null` when out of range. */
  readonly iso: string | null;
  /** "in 59m", "3h ago", "now". */
  readonly relative: string;
}

/** `2025-01-31T09:30:00Z` (fractions kept only when the value has them). */
export function isoUtc(seconds: number): string | null {
  if (!Number.isFinite(seconds) || Math.abs(seconds) > MAX_SECONDS) return null;
  const iso = new Date(seconds * 1000).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

/** A duration in seconds as one or two units: `45s`, `59m`, `3h`, `3h 20m`, `2d 4h`, `3y 12d`. */
export function formatDuration(totalSeconds: number): string {
  const s = Math.floor(Math.abs(totalSeconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  const pair = (big: number, bigUnit: string, small: number, smallUnit: string) =>
    small > 0 ? `${big}${bigUnit} ${small}${smallUnit}` : `${big}${bigUnit}`;
  if (s < 86_400) return pair(Math.floor(s / 3600), 'h', Math.floor((s % 3600) / 60), 'm');
  if (s < 365 * 86_400)
    return pair(Math.floor(s / 86_400), 'd', Math.floor((s % 86_400) / 3600), 'h');
  const years = Math.floor(s / (365 * 86_400));
  if (years >= 1000) return `${years}y`;
  return pair(years, 'y', Math.floor((s % (365 * 86_400)) / 86_400), 'd');
}

/** "in 59m" for a time after `nowSeconds`, "3h ago" for one before, "now" within a second. */
export function relativeTo(seconds: number, nowSeconds: number): string {
  const delta = seconds - nowSeconds;
  if (!Number.isFinite(delta)) return 'out of range';
  if (Math.abs(delta) < 1) return 'now';
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(delta)} ago`;
}

export function timeView(seconds: number, nowSeconds: number): TimeView {
  return { epoch: seconds, iso: isoUtc(seconds), relative: relativeTo(seconds, nowSeconds) };
}

/** `2025-01-31T09:30:00Z (in 59m)` */
export function describeTime(seconds: number, nowSeconds: number): string {
  const view = timeView(seconds, nowSeconds);
  return `${view.iso ?? `${seconds} (out of range)`} (${view.relative})`;
}
