/**
 * Why the gateway refuses a request: a stable reason code (for logs, metrics
 * and docs), the HTTP status, the RFC 6750 error code and the description
 * sent to the client. Descriptions are fixed text (or text built from the
 * operator's own settings): nothing from the token or the request is echoed,
 * so a hostile `kid` or claim never reaches a response header.
 */

export type RefusalError =
  | 'unauthorized'
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'access_denied'
  | 'invalid_client'
  | 'not_found'
  | 'rate_limited'
  | 'quota_exceeded'
  | 'temporarily_unavailable'
  | 'internal_error';

export type RefusalStatus = 400 | 401 | 403 | 404 | 429 | 500 | 503;

interface ReasonSpec {
  readonly status: RefusalStatus;
  readonly error: RefusalError;
  readonly description: string;
}

/** Every refusal reason, by stable code. docs/commands/serve.md has the same table. */
export const REASONS = {
  // The Authorization header.
  missing_token: { status: 401, error: 'unauthorized', description: 'missing bearer token' },
  not_bearer: { status: 401, error: 'unauthorized', description: 'missing bearer token' },
  duplicate_authorization: {
    status: 400,
    error: 'invalid_request',
    description: 'more than one Authorization header',
  },
  malformed_authorization: {
    status: 400,
    error: 'invalid_request',
    description: 'malformed Authorization header (expected Bearer TOKEN)',
  },
  // The token's form.
  token_too_large: { status: 401, error: 'invalid_token', description: 'token too large' },
  jws_json: {
    status: 401,
    error: 'invalid_token',
    description: 'JWS JSON serialization is not accepted (compact form only)',
  },
  token_malformed: {
    status: 401,
    error: 'invalid_token',
    description: 'token is not a compact JWS (three dot-separated parts)',
  },
  not_base64url: {
    status: 401,
    error: 'invalid_token',
    description: 'token segment is not base64url',
  },
  non_canonical_base64url: {
    status: 401,
    error: 'invalid_token',
    description: 'token segment is not canonical base64url',
  },
  header_invalid: {
    status: 401,
    error: 'invalid_token',
    description: 'token header is not a JSON object',
  },
  payload_invalid: {
    status: 401,
    error: 'invalid_token',
    description: 'token payload is not a JSON object',
  },
  duplicate_member: {
    status: 401,
    error: 'invalid_token',
    description: 'duplicate member in token header or payload',
  },
  jwe_not_accepted: {
    status: 401,
    error: 'invalid_token',
    description: 'encrypted tokens (JWE) are not accepted',
  },
  // The protected header.
  alg_not_allowed: { status: 401, error: 'invalid_token', description: 'algorithm not allowed' },
  crit_unsupported: {
    status: 401,
    error: 'invalid_token',
    description: 'unsupported critical header parameter',
  },
  b64_unsupported: {
    status: 401,
    error: 'invalid_token',
    description: 'unencoded payload (b64) is not accepted',
  },
  nested_jwt: { status: 401, error: 'invalid_token', description: 'nested JWT is not accepted' },
  kid_invalid: { status: 401, error: 'invalid_token', description: 'kid is not a string' },
  // Keys and signature.
  unknown_kid: { status: 401, error: 'invalid_token', description: 'no trusted key for kid' },
  no_key: {
    status: 401,
    error: 'invalid_token',
    description: 'no trusted key for this token',
  },
  signature_invalid: {
    status: 401,
    error: 'invalid_token',
    description: 'signature verification failed',
  },
  // Claims.
  claim_type: {
    status: 401,
    error: 'invalid_token',
    description: 'a registered claim has the wrong type',
  },
  exp_missing: { status: 401, error: 'invalid_token', description: 'token has no exp' },
  token_expired: { status: 401, error: 'invalid_token', description: 'token expired' },
  token_not_yet_valid: {
    status: 401,
    error: 'invalid_token',
    description: 'token not yet valid (nbf)',
  },
  iat_future: {
    status: 401,
    error: 'invalid_token',
    description: 'token issued in the future (iat)',
  },
  issuer_missing: { status: 401, error: 'invalid_token', description: 'token has no iss' },
  issuer_not_allowed: { status: 401, error: 'invalid_token', description: 'issuer not allowed' },
  audience_missing: { status: 401, error: 'invalid_token', description: 'token has no aud' },
  audience_not_allowed: {
    status: 401,
    error: 'invalid_token',
    description: 'audience not allowed',
  },
  claim_missing: {
    status: 401,
    error: 'invalid_token',
    description: 'required claim missing',
  },
  claim_mismatch: {
    status: 401,
    error: 'invalid_token',
    description: 'required claim does not match',
  },
  insufficient_scope: {
    status: 403,
    error: 'insufficient_scope',
    description: 'missing required scope',
  },
  forward_claim_invalid: {
    status: 401,
    error: 'invalid_token',
    description: 'a forwarded claim contains a control character',
  },
  // Gateway plans (docs/gateway-config.md): claims, credentials, routing, limits.
  multiple_tokens: {
    status: 400,
    error: 'invalid_request',
    description: 'more than one token in the request',
  },
  exp_too_far: {
    status: 401,
    error: 'invalid_token',
    description: 'token lifetime exceeds the maximum allowed',
  },
  claim_forbidden: {
    status: 403,
    error: 'access_denied',
    description: 'a required claim does not match',
  },
  key_claim_missing: {
    status: 401,
    error: 'invalid_token',
    description: 'token has no claim to select its credential',
  },
  credential_not_found: {
    status: 401,
    error: 'invalid_token',
    description: 'no credential for this token',
  },
  identity_missing: {
    status: 403,
    error: 'access_denied',
    description: 'token has no claim to identify its subject',
  },
  policy_not_found: {
    status: 403,
    error: 'access_denied',
    description: 'no policy applies to this token',
  },
  api_not_allowed: {
    status: 403,
    error: 'access_denied',
    description: 'the policy does not open this API',
  },
  client_credentials_invalid: {
    status: 401,
    error: 'invalid_client',
    description: 'client credentials refused',
  },
  token_inactive: { status: 401, error: 'invalid_token', description: 'token is not active' },
  idp_unavailable: {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'the identity provider could not be reached',
  },
  route_not_found: { status: 404, error: 'not_found', description: 'no API at this path' },
  path_invalid: {
    status: 400,
    error: 'invalid_request',
    description: 'the path leaves the API',
  },
  limit_key_missing: {
    status: 500,
    error: 'internal_error',
    description: 'no value to count requests by',
  },
  rate_limited: { status: 429, error: 'rate_limited', description: 'rate limit exceeded' },
  quota_exceeded: { status: 429, error: 'quota_exceeded', description: 'quota exceeded' },
  limits_unavailable: {
    status: 503,
    error: 'temporarily_unavailable',
    description: 'the limit store is unavailable',
  },
} as const satisfies Record<string, ReasonSpec>;

export type ReasonCode = keyof typeof REASONS;

export interface Refusal {
  readonly reason: ReasonCode;
  readonly status: RefusalStatus;
  readonly error: RefusalError;
  readonly description: string;
  /** For insufficient_scope: the scopes required, space-separated. */
  readonly scope?: string;
}

const FROZEN = new Map<ReasonCode, Refusal>();

/** The refusal for `reason`, with an optional more precise description (operator text only). */
export function refusal(
  reason: ReasonCode,
  extra: { description?: string; scope?: string } = {},
): Refusal {
  if (extra.description === undefined && extra.scope === undefined) {
    let r = FROZEN.get(reason);
    if (!r) {
      r = Object.freeze({ reason, ...REASONS[reason] });
      FROZEN.set(reason, r);
    }
    return r;
  }
  const spec = REASONS[reason];
  return Object.freeze({
    reason,
    status: spec.status,
    error: spec.error,
    description: extra.description ?? spec.description,
    ...(extra.scope === undefined ? {} : { scope: extra.scope }),
  });
}

/** Characters RFC 6750 §3 allows inside error_description and scope: %x20-21 / %x23-5B / %x5D-7E. */
export function quotable(text: string): string {
  return text.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '?');
}

export const REALM = 'oidc-gw';

const RFC6750_ERRORS: ReadonlySet<string> = new Set([
  'invalid_request',
  'invalid_token',
  'insufficient_scope',
]);

/** The `WWW-Authenticate` value for a refusal (RFC 6750 §3): error codes only from RFC 6750 §3.1. */
export function wwwAuthenticate(r: {
  readonly error: string;
  readonly description: string;
  readonly scope?: string | undefined;
}): string {
  if (!RFC6750_ERRORS.has(r.error)) return `Bearer realm="${REALM}"`;
  let value = `Bearer realm="${REALM}", error="${r.error}", error_description="${quotable(r.description)}"`;
  if (r.scope !== undefined) value += `, scope="${quotable(r.scope)}"`;
  return value;
}

/** The JSON body of a refusal (docs/commands/serve.md: Refusals). */
export function refusalBody(r: {
  readonly error: string;
  readonly description: string;
  readonly scope?: string | undefined;
}): string {
  const body: Record<string, string> = { error: r.error, error_description: r.description };
  if (r.scope !== undefined) body['scope'] = r.scope;
  return JSON.stringify(body);
}
