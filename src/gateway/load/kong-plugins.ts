/**
 * Kong plugins compiled into plan parts (docs/gateways/kong.md): the OSS
 * `jwt` plugin, the bearer-relevant subset of the Enterprise
 * `openid-connect` plugin (bearer, client_credentials, introspection), and
 * `rate-limiting`. Each compiler describes what Kong checks, no more and no
 * less, and says with a warning what it skips or does not emulate.
 */
import { Buffer } from 'node:buffer';
import { decodeStdBase64 } from './base64.js';
import {
  DEFAULT_CHECKS,
  type Checks,
  type ClaimRule,
  type ClientCredentialsExchange,
  type Credentials,
  type Forwarding,
  type Introspection,
  type KeyedTrust,
  type LimitKey,
  type LimitRule,
  type StyleOptions,
  type TokenSource,
  type Trust,
} from '../plan.js';
import {
  fail,
  optBoolean,
  optNumber,
  optString,
  optStrings,
  warn,
  warnUnread,
  type Json,
  type Where,
} from './kong-read.js';

/** A jwt_secret with its consumer, as the jwt plugin looks it up by `key`. */
export interface KongCredential {
  readonly key: string;
  readonly algorithm: string;
  readonly secret?: string;
  readonly rsaPublicKey?: string;
  readonly consumer: {
    readonly id: string;
    readonly username?: string;
    readonly customId?: string;
  };
  readonly file: string;
  readonly path: string;
}

/** A plugin as it applies to one route. */
export interface PluginEntry {
  readonly name: string;
  readonly config: Json;
  readonly file: string;
  /** `services[0].routes[1].plugins[2]`. */
  readonly path: string;
  readonly scope: 'route' | 'service' | 'global';
  /** Identifies the route or service the plugin belongs to (counter scopes). */
  readonly scopeKey: string;
}

/** What an authentication plugin contributes to an API. */
export interface AuthPart {
  readonly token: TokenSource;
  readonly trust: Trust;
  readonly checks: Checks;
  readonly credentials: Credentials;
  readonly forward: Forwarding;
  readonly answers: Partial<StyleOptions>;
  readonly credentialClaim?: readonly string[];
}

export interface CompileOptions {
  readonly strict: boolean;
  readonly maxTokenBytes: number;
}

const EMPTY_TRUST: Trust = { issuers: [], jwksUris: [], publicKeys: [], secrets: [] };

// ---------------------------------------------------------------------------
// jwt (kong/plugins/jwt/schema.lua, handler.lua)

const JWT_READ = new Set([
  'uri_param_names',
  'cookie_names',
  'header_names',
  'key_claim_name',
  'secret_is_base64',
  'claims_to_verify',
  'maximum_expiration',
  'realm',
  'anonymous',
  'run_on_preflight',
]);

export function compileJwt(
  plugin: PluginEntry,
  credentials: readonly KongCredential[],
  where: Where,
  options: CompileOptions,
): AuthPart {
  const c = plugin.config;
  const at = `${plugin.path}.config`;
  const keyClaim = optString(where, c['key_claim_name'], `${at}.key_claim_name`) ?? 'iss';
  const base64 = optBoolean(where, c['secret_is_base64'], `${at}.secret_is_base64`) ?? false;
  const verify = optStrings(where, c['claims_to_verify'], `${at}.claims_to_verify`) ?? [];
  for (const [i, claim] of verify.entries()) {
    if (claim !== 'exp' && claim !== 'nbf') {
      fail(where, `${at}.claims_to_verify[${i}]`, `"${claim}" is not one of exp, nbf`);
    }
  }
  const maxExp = optNumber(where, c['maximum_expiration'], `${at}.maximum_expiration`) ?? 0;
  if (maxExp < 0 || maxExp > 31536000) {
    fail(where, `${at}.maximum_expiration`, 'must be between 0 and 31536000');
  }
  if (maxExp > 0 && !verify.includes('exp')) {
    fail(where, `${at}.maximum_expiration`, 'Kong requires "exp" in claims_to_verify with it');
  }
  const realm = optString(where, c['realm'], `${at}.realm`);
  warnUnread(where, c, at, JWT_READ, {}, 'jwt');

  const keyed: KeyedTrust['credentials'][number][] = [];
  for (const cred of credentials) {
    const source = `${cred.file}: ${cred.path}`;
    const hs = cred.algorithm.startsWith('HS');
    if (hs) {
      if (cred.secret === undefined) continue;
      let decoded: Buffer | undefined = Buffer.from(cred.secret, 'utf8');
      if (base64) {
        // Kong decodes with ngx.decode_base64, which refuses anything but padded base64.
        decoded = decodeStdBase64(cred.secret);
        if (!decoded)
          fail(where, `${at}.secret_is_base64`, `the secret at ${source} is not valid base64`);
      }
      const bytes = new Uint8Array(decoded);
      keyed.push({
        key: cred.key,
        consumer: cred.consumer,
        credentialId: cred.key,
        algorithm: cred.algorithm,
        secret: { secret: bytes, algorithms: [cred.algorithm], source: `${source}.secret` },
      });
    } else if (cred.rsaPublicKey !== undefined) {
      keyed.push({
        key: cred.key,
        consumer: cred.consumer,
        credentialId: cred.key,
        algorithm: cred.algorithm,
        publicKey: {
          text: cred.rsaPublicKey,
          source: `${source}.rsa_public_key`,
          algorithms: [cred.algorithm],
        },
      });
    }
  }
  if (base64 && credentials.some((cr) => !cr.algorithm.startsWith('HS'))) {
    warn(
      where,
      `${at}.secret_is_base64`,
      'Kong also base64-decodes rsa_public_key, so its RS/ES/PS/EdDSA credentials never verify; oidc-gw uses the PEM as written',
      'note',
    );
  }
  if (keyed.length === 0) {
    warn(where, plugin.path, 'no jwt_secrets: every token is refused', 'note');
  }

  const checkExp = verify.includes('exp');
  const checkNbf = verify.includes('nbf');
  if (!checkExp) {
    if (options.strict) {
      warn(where, `${at}.claims_to_verify`, 'Kong does not check exp here; --strict does', 'note');
    } else {
      warn(
        where,
        `${at}.claims_to_verify`,
        'exp is not checked: this API accepts expired tokens (claims_to_verify does not list exp)',
        'skipped_check',
      );
    }
  }
  if (!checkNbf && !options.strict) {
    warn(
      where,
      `${at}.claims_to_verify`,
      'nbf is not checked (claims_to_verify does not list nbf)',
      'skipped_check',
    );
  }
  warn(
    where,
    plugin.path,
    `${keyClaim} only selects a jwt_secret (key_claim_name): it is not compared to a trusted issuer`,
    'skipped_check',
  );
  warn(
    where,
    plugin.path,
    "aud and scopes are never checked by Kong's jwt plugin",
    'skipped_check',
  );

  const checks: Checks = {
    ...DEFAULT_CHECKS,
    exp: checkExp || options.strict ? 'required' : 'off',
    nbf: checkNbf ? 'required' : options.strict ? 'if_present' : 'off',
    iat: options.strict ? 'if_present' : 'off',
    // Kong compares exp and nbf to the clock with no leeway.
    skew: { exp: 0, nbf: 0, iat: 0 },
    maxExpirationSeconds: maxExp,
    maxTokenBytes: options.maxTokenBytes,
  };
  return {
    token: {
      headers: (
        optStrings(where, c['header_names'], `${at}.header_names`) ?? ['authorization']
      ).map((h) => h.toLowerCase()),
      scheme: 'required',
      query: optStrings(where, c['uri_param_names'], `${at}.uri_param_names`) ?? ['jwt'],
      cookies: optStrings(where, c['cookie_names'], `${at}.cookie_names`) ?? [],
    },
    trust: { ...EMPTY_TRUST, keyedBy: { claim: keyClaim, credentials: keyed } },
    checks,
    credentials: { bearer: true },
    forward: { claims: [], stripAuthorization: false, consumerHeaders: true },
    answers: {
      kongPlugin: 'jwt',
      keyClaimName: keyClaim,
      ...(realm === undefined ? {} : { realm }),
    },
  };
}

// ---------------------------------------------------------------------------
// openid-connect (Enterprise; its documented schema)

const OIDC_READ = new Set([
  'anonymous',
  'run_on_preflight',
  'issuer',
  'issuers_allowed',
  'extra_jwks_uris',
  'audience_required',
  'audience_claim',
  'scopes_required',
  'scopes_claim',
  'groups_required',
  'groups_claim',
  'roles_required',
  'roles_claim',
  'leeway',
  'credential_claim',
  'upstream_headers_claims',
  'upstream_headers_names',
  'hide_credentials',
  'upstream_access_token_header',
  'unauthorized_error_message',
  'forbidden_error_message',
  'auth_methods',
  'bearer_token_param_type',
  'bearer_token_cookie_name',
  'client_credentials_param_type',
  'token_post_args_names',
  'token_post_args_values',
  'audience',
  'scopes',
  'token_endpoint',
  'token_endpoint_auth_method',
  'introspection_endpoint',
  'introspection_endpoint_auth_method',
  'client_id',
  'client_secret',
  'client_auth',
  'cache_ttl',
  'cache_ttl_max',
  'cache_ttl_neg',
  'verify_signature',
  'verify_claims',
  'consumer_claim',
  'consumer_by',
  'consumer_optional',
  'display_errors',
  'expose_error_code',
  'redirect_uri',
]);

/** Fields `deck dump` writes at these values say nothing the importer must report. */
const OIDC_DEFAULTS: Readonly<Record<string, unknown>> = {
  cache_tokens: true,
  cache_introspection: true,
  cache_token_exchange: true,
  cache_user_info: true,
  verify_nonce: true,
  verify_parameters: false,
  enable_hs_signatures: false,
  ssl_verify: false,
  run_on_preflight: true,
  preserve_query_args: false,
  search_user_info: false,
  introspect_jwt_tokens: false,
  reverify: false,
  token_cache_key_include_scope: false,
  http_version: 1.1,
  keepalive: true,
  timeout: 10000,
  rediscovery_lifetime: 30,
  session_cookie_name: 'session',
};

const ALL_AUTH_METHODS = [
  'password',
  'client_credentials',
  'authorization_code',
  'bearer',
  'introspection',
  'userinfo',
  'kong_oauth2',
  'refresh_token',
  'session',
];

/** The issuer behind a discovery URL (`.../.well-known/openid-configuration`), or the issuer itself. */
export function issuerFromDiscovery(issuer: string): string {
  return issuer.replace(
    /\/\.well-known\/(?:openid-configuration|oauth-authorization-server)\/?$/,
    '',
  );
}

function authMethod(
  where: Where,
  value: unknown,
  path: string,
): 'client_secret_basic' | 'client_secret_post' {
  const m = optString(where, value, path);
  if (m === undefined || m === 'client_secret_basic') return 'client_secret_basic';
  if (m === 'client_secret_post') return 'client_secret_post';
  warn(where, path, `${m} is not supported: client_secret_basic is used`);
  return 'client_secret_basic';
}

function requiredRule(
  where: Where,
  config: Json,
  at: string,
  field: string,
  claimField: string,
  defaultClaim: string,
  separator?: string,
): ClaimRule | undefined {
  const required = optStrings(where, config[field], `${at}.${field}`);
  if (required === undefined || required.length === 0) return undefined;
  const claim = optStrings(where, config[claimField], `${at}.${claimField}`) ?? [defaultClaim];
  const groups = required.map((entry) => entry.split(' ').filter((v) => v !== ''));
  return {
    claim,
    match: 'any_group',
    values: [...new Set(groups.flat())],
    groups,
    ...(separator === undefined ? {} : { separator }),
    failure: 'forbidden',
    label: `${at}.${field}`,
  };
}

export function compileOpenIdConnect(
  plugin: PluginEntry,
  where: Where,
  options: CompileOptions,
): AuthPart {
  const c = plugin.config;
  const at = `${plugin.path}.config`;
  const rawIssuer = optString(where, c['issuer'], `${at}.issuer`);
  if (rawIssuer === undefined || rawIssuer === '') fail(where, `${at}.issuer`, 'required');
  const issuer = issuerFromDiscovery(rawIssuer);

  let methods = optStrings(where, c['auth_methods'], `${at}.auth_methods`);
  if (methods === undefined) {
    warn(
      where,
      `${at}.auth_methods`,
      'not given: Kong enables every method (a request without a bearer token is redirected to the IdP with 302); oidc-gw runs bearer only',
      'note',
    );
    methods = ['bearer'];
  }
  const unsupported = methods.filter(
    (m) => m !== 'bearer' && m !== 'client_credentials' && m !== 'introspection',
  );
  for (const m of unsupported) {
    if (!ALL_AUTH_METHODS.includes(m)) fail(where, `${at}.auth_methods`, `unknown method "${m}"`);
    warn(where, `${at}.auth_methods`, `${m} is not supported`);
  }

  // Where a bearer token is read.
  const paramTypes = optStrings(
    where,
    c['bearer_token_param_type'],
    `${at}.bearer_token_param_type`,
  ) ?? ['header', 'query', 'body'];
  // Only the bearer and introspection methods read a token from the request.
  const readsToken = methods.includes('bearer') || methods.includes('introspection');
  if (readsToken && paramTypes.includes('body')) {
    warn(where, `${at}.bearer_token_param_type`, 'tokens in a form body are not read');
  }
  const cookie = optString(where, c['bearer_token_cookie_name'], `${at}.bearer_token_cookie_name`);
  const token: TokenSource = {
    headers: paramTypes.includes('header') ? ['authorization'] : [],
    scheme: 'required',
    query: paramTypes.includes('query') ? ['access_token'] : [],
    cookies: paramTypes.includes('cookie') && cookie !== undefined ? [cookie] : [],
  };

  // Checks.
  const leeway = optNumber(where, c['leeway'], `${at}.leeway`) ?? 0;
  const claims = [
    requiredRule(where, c, at, 'audience_required', 'audience_claim', 'aud'),
    requiredRule(where, c, at, 'scopes_required', 'scopes_claim', 'scope', ' '),
    requiredRule(where, c, at, 'groups_required', 'groups_claim', 'groups'),
    requiredRule(where, c, at, 'roles_required', 'roles_claim', 'roles'),
  ].filter((r): r is ClaimRule => r !== undefined);
  if (!claims.some((r) => r.label.endsWith('audience_required'))) {
    warn(where, at, 'aud is not checked (no audience_required)', 'skipped_check');
  }
  if (optBoolean(where, c['verify_signature'], `${at}.verify_signature`) === false) {
    warn(
      where,
      `${at}.verify_signature`,
      'false is not emulated: oidc-gw verifies signatures',
      'note',
    );
  }
  if (optBoolean(where, c['verify_claims'], `${at}.verify_claims`) === false) {
    warn(
      where,
      `${at}.verify_claims`,
      'false is not emulated: oidc-gw checks exp, nbf and iss',
      'note',
    );
  }
  if ((optStrings(where, c['consumer_claim'], `${at}.consumer_claim`) ?? []).length > 0) {
    warn(
      where,
      `${at}.consumer_claim`,
      'consumer mapping is not emulated (no X-Consumer-* headers)',
    );
  }
  const checks: Checks = {
    ...DEFAULT_CHECKS,
    skew: { exp: leeway, nbf: leeway, iat: leeway },
    issuers: optStrings(where, c['issuers_allowed'], `${at}.issuers_allowed`) ?? [],
    claims,
    maxTokenBytes: options.maxTokenBytes,
  };

  // Forwarding.
  const headerClaims =
    optStrings(where, c['upstream_headers_claims'], `${at}.upstream_headers_claims`) ?? [];
  const headerNames =
    optStrings(where, c['upstream_headers_names'], `${at}.upstream_headers_names`) ?? [];
  if (headerClaims.length !== headerNames.length) {
    warn(
      where,
      `${at}.upstream_headers_names`,
      'upstream_headers_claims and upstream_headers_names differ in length: the extra entries are not used',
    );
  }
  const forwardClaims = headerClaims
    .slice(0, Math.min(headerClaims.length, headerNames.length))
    .map((claim, i) => ({ header: headerNames[i] ?? '', claim }));
  const hide = optBoolean(where, c['hide_credentials'], `${at}.hide_credentials`) ?? true;
  const tokenHeader = c['upstream_access_token_header'];
  let stripAuthorization = false;
  if (tokenHeader === null) {
    stripAuthorization = hide;
  } else if (
    tokenHeader !== undefined &&
    optString(where, tokenHeader, `${at}.upstream_access_token_header`)?.toLowerCase() !==
      'authorization:bearer'
  ) {
    warn(
      where,
      `${at}.upstream_access_token_header`,
      'the access token is sent upstream as Authorization: Bearer',
    );
  }

  // Credentials.
  const credentials: {
    bearer: boolean;
    clientCredentials?: ClientCredentialsExchange;
    introspection?: Introspection;
  } = { bearer: methods.includes('bearer') };
  const tokenEndpoint = optString(where, c['token_endpoint'], `${at}.token_endpoint`);
  if (methods.includes('client_credentials')) {
    const from = optStrings(
      where,
      c['client_credentials_param_type'],
      `${at}.client_credentials_param_type`,
    ) ?? ['header', 'query', 'body'];
    for (const [i, f] of from.entries()) {
      if (f !== 'header' && f !== 'query' && f !== 'body') {
        fail(
          where,
          `${at}.client_credentials_param_type[${i}]`,
          `"${f}" is not header, query or body`,
        );
      }
    }
    if (from.includes('body')) {
      warn(
        where,
        `${at}.client_credentials_param_type`,
        'client_id / client_secret in a form body are not read (HTTP Basic and the query are)',
      );
    }
    const names =
      optStrings(where, c['token_post_args_names'], `${at}.token_post_args_names`) ?? [];
    const values =
      optStrings(where, c['token_post_args_values'], `${at}.token_post_args_values`) ?? [];
    if (names.length !== values.length) {
      fail(
        where,
        `${at}.token_post_args_values`,
        `${values.length} values for ${names.length} token_post_args_names`,
      );
    }
    const params: Record<string, string> = {};
    const audience = optStrings(where, c['audience'], `${at}.audience`) ?? [];
    if (audience.length > 0) params['audience'] = audience.join(' ');
    if (audience.length > 0 && !names.includes('audience')) {
      warn(
        where,
        `${at}.audience`,
        'sent as audience= with the client credentials grant, as the current Auth0 example expects; some Kong versions send it only from token_post_args_names/values',
        'note',
      );
    }
    if (audience.length > 1) {
      warn(
        where,
        `${at}.audience`,
        'several audiences are sent as one space-separated audience',
        'note',
      );
    }
    names.forEach((n, i) => {
      params[n] = values[i] ?? '';
    });
    const scopes = optStrings(where, c['scopes'], `${at}.scopes`);
    if (scopes === undefined) {
      warn(
        where,
        `${at}.scopes`,
        'not given: scope=openid is sent with the client credentials grant, as Kong does; Okta rejects it (use a custom scope)',
        'note',
      );
    }
    const scope = (scopes ?? ['openid']).join(' ');
    credentials.clientCredentials = {
      issuer,
      ...(tokenEndpoint === undefined ? {} : { tokenEndpoint }),
      from: from as ('header' | 'body' | 'query')[],
      authMethod: authMethod(
        where,
        c['token_endpoint_auth_method'],
        `${at}.token_endpoint_auth_method`,
      ),
      ...(scope === '' ? {} : { scope }),
      params,
    };
  }
  if (methods.includes('introspection')) {
    const clientId = optStrings(where, c['client_id'], `${at}.client_id`)?.[0];
    const clientSecret = optStrings(where, c['client_secret'], `${at}.client_secret`)?.[0];
    if (clientId === undefined || clientSecret === undefined) {
      fail(where, at, 'introspection needs client_id and client_secret');
    }
    const endpoint = optString(where, c['introspection_endpoint'], `${at}.introspection_endpoint`);
    const clientAuth = optStrings(where, c['client_auth'], `${at}.client_auth`)?.[0];
    credentials.introspection = {
      issuer,
      ...(endpoint === undefined ? {} : { endpoint }),
      clientId,
      clientSecret,
      authMethod: authMethod(
        where,
        c['introspection_endpoint_auth_method'] ?? clientAuth,
        `${at}.introspection_endpoint_auth_method`,
      ),
      negativeTtlSeconds: optNumber(where, c['cache_ttl_neg'], `${at}.cache_ttl_neg`) ?? 30,
      maxTtlSeconds:
        optNumber(where, c['cache_ttl_max'], `${at}.cache_ttl_max`) ??
        optNumber(where, c['cache_ttl'], `${at}.cache_ttl`) ??
        3600,
    };
  }

  const unauthorized = optString(
    where,
    c['unauthorized_error_message'],
    `${at}.unauthorized_error_message`,
  );
  const forbidden = optString(where, c['forbidden_error_message'], `${at}.forbidden_error_message`);
  warnUnread(where, c, at, OIDC_READ, OIDC_DEFAULTS, 'openid-connect');
  return {
    token,
    trust: {
      ...EMPTY_TRUST,
      issuers: [issuer],
      jwksUris: optStrings(where, c['extra_jwks_uris'], `${at}.extra_jwks_uris`) ?? [],
    },
    checks,
    credentials,
    forward: { claims: forwardClaims, stripAuthorization, consumerHeaders: false },
    answers: {
      kongPlugin: 'openid-connect',
      ...(unauthorized === undefined ? {} : { unauthorizedMessage: unauthorized }),
      ...(forbidden === undefined ? {} : { forbiddenMessage: forbidden }),
    },
    credentialClaim: optStrings(where, c['credential_claim'], `${at}.credential_claim`) ?? ['sub'],
  };
}

// ---------------------------------------------------------------------------
// rate-limiting (kong/plugins/rate-limiting/schema.lua, handler.lua, policies)

export const KONG_PERIODS = ['second', 'minute', 'hour', 'day', 'month', 'year'] as const;
type Period = (typeof KONG_PERIODS)[number];

/** Kong's window lengths (month and year as Kong's counters expire them). */
const PERIOD_MS: Readonly<Record<Period, number>> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  month: 2_592_000_000,
  year: 31_536_000_000,
};

const RATE_READ = new Set([
  ...KONG_PERIODS,
  'limit_by',
  'header_name',
  'path',
  'policy',
  'fault_tolerant',
  'hide_client_headers',
  'error_code',
  'error_message',
  'redis',
  'sync_rate',
]);

const RATE_DEFAULTS: Readonly<Record<string, unknown>> = { sync_rate: -1 };

export interface RatePart {
  readonly limits: readonly LimitRule[];
  readonly answers: Partial<StyleOptions>;
  /** Counters shared by every API in this scope (the plugin's route, service, or all). */
  readonly counterScope: string;
}

export function compileRateLimiting(
  plugin: PluginEntry,
  serviceKey: string,
  where: Where,
): RatePart {
  const c = plugin.config;
  const at = `${plugin.path}.config`;
  const periods: { period: Period; limit: number }[] = [];
  for (const period of KONG_PERIODS) {
    const limit = optNumber(where, c[period], `${at}.${period}`);
    if (limit === undefined) continue;
    if (limit <= 0) fail(where, `${at}.${period}`, 'must be greater than 0');
    periods.push({ period, limit });
  }
  if (periods.length === 0) {
    fail(where, at, 'at least one of second, minute, hour, day, month, year is required');
  }
  for (let i = 1; i < periods.length; i++) {
    const shorter = periods[i - 1];
    const longer = periods[i];
    if (shorter && longer && longer.limit < shorter.limit) {
      fail(
        where,
        `${at}.${longer.period}`,
        `the limit for ${longer.period} (${longer.limit}) must be at least the limit for ${shorter.period} (${shorter.limit})`,
      );
    }
  }

  const limitBy = optString(where, c['limit_by'], `${at}.limit_by`) ?? 'consumer';
  let key: LimitKey;
  let scope = plugin.scope === 'global' ? 'kong:global' : `kong:${plugin.scope}:${plugin.scopeKey}`;
  switch (limitBy) {
    case 'consumer':
      key = { by: 'consumer' };
      break;
    case 'credential':
      key = { by: 'credential' };
      break;
    case 'ip':
      key = { by: 'ip' };
      break;
    case 'header': {
      const header = optString(where, c['header_name'], `${at}.header_name`);
      if (header === undefined || header === '') {
        fail(where, `${at}.header_name`, 'required when limit_by is header');
      }
      key = { by: 'header', header: header.toLowerCase() };
      break;
    }
    case 'service':
      // The identifier is the service: one counter per service (per route for a route's plugin).
      key = { by: 'api' };
      if (plugin.scope === 'global') scope = `kong:service:${serviceKey}`;
      break;
    case 'path':
      warn(
        where,
        `${at}.limit_by`,
        'path: counted per client IP (Kong counts requests to exactly config.path together, others per IP)',
      );
      key = { by: 'ip' };
      break;
    default:
      warn(where, `${at}.limit_by`, `${limitBy} is not supported: counted per consumer`);
      key = { by: 'consumer' };
  }

  const policy = optString(where, c['policy'], `${at}.policy`) ?? 'local';
  if (policy === 'cluster') {
    warn(where, `${at}.policy`, 'cluster is counted like local (per gateway process)');
  } else if (policy === 'redis') {
    warn(
      where,
      `${at}.redis`,
      'policy redis: counters are shared only when serve is given --redis (the redis settings of the file are not used)',
      'note',
    );
  } else if (policy !== 'local') {
    fail(where, `${at}.policy`, `"${policy}" is not local, cluster or redis`);
  }
  const redisFlat = Object.keys(c).filter((k) => k.startsWith('redis_') && c[k] !== null);
  if (redisFlat.length > 0 && policy === 'redis') {
    warn(where, at, `${redisFlat.sort().join(', ')}: use --redis instead`, 'note');
  }
  if (optBoolean(where, c['fault_tolerant'], `${at}.fault_tolerant`) === false) {
    warn(
      where,
      `${at}.fault_tolerant`,
      'false: give serve --redis-failure closed to refuse requests while Redis is down',
      'note',
    );
  }
  const syncRate = optNumber(where, c['sync_rate'], `${at}.sync_rate`);
  if (syncRate !== undefined && syncRate !== -1) {
    warn(where, `${at}.sync_rate`, 'counters are updated on every request');
  }
  const countRefused = policy === 'redis';
  const limits: LimitRule[] = periods.map(({ period, limit }) => ({
    id: `kong-${period}`,
    kind: 'rate',
    algorithm: 'fixed_calendar',
    limit,
    periodMs: PERIOD_MS[period],
    calendar: period,
    countRefused,
    key,
    label: `${at}.${period}`,
  }));

  const hide = optBoolean(where, c['hide_client_headers'], `${at}.hide_client_headers`);
  const code = optNumber(where, c['error_code'], `${at}.error_code`);
  if (code !== undefined && (!Number.isInteger(code) || code < 400 || code > 599)) {
    fail(where, `${at}.error_code`, 'must be an HTTP error status (400-599)');
  }
  const message = optString(where, c['error_message'], `${at}.error_message`);
  warnUnread(
    where,
    Object.fromEntries(Object.entries(c).filter(([k]) => !k.startsWith('redis_'))),
    at,
    RATE_READ,
    RATE_DEFAULTS,
    'rate-limiting',
  );
  return {
    limits,
    answers: {
      ...(hide === true ? { hideLimitHeaders: true } : {}),
      ...(code === undefined ? {} : { limitStatus: code }),
      ...(message === undefined ? {} : { limitMessage: message }),
    },
    counterScope: scope,
  };
}
