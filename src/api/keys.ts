/**
 * Signing keys for the programmatic API (`oidc-gw` and `oidc-gw/testing`):
 * the public types a test suite sees, and helpers to make a key pair or
 * publish the public half. Types are our own (not oidc-provider's or jose's)
 * so that a consumer type-checks against this package alone.
 */
import { GwError } from '../core/errors/index.js';
import { generateSigningKey } from '../idp/keys.js';

/** A private JSON Web Key that can sign (RSA, EC or OKP), with its `kid`. */
export interface PrivateJwk {
  readonly kty: string;
  readonly kid?: string;
  readonly alg?: string;
  readonly use?: string;
  readonly crv?: string;
  readonly [member: string]: unknown;
}

/** A public JSON Web Key, as published at a JWKS endpoint. */
export interface PublicJwk {
  readonly kty: string;
  readonly kid?: string;
  readonly alg?: string;
  readonly use?: string;
  readonly [member: string]: unknown;
}

/** A key set: `{ "keys": [...] }`. */
export interface Jwks<K = PublicJwk> {
  readonly keys: readonly K[];
}

/** Members of a private key that a public JWK never carries (RFC 7518 §6). */
const PRIVATE_MEMBERS = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'priv']);

/**
 * A fresh RS256 key pair as a private JWK (2048-bit RSA, `kid` = its RFC 7638
 * thumbprint, `alg: RS256`, `use: sig`): the kind of key the dev IdP signs with.
 */
export async function generateKey(): Promise<PrivateJwk> {
  return { ...(await generateSigningKey()) };
}

/** The public half of each key: what a JWKS endpoint would serve for `keys`. */
export function publicJwks(keys: Jwks<PrivateJwk> | readonly PrivateJwk[]): Jwks {
  const list = Array.isArray(keys) ? keys : (keys as Jwks<PrivateJwk>).keys;
  return { keys: list.map((k) => publicJwk(k)) };
}

function publicJwk(jwk: PrivateJwk): PublicJwk {
  if (jwk.kty === 'oct') {
    throw new GwError('ERR_USAGE', 'a symmetric ("oct") key has no public half to publish', {
      hint: 'publish only RSA, EC or OKP keys; a test that needs HS256 shares the secret itself',
    });
  }
  const out: Record<string, unknown> = {};
  for (const [member, value] of Object.entries(jwk)) {
    if (!PRIVATE_MEMBERS.has(member)) out[member] = value;
  }
  return out as PublicJwk;
}
