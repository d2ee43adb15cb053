/**
 * The gateway plan: what `serve` runs, as pure data (docs/architecture.md,
 * "The gateway as a plan"). Flags, an oidc-gw YAML/JSON file, a Tyk API
 * definition, a Kong declarative file and an APIM policy are five ways to
 * say the same thing; each importer (src/gateway/load/) compiles its source
 * into a `Plan` plus warnings, and the request path only executes plans.
 *
 * Rules for importers:
 * - never throw on what they do not support: return a `Warning` with the
 *   path inside the file (`apis[0].foo`);
 * - throw `PlanError` (file, path, message) for what is invalid or would
 *   make the emulation wrong;
 * - describe what the original gateway checks, no more and no less, and add
 *   a `skipped_check` warning for each check it skips (classic Tyk never
 *   compares `iss`/`aud`; Kong's jwt plugin checks `exp` only on request).
 *
 * Everything here is plain data, frozen by `freezePlan`: a reload builds a
 * new plan and swaps it whole.
 */
import type { Checks, ClaimRule } from '../core/gateway/claims.js';

export type { Checks, ClaimRule, TimeCheck } from '../core/gateway/claims.js';

/** Which gateway's answers (status, headers, body bytes) an API gives. */
export type ErrorStyle = 'rfc6750' | 'tyk' | 'kong' | 'apim';

/** The format a plan came from. */
export type SourceFormat = 'flags' | 'oidc-gw' | 'tyk' | 'kong' | 'apim';

export interface Warning {
  /** The file, or `flags`. */
  readonly file: string;
  /** Path inside the file, JSONPath-like (`apis[0].rate_limit`) or an XPath for APIM. */
  readonly path: string;
  readonly message: string;
  /**
   * `ignored`: a field that is not enforced; `skipped_check`: a check the
   * original gateway does not make (so the deployed gateway accepts such
   * tokens); `note`: anything else worth saying at start.
   */
  readonly kind: 'ignored' | 'skipped_check' | 'note';
}

/** An invalid configuration: exit 2, `FILE: PATH: MESSAGE`. */
export class PlanError extends Error {
  constructor(
    readonly file: string,
    readonly path: string,
    readonly detail: string,
  ) {
    super(path ? `${file}: ${path}: ${detail}` : `${file}: ${detail}`);
    this.name = 'PlanError';
  }
}

// ---------------------------------------------------------------------------
// Where the credential is read from

/**
 * Where an API reads its token. The oidc-gw default is the Authorization
 * header with the Bearer scheme only (RFC 6750 §2.1), never the query.
 */
export interface TokenSource {
  /** Header names to read, lower-case, in order (default ['authorization']). */
  readonly headers: readonly string[];
  /**
   * `required`: `Bearer TOKEN` only (oidc-gw, Kong's header form);
   * `optional`: a leading `Bearer ` (any case) is stripped when present (Tyk, APIM without require-scheme);
   */
  readonly scheme: 'required' | 'optional';
  /** Query parameters that may carry the token (Kong `uri_param_names`, Tyk `param_name`). */
  readonly query: readonly string[];
  /** Cookies that may carry the token. */
  readonly cookies: readonly string[];
}

// ---------------------------------------------------------------------------
// Trust: where verification keys come from

export interface PublicKeyFile {
  /** PEM (public key or certificate), JWK or JWKS text. */
  readonly text: string;
  /** For messages: the file name, or `FILE: PATH` for a key inside a config. */
  readonly source: string;
  /** Restrict this key to these algorithms (Kong's jwt_secret algorithm). */
  readonly algorithms?: readonly string[];
  /** The kid this key answers to; undefined: any kid (a pinned key). */
  readonly kid?: string;
}

export interface SharedSecret {
  readonly secret: Uint8Array;
  /** HS256/384/512 by default; an importer may narrow (Kong: the secret's algorithm). */
  readonly algorithms?: readonly string[];
  readonly kid?: string;
  /** For messages (never the secret itself). */
  readonly source: string;
}

export interface Trust {
  /** Keys by discovery (`iss` must then match one of them, unless checks.issuers says otherwise). */
  readonly issuers: readonly string[];
  /** JWK Sets trusted for any issuer. */
  readonly jwksUris: readonly string[];
  readonly publicKeys: readonly PublicKeyFile[];
  readonly secrets: readonly SharedSecret[];
  /**
   * Kong's jwt plugin: the claim (`key_claim_name`, default `iss`; looked up
   * in the payload, then in the header) whose value selects one credential,
   * and only that credential's key verifies. Absent: every trusted key may.
   */
  readonly keyedBy?: KeyedTrust;
}

export interface KeyedTrust {
  readonly claim: string;
  /** By claim value. */
  readonly credentials: ReadonlyArray<{
    readonly key: string;
    /** Kong consumer, forwarded as X-Consumer-* headers. */
    readonly consumer?: {
      readonly id: string;
      readonly username?: string;
      readonly customId?: string;
    };
    /** The credential's id (X-Credential-Identifier). */
    readonly credentialId: string;
    readonly algorithm: string;
    readonly publicKey?: PublicKeyFile;
    readonly secret?: SharedSecret;
  }>;
}

// ---------------------------------------------------------------------------
// Checks: ClaimRule, TimeCheck and Checks live with the one verifier
// (src/core/gateway/claims.ts) and are part of the plan.

// ---------------------------------------------------------------------------
// Credentials other than a bearer JWT (docs/gateway-config.md)

export interface ClientCredentialsExchange {
  /** Issuer (discovery) or token endpoint to send the caller's credentials to. */
  readonly issuer?: string;
  readonly tokenEndpoint?: string;
  /** Where the caller may put its credentials. */
  readonly from: ReadonlyArray<'header' | 'body' | 'query'>;
  readonly authMethod: 'client_secret_basic' | 'client_secret_post';
  readonly scope?: string;
  /** Extra token request parameters (Auth0's `audience`). */
  readonly params: Readonly<Record<string, string>>;
}

export interface Introspection {
  readonly issuer?: string;
  readonly endpoint?: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly authMethod: 'client_secret_basic' | 'client_secret_post';
  /** Seconds an inactive answer is remembered. */
  readonly negativeTtlSeconds: number;
  /** Upper bound for an active answer's cache lifetime. */
  readonly maxTtlSeconds: number;
}

export interface Credentials {
  readonly bearer: boolean;
  readonly clientCredentials?: ClientCredentialsExchange;
  readonly introspection?: Introspection;
}

// ---------------------------------------------------------------------------
// Limits and quotas per identity (docs/limits.md)

/**
 * The counting algorithms (docs/limits.md):
 *  - `sliding_log`: at most N in any rolling window; refused requests count (Tyk's rolling limiter);
 *  - `sliding_window`: two-window weighted counter (APIM rate-limit-by-key; oidc-gw default);
 *  - `fixed_calendar`: UTC calendar windows (Kong: second...year);
 *  - `fixed_first_request`: a window that starts at the identity's first request (Tyk quota);
 *  - `fixed_from_start`: windows of `periodMs` from `startMs` (APIM quota-by-key).
 */
export type LimitAlgorithm =
  'sliding_log' | 'sliding_window' | 'fixed_calendar' | 'fixed_first_request' | 'fixed_from_start';

/** Who a counter belongs to. */
export type LimitKey =
  | { readonly by: 'claim'; readonly claim: readonly string[] }
  | { readonly by: 'client_id' }
  | { readonly by: 'ip' }
  | { readonly by: 'header'; readonly header: string }
  /** Kong consumer / credential, Tyk policy identity... resolved by the exchange. */
  | { readonly by: 'consumer' }
  | { readonly by: 'credential' }
  /** One counter for everyone (Tyk global_rate_limit). */
  | { readonly by: 'api' }
  /** APIM counter-key expression, compiled by the APIM importer. */
  | { readonly by: 'expression'; readonly source: string };

/**
 * Up to this many requests per period, a "sliding window" rate limit (the
 * native one, APIM rate-limit-by-key) is an exact sliding log: never more
 * than the limit in any rolling period, and a Retry-After within the period.
 * Above it, the two-bucket sliding window, whose memory and time per request
 * do not grow with the limit (docs/limits.md).
 */
export const SLIDING_LOG_MAX = 1000;

/** The algorithm of a sliding-window rate limit of `limit` requests (see SLIDING_LOG_MAX). */
export function slidingAlgorithm(limit: number): 'sliding_log' | 'sliding_window' {
  return limit <= SLIDING_LOG_MAX ? 'sliding_log' : 'sliding_window';
}

export interface LimitRule {
  /** Stable id inside the API (`rate`, `quota`, `kong-minute`...), part of the store key. */
  readonly id: string;
  readonly kind: 'rate' | 'quota';
  readonly algorithm: LimitAlgorithm;
  readonly limit: number;
  readonly periodMs: number;
  /** fixed_calendar: which calendar unit (periodMs is then informative). */
  readonly calendar?: 'second' | 'minute' | 'hour' | 'day' | 'month' | 'year';
  /** fixed_from_start: the first window's start (epoch ms). */
  readonly startMs?: number;
  /** Whether a refused request is counted too (Tyk: yes; Kong local: no). */
  readonly countRefused: boolean;
  readonly key: LimitKey;
  /** Where it came from, for --check and logs. */
  readonly label: string;
  /** APIM `increment-count`: the weight of each counted request (LimitStore.hit's `cost`). Absent: 1. */
  readonly cost?: number;
  /**
   * APIM `increment-condition`: which requests count. Absent: every one
   * (as `countRefused` says). `never`: none (the constant `false`; requests
   * are still checked). `expression`: a condition (load/apim-expr.ts) that
   * may read the answer: the request is checked on the way in without being
   * counted, and counted once its answer is known if the condition holds
   * (APIM defers an expression condition to the end of the outbound pipeline).
   */
  readonly countWhen?: { readonly never: true } | { readonly expression: string };
  /**
   * APIM: a limit written before validate-jwt is counted before the token is
   * looked at (policies run in document order), so requests the token check
   * then refuses count too. Its key must not need a verified token.
   */
  readonly beforeToken?: boolean;
}

// ---------------------------------------------------------------------------
// Forwarding

export interface Forwarding {
  /** Claims sent upstream as headers (a client's copy is always removed). */
  readonly claims: ReadonlyArray<{ readonly header: string; readonly claim: string }>;
  readonly stripAuthorization: boolean;
  /** Kong: X-Consumer-ID, X-Consumer-Username, X-Credential-Identifier... */
  readonly consumerHeaders: boolean;
}

// ---------------------------------------------------------------------------
// Answers

export interface StyleOptions {
  readonly style: ErrorStyle;
  /** Tyk `hide_generator_header`. */
  readonly hideGenerator?: boolean;
  /** Kong jwt `realm`. */
  readonly realm?: string;
  /** Kong openid-connect `unauthorized_error_message` / `forbidden_error_message`. */
  readonly unauthorizedMessage?: string;
  readonly forbiddenMessage?: string;
  /** APIM validate-jwt `failed-validation-httpcode` / `failed-validation-error-message`. */
  readonly failedStatus?: number;
  readonly failedMessage?: string;
  /** Kong rate-limiting `hide_client_headers`, `error_code`, `error_message`. */
  readonly hideLimitHeaders?: boolean;
  readonly limitStatus?: number;
  readonly limitMessage?: string;
  /** Tyk: `X-RateLimit-*` carry `quotas` (default) or `rate_limits`. */
  readonly limitHeaderSource?: 'quotas' | 'rate_limits';
  /**
   * Tyk: which auth middleware answers. The JWT middleware says `Key not
   * authorized...` (403/401); the OpenID Connect middleware (`use_openid`)
   * says 401 `Key not authorised` for every token failure. Default `jwt`.
   */
  readonly tykAuth?: 'jwt' | 'openid' | 'keyless';
  /**
   * APIM: the `<return-response>` of a `<choose>` that refuses on a claim
   * after validate-jwt (ClaimRule failure `forbidden`, reason
   * claim_forbidden), as written: status, headers, body.
   */
  readonly forbiddenResponse?: {
    readonly status: number;
    readonly headers: Readonly<Record<string, string>>;
    readonly body: string;
  };
  /** APIM header names for rate-limit-by-key. */
  readonly retryAfterHeader?: string;
  readonly remainingHeader?: string;
  readonly totalHeader?: string;
  /** Kong: which authentication plugin answers refusals (their bodies differ). */
  readonly kongPlugin?: 'jwt' | 'openid-connect';
  /** Kong jwt `key_claim_name`, quoted by its messages (default `iss`). */
  readonly keyClaimName?: string;
}

// ---------------------------------------------------------------------------
// The API and the plan

export interface ApiPlan {
  /** Unique within the plan; the `api` log field and metrics label. */
  readonly name: string;
  readonly source: { readonly format: SourceFormat; readonly file: string; readonly path: string };
  /**
   * Kong `anonymous` (jwt, openid-connect): a request that fails
   * authentication goes on as this consumer (`consumer_id`,
   * `consumer_username`, `consumer_custom_id`), with X-Anonymous-Consumer.
   */
  readonly anonymous?: Readonly<Record<string, string>>;
  /**
   * Kong `run_on_preflight: false`: an OPTIONS request is not authenticated
   * (it goes on with no consumer; limits still count it).
   */
  readonly preflightUnauthenticated?: boolean;
  readonly match: {
    /** Path prefix, starting with `/`, no trailing `/` except for the root. */
    readonly path: string;
    /** Drop the prefix before forwarding. */
    readonly stripPath: boolean;
    /** Kong route `methods`: only these request methods (upper case) match. */
    readonly methods?: readonly string[];
    /**
     * Kong route `hosts`: only these Host names match (lower case; a leading
     * `*.` or trailing `.*` wildcard; a name with `:port` matches that port only).
     */
    readonly hosts?: readonly string[];
  };
  /** May carry a base path (`http://host/base`). */
  readonly upstream: { readonly url: string; readonly timeoutMs: number };
  readonly token: TokenSource;
  readonly trust: Trust;
  readonly checks: Checks;
  readonly credentials: Credentials;
  readonly forward: Forwarding;
  readonly limits: readonly LimitRule[];
  readonly answers: StyleOptions;
  /**
   * Tyk policies: which identities may use this API and with what limits is
   * decided per token (policy claim, default policies, scope mapping). The
   * Tyk importer fills this; other formats leave it undefined.
   */
  readonly policies?: PolicyBinding;
  /**
   * `none`: the API takes no credential at all (Tyk `use_keyless`): no token
   * is read or verified; limits keyed by `api` still apply. Absent: the
   * credentials of `credentials` are required.
   */
  readonly auth?: 'none';
  /**
   * Counters of APIs with the same scope are shared (a Kong route with
   * several paths; a Kong rate-limiting plugin on a service or global counts
   * all its routes together). Undefined: the API's name.
   */
  readonly counterScope?: string;
  /**
   * Kong openid-connect `credential_claim`: the claim path whose value is
   * the caller's (virtual) credential, so `LimitKey` `credential` (and
   * `consumer`, which falls back to the credential) count by it.
   */
  readonly credentialClaim?: readonly string[];
  /**
   * APIM `check-header`, in document order: checked before the token. A
   * failure answers `status` with `message` in the API's style
   * (src/gateway/answer/apim.ts `apimMessageAnswer`).
   */
  readonly headerChecks?: readonly HeaderCheck[];
}

/** APIM check-header: the header must be present and, when `values` is not empty, equal one of them. */
export interface HeaderCheck {
  /** Lower-case header name. */
  readonly header: string;
  readonly values: readonly string[];
  /** `ignore-case`: compare values case-insensitively. */
  readonly ignoreCase: boolean;
  /** `failed-check-httpcode` / `failed-check-error-message`. */
  readonly status: number;
  readonly message: string;
  /** XPath, for --check and logs. */
  readonly label: string;
  /** Placed after validate-jwt in the document: checked once the token is verified (APIM runs policies in order). */
  readonly afterToken?: boolean;
}

/** Tyk's policy resolution, compiled (docs/gateways/tyk.md). */
export interface PolicyBinding {
  /** `jwt_identity_base_field` (fallback `sub`): the identity the counters follow. */
  readonly identityClaim: string;
  /** `jwt_policy_field_name`. */
  readonly policyClaim?: string;
  readonly defaultPolicies: readonly string[];
  /** scope value -> policy id. */
  readonly scopeToPolicy?: Readonly<Record<string, string>>;
  readonly scopeClaim?: string;
  /**
   * Claims tried in order for the identity, the first holding a non-empty
   * string wins (classic Tyk: `[jwt_identity_base_field, 'sub']`; a dotted
   * name is looked up literally first, then as a nested path). Absent:
   * `[identityClaim]`.
   */
  readonly identityClaims?: readonly string[];
  /** Tyk OAS `basePolicyClaims`: tried in order, the first present names the policy. Absent: `[policyClaim]`. */
  readonly policyClaims?: readonly string[];
  /** Tyk OAS `scopes.claims`: the first present in the token holds the scopes. Absent: `[scopeClaim ?? 'scope']`. */
  readonly scopeClaims?: readonly string[];
  /**
   * Tyk OpenID Connect middleware: `claim` (`aud`: a string, or the first
   * element of an array that is a known client) selects the client, whose
   * policy applies (`byClient`: client id -> policy id). No known client:
   * policy_not_found with detail.check `client`.
   */
  readonly clientPolicies?: {
    readonly claim: string;
    readonly byClient: Readonly<Record<string, string>>;
  };
  /** Tyk `openid_options.segregate_by_client`: counters per (client, identity). */
  readonly segregateByClient?: boolean;
  /**
   * Policies by id: whether they open this API, and their limits.
   * `unlimitedQuota`: Tyk `quota_max: -1`, which wins when a token's
   * policies are merged (the highest rate and the highest quota apply).
   */
  readonly policies: Readonly<
    Record<
      string,
      {
        readonly allowsApi: boolean;
        readonly limits: readonly LimitRule[];
        readonly unlimitedQuota?: boolean;
      }
    >
  >;
}

export interface Plan {
  readonly apis: readonly ApiPlan[];
  readonly warnings: readonly Warning[];
  /** The style of the 404 when no API matches: the first file's gateway. */
  readonly notFoundStyle: StyleOptions;
  /** The files read (empty for flags), for reload. */
  readonly files: readonly string[];
}

/** Defaults an importer starts from (oidc-gw's own, strict). */
export const DEFAULT_CHECKS: Checks = Object.freeze({
  exp: 'required',
  nbf: 'if_present',
  iat: 'if_present',
  skew: Object.freeze({ exp: 30, nbf: 30, iat: 30 }),
  maxExpirationSeconds: 0,
  issuers: Object.freeze([]) as readonly string[],
  audiences: Object.freeze([]) as readonly string[],
  claims: Object.freeze([]) as readonly ClaimRule[],
  maxTokenBytes: 8192,
}) as Checks;

export const BEARER_HEADER: TokenSource = Object.freeze({
  headers: Object.freeze(['authorization']),
  scheme: 'required',
  query: Object.freeze([]),
  cookies: Object.freeze([]),
}) as TokenSource;

/** A normalized path prefix: leading `/`, no trailing `/` (except the root). */
export function normalizePrefix(path: string): string {
  let p = path.trim();
  if (!p.startsWith('/')) p = `/${p}`;
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

/** Deep-freezes a plan (reload swaps whole plans; nothing mutates one). */
export function freezePlan<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    if (value instanceof Uint8Array) return value;
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) freezePlan(v);
  }
  return value;
}

/** Whether any API of the plan counts requests (its own limits or its policies'). */
export function hasLimits(plan: Plan): boolean {
  return plan.apis.some(
    (a) =>
      a.limits.length > 0 ||
      Object.values(a.policies?.policies ?? {}).some((p) => p.limits.length > 0),
  );
}
