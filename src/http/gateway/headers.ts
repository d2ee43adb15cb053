/**
 * Header rewriting for the gateway, both ways (RFC 9110 §7.6.1): hop-by-hop
 * headers and any named in `Connection` are dropped; the client's copies of
 * headers the gateway sets (forwarded claims, X-Forwarded-Proto/Host) are
 * removed whatever their case and `_`/`-` spelling; X-Forwarded-* are set;
 * the upstream never gets both Content-Length and Transfer-Encoding.
 *
 * Forwarding headers a client can plant are not passed on: `Forwarded`
 * (RFC 7239; Spring and others read its host and proto before any
 * X-Forwarded-*), `X-Real-IP`, and every `X-Forwarded-*` other than
 * X-Forwarded-For (`-Port`, `-Prefix`, `-Ssl`, `-Scheme`, `-Server`...),
 * which an upstream would take for the gateway's word. They are removed,
 * not rewritten: the gateway's own word is X-Forwarded-For (the client's
 * address appended), X-Forwarded-Host and X-Forwarded-Proto.
 */
import { normalizeHeaderName } from '../../core/gateway/forward.js';

/** Hop-by-hop headers (RFC 9110 §7.6.1, plus the de-facto ones). Lower case, `-` spelling. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
]);

/** `Connection` values that name no other header (the usual ones): nothing extra to drop. */
const PLAIN_CONNECTION = /^\s*(keep-alive|close|upgrade)\s*$/i;

/**
 * Tokens of `Connection` header values, lower case, `-` spelling; undefined
 * when they name only keep-alive / close / upgrade (hop-by-hop anyway).
 */
export function connectionTokens(values: readonly string[]): Set<string> | undefined {
  let names: Set<string> | undefined;
  for (const value of values) {
    if (PLAIN_CONNECTION.test(value)) continue;
    for (const part of value.split(',')) {
      const t = part.trim();
      if (t) (names ??= new Set()).add(normalizeHeaderName(t));
    }
  }
  return names;
}

export interface UpstreamHeaderOptions {
  /** Normalized names the gateway sets itself: the client's copies are removed. */
  readonly reserved: ReadonlySet<string>;
  readonly stripAuthorization: boolean;
  /** The client's address, appended to X-Forwarded-For. */
  readonly clientAddress: string | undefined;
  /** Headers to add (forwarded claims), flat [name, value, ...]. */
  readonly extra: readonly string[];
}

export interface UpstreamHeaders {
  /** Flat [name, value, ...] for undici. */
  readonly headers: string[];
  /** The request has a body (Content-Length > 0 or Transfer-Encoding). */
  readonly hasBody: boolean;
  /** The client asked for an upgrade (Upgrade header present). */
  readonly upgrade: string | undefined;
}

/** Names the gateway always sets: the client's own copies never pass. */
export const ALWAYS_RESERVED = ['x-forwarded-proto', 'x-forwarded-host'] as const;

/**
 * True for a forwarding header only a proxy may set, whose client copy is
 * never passed on (normalized name): `Forwarded`, `X-Real-IP`, and every
 * `X-Forwarded-*` but `X-Forwarded-For`, which the gateway appends to.
 */
export function isPlantedForwarding(name: string): boolean {
  if (name === 'forwarded' || name === 'x-real-ip') return true;
  return name.startsWith('x-forwarded-') && name !== 'x-forwarded-for';
}

/**
 * The headers to send upstream, from the client's raw header list. `Host`
 * is not passed (undici sends the upstream's; the client's is in
 * X-Forwarded-Host).
 */
export function upstreamHeaders(
  rawHeaders: readonly string[],
  options: UpstreamHeaderOptions,
): UpstreamHeaders {
  let connection: string[] | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length === 10 && name.toLowerCase() === 'connection')
      (connection ??= []).push(rawHeaders[i + 1] as string);
  }
  const dropped = connection === undefined ? undefined : connectionTokens(connection);
  const out: string[] = [];
  let host: string | undefined;
  let forwardedFor: string | undefined;
  let contentLength: string | undefined;
  let chunked = false;
  let upgrade: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const rawName = rawHeaders[i] as string;
    const value = rawHeaders[i + 1] as string;
    const name = normalizeHeaderName(rawName);
    // `X_Forwarded_Host` and friends: an underscore spelling of a header the
    // gateway interprets or sets is never passed on.
    const exact = !rawName.includes('_');
    switch (name) {
      case 'host':
        if (exact && host === undefined) host = value;
        continue;
      case 'content-length':
        if (exact && contentLength === undefined) contentLength = value;
        continue;
      case 'transfer-encoding':
        if (exact) chunked = true;
        continue;
      case 'upgrade':
        if (exact) upgrade = value;
        continue;
      case 'x-forwarded-for':
        if (exact) forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
        continue;
      case 'authorization':
        if (options.stripAuthorization) continue;
        break;
      case 'expect':
        // The gateway answers `100-continue` itself (after its checks); undici does not take the header.
        continue;
      default:
        break;
    }
    if (HOP_BY_HOP.has(name) || options.reserved.has(name) || dropped?.has(name)) continue;
    if (isPlantedForwarding(name) || (!exact && name.startsWith('x-forwarded-'))) continue;
    out.push(rawName, value);
  }
  const hasBody = chunked || (contentLength !== undefined && contentLength !== '0');
  // Never both: with Transfer-Encoding the body is re-chunked by undici and
  // Content-Length is not sent; a Content-Length alone is passed on.
  if (!chunked && contentLength !== undefined) out.push('content-length', contentLength);
  const client = options.clientAddress?.startsWith('::ffff:')
    ? options.clientAddress.slice(7)
    : options.clientAddress;
  if (client !== undefined) {
    out.push('x-forwarded-for', forwardedFor === undefined ? client : `${forwardedFor}, ${client}`);
  } else if (forwardedFor !== undefined) {
    out.push('x-forwarded-for', forwardedFor);
  }
  out.push('x-forwarded-proto', 'http');
  if (host !== undefined) out.push('x-forwarded-host', host);
  for (let i = 0; i < options.extra.length; i++) out.push(options.extra[i] as string);
  return { headers: out, hasBody, upgrade };
}

/** The upstream's response headers for the client: hop-by-hop and Connection-named ones removed. */
export function downstreamHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connection = headers['connection'];
  const dropped =
    connection === undefined
      ? undefined
      : connectionTokens(Array.isArray(connection) ? connection : [connection]);
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (HOP_BY_HOP.has(name) || dropped?.has(name)) continue;
    out[name] = value;
  }
  return out;
}
