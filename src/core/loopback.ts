/**
 * The one loopback rule: whether a host names this machine's loopback
 * interface. Every decision that depends on it uses this function: plain
 * http allowed for an issuer or a JWKS URL, `call` sending a token over http,
 * the login's loopback redirect URI and the Host header its receiver accepts,
 * the dev IdP's host and its admin and CORS checks, the warning of `serve`
 * and `idp` when they listen elsewhere.
 *
 * Loopback (RFC 6890 for 127.0.0.0/8 and ::1, RFC 4291 section 2.5.5.2 for
 * IPv4-mapped addresses, RFC 8252 section 7.3 for loopback redirect URIs):
 * - `localhost`, in any case (RFC 6761 section 6.3);
 * - an IPv4 address in 127.0.0.0/8, written as four decimal numbers
 *   (`127.0.0.1`, `127.1.2.3`);
 * - the IPv6 loopback `::1` in any spelling (`0:0:0:0:0:0:0:1`), with or
 *   without brackets, and IPv4-mapped 127.0.0.0/8 (`::ffff:127.0.0.1`, as a
 *   dual-stack socket reports a peer).
 *
 * Strict on purpose (what is not listed is not loopback, so at worst a user
 * is asked for --insecure-http or to write 127.0.0.1):
 * - `127.1`, `2130706433`, `0x7f.0.0.1`, `127.000.0.1`: shorthand forms a
 *   URL parser expands but a resolver or a socket may not; write the dotted
 *   quad (a URL's hostname already is one: `new URL('http://127.1').hostname`
 *   is `127.0.0.1`);
 * - `localhost.` (a trailing dot) and `*.localhost`: names a resolver may
 *   send to DNS;
 * - `0.0.0.0` and `::` (every interface, not loopback), `::127.0.0.1`
 *   (IPv4-compatible, deprecated), an IPv6 zone (`::1%lo`).
 */

const DOTTED_QUAD = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
/** `::ffff:7f00:1` is how a URL writes `::ffff:127.0.0.1`. */
const MAPPED_V4_LOOPBACK = /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/;

/**
 * Whether `host` is loopback: a URL's `hostname`, a socket's address, a
 * `--host` value or the host part of a Host header (IPv6 with or without
 * brackets).
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase();
  if (h === 'localhost') return true;
  if (DOTTED_QUAD.test(h)) {
    // The URL parser validates and normalises: 127.000.0.1 or 127.0.0.256 differ or fail.
    return h.startsWith('127.') && URL.parse(`http://${h}/`)?.hostname === h;
  }
  const v6 = h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
  if (!v6.includes(':') || v6.includes('%') || v6.includes('[') || v6.includes(']')) return false;
  const canonical = URL.parse(`http://[${v6}]/`)?.hostname;
  if (canonical === undefined) return false;
  const address = canonical.slice(1, -1);
  return address === '::1' || MAPPED_V4_LOOPBACK.test(address);
}
