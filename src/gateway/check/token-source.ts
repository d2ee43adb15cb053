/**
 * Reading the token from where an API says it is (plan `TokenSource`):
 * headers (with the Bearer scheme required, or stripped when present),
 * query parameters and cookies. The oidc-gw default, the Authorization
 * header with the Bearer scheme and nothing else, goes through
 * `extractBearer` (RFC 6750 §2.1; two Authorization headers are a 400).
 * Imported gateways may read the query or a cookie, as they do; two
 * different tokens in one request are refused (Kong: "Multiple tokens
 * provided").
 */
import { extractBearer, parseAuthorization, type Extracted } from '../../core/gateway/extract.js';
import { refusal } from '../../core/gateway/reasons.js';
import type { TokenSource } from '../plan.js';

/** True for the oidc-gw default (Authorization, Bearer required, no query, no cookie). */
export function isDefaultSource(source: TokenSource): boolean {
  return (
    source.scheme === 'required' &&
    source.query.length === 0 &&
    source.cookies.length === 0 &&
    source.headers.length === 1 &&
    source.headers[0] === 'authorization'
  );
}

/** Every value of header `name` (lower-case) in a raw header list. */
export function headerValues(rawHeaders: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const n = rawHeaders[i] as string;
    if (n.length === name.length && n.toLowerCase() === name)
      values.push(rawHeaders[i + 1] as string);
  }
  return values;
}

function queryValues(target: string, names: readonly string[]): string[] {
  const q = target.indexOf('?');
  if (q === -1 || names.length === 0) return [];
  const params = new URLSearchParams(target.slice(q + 1));
  return names.flatMap((n) => params.getAll(n)).filter((v) => v !== '');
}

function cookieValues(rawHeaders: readonly string[], names: readonly string[]): string[] {
  if (names.length === 0) return [];
  const found: string[] = [];
  for (const header of headerValues(rawHeaders, 'cookie')) {
    for (const pair of header.split(';')) {
      const eq = pair.indexOf('=');
      if (eq === -1) continue;
      if (names.includes(pair.slice(0, eq).trim())) found.push(pair.slice(eq + 1).trim());
    }
  }
  return found.filter((v) => v !== '');
}

/** The token of a request, or why there is none. */
export function extractToken(
  source: TokenSource,
  rawHeaders: readonly string[],
  target: string,
): Extracted {
  if (isDefaultSource(source)) return extractBearer(rawHeaders);
  const tokens: string[] = [];
  let sawOther: Extracted | undefined;
  for (const name of source.headers) {
    for (const value of headerValues(rawHeaders, name)) {
      if (source.scheme === 'required') {
        const parsed = parseAuthorization(value.trim());
        if ('token' in parsed) tokens.push(parsed.token);
        else sawOther ??= parsed;
      } else {
        const v = value.trim();
        const token = /^bearer\s+/i.test(v) ? v.replace(/^bearer\s+/i, '') : v;
        if (token !== '') tokens.push(token);
      }
    }
  }
  tokens.push(...queryValues(target, source.query), ...cookieValues(rawHeaders, source.cookies));
  const distinct = new Set(tokens);
  if (distinct.size > 1) return { refusal: refusal('multiple_tokens') };
  const [token] = distinct;
  if (token !== undefined) return { token };
  return sawOther ?? { refusal: refusal('missing_token') };
}
