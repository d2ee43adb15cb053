/**
 * What the Tyk importers (classic API definitions, Tyk OAS documents,
 * policies) share: reading JSON values with their paths, warnings, the
 * JWT key source (`jwt_source` / `source`) as plan trust, the signing
 * method as an algorithm list, and a policy's rate and quota as limit rules
 * (docs/gateways/tyk.md). Facts about Tyk come from its public
 * documentation; nothing here is Tyk's code.
 */
import { decodeStdBase64 } from './base64.js';
import { createPublicKey } from 'node:crypto';
import {
  PlanError,
  type LimitKey,
  type LimitRule,
  type PolicyBinding,
  type PublicKeyFile,
  type SharedSecret,
  type Trust,
  type Warning,
} from '../plan.js';

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Collects warnings for one file and throws PlanErrors naming it. */
export class TykFile {
  readonly warnings: Warning[] = [];
  constructor(readonly file: string) {}

  warn(path: string, message: string, kind: Warning['kind'] = 'ignored'): void {
    this.warnings.push({ file: this.file, path, message, kind });
  }

  fail(path: string, message: string): never {
    throw new PlanError(this.file, path, message);
  }

  str(obj: Json, key: string, path: string): string | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(join(path, key), 'must be a string');
    return v;
  }

  bool(obj: Json, key: string, path: string): boolean {
    const v = obj[key];
    if (v === undefined || v === null) return false;
    if (typeof v !== 'boolean') this.fail(join(path, key), 'must be true or false');
    return v;
  }

  num(obj: Json, key: string, path: string): number {
    const v = obj[key];
    if (v === undefined || v === null) return 0;
    if (typeof v !== 'number' || !Number.isFinite(v))
      this.fail(join(path, key), 'must be a number');
    return v;
  }

  obj(obj: Json, key: string, path: string): Json | undefined {
    const v = obj[key];
    if (v === undefined || v === null) return undefined;
    if (!isObject(v)) this.fail(join(path, key), 'must be an object');
    return v;
  }

  strings(obj: Json, key: string, path: string): string[] {
    const v = obj[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) {
      this.fail(join(path, key), 'must be a list of strings');
    }
    return v as string[];
  }
}

/** `a.b`, `a[0]`, or `b` at the root. */
export function join(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  if (/^[A-Za-z_$][\w$-]*$/.test(key)) return path ? `${path}.${key}` : key;
  return `${path}[${JSON.stringify(key)}]`;
}

/** True for a value that is set to something (not false, 0, '', [], {}). */
export function isSet(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') {
    return false;
  }
  if (Array.isArray(value)) return value.length > 0;
  if (isObject(value)) return Object.values(value).some(isSet);
  return true;
}

// ---------------------------------------------------------------------------
// Signing method and key source

export const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
export const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
export const ECDSA_ALGS = ['ES256', 'ES384', 'ES512'] as const;

export type SigningMethod = 'hmac' | 'rsa' | 'ecdsa';

/**
 * `jwt_signing_method`: `hmac`, `rsa` (RS* and PS*), `ecdsa`. Empty: Tyk
 * falls back to HMAC and logs a warning, and so do we.
 */
export function signingMethod(tf: TykFile, value: string | undefined, path: string): SigningMethod {
  const v = (value ?? '').trim();
  if (v === 'hmac' || v === 'rsa' || v === 'ecdsa') return v;
  if (v === '') {
    tf.warn(
      path,
      'no signing method: Tyk falls back to HMAC (HS256/384/512) and logs a warning; so does oidc-gw',
      'note',
    );
    return 'hmac';
  }
  return tf.fail(path, `unknown signing method "${v}" (expected hmac, rsa or ecdsa)`);
}

export function algorithmsFor(method: SigningMethod): readonly string[] {
  if (method === 'rsa') return RSA_ALGS;
  if (method === 'ecdsa') return ECDSA_ALGS;
  return HMAC_ALGS;
}

const HTTP_URL = /^https?:\/\//;

/** Go's StdEncoding: standard alphabet, padded, nothing else (whitespace is refused). */

export const EMPTY_TRUST: Trust = { issuers: [], jwksUris: [], publicKeys: [], secrets: [] };

/**
 * `jwt_source` (classic) or `source` (OAS): a plain http(s) URL (a JWK
 * Set), or base64 of a JWK Set URL, an HMAC secret, or a PEM (or DER) public
 * key or certificate, read according to the signing method, as Tyk does.
 */
export function trustFromSource(
  tf: TykFile,
  source: string,
  method: SigningMethod,
  path: string,
): Trust {
  if (HTTP_URL.test(source)) return { ...EMPTY_TRUST, jwksUris: [source] };
  const decoded = decodeStdBase64(source);
  if (!decoded) {
    return tf.fail(
      path,
      'is neither an http(s) URL nor base64 (Tyk refuses every token of this API: "JWKS source decode failed")',
    );
  }
  const text = decoded.toString('utf8');
  if (HTTP_URL.test(text)) return { ...EMPTY_TRUST, jwksUris: [text] };
  const where = `${tf.file}: ${path}`;
  if (method === 'hmac') {
    if (decoded.length === 0) return tf.fail(path, 'is an empty HMAC secret');
    const secret: SharedSecret = {
      secret: new Uint8Array(decoded),
      algorithms: HMAC_ALGS,
      source: where,
    };
    return { ...EMPTY_TRUST, secrets: [secret] };
  }
  const key: PublicKeyFile = {
    text: publicKeyPem(tf, decoded, method, path),
    source: where,
    algorithms: algorithmsFor(method),
  };
  return { ...EMPTY_TRUST, publicKeys: [key] };
}

/** A PEM public key or certificate, or DER (SPKI or certificate) turned into PEM. */
function publicKeyPem(tf: TykFile, decoded: Buffer, method: SigningMethod, path: string): string {
  const text = decoded.toString('utf8');
  const want = method === 'rsa' ? ['rsa', 'rsa-pss'] : ['ec'];
  let type: string | undefined;
  let pem = text;
  try {
    if (text.includes('-----BEGIN')) {
      type = createPublicKey(text).asymmetricKeyType;
    } else {
      const key = createPublicKey({ key: decoded, format: 'der', type: 'spki' });
      type = key.asymmetricKeyType;
      pem = key.export({ type: 'spki', format: 'pem' }).toString();
    }
  } catch {
    return tf.fail(
      path,
      `holds no ${method === 'rsa' ? 'RSA' : 'ECDSA'} public key or certificate (Tyk: "Failed to decode JWT key" for every token)`,
    );
  }
  if (!type || !want.includes(type)) {
    return tf.fail(path, `holds a ${type ?? 'unknown'} key, but the signing method is ${method}`);
  }
  return pem;
}

// ---------------------------------------------------------------------------
// Policies and limits

/** One policy of a policies file, as far as oidc-gw uses it. */
export interface TykPolicy {
  readonly id: string;
  readonly file: string;
  readonly path: string;
  readonly orgId: string | undefined;
  readonly rate: number;
  readonly per: number;
  readonly quotaMax: number;
  readonly quotaRenewalRate: number;
  /** API ids of `access_rights` (map keys); empty: Tyk lets the session through. */
  readonly apiIds: ReadonlySet<string>;
}

export interface ApiLimitFacts {
  readonly apiId: string;
  readonly orgId: string | undefined;
  readonly disableRateLimit: boolean;
  readonly disableQuota: boolean;
  readonly key: LimitKey;
}

/**
 * A policy's rate (`rate` per `per` seconds: Tyk's rolling window, refused
 * requests counted) and quota (`quota_max` per `quota_renewal_rate` seconds:
 * a window that starts at the first request, refused requests counted).
 * `rate <= 0` / `quota_max <= 0`: none.
 */
export function policyLimits(pol: TykPolicy, api: ApiLimitFacts): LimitRule[] {
  const rules: LimitRule[] = [];
  if (!api.disableRateLimit && pol.rate > 0 && pol.per > 0) {
    rules.push({
      id: 'rate',
      kind: 'rate',
      algorithm: 'sliding_log',
      limit: Math.floor(pol.rate),
      periodMs: Math.round(pol.per * 1000),
      countRefused: true,
      key: api.key,
      label: `policy ${pol.id}: rate ${pol.rate} per ${pol.per}s`,
    });
  }
  if (!api.disableQuota && pol.quotaMax > 0 && pol.quotaRenewalRate > 0) {
    rules.push({
      id: 'quota',
      kind: 'quota',
      algorithm: 'fixed_first_request',
      limit: Math.floor(pol.quotaMax),
      periodMs: Math.round(pol.quotaRenewalRate * 1000),
      countRefused: true,
      key: api.key,
      label: `policy ${pol.id}: quota ${pol.quotaMax} per ${pol.quotaRenewalRate}s`,
    });
  }
  return rules;
}

/** Whether a policy opens an API: listed in access_rights, or no access rights at all. */
export function policyAllowsApi(pol: TykPolicy, apiId: string): boolean {
  return pol.apiIds.size === 0 || pol.apiIds.has(apiId);
}

/**
 * The policies an API can get, with their limits. A policy of another
 * organisation is left out (Tyk looks policies up by the API's org_id).
 */
export function bindPolicies(
  tf: TykFile,
  policies: ReadonlyMap<string, TykPolicy>,
  api: ApiLimitFacts,
  referenced: ReadonlyArray<{ id: string; path: string }>,
): PolicyBinding['policies'] {
  const out: Record<
    string,
    { allowsApi: boolean; limits: readonly LimitRule[]; unlimitedQuota?: boolean }
  > = {};
  for (const [id, pol] of policies) {
    if (api.orgId && pol.orgId && pol.orgId !== api.orgId) continue;
    out[id] = {
      allowsApi: policyAllowsApi(pol, api.apiId),
      limits: policyLimits(pol, api),
      ...(pol.quotaMax === -1 ? { unlimitedQuota: true } : {}),
    };
  }
  for (const ref of referenced) {
    if (out[ref.id]) continue;
    const other = policies.get(ref.id);
    tf.warn(
      ref.path,
      other
        ? `policy "${ref.id}" belongs to organisation "${other.orgId}", not this API's: Tyk answers 403 "key not authorized: no matching policy" to tokens that get it`
        : `policy "${ref.id}" is in no policies file given: Tyk answers 403 "key not authorized: no matching policy" to tokens that get it`,
      'note',
    );
  }
  return out;
}

/** The counters' key: the identity claim (re-issued tokens share counters), or the resolved identity. */
export function identityKey(identityClaims: readonly string[], segregate: boolean): LimitKey {
  const [only] = identityClaims;
  if (identityClaims.length === 1 && only !== undefined && !segregate) {
    return { by: 'claim', claim: only.includes('.') ? only.split('.') : [only] };
  }
  return { by: 'consumer' };
}

/** API-wide `global_rate_limit` (classic) / `upstream.rateLimit` (OAS): one counter for all callers. */
export function globalLimit(
  apiId: string,
  rate: number,
  perSeconds: number,
  label: string,
): LimitRule | undefined {
  if (!(rate > 0) || !(perSeconds > 0)) return undefined;
  return {
    // The API's id in the rule id: APIs of one organisation share a counter scope.
    id: `global:${apiId}`,
    kind: 'rate',
    algorithm: 'sliding_log',
    limit: Math.floor(rate),
    periodMs: Math.round(perSeconds * 1000),
    countRefused: true,
    key: { by: 'api' },
    label,
  };
}

/** The listen path as a prefix; Tyk's `{var}` and regular-expression paths are not prefixes. */
export function listenPrefix(tf: TykFile, value: string | undefined, path: string): string {
  if (!value) return tf.fail(path, 'is missing (where does this API listen?)');
  if (/[{}()[\]*+?^$|\\]/.test(value)) {
    return tf.fail(
      path,
      `"${value}" has path variables or a regular expression; oidc-gw matches plain prefixes only`,
    );
  }
  let p = value.trim();
  if (!p.startsWith('/')) p = `/${p}`;
  while (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

export function targetUrl(tf: TykFile, value: string | undefined, path: string): string {
  if (!value) return tf.fail(path, 'is missing (where does this API forward to?)');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return tf.fail(path, `"${value}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return tf.fail(
      path,
      `"${value}": only http and https upstreams can be emulated (not ${url.protocol})`,
    );
  }
  return value;
}
