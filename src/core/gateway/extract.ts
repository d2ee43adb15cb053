/**
 * Finding the bearer token in a request (docs/commands/serve.md: the first check). Works
 * on the raw header list (`IncomingMessage.rawHeaders`), because Node keeps
 * only the first of two `Authorization` headers in `req.headers`, and two is
 * a malformed request, never a choice for the gateway to make.
 *
 * Tokens are read from the `Authorization` header only: never from the query
 * string or the body (RFC 6750 §2.2 and §2.3 are not supported on purpose).
 */
import { refusal, type Refusal } from './reasons.js';

export type Extracted = { readonly token: string } | { readonly refusal: Refusal };

/** The value of the one `Authorization` header in `rawHeaders`, or a refusal. */
export function extractBearer(rawHeaders: readonly string[]): Extracted {
  let value: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length === 13 && name.toLowerCase() === 'authorization') {
      if (value !== undefined) return { refusal: refusal('duplicate_authorization') };
      value = rawHeaders[i + 1] as string;
    }
  }
  if (value === undefined) return { refusal: refusal('missing_token') };
  return parseAuthorization(value);
}

/**
 * `Bearer TOKEN`: the scheme in any case, one or more spaces, exactly one
 * word. A bare `Bearer`, a tab, or a second word: 400. Another scheme
 * (`Basic ...`) or no scheme at all: 401 without an error code (RFC 6750 §3.1).
 */
export function parseAuthorization(value: string): Extracted {
  if (value.length < 6 || value.slice(0, 6).toLowerCase() !== 'bearer') {
    return {
      refusal: value.trim() === '' ? refusal('malformed_authorization') : refusal('not_bearer'),
    };
  }
  if (value.length === 6) return { refusal: refusal('malformed_authorization') };
  const sep = value.charCodeAt(6);
  if (sep !== 0x20) {
    // "Bearer\tTOKEN" is malformed; "BearerX ..." is another scheme.
    return { refusal: sep === 0x09 ? refusal('malformed_authorization') : refusal('not_bearer') };
  }
  let start = 7;
  while (start < value.length && value.charCodeAt(start) === 0x20) start++;
  const token = value.slice(start);
  if (token.length === 0 || /\s/.test(token))
    return { refusal: refusal('malformed_authorization') };
  return { token };
}
