/**
 * Tyk OAS API definitions: an OpenAPI document whose `x-tyk-api-gateway`
 * block says where the API listens (`server.listenPath`), where it
 * forwards (`upstream.url`), its API-wide rate limit
 * (`upstream.rateLimit`) and its authentication
 * (`server.authentication.securitySchemes`). The JWT scheme's fields map
 * as the classic ones do, plus what only OAS has (Tyk 5.10+):
 * `allowedIssuers`, `allowedAudiences`, `allowedSubjects`, `jtiValidation`
 * and `customClaimValidation` (docs/gateways/tyk.md).
 */
import type { ClaimRule } from '../plan.js';
import type { TykApiFacts, TykJwtFacts } from './tyk-api.js';
import {
  algorithmsFor,
  EMPTY_TRUST,
  globalLimit,
  isObject,
  isSet,
  join,
  listenPrefix,
  signingMethod,
  targetUrl,
  trustFromSource,
  type Json,
  type TykFile,
} from './tyk-common.js';

const X = 'x-tyk-api-gateway';

export function isTykOas(value: unknown): boolean {
  return isObject(value) && isObject(value[X]);
}

/** A Go duration as Tyk's OAS rate limit writes it (`1m`, `30s`, `1h30m`), in seconds. */
export function goDurationSeconds(text: string): number | undefined {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  const unit: Record<string, number> = {
    ns: 1e-9,
    us: 1e-6,
    µs: 1e-6,
    ms: 1e-3,
    s: 1,
    m: 60,
    h: 3600,
  };
  let total = 0;
  let consumed = 0;
  for (const m of text.matchAll(re)) {
    if (m.index !== consumed) return undefined;
    total += Number(m[1]) * (unit[m[2] ?? 's'] ?? 1);
    consumed += m[0].length;
  }
  return consumed === text.length && consumed > 0 ? total : undefined;
}

export function readOasApi(tf: TykFile, doc: Json, path: string): TykApiFacts | undefined {
  const xpath = join(path, X);
  const x = tf.obj(doc, X, path) ?? {};
  const ipath = join(xpath, 'info');
  const info = tf.obj(x, 'info', xpath) ?? {};
  const apiId = tf.str(info, 'id', ipath) ?? '';
  const name = tf.str(info, 'name', ipath) || apiId || 'tyk-oas-api';
  const state = tf.obj(info, 'state', ipath);
  if (state && state['active'] === false) {
    tf.warn(
      join(join(ipath, 'state'), 'active'),
      `API "${name}" is inactive: Tyk does not load it, nor does oidc-gw`,
      'note',
    );
    return undefined;
  }
  if (isSet(info['versioning'])) {
    tf.warn(
      join(ipath, 'versioning'),
      'API versions are not emulated: this document is served as is',
    );
  }
  const spath = join(xpath, 'server');
  const server = tf.obj(x, 'server', xpath) ?? {};
  const lpath = join(spath, 'listenPath');
  const lp = tf.obj(server, 'listenPath', spath) ?? {};
  const listenPath = listenPrefix(tf, tf.str(lp, 'value', lpath), join(lpath, 'value'));
  const strip = tf.bool(lp, 'strip', lpath);
  for (const k of Object.keys(server)) {
    if (k !== 'listenPath' && k !== 'authentication' && isSet(server[k])) {
      tf.warn(join(spath, k), 'not emulated');
    }
  }
  const upath = join(xpath, 'upstream');
  const upstream = tf.obj(x, 'upstream', xpath) ?? {};
  const target = targetUrl(tf, tf.str(upstream, 'url', upath), join(upath, 'url'));
  for (const k of Object.keys(upstream)) {
    if (k !== 'url' && k !== 'rateLimit' && isSet(upstream[k]))
      tf.warn(join(upath, k), 'not emulated');
  }
  let global: TykApiFacts['global'];
  const rl = tf.obj(upstream, 'rateLimit', upath);
  if (rl && rl['enabled'] === true) {
    const rlpath = join(upath, 'rateLimit');
    const per = tf.str(rl, 'per', rlpath) ?? '';
    const seconds = goDurationSeconds(per);
    if (seconds === undefined)
      tf.fail(join(rlpath, 'per'), `"${per}" is not a duration (like 1m or 30s)`);
    global = globalLimit(apiId || name, tf.num(rl, 'rate', rlpath), seconds, 'upstream.rateLimit');
  }
  if (isSet(x['middleware']))
    tf.warn(
      join(xpath, 'middleware'),
      'middleware (transforms, headers, mocks, CORS, caching...) is not run',
    );

  const apath = join(spath, 'authentication');
  const authn = tf.obj(server, 'authentication', spath);
  let auth: TykApiFacts['auth'];
  let stripAuthorization = false;
  if (!authn || authn['enabled'] !== true) {
    auth = { kind: 'keyless' };
  } else {
    stripAuthorization = tf.bool(authn, 'stripAuthorizationData', apath);
    auth = readOasAuth(tf, doc, authn, apath);
  }
  return {
    apiId,
    orgId: tf.str(info, 'orgId', ipath) || undefined,
    name,
    path,
    listenPath,
    strip,
    target,
    auth,
    disableRateLimit: false,
    disableQuota: false,
    global,
    stripAuthorization,
  };
}

/** The OpenAPI scheme type of a Tyk security scheme: `jwt`, or what it is otherwise. */
function schemeKind(doc: Json, name: string, scheme: Json): string {
  const components = isObject(doc['components']) ? doc['components'] : {};
  const schemes = isObject(components['securitySchemes']) ? components['securitySchemes'] : {};
  const oas = schemes[name];
  if (isObject(oas)) {
    const type = String(oas['type'] ?? '');
    const httpScheme = String(oas['scheme'] ?? '').toLowerCase();
    if (type === 'http' && httpScheme === 'bearer') return 'jwt';
    if (type === 'http' && httpScheme === 'basic') return 'basic auth';
    if (type === 'apiKey') return 'auth token';
    return type || 'unknown';
  }
  if ('signingMethod' in scheme || 'source' in scheme || 'jwksURIs' in scheme) return 'jwt';
  return 'unknown';
}

function readOasAuth(tf: TykFile, doc: Json, authn: Json, apath: string): TykJwtFacts {
  const sspath = join(apath, 'securitySchemes');
  const schemes = tf.obj(authn, 'securitySchemes', apath) ?? {};
  let jwt: { name: string; value: Json } | undefined;
  for (const [name, value] of Object.entries(schemes)) {
    if (!isObject(value) || value['enabled'] !== true) continue;
    const kind = schemeKind(doc, name, value);
    if (kind !== 'jwt') {
      tf.fail(
        join(sspath, name),
        `this auth mode (${kind}) cannot be emulated: its credentials live in Tyk's stores`,
      );
    }
    if (jwt) tf.fail(join(sspath, name), 'several JWT schemes cannot be emulated');
    jwt = { name, value };
  }
  for (const k of ['hmac', 'oidc', 'custom', 'goPlugin', 'customPlugin']) {
    const v = authn[k];
    if (isObject(v) && v['enabled'] === true) {
      tf.fail(join(apath, k), `this auth mode (${k}) cannot be emulated`);
    }
  }
  if (!jwt) {
    return tf.fail(
      sspath,
      'authentication is enabled but no JWT scheme is: Tyk then expects credentials from its key store',
    );
  }
  const jpath = join(sspath, jwt.name);
  const j = jwt.value;
  const method = signingMethod(tf, tf.str(j, 'signingMethod', jpath), join(jpath, 'signingMethod'));
  const jwks: string[] = [];
  const uris = j['jwksURIs'];
  if (uris !== undefined && uris !== null) {
    if (!Array.isArray(uris)) tf.fail(join(jpath, 'jwksURIs'), 'must be a list of {url}');
    uris.forEach((u, i) => {
      const upath = join(join(jpath, 'jwksURIs'), i);
      const url = isObject(u) ? u['url'] : undefined;
      if (typeof url !== 'string' || !/^https?:\/\//.test(url))
        tf.fail(upath, 'needs an http(s) url');
      jwks.push(url);
      if (isObject(u) && isSet(u['cacheTimeout'])) {
        tf.warn(join(upath, 'cacheTimeout'), 'oidc-gw caches JWK Sets by its own rules', 'note');
      }
    });
  }
  const source = tf.str(j, 'source', jpath) ?? '';
  let trust = EMPTY_TRUST;
  if (jwks.length > 0) {
    trust = { ...EMPTY_TRUST, jwksUris: jwks };
    if (source) tf.warn(join(jpath, 'source'), 'Tyk uses jwksURIs when set: source is not used');
  } else if (source) {
    trust = trustFromSource(tf, source, method, join(jpath, 'source'));
  } else {
    tf.fail(
      jpath,
      'neither source nor jwksURIs: Tyk then looks keys up in its key store, which cannot be emulated',
    );
  }

  const subjectClaims = tf.strings(j, 'subjectClaims', jpath);
  const base = tf.str(j, 'identityBaseField', jpath) ?? '';
  const identityClaims = [...new Set([...subjectClaims, ...(base ? [base] : []), 'sub'])];
  const policyClaims = [
    ...new Set([
      ...tf.strings(j, 'basePolicyClaims', jpath),
      ...((tf.str(j, 'policyFieldName', jpath) ?? '')
        ? [tf.str(j, 'policyFieldName', jpath) ?? '']
        : []),
    ]),
  ];
  const defaults = tf.strings(j, 'defaultPolicies', jpath);
  const refs = defaults.map((id, i) => ({ id, path: join(join(jpath, 'defaultPolicies'), i) }));
  const scpath = join(jpath, 'scopes');
  const scopes = tf.obj(j, 'scopes', jpath) ?? {};
  const scopeClaims = [
    ...new Set([
      ...tf.strings(scopes, 'claims', scpath),
      ...((tf.str(scopes, 'claimName', scpath) ?? '')
        ? [tf.str(scopes, 'claimName', scpath) ?? '']
        : []),
    ]),
  ];
  const mapping: Record<string, string> = {};
  const list = scopes['scopeToPolicyMapping'];
  if (Array.isArray(list)) {
    list.forEach((m, i) => {
      const mpath = join(join(scpath, 'scopeToPolicyMapping'), i);
      if (!isObject(m) || typeof m['scope'] !== 'string' || typeof m['policyId'] !== 'string') {
        tf.fail(mpath, 'needs scope and policyId');
      }
      mapping[m['scope']] = m['policyId'];
      refs.push({ id: m['policyId'], path: mpath });
    });
  }

  const claims: ClaimRule[] = [];
  const subjects = tf.strings(j, 'allowedSubjects', jpath);
  if (subjects.length > 0) {
    claims.push({
      claim: [identityClaims[0] ?? 'sub'],
      match: 'any',
      values: subjects,
      failure: 'claim',
      label: 'allowedSubjects',
    });
    if (!tf.bool(j, 'skipKid', jpath)) {
      tf.warn(
        join(jpath, 'allowedSubjects'),
        "Tyk compares the token's kid header (when there is one) with allowedSubjects unless skipKid is true; oidc-gw compares the identity claim",
        'note',
      );
    }
  }
  const jti = tf.obj(j, 'jtiValidation', jpath);
  if (jti && jti['enabled'] === true) {
    claims.push({
      claim: ['jti'],
      match: 'present',
      values: [],
      failure: 'claim',
      label: 'jtiValidation',
    });
  }
  claims.push(...customClaims(tf, j, jpath));

  const token = oasTokenSource(tf, j, jpath);
  for (const k of ['idpClientIdMappingDisabled', 'clientBaseField']) {
    if (isSet(j[k])) tf.warn(join(jpath, k), 'not emulated');
  }
  return {
    kind: 'jwt',
    trust,
    algorithms: algorithmsFor(method),
    token,
    skew: {
      exp: tf.num(j, 'expiresAtValidationSkew', jpath),
      nbf: tf.num(j, 'notBeforeValidationSkew', jpath),
      iat: tf.num(j, 'issuedAtValidationSkew', jpath),
    },
    issuers: tf.strings(j, 'allowedIssuers', jpath),
    audiences: tf.strings(j, 'allowedAudiences', jpath),
    claims,
    canCheckIssAud: true,
    identityClaims,
    policyClaims,
    defaultPolicies: defaults,
    scopeToPolicy: mapping,
    scopeClaims: scopeClaims.length > 0 ? scopeClaims : ['scope'],
    policyRefs: refs,
    authPath: jpath,
  };
}

function oasTokenSource(tf: TykFile, j: Json, jpath: string): TykJwtFacts['token'] {
  const header = tf.obj(j, 'header', jpath);
  const query = tf.obj(j, 'query', jpath);
  const cookie = tf.obj(j, 'cookie', jpath);
  const headerOn = header ? header['enabled'] !== false : true;
  const headerName = (header && tf.str(header, 'name', join(jpath, 'header'))) || 'Authorization';
  const q =
    query && query['enabled'] === true
      ? [tf.str(query, 'name', join(jpath, 'query')) || headerName]
      : [];
  const c =
    cookie && cookie['enabled'] === true
      ? [tf.str(cookie, 'name', join(jpath, 'cookie')) || headerName]
      : [];
  return {
    headers: headerOn ? [headerName.toLowerCase()] : [],
    scheme: 'optional',
    query: q,
    cookies: c,
  };
}

/**
 * `customClaimValidation`: `required` (present), `exact_match` (equal to one
 * of allowedValues), `contains` (an array claim holding one of them; for a
 * string claim Tyk looks for a substring, which oidc-gw approximates by
 * equality). `nonBlocking` rules only log in Tyk: not enforced here.
 */
function customClaims(tf: TykFile, j: Json, jpath: string): ClaimRule[] {
  const cpath = join(jpath, 'customClaimValidation');
  const rules = tf.obj(j, 'customClaimValidation', jpath) ?? {};
  const out: ClaimRule[] = [];
  for (const [claimPath, rule] of Object.entries(rules)) {
    const rpath = join(cpath, claimPath);
    if (!isObject(rule)) tf.fail(rpath, 'must be an object');
    const type = tf.str(rule, 'type', rpath) ?? '';
    if (type !== 'required' && type !== 'exact_match' && type !== 'contains') {
      tf.fail(join(rpath, 'type'), `"${type}" is not one of required, exact_match, contains`);
    }
    if (tf.bool(rule, 'nonBlocking', rpath)) {
      tf.warn(
        rpath,
        `non-blocking: Tyk only logs when claim ${claimPath} does not match; not enforced`,
        'skipped_check',
      );
      continue;
    }
    const allowed = rule['allowedValues'];
    const values: string[] = [];
    if (type !== 'required') {
      if (!Array.isArray(allowed) || allowed.length === 0) {
        tf.fail(join(rpath, 'allowedValues'), `a ${type} rule needs allowedValues`);
      }
      allowed.forEach((v, i) => {
        if (typeof v === 'string') values.push(v);
        else if (typeof v === 'number' || typeof v === 'boolean') values.push(JSON.stringify(v));
        else
          tf.fail(
            join(join(rpath, 'allowedValues'), i),
            'only strings, numbers and booleans can be compared',
          );
      });
      if (type === 'contains') {
        tf.warn(
          rpath,
          'contains: for a string claim Tyk accepts a substring of it; oidc-gw compares the whole string (array claims: an element, as Tyk)',
          'note',
        );
      }
    }
    out.push({
      claim: claimPath.split('.'),
      match: type === 'required' ? 'present' : 'any',
      values,
      failure: 'claim',
      label: `customClaimValidation.${claimPath}:${type}`,
    });
  }
  return out;
}
