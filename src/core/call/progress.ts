/** Sizes, the progress bar and the one-line summary of `call`, as text. Pure. */

/** "512 B", "1.5 KiB", "3.2 MiB", "1.1 GiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${s % 60}s`;
}

export interface ProgressState {
  readonly received: number;
  /** Content-Length, when the server gave one. */
  readonly total: number | undefined;
  readonly elapsedMs: number;
  /** Terminal width (default 80). */
  readonly columns?: number;
}

/**
 * One line for stderr: `[#######.......]  45%  4.5 MiB / 10 MiB  2.1 MiB/s`,
 * or, with no known length, `4.5 MiB  2.1 MiB/s`.
 */
export function progressLine(s: ProgressState): string {
  const rate = s.elapsedMs > 0 ? (s.received * 1000) / s.elapsedMs : 0;
  const speed = `${formatBytes(Math.round(rate))}/s`;
  if (s.total === undefined || s.total <= 0) return `${formatBytes(s.received)}  ${speed}`;
  const fraction = Math.min(1, s.received / s.total);
  const pct = `${Math.floor(fraction * 100)}%`.padStart(4);
  const tail = `  ${pct}  ${formatBytes(s.received)} / ${formatBytes(s.total)}  ${speed}`;
  const width = Math.max(10, Math.min(40, (s.columns ?? 80) - tail.length - 3));
  const filled = Math.round(fraction * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]${tail}`;
}

/** The bar is worth showing: the body is large (over `threshold` bytes) or of unknown length. */
export function wantsProgress(total: number | undefined, threshold = 1024 * 1024): boolean {
  return total === undefined || total > threshold;
}

/** `200 OK · 35 ms · 1.2 KiB`. */
export function summaryLine(status: number, statusText: string, ms: number, bytes: number): string {
  return `${status}${statusText ? ` ${statusText}` : ''} · ${formatMs(ms)} · ${formatBytes(bytes)}`;
}
