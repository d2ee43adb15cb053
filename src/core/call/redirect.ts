/**
 * The redirect policy of `call -L`: which URL and method come next, and which
 * headers may follow. The token never goes to another origin (scheme, host,
 * port): once the chain has left the origin of the first request, the
 * Authorization header (and a Cookie header given with -H, as curl does) is
 * dropped for every later hop, even one that comes back.
 */

/** The default for --max-redirs (the fetch standard's limit; curl's is 50). */
export const DEFAULT_MAX_REDIRECTS = 20;

export const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** Headers that carry credentials and never cross origins. */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set(['authorization', 'cookie']);

export function sameOrigin(a: URL, b: URL): boolean {
  // URL drops default ports (http:80, https:443) and lower-cases the host.
  return a.protocol === b.protocol && a.hostname === b.hostname && a.port === b.port;
}

export type RedirectDecision =
  | {
      readonly follow: true;
      readonly url: URL;
      readonly method: string;
      /** False when the body is dropped (303, and 301/302 after POST, as curl and browsers do). */
      readonly keepBody: boolean;
    }
  | { readonly follow: false; readonly reason: string };

/** What to do with a redirect response from `current`. */
export function nextHop(
  current: URL,
  status: number,
  method: string,
  location: string | undefined,
): RedirectDecision {
  if (!REDIRECT_STATUSES.has(status)) return { follow: false, reason: 'not a redirect' };
  if (location === undefined || location.trim() === '') {
    return { follow: false, reason: `HTTP ${status} without a Location header` };
  }
  let url: URL;
  try {
    url = new URL(location.trim(), current);
  } catch {
    return { follow: false, reason: `HTTP ${status} with a Location that is not a URL` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return {
      follow: false,
      reason: `HTTP ${status} to a ${url.protocol.replace(/:$/, '')}: URL, which is never followed`,
    };
  }
  url.hash = '';
  const m = method.toUpperCase();
  if (status === 303 && m !== 'HEAD') return { follow: true, url, method: 'GET', keepBody: false };
  if ((status === 301 || status === 302) && m === 'POST')
    return { follow: true, url, method: 'GET', keepBody: false };
  return { follow: true, url, method, keepBody: true };
}

/** Headers that describe a body, dropped with it. */
export const BODY_HEADERS: ReadonlySet<string> = new Set([
  'content-type',
  'content-length',
  'content-encoding',
  'content-language',
  'content-location',
]);
