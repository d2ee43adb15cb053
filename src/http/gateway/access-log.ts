/**
 * One line per request on stderr (docs/commands/serve.md: Log): method, path without
 * the query string, status, duration, sub, iss and the refusal reason code.
 * JSON lines when stderr is not a terminal (or --log-format json), a short
 * coloured line otherwise. Never a token: the Authorization header is never
 * read here, the query string is cut off, and anything in the path that
 * looks like a JWT is masked. Lines are batched into one write per tick.
 */
import type { ChalkInstance } from 'chalk';

export type LogFormat = 'json' | 'pretty';

export interface AccessEntry {
  readonly method: string;
  /** The request target as received (the query string is removed here). */
  readonly url: string;
  readonly status: number;
  readonly durationMs: number;
  readonly sub?: string | undefined;
  readonly iss?: string | undefined;
  /** Refusal or failure reason code; absent when forwarded. */
  readonly reason?: string | undefined;
  /** The API of the plan that took the request. */
  readonly api?: string | undefined;
  /** The limit that refused the request, and whose counter (hashed when a secret). */
  readonly limit?: string | undefined;
  readonly key?: string | undefined;
  /** An emulated gateway's own name for the refusal (APIM's TokenExpired...). */
  readonly gatewayReason?: string | undefined;
}

const JWT_LIKE = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const MAX_PATH = 512;

/** The path for a log line: no query string, JWT-looking parts masked, bounded. */
export function logPath(url: string): string {
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  if (path.includes('eyJ')) path = path.replace(JWT_LIKE, (m) => `${m.slice(0, 6)}…`);
  return path.length > MAX_PATH ? `${path.slice(0, MAX_PATH)}…` : path;
}

function bounded(value: string | undefined, max = 256): string | undefined {
  if (value === undefined) return undefined;
  return value.length > max ? `${value.slice(0, max)}…` : value;
}

export class AccessLog {
  private pending: string[] = [];
  private scheduled = false;

  constructor(
    private readonly write: (text: string) => void,
    readonly format: LogFormat,
    private readonly style: ChalkInstance,
    private readonly now: () => number = Date.now,
  ) {}

  private isoMs = -1;
  private isoText = '';

  /** The ISO time of `ms`, computed once per millisecond (many requests share one under load). */
  private iso(ms: number): string {
    if (ms !== this.isoMs) {
      this.isoMs = ms;
      this.isoText = new Date(ms).toISOString();
    }
    return this.isoText;
  }

  request(e: AccessEntry): void {
    const path = logPath(e.url);
    const duration = Math.round(e.durationMs * 1000) / 1000;
    if (this.format === 'json') {
      // Built by hand in a fixed field order (faster than JSON.stringify of an object);
      // every string goes through JSON.stringify, so the line is always valid JSON.
      let line = `{"time":"${this.iso(this.now())}","method":${JSON.stringify(e.method)},"path":${JSON.stringify(path)},"status":${e.status},"duration_ms":${duration}`;
      if (e.api !== undefined) line += `,"api":${JSON.stringify(e.api)}`;
      if (e.sub !== undefined) line += `,"sub":${JSON.stringify(bounded(e.sub))}`;
      if (e.iss !== undefined) line += `,"iss":${JSON.stringify(bounded(e.iss))}`;
      if (e.reason !== undefined) line += `,"reason":${JSON.stringify(e.reason)}`;
      if (e.gatewayReason !== undefined)
        line += `,"gateway_reason":${JSON.stringify(e.gatewayReason)}`;
      if (e.limit !== undefined) line += `,"limit":${JSON.stringify(e.limit)}`;
      if (e.key !== undefined) line += `,"key":${JSON.stringify(bounded(e.key))}`;
      this.push(`${line}}`);
      return;
    }
    const s = this.style;
    const status =
      e.status < 300
        ? s.green(String(e.status))
        : e.status < 500
          ? s.yellow(String(e.status))
          : s.red(String(e.status));
    let line = `${s.dim(this.iso(this.now()).slice(11, 23))} ${e.method.replace(CONTROL, '?')} ${path.replace(CONTROL, '?')} ${status} ${duration.toFixed(1)}ms`;
    if (e.sub !== undefined) line += ` sub=${bounded(e.sub, 64)?.replace(CONTROL, '?')}`;
    if (e.iss !== undefined) line += s.dim(` iss=${bounded(e.iss, 96)?.replace(CONTROL, '?')}`);
    if (e.api !== undefined) line += s.dim(` api=${bounded(e.api, 64)?.replace(CONTROL, '?')}`);
    if (e.reason !== undefined) line += ` ${s.yellow(`reason=${e.reason}`)}`;
    if (e.gatewayReason !== undefined) line += s.dim(` (${e.gatewayReason})`);
    if (e.limit !== undefined)
      line += s.dim(
        ` limit=${bounded(e.limit, 96)?.replace(CONTROL, '?')} key=${bounded(e.key, 64)?.replace(CONTROL, '?')}`,
      );
    this.push(line);
  }

  /** A line that is not about one request (keys, start, stop). */
  note(message: string, level: 'info' | 'warn' = 'info'): void {
    if (this.format === 'json') {
      this.push(JSON.stringify({ time: this.iso(this.now()), level, message }));
    } else {
      this.push(level === 'warn' ? `${this.style.yellow('warning:')} ${message}` : message);
    }
  }

  private push(line: string): void {
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = `${this.pending.join('\n')}\n`;
    this.pending = [];
    this.write(text);
  }
}
