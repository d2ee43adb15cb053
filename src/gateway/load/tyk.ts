/**
 * The Tyk importer: classic API definitions (one object or a list), Tyk
 * OAS documents (`x-tyk-api-gateway`) and a policies file (an object keyed
 * by policy id) compile into APIs of the plan that check what Tyk checks,
 * count what Tyk counts and answer as Tyk answers (docs/gateways/tyk.md).
 *
 * Auth modes: JWT with a central key source (`jwt_source`, OAS `source` /
 * `jwksURIs`), the OpenID Connect middleware (`use_openid`), and keyless.
 * Any other mode (auth tokens, basic auth, Tyk's OAuth server, mTLS,
 * plugins) cannot be emulated without Tyk's key store: a PlanError says so.
 */
import type { ApiPlan, Warning } from '../plan.js';
import type { Loader, LoadContext, SourceDoc } from './types.js';
import { assembleApi, type TykApiFacts, type TykJwtFacts, type TykOidcFacts } from './tyk-api.js';
import {
  algorithmsFor,
  globalLimit,
  isObject,
  isSet,
  join,
  listenPrefix,
  signingMethod,
  targetUrl,
  trustFromSource,
  TykFile,
  type Json,
  type TykPolicy,
} from './tyk-common.js';
import { isTykOas, readOasApi } from './tyk-oas.js';
import { isPoliciesObject, loadPolicies } from './tyk-policies.js';

function isClassicApi(value: unknown): value is Json {
  if (!isObject(value)) return false;
  if ('x-tyk-api-gateway' in value) return false;
  if (typeof value['api_id'] === 'string') return true;
  const proxy = value['proxy'];
  if (isObject(proxy) && ('listen_path' in proxy || 'target_url' in proxy)) return true;
  return (
    ('auth' in value || 'auth_configs' in value) &&
    ('enable_jwt' in value || 'use_keyless' in value || 'use_openid' in value)
  );
}

/**
 * A Tyk document: a classic API definition or a list of them (api_id /
 * proxy / auth fields), a Tyk OAS document (`x-tyk-api-gateway`), or a
 * policies file (an object whose values look like policies).
 */
export function isTykDocument(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0 && value.every(isClassicApi);
  return isClassicApi(value) || isTykOas(value) || isPoliciesObject(value);
}

export const loadTyk: Loader = async (docs: readonly SourceDoc[], ctx: LoadContext) => {
  const files: TykFile[] = [];
  const policies = new Map<string, TykPolicy>();
  const apiDocs: Array<{ tf: TykFile; value: Json; path: string; oas: boolean }> = [];
  for (const doc of docs) {
    const tf = new TykFile(doc.file);
    files.push(tf);
    const v = doc.value;
    if (Array.isArray(v)) {
      v.forEach((item, i) => {
        if (!isClassicApi(item)) tf.fail(`[${i}]`, 'is not a Tyk API definition');
        apiDocs.push({ tf, value: item, path: `[${i}]`, oas: false });
      });
    } else if (isTykOas(v)) {
      apiDocs.push({ tf, value: v as Json, path: '', oas: true });
    } else if (isClassicApi(v)) {
      apiDocs.push({ tf, value: v, path: '', oas: false });
    } else if (isPoliciesObject(v)) {
      loadPolicies(tf, v as Json, policies);
    } else {
      tf.fail('', 'is neither a Tyk API definition, a Tyk OAS document nor a policies file');
    }
  }
  const apis: ApiPlan[] = [];
  const names = new Set<string>();
  for (const { tf, value, path, oas } of apiDocs) {
    const facts = oas ? readOasApi(tf, value, path) : readClassicApi(tf, value, path);
    if (!facts) continue;
    let name = facts.name;
    for (let i = 2; names.has(name); i++) name = `${facts.name}-${i}`;
    names.add(name);
    apis.push(assembleApi(tf, { ...facts, name }, policies, ctx));
  }
  if (apis.length === 0 && apiDocs.length === 0 && files[0]) {
    files[0].warn('', 'a policies file alone defines no API: give the API definitions too', 'note');
  }
  const warnings: Warning[] = files.flatMap((f) => f.warnings);
  return { apis, warnings };
};

// ---------------------------------------------------------------------------
// Classic API definitions

/** Classic fields Tyk enforces that oidc-gw does not: set ones are warnings. */
const CLASSIC_IGNORED: Readonly<Record<string, string>> = {
  enable_signature_checking: 'request signature checking is not emulated',
  enable_batch_request_support: 'batch requests are not emulated',
  enable_ip_whitelisting: 'IP allow lists are not emulated',
  enable_ip_blacklisting: 'IP block lists are not emulated',
  allowed_ips: 'IP allow lists are not emulated',
  blacklisted_ips: 'IP block lists are not emulated',
  enable_context_vars: 'context variables are not emulated',
  cache_options: 'response caching is not emulated',
  CORS: 'CORS is not emulated',
  custom_middleware: 'custom middleware is not run',
  custom_middleware_bundle: 'custom middleware is not run',
  response_processors: 'response processors are not run',
  uptime_tests: 'uptime tests are not run',
  domain: 'the custom domain is not matched: any Host is accepted',
  certificates: 'TLS certificates are not used',
  upstream_certificates: 'upstream client certificates are not used',
  pinned_public_keys: 'certificate pinning is not emulated',
  jwt_client_base_field: 'policies found through Tyk OAuth clients are not emulated',
  session_lifetime: 'session lifetime is not emulated',
  tag_headers: 'analytics tags are not emulated',
  event_handlers: 'event handlers are not run',
  config_data: 'config data is not used',
  graphql: 'GraphQL is not emulated',
  external_oauth: 'external OAuth is not emulated',
  base_identity_provided_by: 'chained auth methods are not emulated',
  enable_coprocess_auth: 'plugin auth is not emulated',
  use_go_plugin_auth: 'plugin auth is not emulated',
};

const PROXY_IGNORED: Readonly<Record<string, string>> = {
  enable_load_balancing: 'load balancing is not emulated: target_url is used',
  target_list: 'load balancing is not emulated: target_url is used',
  service_discovery: 'service discovery is not emulated: target_url is used',
  preserve_host_header: "the Host header is the upstream's",
  transport: 'upstream TLS settings are not emulated',
  check_host_against_uptime_tests: 'uptime checks are not emulated',
};

/** Auth modes Tyk checks against its own key store or OAuth server. */
const UNEMULATED_AUTH: Readonly<Record<string, string>> = {
  use_standard_auth: "auth tokens live in Tyk's key store",
  use_basic_auth: "basic auth users live in Tyk's key store",
  use_oauth2: "tokens of Tyk's own OAuth server live in its key store",
  use_mutual_tls_auth: "client certificates are checked against Tyk's certificate store",
  enable_coprocess_auth: 'plugin auth runs code oidc-gw does not have',
  use_go_plugin_auth: 'plugin auth runs code oidc-gw does not have',
  enable_signature_checking: "request signatures use secrets of Tyk's key store",
};

function readClassicApi(tf: TykFile, api: Json, path: string): TykApiFacts | undefined {
  const apiId = tf.str(api, 'api_id', path) ?? '';
  const name = tf.str(api, 'name', path) || apiId || `tyk-api${path}`;
  if (api['active'] === false) {
    tf.warn(
      join(path, 'active'),
      `API "${name}" is inactive: Tyk does not load it, nor does oidc-gw`,
      'note',
    );
    return undefined;
  }
  const proxyPath = join(path, 'proxy');
  const proxy = tf.obj(api, 'proxy', path);
  if (!proxy) return tf.fail(proxyPath, 'is missing (listen_path and target_url)');
  const listenPath = listenPrefix(
    tf,
    tf.str(proxy, 'listen_path', proxyPath),
    join(proxyPath, 'listen_path'),
  );
  const target = targetUrl(
    tf,
    tf.str(proxy, 'target_url', proxyPath),
    join(proxyPath, 'target_url'),
  );
  const strip = tf.bool(proxy, 'strip_listen_path', proxyPath);
  for (const [field, why] of Object.entries(PROXY_IGNORED)) {
    if (isSet(proxy[field])) tf.warn(join(proxyPath, field), why);
  }
  warnVersions(tf, api, path);

  const keyless = tf.bool(api, 'use_keyless', path);
  const jwt = tf.bool(api, 'enable_jwt', path);
  const openid = tf.bool(api, 'use_openid', path);
  const unemulated = Object.keys(UNEMULATED_AUTH).filter((f) => api[f] === true);
  let auth: TykApiFacts['auth'];
  if (keyless) {
    for (const f of [
      ...unemulated,
      ...(jwt ? ['enable_jwt'] : []),
      ...(openid ? ['use_openid'] : []),
    ]) {
      tf.warn(join(path, f), 'ignored: a keyless API checks no credential (as Tyk)');
    }
    auth = { kind: 'keyless' };
  } else {
    const first = unemulated[0];
    if (first !== undefined) {
      tf.fail(join(path, first), `this auth mode cannot be emulated: ${UNEMULATED_AUTH[first]}`);
    }
    if (jwt && openid) {
      tf.fail(path, 'enable_jwt and use_openid together (chained auth) cannot be emulated');
    }
    if (openid) auth = readOidc(tf, api, path);
    else if (jwt) auth = readClassicJwt(tf, api, path);
    else {
      return tf.fail(
        path,
        'no auth mode oidc-gw can emulate: Tyk then expects auth tokens from its key store (set enable_jwt, use_openid or use_keyless)',
      );
    }
  }
  for (const [field, why] of Object.entries(CLASSIC_IGNORED)) {
    if (field in UNEMULATED_AUTH) continue;
    const v = api[field];
    const set =
      field === 'CORS' || field === 'cache_options' || field === 'graphql'
        ? isObject(v) &&
          (v['enable'] === true || v['enable_cache'] === true || v['enabled'] === true)
        : isSet(v);
    if (set) tf.warn(join(path, field), why);
  }
  const grl = tf.obj(api, 'global_rate_limit', path);
  const global = grl
    ? globalLimit(
        apiId || name,
        tf.num(grl, 'rate', join(path, 'global_rate_limit')),
        tf.num(grl, 'per', join(path, 'global_rate_limit')),
        'global_rate_limit',
      )
    : undefined;
  return {
    apiId,
    orgId: tf.str(api, 'org_id', path) || undefined,
    name,
    path,
    listenPath,
    strip,
    target,
    auth,
    disableRateLimit: tf.bool(api, 'disable_rate_limit', path),
    disableQuota: tf.bool(api, 'disable_quota', path),
    global,
    stripAuthorization: tf.bool(api, 'strip_auth_data', path),
  };
}

/** Where Tyk reads the version name (`definition.location` / `definition.key`). */
function versionSource(tf: TykFile, api: Json, path: string): string {
  const dpath = join(path, 'definition');
  const def = tf.obj(api, 'definition', path) ?? {};
  const location = tf.str(def, 'location', dpath) || 'header';
  const key = tf.str(def, 'key', dpath) || 'x-api-version';
  if (location === 'url') return 'the first path segment after the listen path';
  if (location === 'url-param') return `query parameter ${key}`;
  return `header ${key}`;
}

/**
 * version_data: oidc-gw serves every request with the definition's
 * top-level settings. A versioned API (`not_versioned: false`) is refused
 * by Tyk's VersionCheck middleware, before authentication, when the
 * request names no version and there is no `default_version` (403
 * "Version information not found"), or names one that is not in
 * `versions` ("This API version does not seem to exist"); a version's
 * `expires` in the past refuses every request of it
 * (https://tyk.io/docs/5.5/getting-started/key-concepts/versioning).
 */
function warnVersions(tf: TykFile, api: Json, path: string): void {
  const vpath = join(path, 'version_data');
  const vd = tf.obj(api, 'version_data', path);
  if (!vd) return;
  const versions = tf.obj(vd, 'versions', vpath) ?? {};
  const names = Object.keys(versions);
  if (vd['not_versioned'] !== true && names.length > 0) {
    const fallback = tf.str(vd, 'default_version', vpath) ?? '';
    const unnamed =
      fallback && names.includes(fallback)
        ? `a request naming none gets version "${fallback}" (default_version)`
        : 'a request naming none is refused with 403 "Version information not found"';
    tf.warn(
      join(vpath, 'not_versioned'),
      `API versions are not emulated: oidc-gw serves every request alike; Tyk reads the version from ${versionSource(tf, api, path)}: ${unnamed}, a name not in versions is refused with "This API version does not seem to exist", and each version may have its own settings`,
    );
  }
  for (const v of names) {
    const ver = versions[v];
    if (!isObject(ver)) continue;
    const p = join(join(vpath, 'versions'), v);
    const expires = ver['expires'];
    if (typeof expires === 'string' && expires !== '' && expires !== '-1') {
      tf.warn(
        join(p, 'expires'),
        `version expiry is not emulated: after ${expires} Tyk refuses this version's requests with 403 "Api Version has expired, please check documentation or contact administrator"`,
      );
    }
    for (const f of [
      'extended_paths',
      'paths',
      'global_headers',
      'global_headers_remove',
      'global_response_headers',
      'global_response_headers_remove',
      'global_size_limit',
      'override_target',
      'ignore_endpoint_case',
    ]) {
      if (isSet(ver[f]))
        tf.warn(join(p, f), 'per-version middleware (paths, headers, transforms...) is not run');
    }
  }
}

/** Where Tyk reads the JWT: auth_configs.jwt (header, query parameter, cookie). */
function classicTokenSource(tf: TykFile, api: Json, path: string): TykJwtFacts['token'] {
  const configs = tf.obj(api, 'auth_configs', path);
  const cpath = join(join(path, 'auth_configs'), 'jwt');
  const cfg = (configs && tf.obj(configs, 'jwt', join(path, 'auth_configs'))) ?? {};
  const header = tf.str(cfg, 'auth_header_name', cpath) || 'Authorization';
  const disableHeader = tf.bool(cfg, 'disable_header', cpath);
  const query = tf.bool(cfg, 'use_param', cpath)
    ? [tf.str(cfg, 'param_name', cpath) || header]
    : [];
  const cookies = tf.bool(cfg, 'use_cookie', cpath)
    ? [tf.str(cfg, 'cookie_name', cpath) || header]
    : [];
  if (query.length + cookies.length > 0) {
    tf.warn(
      cpath,
      'Tyk takes the cookie over the query parameter over the header when several carry a token',
      'note',
    );
  }
  return {
    headers: disableHeader ? [] : [header.toLowerCase()],
    // Tyk strips a leading "Bearer " (any case) and takes the rest as is.
    scheme: 'optional',
    query,
    cookies,
  };
}

function readClassicJwt(tf: TykFile, api: Json, path: string): TykJwtFacts {
  const method = signingMethod(
    tf,
    tf.str(api, 'jwt_signing_method', path),
    join(path, 'jwt_signing_method'),
  );
  const source = tf.str(api, 'jwt_source', path) ?? '';
  if (source === '') {
    tf.fail(
      join(path, 'jwt_source'),
      "is empty: Tyk then looks each token's key up in its own key store (one key per kid or identity), which cannot be emulated; give the secret, PEM key or JWK Set URL",
    );
  }
  if (isSet(api['jwt_jwks_uris'])) {
    tf.warn(
      join(path, 'jwt_jwks_uris'),
      'used by Tyk for OAS APIs only; this classic API uses jwt_source',
    );
  }
  const trust = trustFromSource(tf, source, method, join(path, 'jwt_source'));
  const base = tf.str(api, 'jwt_identity_base_field', path) ?? '';
  const identityClaims = base && base !== 'sub' ? [base, 'sub'] : ['sub'];
  const policyField = tf.str(api, 'jwt_policy_field_name', path) ?? '';
  const defaults = tf.strings(api, 'jwt_default_policies', path);
  const refs = defaults.map((id, i) => ({ id, path: join(join(path, 'jwt_default_policies'), i) }));
  // Tyk reads `scopes` as a whole when it is set at all (APIDefinition
  // GetScopeClaimName / GetScopeToPolicyMapping): scopes.jwt's mapping and
  // claim name (default `scope`), the legacy jwt_scope_* fields unread.
  // Only when `scopes` is empty are jwt_scope_to_policy_mapping and
  // jwt_scope_claim_name used (docs/gateways/tyk.md, "JWT").
  const scopes = tf.obj(api, 'scopes', path);
  const sjPath = join(join(path, 'scopes'), 'jwt');
  let mapping: Record<string, string> = {};
  let mappingPath = join(path, 'jwt_scope_to_policy_mapping');
  let scopeClaim: string;
  if (scopes && isSet(scopes)) {
    const sjwt = tf.obj(scopes, 'jwt', join(path, 'scopes')) ?? {};
    mappingPath = join(sjPath, 'scope_to_policy');
    const map = tf.obj(sjwt, 'scope_to_policy', sjPath);
    if (map) mapping = stringMap(tf, map, mappingPath);
    scopeClaim = tf.str(sjwt, 'scope_claim_name', sjPath) ?? '';
    for (const legacy of ['jwt_scope_to_policy_mapping', 'jwt_scope_claim_name']) {
      if (isSet(api[legacy])) {
        tf.warn(
          join(path, legacy),
          'not read: Tyk uses scopes.jwt when scopes is set (the scope claim then defaults to "scope")',
        );
      }
    }
  } else {
    scopeClaim = tf.str(api, 'jwt_scope_claim_name', path) ?? '';
    const old = tf.obj(api, 'jwt_scope_to_policy_mapping', path);
    if (old) mapping = stringMap(tf, old, mappingPath);
  }
  for (const [scope, id] of Object.entries(mapping))
    refs.push({ id, path: join(mappingPath, scope) });
  return {
    kind: 'jwt',
    trust,
    algorithms: algorithmsFor(method),
    token: classicTokenSource(tf, api, path),
    skew: {
      exp: tf.num(api, 'jwt_expires_at_validation_skew', path),
      nbf: tf.num(api, 'jwt_not_before_validation_skew', path),
      iat: tf.num(api, 'jwt_issued_at_validation_skew', path),
    },
    issuers: [],
    audiences: [],
    claims: [],
    canCheckIssAud: false,
    identityClaims,
    policyClaims: policyField ? [policyField] : [],
    defaultPolicies: defaults,
    scopeToPolicy: mapping,
    scopeClaims: [scopeClaim || 'scope'],
    policyRefs: refs,
    authPath: join(path, 'enable_jwt'),
  };
}

function stringMap(tf: TykFile, obj: Json, path: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v !== 'string') tf.fail(join(path, k), 'must be a policy id (a string)');
    out[k] = v;
  }
  return out;
}

/** Go's base64.StdEncoding, strictly: an invalid client id is a configuration error here. */
function decodeClientId(text: string): string | undefined {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  return Buffer.from(text, 'base64').toString('utf8');
}

/** The deprecated OpenID Connect middleware (`use_openid`, `openid_options`). */
function readOidc(tf: TykFile, api: Json, path: string): TykOidcFacts {
  const opath = join(path, 'openid_options');
  const opts = tf.obj(api, 'openid_options', path);
  const providers = opts?.['providers'];
  if (!Array.isArray(providers) || providers.length === 0) {
    return tf.fail(
      join(opath, 'providers'),
      'use_openid needs at least one provider (issuer and client_ids)',
    );
  }
  const issuers: string[] = [];
  const byClient: Record<string, string> = {};
  const refs: Array<{ id: string; path: string }> = [];
  providers.forEach((p, i) => {
    const ppath = join(join(opath, 'providers'), i);
    if (!isObject(p)) tf.fail(ppath, 'must be an object');
    const issuer = tf.str(p, 'issuer', ppath);
    if (!issuer) tf.fail(join(ppath, 'issuer'), 'is missing');
    try {
      new URL(issuer);
    } catch {
      tf.fail(
        join(ppath, 'issuer'),
        `"${issuer}" is not a URL (keys come from its discovery document)`,
      );
    }
    issuers.push(issuer);
    const clients = tf.obj(p, 'client_ids', ppath) ?? {};
    if (Object.keys(clients).length === 0) {
      tf.warn(
        join(ppath, 'client_ids'),
        'no client ids: Tyk refuses every token of this issuer',
        'note',
      );
    }
    for (const [b64, policy] of Object.entries(clients)) {
      const cpath = join(join(ppath, 'client_ids'), b64);
      const clientId = decodeClientId(b64);
      if (clientId === undefined || clientId === '') {
        tf.fail(
          cpath,
          'a client_ids key is the base64 of the client id (Tyk decodes it); this one is not base64',
        );
      }
      if (typeof policy !== 'string') tf.fail(cpath, 'must be a policy id (a string)');
      const before = byClient[clientId];
      if (before !== undefined && before !== policy) {
        tf.warn(
          cpath,
          `client "${clientId}" maps to policy "${before}" for another issuer: oidc-gw uses one policy per client id ("${policy}" here)`,
          'note',
        );
      }
      byClient[clientId] = policy;
      refs.push({ id: policy, path: cpath });
    }
    if (isSet(p['introspection_endpoint']) || isSet(p['scope_to_policy_mapping'])) {
      tf.warn(ppath, 'scopes by introspection are not emulated: the client id selects the policy');
    }
  });
  // Tyk's OpenID Connect middleware applies the policies mapped from the
  // token's scopes instead of the client's when a mapping is set
  // (scopes.oidc when `scopes` is set, else jwt_scope_to_policy_mapping).
  const scopes = tf.obj(api, 'scopes', path);
  const oidcScopes =
    scopes && isSet(scopes) ? tf.obj(scopes, 'oidc', join(path, 'scopes')) : undefined;
  const mappingPath =
    scopes && isSet(scopes)
      ? isSet(oidcScopes?.['scope_to_policy'])
        ? join(join(join(path, 'scopes'), 'oidc'), 'scope_to_policy')
        : undefined
      : isSet(api['jwt_scope_to_policy_mapping'])
        ? join(path, 'jwt_scope_to_policy_mapping')
        : undefined;
  if (mappingPath) {
    tf.warn(
      mappingPath,
      "not emulated: with a scope-to-policy mapping Tyk applies the policies of the token's scopes instead of its client's (and accepts a client id with no policy); oidc-gw applies the client's policy",
    );
  }
  if (issuers.length > 1) {
    tf.warn(
      join(opath, 'providers'),
      "several providers: a token's aud is accepted when it is a client id of any of them (Tyk: of its own issuer)",
      'note',
    );
  }
  return {
    kind: 'openid',
    issuers,
    byClient,
    segregateByClient: opts ? tf.bool(opts, 'segregate_by_client', opath) : false,
    policyRefs: refs,
    authPath: join(path, 'use_openid'),
  };
}
