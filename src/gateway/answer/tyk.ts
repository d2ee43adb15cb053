/**
 * Tyk's answers (docs/gateways/tyk.md, "Answers"): the status and message
 * Tyk's JWT, OpenID Connect, access-rights, rate-limit and quota
 * middleware give for each of oidc-gw's refusal reasons, in Tyk's error
 * template: `{\n    "error": "MSG"\n}` (4-space indent, no trailing
 * newline, MSG escaped by Go's JSEscapeString) with `Content-Type:
 * application/json` and `X-Generator: tyk.io` (unless
 * hide_generator_header), or `<error>MSG</error>\n` (MSG as is) when the
 * request's Content-Type is `application/xml` or `text/xml`. `X-RateLimit-*` carry the quota by default,
 * the rate limit with `rate_limit_response_headers: rate_limits`.
 *
 * The table is total over REASONS (the type says so): every refusal gets a
 * Tyk-shaped answer, Tyk's own where Tyk has one.
 */
import type { ReasonCode } from '../../core/gateway/reasons.js';
import type { LimitState } from '../limits/types.js';
import type { StyleOptions } from '../plan.js';
import type { Answer, Refused, Renderer, RequestFacts } from './types.js';

type Row = readonly [status: number, message: string];
type RowOf = (o: Refused) => Row;

const KNA = 'Key not authorized';
const BAD_KEY: Row = [403, KNA];
const FIELD_MISSING: Row = [400, 'Authorization field missing'];

/** Go's `%v` of a []string: `[a b]`. */
function goList(values: readonly string[] | undefined): string {
  return `[${(values ?? []).join(' ')}]`;
}

/** A time claim of the wrong type: jwt-go's VerifyExpiresAt & co. say the time check failed. */
function claimTypeRow(o: Refused): Row {
  const claim = o.detail?.claim ?? /^(exp|nbf|iat)\b/.exec(o.description)?.[1];
  if (claim === 'exp') return [401, `${KNA}: token has expired`];
  if (claim === 'nbf') return [401, `${KNA}: token is not valid yet`];
  if (claim === 'iat') return [401, `${KNA}: token used before issued`];
  return BAD_KEY;
}

const CUSTOM = /^customClaimValidation\.(.+):(required|exact_match|contains)$/;

/**
 * Tyk OAS claim checks (`Key not authorized: ` + the validator's text).
 * `detail.check` is the failing rule's label (`allowedSubjects`,
 * `jtiValidation`, `customClaimValidation.PATH:TYPE`); `detail.claim` its path.
 */
function claimRow(o: Refused, missing: boolean): Row {
  const check = o.detail?.check ?? '';
  const claim = o.detail?.claim ?? '';
  if (check === 'allowedSubjects') {
    return [401, `${KNA}: invalid subject value: ${missing ? '' : (o.detail?.value ?? '')}`];
  }
  if (check === 'jtiValidation' || (check === '' && claim === 'jti' && missing)) {
    return [401, `${KNA}: JWT ID (jti) claim is required but not present in token`];
  }
  const custom = CUSTOM.exec(check);
  const name = custom?.[1] ?? claim;
  if (missing) return [401, `${KNA}: custom claim ${name} is required but not present in token`];
  if (custom?.[2] === 'required')
    return [401, `${KNA}: custom claim ${name} expects a non nil value`];
  if (custom?.[2] === 'contains') {
    return [401, `${KNA}: claim ${name} value does not contain any expected values`];
  }
  return [401, `${KNA}: claim ${name} value does not match any expected values`];
}

/**
 * Tyk's three "no policy" answers: a policy id that is in no policies file
 * (`detail.check` `policy_unknown`), a scope mapping that finds nothing
 * (`scope`), and no policy at all.
 */
function policyRow(o: Refused): Row {
  const check = o.detail?.check;
  if (check === 'policy_unknown') return [403, 'key not authorized: no matching policy'];
  if (check === 'scope')
    return [403, 'key not authorized: no matching policy found in scope claim'];
  return [403, 'key not authorized: no matching policy found'];
}

/** The JWT middleware (and everything after authentication). */
const JWT_TABLE: { readonly [K in ReasonCode]: Row | RowOf } = {
  missing_token: FIELD_MISSING,
  not_bearer: FIELD_MISSING,
  duplicate_authorization: BAD_KEY,
  malformed_authorization: BAD_KEY,
  token_too_large: BAD_KEY,
  jws_json: BAD_KEY,
  token_malformed: BAD_KEY,
  not_base64url: BAD_KEY,
  non_canonical_base64url: BAD_KEY,
  header_invalid: BAD_KEY,
  payload_invalid: BAD_KEY,
  duplicate_member: BAD_KEY,
  jwe_not_accepted: BAD_KEY,
  alg_not_allowed: [403, `${KNA}: Unexpected signing method`],
  crit_unsupported: BAD_KEY,
  b64_unsupported: BAD_KEY,
  nested_jwt: BAD_KEY,
  kid_invalid: BAD_KEY,
  unknown_kid: BAD_KEY,
  no_key: BAD_KEY,
  signature_invalid: BAD_KEY,
  claim_type: claimTypeRow,
  // --strict only (Tyk accepts a token without exp): Tyk's claim-check form.
  exp_missing: [401, `${KNA}: token has no exp`],
  token_expired: [401, `${KNA}: token has expired`],
  token_not_yet_valid: [401, `${KNA}: token is not valid yet`],
  iat_future: [401, `${KNA}: token used before issued`],
  issuer_missing: [401, `${KNA}: issuer claim is required but not present in token`],
  issuer_not_allowed: (o) =>
    o.detail?.iss === undefined
      ? [401, `${KNA}: issuer claim must be a string`]
      : [401, `${KNA}: invalid issuer claim: ${o.detail.iss}`],
  audience_missing: [401, `${KNA}: audience claim is required but not present in token`],
  audience_not_allowed: (o) => [
    401,
    `${KNA}: no matching audience found in token: ${goList(o.detail?.aud)}`,
  ],
  claim_missing: (o) => claimRow(o, true),
  claim_mismatch: (o) => claimRow(o, false),
  claim_forbidden: (o) => claimRow(o, false),
  insufficient_scope: [403, 'key not authorized: no matching policy found in scope claim'],
  forward_claim_invalid: BAD_KEY,
  multiple_tokens: BAD_KEY,
  exp_too_far: [401, `${KNA}: token lifetime exceeds the maximum allowed`],
  key_claim_missing: BAD_KEY,
  credential_not_found: BAD_KEY,
  identity_missing: [403, 'no suitable claims for user ID were found'],
  policy_not_found: policyRow,
  api_not_allowed: [403, 'Access to this API has been disallowed'],
  client_credentials_invalid: BAD_KEY,
  token_inactive: BAD_KEY,
  // Tyk cannot fetch the JWK Set: the key is not found, 403.
  idp_unavailable: BAD_KEY,
  route_not_found: [404, '404 page not found'],
  path_invalid: [404, '404 page not found'],
  limit_key_missing: [403, 'no suitable claims for user ID were found'],
  rate_limited: (o) =>
    refusingRule(o)?.rule.key.by === 'api'
      ? [429, 'API Rate Limit Exceeded']
      : [429, 'Rate Limit Exceeded'],
  quota_exceeded: [403, 'Quota exceeded'],
  // No Tyk equivalent: oidc-gw's own status and description in Tyk's body.
  limits_unavailable: (o) => [o.status, o.description],
};

/** What the OpenID Connect middleware does not answer with its one 401. */
const AFTER_AUTH: ReadonlySet<string> = new Set([
  'api_not_allowed',
  'rate_limited',
  'quota_exceeded',
  'limits_unavailable',
  'route_not_found',
  'path_invalid',
]);

/** The deprecated OpenID Connect middleware: 401 `Key not authorised` (British) for any token failure. */
function openIdRow(o: Refused): Row | undefined {
  if (AFTER_AUTH.has(o.reason)) return undefined;
  if (o.reason === 'policy_not_found' && o.detail?.check === 'policy_unknown') {
    return [403, 'Key not authorized: no matching policy'];
  }
  return [401, 'Key not authorised'];
}

/** Tyk's status and message for a refusal. */
export function tykMessage(options: StyleOptions, outcome: Refused): Row {
  if (options.tykAuth === 'openid') {
    const row = openIdRow(outcome);
    if (row) return row;
  }
  const entry = (JWT_TABLE as Readonly<Record<string, Row | RowOf>>)[outcome.reason];
  if (entry === undefined) return [outcome.status, outcome.description];
  return typeof entry === 'function' ? entry(outcome) : entry;
}

function refusingRule(o: Refused): LimitState | undefined {
  return o.limits?.find((s) => !s.allowed);
}

/** Unicode's printable characters outside ASCII (Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols). */
const GO_PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

const JS_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  "'": "\\'",
  '"': '\\"',
  '<': '\\u003C',
  '>': '\\u003E',
  '&': '\\u0026',
  '=': '\\u003D',
};

/**
 * Go's `template.JSEscapeString`, which Tyk applies to the message before
 * putting it between the quotes of its JSON error template: backslash,
 * `'` and `"` get a backslash; `<`, `>`, `&`, `=` and control characters
 * become `\u00XX` (upper-case hex); other characters are kept when
 * printable, else `\uXXXX`. Not JSON.stringify: `'` becomes `\'` and a
 * newline `\u000A`.
 */
export function goJsEscape(text: string): string {
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    if (code < 0x80) {
      const escaped = JS_ESCAPES[ch];
      if (escaped !== undefined) out += escaped;
      else if (code < 0x20) out += `\\u00${code.toString(16).toUpperCase().padStart(2, '0')}`;
      else out += ch;
    } else if (code >= 0xd800 && code <= 0xdfff) {
      // A lone surrogate reaches Go as U+FFFD (printable).
      out += '\uFFFD';
    } else if (GO_PRINTABLE.test(ch)) {
      out += ch;
    } else {
      out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
    }
  }
  return out;
}

/**
 * The request's XML media type, when Tyk answers in XML: the Content-Type
 * up to its first `;`, compared as Go's switch does, exactly (no trimming,
 * no case folding): `application/xml` or `text/xml`.
 */
function xmlType(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const media = contentType.split(';')[0];
  return media === 'application/xml' || media === 'text/xml' ? media : undefined;
}

function errorAnswer(
  options: StyleOptions,
  status: number,
  message: string,
  request: RequestFacts,
): Answer {
  const xml = xmlType(request.contentType);
  const headers: Record<string, string> = {
    'content-type': xml ?? 'application/json',
  };
  if (!options.hideGenerator) headers['x-generator'] = 'tyk.io';
  // Tyk executes the XML template raw (text/template): the message is not escaped.
  const body = xml ? `<error>${message}</error>\n` : `{\n    "error": "${goJsEscape(message)}"\n}`;
  return { status, headers, body };
}

/** The state whose values the X-RateLimit-* headers carry. */
function headerState(options: StyleOptions, states: readonly LimitState[]): LimitState | undefined {
  if (options.limitHeaderSource === 'rate_limits') {
    return (
      states.find((s) => s.rule.kind === 'rate' && s.rule.key.by !== 'api') ??
      states.find((s) => s.rule.kind === 'rate')
    );
  }
  return states.find((s) => s.rule.kind === 'quota');
}

function rateLimitHeaders(
  options: StyleOptions,
  states: readonly LimitState[],
): Record<string, string> {
  const s = headerState(options, states);
  if (!s) return {};
  // Unix seconds: a rate limit's reset rounded up (a retry then passes),
  // a quota's renewal as Tyk stores it (whole seconds).
  const reset = s.rule.kind === 'rate' ? Math.ceil(s.resetMs / 1000) : Math.floor(s.resetMs / 1000);
  return {
    'x-ratelimit-limit': String(s.limit),
    'x-ratelimit-remaining': String(Math.max(0, s.remaining)),
    'x-ratelimit-reset': String(reset),
  };
}

/** Go's http.NotFound, which Tyk's router answers when no API listens on the path. */
function notFoundAnswer(): Answer {
  return {
    status: 404,
    headers: {
      'content-type': 'text/plain; charset=utf-8',
      'x-content-type-options': 'nosniff',
    },
    body: '404 page not found\n',
  };
}

export const tykRenderer: Renderer = {
  refuse(options, outcome, request) {
    if (outcome.reason === 'route_not_found' || outcome.reason === 'path_invalid') {
      return notFoundAnswer();
    }
    const [status, message] = tykMessage(options, outcome);
    const answer = errorAnswer(options, status, message, request);
    // Tyk >= 5.13 with rate_limit_response_headers: rate_limits sends them on every response.
    if (
      options.limitHeaderSource === 'rate_limits' &&
      outcome.limits &&
      outcome.limits.length > 0
    ) {
      return {
        ...answer,
        headers: { ...answer.headers, ...rateLimitHeaders(options, outcome.limits) },
      };
    }
    return answer;
  },
  limitHeaders(options, states) {
    return rateLimitHeaders(options, states);
  },
  notFound() {
    return notFoundAnswer();
  },
};
