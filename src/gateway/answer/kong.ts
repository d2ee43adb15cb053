/**
 * Kong's answers (error style `kong`, docs/gateways/kong.md): the bytes a
 * Kong 3.x gateway sends when its jwt, openid-connect or rate-limiting
 * plugin refuses a request, the rate-limiting headers it adds to proxied
 * responses, and its router's 404.
 *
 * Two body writers, as in Kong's PDK:
 *  - plugins' `kong.response.exit(status, {message = ...})`: compact JSON as
 *    lua-cjson encodes it (`/` escaped as `\/`), always
 *    `application/json; charset=utf-8`;
 *  - `kong.response.error(status, message)` (rate-limiting 429, the router's
 *    404, 400/500): a template chosen by the request's `Accept` header (JSON
 *    by default) that quotes the request id, as Kong 3.5+ writes it.
 *
 * Kong's own `Server: kong/<version>` and `X-Kong-Response-Latency` are not
 * emulated (they would be invented values); every answer carries
 * `X-Kong-Request-Id`, the id 3.5+ bodies quote.
 */
import { REASONS, type ReasonCode } from '../../core/gateway/reasons.js';
import type { LimitState } from '../limits/types.js';
import type { StyleOptions } from '../plan.js';
import type { Answer, Refused, Renderer, RequestFacts } from './types.js';

const JSON_UTF8 = 'application/json; charset=utf-8';

/** A string as lua-cjson writes it: JSON escapes, plus `\/` and `\u007f`. */
function cjsonString(text: string): string {
  return JSON.stringify(text).replace(/\//g, '\\/').replace(/\x7f/g, '\\u007f');
}

/** A one-level object of strings as lua-cjson writes it (no spaces). */
export function cjsonObject(fields: Readonly<Record<string, string>>): string {
  const parts = Object.entries(fields).map(([k, v]) => `${cjsonString(k)}:${cjsonString(v)}`);
  return `{${parts.join(',')}}`;
}

// ---------------------------------------------------------------------------
// kong.response.error: templates by Accept (kong/tools/http.lua)

type TemplateKind = 'json' | 'html' | 'xml' | 'plain';

const TEMPLATE_TYPES: Readonly<Record<TemplateKind, string>> = {
  json: JSON_UTF8,
  html: 'text/html; charset=utf-8',
  xml: 'application/xml; charset=utf-8',
  plain: 'text/plain; charset=utf-8',
};

/** Kong's media type lookup: exact types, `type/*` families, anything else JSON. */
function kindOfMediaType(media: string): TemplateKind {
  const [type, sub] = media.split('/');
  if (sub === '*') {
    if (type === 'text') return 'plain';
    return 'json';
  }
  switch (media) {
    case 'text/html':
      return 'html';
    case 'application/xml':
      return 'xml';
    case 'text/plain':
      return 'plain';
    default:
      return 'json';
  }
}

/**
 * The template Kong picks for an `Accept` value: the first media range with
 * the highest q (a range with q=0 never wins; a `q` Kong's pattern does not
 * read counts as 1), JSON when none parses.
 */
export function kongTemplateKind(accept: string | undefined): TemplateKind {
  let kind: TemplateKind = 'json';
  if (accept === undefined) return kind;
  let best = 0;
  for (const range of accept.split(',')) {
    const [media = '', ...params] = range.split(';');
    const type = media.trim().toLowerCase();
    if (!/^(?:[a-z0-9][a-z0-9!#$&^_+.-]+|\*)\/(?:[a-z0-9][a-z0-9!#$&^_+.-]+|\*)$/.test(type))
      continue;
    let q = 1;
    for (const p of params) {
      const m = /^\s*q=(1(?:\.0{0,3})?|0(?:\.\d{0,3})?)\s*$/i.exec(p);
      if (m?.[1] !== undefined) q = Number(m[1]);
    }
    if (q > best) {
      best = q;
      kind = kindOfMediaType(type);
    }
  }
  return kind;
}

/** The body of `kong.response.error(status, message)` (3.5+ templates; the message is not escaped, as in Kong). */
export function kongErrorTemplate(kind: TemplateKind, message: string, requestId: string): string {
  switch (kind) {
    case 'json':
      return `{\n  "message":"${message}",\n  "request_id":"${requestId}"\n}`;
    case 'html':
      return (
        '<!doctype html>\n<html>\n  <head>\n    <meta charset="utf-8">\n    <title>Error</title>\n' +
        `  </head>\n  <body>\n    <h1>Error</h1>\n    <p>${message}.</p>\n    <p>request_id: ${requestId}</p>\n` +
        '  </body>\n</html>\n'
      );
    case 'xml':
      return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<error>\n' +
        `  <message>${message}</message>\n  <requestid>${requestId}</requestid>\n</error>\n`
      );
    case 'plain':
      return `${message}\nrequest_id: ${requestId}\n`;
  }
}

function errorAnswer(
  status: number,
  message: string,
  request: RequestFacts,
  headers: Readonly<Record<string, string>> = {},
): Answer {
  const kind = kongTemplateKind(request.accept);
  return {
    status,
    headers: {
      ...headers,
      'content-type': TEMPLATE_TYPES[kind],
      'x-kong-request-id': request.requestId,
    },
    body: kongErrorTemplate(kind, message, request.requestId),
  };
}

function exitAnswer(
  status: number,
  fields: Readonly<Record<string, string>>,
  request: RequestFacts,
  headers: Readonly<Record<string, string>> = {},
): Answer {
  return {
    status,
    headers: { ...headers, 'content-type': JSON_UTF8, 'x-kong-request-id': request.requestId },
    body: cjsonObject(fields),
  };
}

// ---------------------------------------------------------------------------
// Which Kong component answers each reason

/**
 *  - `auth`: the authentication plugin (jwt or openid-connect bodies);
 *  - `limit`: rate-limiting's 429;
 *  - `error`: `kong.response.error(status, message)`;
 *  - `exit`: `kong.response.exit(status, {message = ...})`;
 *  - `not_found`: the router.
 */
type Row =
  | { readonly kind: 'auth' }
  | { readonly kind: 'limit' }
  | { readonly kind: 'error'; readonly status: number; readonly message: string }
  | { readonly kind: 'exit'; readonly status: number; readonly message: string }
  | { readonly kind: 'not_found' };

const AUTH: Row = { kind: 'auth' };
const UNEXPECTED: Row = { kind: 'exit', status: 500, message: 'An unexpected error occurred' };

/** Every reason code (a test checks this table is total against REASONS). */
export const KONG_ROWS: Readonly<Record<ReasonCode, Row>> = {
  missing_token: AUTH,
  not_bearer: AUTH,
  duplicate_authorization: AUTH,
  malformed_authorization: AUTH,
  token_too_large: AUTH,
  jws_json: AUTH,
  token_malformed: AUTH,
  not_base64url: AUTH,
  non_canonical_base64url: AUTH,
  header_invalid: AUTH,
  payload_invalid: AUTH,
  duplicate_member: AUTH,
  jwe_not_accepted: AUTH,
  alg_not_allowed: AUTH,
  crit_unsupported: AUTH,
  b64_unsupported: AUTH,
  nested_jwt: AUTH,
  kid_invalid: AUTH,
  unknown_kid: AUTH,
  no_key: AUTH,
  signature_invalid: AUTH,
  claim_type: AUTH,
  exp_missing: AUTH,
  token_expired: AUTH,
  token_not_yet_valid: AUTH,
  iat_future: AUTH,
  issuer_missing: AUTH,
  issuer_not_allowed: AUTH,
  audience_missing: AUTH,
  audience_not_allowed: AUTH,
  claim_missing: AUTH,
  claim_mismatch: AUTH,
  insufficient_scope: AUTH,
  forward_claim_invalid: AUTH,
  multiple_tokens: AUTH,
  exp_too_far: AUTH,
  claim_forbidden: AUTH,
  key_claim_missing: AUTH,
  credential_not_found: AUTH,
  identity_missing: AUTH,
  policy_not_found: AUTH,
  api_not_allowed: AUTH,
  client_credentials_invalid: AUTH,
  token_inactive: AUTH,
  idp_unavailable: UNEXPECTED,
  route_not_found: { kind: 'not_found' },
  path_invalid: { kind: 'error', status: 400, message: 'Bad request' },
  limit_key_missing: UNEXPECTED,
  rate_limited: { kind: 'limit' },
  quota_exceeded: { kind: 'limit' },
  limits_unavailable: { kind: 'error', status: 500, message: 'An unexpected error occurred' },
};

/** Reasons whose native status is 403: an authorization, not an authentication, failure. */
function isForbidden(reason: string): boolean {
  return (REASONS as Record<string, { status: number }>)[reason]?.status === 403;
}

/** What the OSS jwt plugin writes for each reason (kong/plugins/jwt/handler.lua). */
function jwtBody(
  reason: string,
  outcome: Refused,
  claimName: string,
): { fields: Record<string, string>; withError: boolean } {
  const message = (text: string, withError = true) => ({ fields: { message: text }, withError });
  switch (reason) {
    case 'missing_token':
    case 'not_bearer':
    case 'malformed_authorization':
      // No `Bearer <token>` found anywhere: no token, so the bare challenge.
      return message('Unauthorized', false);
    case 'multiple_tokens':
    case 'duplicate_authorization':
      return message('Multiple tokens provided');
    case 'payload_invalid':
      return message('Bad token; invalid claims');
    case 'token_too_large':
    case 'jws_json':
    case 'token_malformed':
    case 'not_base64url':
    case 'non_canonical_base64url':
    case 'header_invalid':
    case 'duplicate_member':
    case 'jwe_not_accepted':
    case 'crit_unsupported':
    case 'b64_unsupported':
    case 'nested_jwt':
    case 'kid_invalid':
      return message('Bad token; invalid JSON');
    case 'alg_not_allowed': {
      const alg = outcome.detail?.value;
      if (alg !== undefined && !KONG_JWT_ALGORITHMS.has(alg))
        return message('Bad token; invalid alg');
      return message('Invalid algorithm');
    }
    case 'key_claim_missing':
      return outcome.detail?.value === ''
        ? message(`Invalid '${claimName}' in claims`)
        : message(`No mandatory '${claimName}' in claims`);
    case 'credential_not_found':
    case 'unknown_kid':
    case 'no_key':
      return message(`No credentials found for given '${claimName}'`);
    case 'signature_invalid':
      return message('Invalid signature');
    case 'exp_missing':
      return { fields: { exp: 'must be a number' }, withError: true };
    case 'claim_type':
    case 'claim_missing': {
      // Kong's parser checks each claims_to_verify entry's type first: an
      // absent or non-numeric exp / nbf is "must be a number" under its name.
      const claim = timeClaimOf(outcome);
      if (claim !== undefined) return { fields: { [claim]: 'must be a number' }, withError: true };
      return message('Unauthorized');
    }
    case 'token_expired':
      return { fields: { exp: 'token expired' }, withError: true };
    case 'token_not_yet_valid':
      return { fields: { nbf: 'token not valid yet' }, withError: true };
    case 'exp_too_far':
      return { fields: { exp: 'exceeds maximum allowed expiration' }, withError: true };
    default:
      // Checks the jwt plugin does not make (only with --strict): Kong's generic 401.
      return message('Unauthorized');
  }
}

/**
 * Which of exp / nbf a claim_type or claim_missing refusal is about: the
 * detail when the verifier gives one, else its description ("nbf is not a
 * number", "required claim nbf missing").
 */
function timeClaimOf(outcome: Refused): 'exp' | 'nbf' | undefined {
  const named = outcome.detail?.claim;
  if (named === 'exp' || named === 'nbf') return named;
  const m = /\b(exp|nbf)\b/.exec(outcome.description);
  return m?.[1] === 'exp' || m?.[1] === 'nbf' ? m[1] : undefined;
}

/** The algorithms a Kong jwt_secret may have; any other `alg` fails the token parser (the importer refuses others too). */
export const KONG_JWT_ALGORITHMS: ReadonlySet<string> = new Set([
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
]);

function authAnswer(options: StyleOptions, outcome: Refused, request: RequestFacts): Answer {
  const reason = outcome.reason;
  const noToken =
    reason === 'missing_token' || reason === 'not_bearer' || reason === 'malformed_authorization';
  if (options.kongPlugin === 'jwt' && !isForbidden(reason)) {
    const base = options.realm === undefined ? 'Bearer' : `Bearer realm="${options.realm}"`;
    const { fields, withError } = jwtBody(reason, outcome, options.keyClaimName ?? 'iss');
    const challenge = withError ? `${base} error="invalid_token"` : base;
    return exitAnswer(401, fields, request, { 'www-authenticate': challenge });
  }
  if (isForbidden(reason)) {
    return exitAnswer(403, { message: options.forbiddenMessage ?? 'Forbidden' }, request, {
      'www-authenticate': 'Bearer error="insufficient_scope"',
    });
  }
  return exitAnswer(401, { message: options.unauthorizedMessage ?? 'Unauthorized' }, request, {
    'www-authenticate': noToken ? 'Bearer' : 'Bearer error="invalid_token"',
  });
}

// ---------------------------------------------------------------------------
// rate-limiting headers (kong/plugins/rate-limiting/handler.lua)

const PERIOD_NAMES: Readonly<Record<string, string>> = {
  second: 'second',
  minute: 'minute',
  hour: 'hour',
  day: 'day',
  month: 'month',
  year: 'year',
};

/** The plugin's window lengths in seconds (its counters' expirations): a month is 30 days, a year 365. */
const KONG_WINDOW_SECONDS: Readonly<Record<string, number>> = {
  second: 1,
  minute: 60,
  hour: 3600,
  day: 86400,
  month: 2592000,
  year: 31536000,
};

/** The start (epoch ms, UTC) of the calendar period holding `nowMs`. */
function periodStartMs(calendar: string, nowMs: number): number {
  const d = new Date(nowMs);
  switch (calendar) {
    case 'year':
      return Date.UTC(d.getUTCFullYear(), 0, 1);
    case 'month':
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    default: {
      const unit = (KONG_WINDOW_SECONDS[calendar] ?? 1) * 1000;
      return Math.floor(nowMs / unit) * unit;
    }
  }
}

/**
 * Seconds to the end of the window, as Kong computes them: the window's
 * fixed length minus the whole seconds since its calendar period began, at
 * least 1. For second...day that is the time to the next boundary; for a
 * month or a year Kong uses 30 or 365 days whatever the calendar says.
 */
function resetSeconds(state: LimitState, nowMs: number): number {
  const calendar = state.rule.calendar;
  const window = calendar === undefined ? undefined : KONG_WINDOW_SECONDS[calendar];
  if (calendar === undefined || window === undefined) {
    return Math.max(1, Math.ceil((state.resetMs - nowMs) / 1000));
  }
  const elapsed = Math.floor((nowMs - periodStartMs(calendar, nowMs)) / 1000);
  return Math.max(1, window - elapsed);
}

/**
 * The state the `RateLimit-*` trio reports: least remaining; on a tie, the
 * longer window.
 */
function headline(states: readonly LimitState[]): LimitState | undefined {
  let best: LimitState | undefined;
  for (const s of states) {
    if (
      best === undefined ||
      s.remaining < best.remaining ||
      (s.remaining === best.remaining && s.rule.periodMs > best.rule.periodMs)
    ) {
      best = s;
    }
  }
  return best;
}

function limitHeaderValues(
  states: readonly LimitState[],
  nowMs: number,
  retryAfter: boolean,
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const s of states) {
    const period = PERIOD_NAMES[s.rule.calendar ?? ''] ?? s.rule.id;
    headers[`x-ratelimit-limit-${period}`] = String(s.limit);
    headers[`x-ratelimit-remaining-${period}`] = String(Math.max(0, s.remaining));
  }
  const top = headline(states);
  if (top) {
    const reset = resetSeconds(top, nowMs);
    headers['ratelimit-limit'] = String(top.limit);
    headers['ratelimit-remaining'] = String(Math.max(0, top.remaining));
    headers['ratelimit-reset'] = String(reset);
    if (retryAfter) headers['retry-after'] = String(reset);
  }
  return headers;
}

function limitAnswer(options: StyleOptions, outcome: Refused, request: RequestFacts): Answer {
  const states = outcome.limits ?? [];
  // The refusing state knows both its reset and the seconds to it: that is "now".
  const refusing = states.find((s) => !s.allowed);
  const nowMs = refusing ? refusing.resetMs - refusing.retryAfterSeconds * 1000 : 0;
  const headers =
    options.hideLimitHeaders === true || refusing === undefined
      ? {}
      : limitHeaderValues(states, nowMs, true);
  return errorAnswer(
    options.limitStatus ?? 429,
    options.limitMessage ?? 'API rate limit exceeded',
    request,
    headers,
  );
}

// ---------------------------------------------------------------------------

export const kongRenderer: Renderer = {
  refuse(options, outcome, request) {
    const row = (KONG_ROWS as Record<string, Row | undefined>)[outcome.reason] ?? UNEXPECTED;
    switch (row.kind) {
      case 'auth':
        return authAnswer(options, outcome, request);
      case 'limit':
        return limitAnswer(options, outcome, request);
      case 'error':
        return errorAnswer(row.status, row.message, request);
      case 'exit':
        return exitAnswer(row.status, { message: row.message }, request);
      case 'not_found':
        return kongRenderer.notFound(options, request);
    }
  },

  limitHeaders(options, states, nowMs) {
    if (options.hideLimitHeaders === true || states.length === 0) return {};
    return limitHeaderValues(states, nowMs, false);
  },

  notFound(_options, request) {
    return errorAnswer(404, 'no Route matched with those values', request);
  },
};
