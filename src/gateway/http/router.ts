/**
 * Which API a request belongs to, and the path it goes upstream with.
 *
 * The request path is first normalized: dot segments (`.`, `..`, also
 * percent-encoded as `%2e`) are resolved as RFC 3986 §5.2.4 does, and a path
 * that would climb above the root, or a segment that hides a `/` or `\`
 * (`%2f`, `%5c`) next to a dot segment, is refused (400 path_invalid), as
 * nginx refuses it. Without this, `GET /../secret` in front of
 * `--upstream http://host/public` reaches `/public/../secret`, which an
 * ordinary upstream serves from outside `/public`. The query string is kept
 * as it came.
 *
 * Then the longest matching path prefix wins; a prefix matches on a segment
 * boundary (`/orders` matches `/orders`, `/orders/1`, not `/ordersx`).
 * Matching is a scan of the prefixes sorted longest first: plans have tens
 * of APIs, not thousands, and the scan stops at the first match.
 */
import { hostName } from '../../core/gateway/claims.js';

export interface Route<T> {
  /** Normalized prefix: leading `/`, no trailing `/` except the root. */
  readonly prefix: string;
  /** Only these methods (upper case) match; undefined: any. */
  readonly methods?: readonly string[];
  /** Only these hosts match (ApiPlan.match.hosts); undefined: any. */
  readonly hosts?: readonly string[];
  readonly stripPath: boolean;
  /** The upstream's base path without a trailing `/` ('' for none). */
  readonly basePath: string;
  /**
   * Kong (path_handling v0): a request for exactly the stripped prefix goes
   * to the service path as written (`/api`, not `/api/`).
   */
  readonly basePathAsWritten?: string;
  readonly value: T;
}

export type Match<T> =
  | { readonly ok: true; readonly route: Route<T>; readonly upstreamPath: string }
  | { readonly ok: false; readonly reason: 'route_not_found' | 'path_invalid' };

const DOT_ENCODED = /%2e/gi;
const SLASH_ENCODED = /%(2f|5c)/i;

/**
 * The request target with dot segments resolved, or undefined when it
 * climbs above the root or hides a separator. `target` starts with `/`.
 */
export function normalizeTarget(target: string): string | undefined {
  const q = target.indexOf('?');
  const path = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  // Fast path: nothing to resolve.
  if (!path.includes('.') && !path.includes('%') && !path.includes('\\')) return target;
  const input = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < input.length; i++) {
    const segment = input[i] as string;
    const plain = segment.replace(DOT_ENCODED, '.');
    if (plain === '.' || plain === '..') {
      if (plain === '..') {
        if (out.length === 0) return undefined;
        out.pop();
      }
      // A trailing dot segment leaves a directory: `/a/b/..` -> `/a/`.
      if (i === input.length - 1) out.push('');
      continue;
    }
    if (SLASH_ENCODED.test(segment) || segment.includes('\\')) {
      // `..%2fsecret` or `..\secret`: a dot segment an upstream may decode into a climb.
      const decoded = plain.replace(/%2f|%5c|\\/gi, '/');
      if (decoded.split('/').some((part) => part === '..' || part === '.')) return undefined;
    }
    out.push(segment);
  }
  return `/${out.join('/')}${query}`;
}

export class Router<T> {
  private readonly routes: readonly Route<T>[];

  /** Some route names hosts: the caller must pass the Host header to `match`. */
  readonly needsHost: boolean;

  constructor(routes: readonly Route<T>[]) {
    this.needsHost = routes.some((r) => r.hosts !== undefined);
    // Longest prefix first; on a tie, the route that also names hosts or methods first
    // (Kong: a route matching on more attributes wins).
    const specificity = (r: Route<T>) => (r.hosts ? 2 : 0) + (r.methods ? 1 : 0);
    this.routes = [...routes].sort(
      (a, b) => b.prefix.length - a.prefix.length || specificity(b) - specificity(a),
    );
  }

  /**
   * The route for `target`. `method` and `host` (the Host header as sent)
   * are compared with routes that name methods or hosts; a route that names
   * them never matches a request that does not give them.
   */
  match(target: string, method?: string, host?: string): Match<T> {
    const normalized = normalizeTarget(target);
    if (normalized === undefined) return { ok: false, reason: 'path_invalid' };
    const q = normalized.indexOf('?');
    const pathEnd = q === -1 ? normalized.length : q;
    for (const route of this.routes) {
      if (route.methods && (method === undefined || !route.methods.includes(method))) continue;
      if (route.hosts && (host === undefined || !hostMatches(route.hosts, host))) continue;
      const p = route.prefix;
      if (p !== '/') {
        if (!normalized.startsWith(p)) continue;
        const next = normalized.charCodeAt(p.length);
        // The prefix ends at a segment boundary: end of path, `/`, or the query.
        if (p.length < pathEnd && next !== 0x2f /* / */) continue;
      }
      let rest = normalized;
      if (route.stripPath && p !== '/') {
        rest = normalized.slice(p.length);
        if (rest === '' || rest.charCodeAt(0) === 0x3f /* ? */) {
          if (route.basePathAsWritten !== undefined)
            return { ok: true, route, upstreamPath: route.basePathAsWritten + rest };
          rest = `/${rest}`;
        }
      }
      return { ok: true, route, upstreamPath: route.basePath + rest };
    }
    return { ok: false, reason: 'route_not_found' };
  }
}

/**
 * Kong's host matching: the Host header's name (lower case, port cut off)
 * against each entry; `*.example.com` matches one or more labels before
 * `.example.com`, `example.*` any last label; an entry with a port matches
 * that host and port only.
 */
export function hostMatches(hosts: readonly string[], hostHeader: string): boolean {
  const full = hostHeader.trim().toLowerCase();
  const name = hostName(hostHeader) ?? '';
  for (const entry of hosts) {
    const withPort = /:\d+$/.test(entry) && !entry.endsWith(']');
    const subject = withPort ? full : name;
    if (entry === subject) return true;
    if (
      entry.startsWith('*.') &&
      subject.endsWith(entry.slice(1)) &&
      subject.length > entry.length - 1
    )
      return true;
    if (entry.endsWith('.*')) {
      const stem = entry.slice(0, -1);
      if (
        subject.startsWith(stem) &&
        subject.length > stem.length &&
        !subject.slice(stem.length).includes('.')
      )
        return true;
    }
  }
  return false;
}
