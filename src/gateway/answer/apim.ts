/**
 * Azure API Management's answers (error style `apim`, docs/gateways/apim.md):
 * the bytes APIM's gateway sends when validate-jwt, check-header,
 * rate-limit-by-key or quota-by-key refuses a request, the limit headers a
 * policy asks for on every response, and the 404 for a path no API serves.
 *
 * Every body is APIM's single-line JSON with spaces inside the braces,
 * `{ "statusCode": 401, "message": "JWT not present." }`, sent as
 * `application/json`. validate-jwt failures all answer
 * `failed-validation-httpcode` (401 by default) with
 * `failed-validation-error-message` when set; the detailed text APIM keeps
 * for `context.LastError` goes to oidc-gw's log through `apimReasonName` and
 * `apimLastErrorMessage`.
 */
import type { ReasonCode } from '../../core/gateway/reasons.js';
import type { LimitState } from '../limits/types.js';
import type { StyleOptions } from '../plan.js';
import type { Answer, Refused, Renderer, RequestFacts } from './types.js';

export const APIM_CONTENT_TYPE = 'application/json';

/** APIM's error body: `{ "statusCode": N, "message": "..." }` on one line. */
export function apimBody(status: number, message: string): string {
  return `{ "statusCode": ${status}, "message": ${JSON.stringify(message)} }`;
}

/** An answer with APIM's body (check-header failures, any fixed status and message). */
export function apimMessageAnswer(
  status: number,
  message: string,
  headers: Readonly<Record<string, string>> = {},
): Answer {
  return {
    status,
    headers: { 'content-type': APIM_CONTENT_TYPE, ...headers },
    body: apimBody(status, message),
  };
}

type Row =
  /** A validate-jwt failure: failedStatus / failedMessage, else 401 and the text. */
  | { readonly kind: 'jwt'; readonly name: string; readonly text: string }
  | {
      readonly kind: 'fixed';
      readonly name: string;
      readonly status: number;
      readonly text: string;
    }
  | { readonly kind: 'rate' | 'quota'; readonly name: string };

const NOT_PRESENT = 'JWT not present.';
const INVALID = 'Invalid JWT.';

const jwt = (name: string, text = INVALID): Row => ({ kind: 'jwt', name, text });
const fixed = (name: string, status: number, text: string): Row => ({
  kind: 'fixed',
  name,
  status,
  text,
});

/**
 * Every oidc-gw reason, as APIM would answer it. Reasons that only another
 * gateway's configuration produces (Tyk policies, Kong credentials) still
 * get an answer in APIM's format, so an oidc-gw API with `errors: apim` is
 * total.
 */
export const APIM_ROWS: Readonly<Record<ReasonCode, Row>> = {
  missing_token: jwt('TokenNotPresent', NOT_PRESENT),
  // require-scheme="Bearer" and another scheme: no token with that scheme is present.
  not_bearer: jwt('TokenNotPresent', NOT_PRESENT),
  duplicate_authorization: jwt('JwtInvalid'),
  malformed_authorization: jwt('JwtInvalid'),
  token_too_large: jwt('JwtInvalid'),
  jws_json: jwt('JwtInvalid'),
  token_malformed: jwt('JwtInvalid'),
  not_base64url: jwt('JwtInvalid'),
  non_canonical_base64url: jwt('JwtInvalid'),
  header_invalid: jwt('JwtInvalid'),
  payload_invalid: jwt('JwtInvalid'),
  duplicate_member: jwt('JwtInvalid'),
  jwe_not_accepted: jwt('JwtInvalid'),
  alg_not_allowed: jwt('TokenSignatureInvalid'),
  crit_unsupported: jwt('JwtInvalid'),
  b64_unsupported: jwt('JwtInvalid'),
  nested_jwt: jwt('JwtInvalid'),
  kid_invalid: jwt('JwtInvalid'),
  unknown_kid: jwt('TokenSignatureKeyNotFound'),
  no_key: jwt('TokenSignatureKeyNotFound'),
  signature_invalid: jwt('TokenSignatureInvalid'),
  claim_type: jwt('JwtInvalid'),
  exp_missing: jwt('JwtInvalid'),
  token_expired: jwt('TokenExpired'),
  token_not_yet_valid: jwt('JwtInvalid'),
  iat_future: jwt('JwtInvalid'),
  issuer_missing: jwt('TokenIssuerNotAllowed'),
  issuer_not_allowed: jwt('TokenIssuerNotAllowed'),
  audience_missing: jwt('TokenAudienceNotAllowed'),
  audience_not_allowed: jwt('TokenAudienceNotAllowed'),
  claim_missing: jwt('TokenClaimNotFound'),
  claim_mismatch: jwt('TokenClaimValueNotAllowed'),
  insufficient_scope: jwt('TokenClaimValueNotAllowed'),
  forward_claim_invalid: jwt('JwtInvalid'),
  multiple_tokens: jwt('JwtInvalid'),
  exp_too_far: jwt('JwtInvalid'),
  // A <choose> + <return-response> answers options.forbiddenResponse; this is the fallback.
  claim_forbidden: fixed('Forbidden', 403, 'Forbidden'),
  key_claim_missing: jwt('JwtInvalid'),
  credential_not_found: jwt('TokenSignatureKeyNotFound'),
  identity_missing: fixed('Forbidden', 403, 'Forbidden'),
  policy_not_found: fixed('Forbidden', 403, 'Forbidden'),
  api_not_allowed: fixed('Forbidden', 403, 'Forbidden'),
  client_credentials_invalid: jwt('JwtInvalid'),
  token_inactive: jwt('JwtInvalid'),
  // APIM cannot fetch the openid-config or its keys: the key is not found, validate-jwt fails.
  idp_unavailable: jwt('TokenSignatureKeyNotFound'),
  route_not_found: fixed('OperationNotFound', 404, 'Resource not found'),
  path_invalid: fixed('OperationNotFound', 404, 'Resource not found'),
  limit_key_missing: fixed(
    'ExpressionValueEvaluationFailure',
    500,
    'Expression value is invalid. The counter-key field is required.',
  ),
  rate_limited: { kind: 'rate', name: 'RateLimitExceeded' },
  quota_exceeded: { kind: 'quota', name: 'QuotaExceeded' },
  limits_unavailable: fixed('ServiceUnavailable', 503, 'Service Unavailable'),
};

function rowOf(reason: string): Row {
  return (APIM_ROWS as Readonly<Record<string, Row>>)[reason] ?? jwt('JwtInvalid');
}

/** APIM's `context.LastError.Reason` for an oidc-gw reason (`TokenExpired`...), for the log line. */
export function apimReasonName(reason: string): string {
  return rowOf(reason).name;
}

/**
 * A .NET TimeSpan in its constant ("c") format, whole seconds:
 * `hh:mm:ss`, or `d.hh:mm:ss` from one day on.
 */
export function timeSpan(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  const days = Math.floor(s / 86400);
  const two = (n: number) => String(n).padStart(2, '0');
  const clock = `${two(Math.floor((s % 86400) / 3600))}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}`;
  return days > 0 ? `${days}.${clock}` : clock;
}

function clip(text: string): string {
  return text.length > 100 ? `${text.slice(0, 97)}...` : text;
}

/**
 * The message APIM keeps in `context.LastError.Message` (error handling
 * policies' table), for oidc-gw's log line; "<message from jwt library>" is
 * oidc-gw's own description.
 */
export function apimLastErrorMessage(outcome: Refused): string {
  const row = rowOf(outcome.reason);
  switch (row.name) {
    case 'TokenNotPresent':
      return NOT_PRESENT;
    case 'TokenClaimNotFound': {
      const claims =
        outcome.detail?.claims ?? (outcome.detail?.claim ? [outcome.detail.claim] : []);
      return `JWT token is missing the following claims: ${claims.map(clip).join(', ')}. Access denied.`;
    }
    case 'TokenClaimValueNotAllowed':
      if (outcome.detail?.claim !== undefined && outcome.detail.value !== undefined)
        return `Claim ${clip(outcome.detail.claim)} value of ${clip(outcome.detail.value)} is not allowed. Access denied.`;
      return `${outcome.description}. Access denied.`;
    case 'JwtInvalid':
      return outcome.description;
    case 'RateLimitExceeded':
      return 'Rate limit is exceeded';
    default:
      return row.kind === 'jwt'
        ? `${outcome.description}. Access denied.`
        : rowOf(outcome.reason).name;
  }
}

/** The state of the rule that refused (the first not allowed), or of the first rule of `kind`. */
function refusing(states: readonly LimitState[] | undefined, kind: 'rate' | 'quota') {
  return states?.find((s) => !s.allowed) ?? states?.find((s) => s.rule.kind === kind);
}

function rateHeaders(options: StyleOptions, state: LimitState): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options.remainingHeader)
    headers[options.remainingHeader.toLowerCase()] = String(state.remaining);
  if (options.totalHeader) headers[options.totalHeader.toLowerCase()] = String(state.limit);
  return headers;
}

/** The renderer; `logReason` gives APIM's `context.LastError.Reason` for the log line. */
export const apimRenderer: Renderer & {
  logReason(options: StyleOptions, outcome: Refused): string;
} = {
  refuse(options: StyleOptions, outcome: Refused, _request: RequestFacts): Answer {
    // A <choose> that refuses on a claim answers its <return-response> as written.
    if (outcome.reason === 'claim_forbidden' && options.forbiddenResponse) {
      const r = options.forbiddenResponse;
      return { status: r.status, headers: { ...r.headers }, body: r.body };
    }
    const row = rowOf(outcome.reason);
    switch (row.kind) {
      case 'jwt': {
        const status = options.failedStatus ?? 401;
        return apimMessageAnswer(status, options.failedMessage ?? row.text);
      }
      case 'fixed':
        return apimMessageAnswer(row.status, row.text);
      case 'rate': {
        const state = refusing(outcome.limits, 'rate');
        const seconds = Math.max(1, state?.retryAfterSeconds ?? 1);
        const retryHeader = (options.retryAfterHeader ?? 'Retry-After').toLowerCase();
        return apimMessageAnswer(429, `Rate limit is exceeded. Try again in ${seconds} seconds.`, {
          ...(state ? rateHeaders(options, state) : {}),
          [retryHeader]: String(seconds),
        });
      }
      case 'quota': {
        const state = refusing(outcome.limits, 'quota');
        const seconds = Math.max(1, state?.retryAfterSeconds ?? 1);
        return apimMessageAnswer(
          403,
          `Out of call volume quota. Quota will be replenished in ${timeSpan(seconds)}.`,
          { 'retry-after': String(seconds) },
        );
      }
    }
  },

  limitHeaders(options: StyleOptions, states: readonly LimitState[], _nowMs: number) {
    const state = states.find((s) => s.rule.kind === 'rate');
    return state ? rateHeaders(options, state) : {};
  },

  notFound(_options: StyleOptions, _request: RequestFacts): Answer {
    return apimMessageAnswer(404, 'Resource not found');
  },

  logReason(_options: StyleOptions, outcome: Refused): string {
    return apimReasonName(outcome.reason);
  },
};
