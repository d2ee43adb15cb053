/**
 * A caller's client credentials, as the gateway's client-credentials exchange
 * reads them (docs/commands/serve.md, "Client credentials"; Kong's
 * openid-connect `client_credentials_param_type`).
 *
 * Two places, as an OAuth client would send them to a token endpoint:
 *  - `Authorization: Basic base64(id ":" secret)` (RFC 7617), where id and
 *    secret are first form-urlencoded (RFC 6749 §2.3.1): `+` is a space and
 *    `%XX` an octet of UTF-8. Decoding is strict, as oidc-provider's is: a
 *    `%` that does not start a valid escape makes the header malformed rather
 *    than being guessed at;
 *  - `client_id` and `client_secret` parameters in a form body or the query
 *    (RFC 6749 §2.3.1; the values are already decoded by URLSearchParams).
 *
 * Refused as malformed: a parameter given twice (RFC 6749 §3.1), credentials
 * in more than one place (RFC 6749 §2.3: one method per request), base64
 * that is not canonical, text that is not UTF-8, a missing `:`, an empty id
 * or secret, control characters, values longer than MAX_CREDENTIAL_LENGTH.
 * Descriptions are fixed text: nothing the caller sent is echoed, so a secret
 * never reaches a log line through them.
 */

export type CredentialSource = 'header' | 'body' | 'query';

export type CallerCredentials =
  /** No client credentials anywhere the plan allows. */
  | { readonly kind: 'none' }
  | { readonly kind: 'malformed'; readonly source: CredentialSource; readonly description: string }
  | {
      readonly kind: 'credentials';
      readonly source: CredentialSource;
      readonly clientId: string;
      readonly clientSecret: string;
    };

/** Longest client id or secret accepted (characters, after decoding). */
export const MAX_CREDENTIAL_LENGTH = 4096;

/** RFC 7617 token68 as base64: the standard alphabet, padding optional but correct. */
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
// C0 controls and DEL; a client id or secret never holds them.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function malformed(source: CredentialSource, description: string): CallerCredentials {
  return { kind: 'malformed', source, description };
}

function checkValues(
  source: CredentialSource,
  clientId: string,
  clientSecret: string,
): CallerCredentials {
  if (clientId.length === 0) return malformed(source, 'empty client id');
  if (clientSecret.length === 0) return malformed(source, 'empty client secret');
  if (clientId.length > MAX_CREDENTIAL_LENGTH || clientSecret.length > MAX_CREDENTIAL_LENGTH)
    return malformed(source, 'client id or secret too long');
  if (CONTROL.test(clientId) || CONTROL.test(clientSecret))
    return malformed(source, 'control character in client id or secret');
  return { kind: 'credentials', source, clientId, clientSecret };
}

/** application/x-www-form-urlencoded decoding of one value; undefined when not valid. */
export function formUrlDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, '%20'));
  } catch {
    return undefined;
  }
}

/** Whether an Authorization header value uses the Basic scheme (case-insensitive, RFC 7617 §2). */
export function isBasicAuthorization(value: string): boolean {
  return /^basic(?:[ \t]|$)/i.test(value.trimStart());
}

/**
 * Parses one `Authorization: Basic ...` value. Returns `none` when the scheme
 * is not Basic (a bearer token is someone else's business).
 */
export function parseBasicAuthorization(value: string): CallerCredentials {
  const trimmed = value.trim();
  if (!isBasicAuthorization(trimmed)) return { kind: 'none' };
  const token = trimmed.slice(5).trim();
  if (token.length === 0) return malformed('header', 'empty Basic credentials');
  // 4/3 of the decoded length, plus the ':' and padding.
  if (token.length > ((MAX_CREDENTIAL_LENGTH * 2 + 1) * 4) / 3 + 4)
    return malformed('header', 'client id or secret too long');
  if (!BASE64.test(token) || token.length % 4 === 1)
    return malformed('header', 'Basic credentials are not base64');
  const bytes = Buffer.from(token, 'base64');
  // Canonical only: re-encoding gives the same text (no stray bits in the last character).
  if (bytes.toString('base64').replace(/=+$/, '') !== token.replace(/=+$/, ''))
    return malformed('header', 'Basic credentials are not canonical base64');
  if (token.includes('=') && token.length % 4 !== 0)
    return malformed('header', 'Basic credentials have wrong base64 padding');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return malformed('header', 'Basic credentials are not UTF-8');
  }
  const colon = text.indexOf(':');
  if (colon === -1) return malformed('header', 'Basic credentials have no ":"');
  const clientId = formUrlDecode(text.slice(0, colon));
  const clientSecret = formUrlDecode(text.slice(colon + 1));
  if (clientId === undefined || clientSecret === undefined)
    return malformed(
      'header',
      'client id or secret in the Basic credentials is not form-urlencoded (RFC 6749 section 2.3.1)',
    );
  return checkValues('header', clientId, clientSecret);
}

/**
 * `client_id` / `client_secret` from decoded parameters (a form body or a
 * query string). `none` when neither is there; a lone `client_secret` or a
 * lone `client_id` is malformed (a client id alone is not a credential for
 * this exchange).
 */
export function credentialsFromParams(
  params: URLSearchParams,
  source: 'body' | 'query',
): CallerCredentials {
  const ids = params.getAll('client_id');
  const secrets = params.getAll('client_secret');
  if (ids.length === 0 && secrets.length === 0) return { kind: 'none' };
  if (ids.length > 1 || secrets.length > 1)
    return malformed(source, 'client_id or client_secret given more than once');
  if (ids.length === 0) return malformed(source, 'client_secret without client_id');
  if (secrets.length === 0) return malformed(source, 'client_id without client_secret');
  return checkValues(source, ids[0] as string, secrets[0] as string);
}

export interface CredentialPlaces {
  /** Every Authorization header value of the request (several is malformed). */
  readonly authorization?: readonly string[];
  /** The form body, when the request has one (application/x-www-form-urlencoded). */
  readonly body?: URLSearchParams;
  readonly query?: URLSearchParams;
}

/**
 * The caller's client credentials from the places the plan allows (`from`).
 * Credentials found in a place the plan does not allow are ignored, as the
 * gateway would. More than one place with credentials is malformed.
 */
export function findCallerCredentials(
  places: CredentialPlaces,
  from: ReadonlyArray<CredentialSource>,
): CallerCredentials {
  const found: CallerCredentials[] = [];
  for (const source of from) {
    let result: CallerCredentials = { kind: 'none' };
    if (source === 'header') {
      const basic = (places.authorization ?? []).filter(isBasicAuthorization);
      if (basic.length > 1) result = malformed('header', 'more than one Authorization header');
      else if (basic.length === 1) result = parseBasicAuthorization(basic[0] as string);
    } else {
      const params = source === 'body' ? places.body : places.query;
      if (params) result = credentialsFromParams(params, source);
    }
    if (result.kind !== 'none') found.push(result);
  }
  if (found.length === 0) return { kind: 'none' };
  if (found.length > 1)
    return malformed(
      (found[0] as Exclude<CallerCredentials, { kind: 'none' }>).source,
      'client credentials in more than one place (RFC 6749 section 2.3)',
    );
  return found[0] as CallerCredentials;
}
