/**
 * Verification keys given by the user: a PEM (public key, certificate or
 * private key, whose public half is used), a JWK, a JWKS, or an HMAC secret.
 * Never key material from a token.
 */
import { X509Certificate, createPublicKey, type JsonWebKey as NodeJwk } from 'node:crypto';
import type { JWK } from 'jose';
import { GwError } from '../errors/index.js';

/** Where the verification keys come from. */
export type KeySource =
  /** One key: used whatever the token's `kid` says (the user chose it). */
  | { readonly kind: 'key'; readonly jwk: JWK; readonly origin: string }
  /** A key set: the token's `kid` selects the key. */
  | { readonly kind: 'jwks'; readonly keys: readonly JWK[]; readonly origin: string }
  /** A JWKS at a URL (fetched with jose's createRemoteJWKSet). */
  | { readonly kind: 'remote'; readonly url: string; readonly origin: string }
  /** An HMAC secret (HS256/384/512). */
  | { readonly kind: 'secret'; readonly secret: Uint8Array; readonly origin: string };

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'priv'];

function invalid(message: string, hint?: string): GwError {
  return new GwError('ERR_INPUT_INVALID', message, {
    hint:
      hint ??
      '--key takes a PEM file (public key, certificate or private key), a JWK or a JWKS (JSON)',
  });
}

/** A public JWK from any JWK: private members dropped (`oct` keys stay as they are). */
function publicJwk(jwk: Record<string, unknown>, origin: string): JWK {
  if (typeof jwk['kty'] !== 'string') throw invalid(`${origin}: a JWK needs "kty"`);
  if (jwk['kty'] === 'oct') {
    if (typeof jwk['k'] !== 'string') throw invalid(`${origin}: an "oct" JWK needs "k"`);
    return jwk as JWK;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(jwk)) if (!PRIVATE_MEMBERS.includes(k)) out[k] = v;
  return out as JWK;
}

function fromPem(text: string, origin: string): KeySource {
  const block = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/.exec(text);
  if (!block) throw invalid(`${origin}: a PEM block is not closed ("-----END ...-----" missing)`);
  const label = block[1] ?? '';
  try {
    const key =
      label === 'CERTIFICATE' || label === 'TRUSTED CERTIFICATE'
        ? new X509Certificate(block[0]).publicKey
        : createPublicKey(block[0]);
    const jwk = key.export({ format: 'jwk' }) as NodeJwk;
    return { kind: 'key', jwk: jwk as JWK, origin };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw invalid(`${origin}: the PEM "${label}" block is not a usable key (${why})`);
  }
}

function fromJson(text: string, origin: string): KeySource {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid(`${origin}: not valid JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(`${origin}: not a JWK or JWKS object`);
  }
  const obj = value as Record<string, unknown>;
  if (Array.isArray(obj['keys'])) {
    const keys = obj['keys'].map((k, i) => {
      if (k === null || typeof k !== 'object' || Array.isArray(k))
        throw invalid(`${origin}: keys[${i}] is not a JWK`);
      return publicJwk(k as Record<string, unknown>, `${origin} keys[${i}]`);
    });
    if (keys.length === 0) throw invalid(`${origin}: the JWKS has no keys`);
    // A set of one key is that key: the user chose it, whatever kid the token names.
    if (keys.length === 1) return { kind: 'key', jwk: keys[0] as JWK, origin };
    return { kind: 'jwks', keys, origin };
  }
  if (typeof obj['kty'] === 'string') return { kind: 'key', jwk: publicJwk(obj, origin), origin };
  throw invalid(`${origin}: JSON without "kty" (a JWK) or "keys" (a JWKS)`);
}

/** Reads `--key FILE` content. `origin` names it in messages (the file name). */
export function parseKeyFile(text: string, origin: string): KeySource {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed.length === 0) throw invalid(`${origin}: the file is empty`);
  if (trimmed.startsWith('{')) return fromJson(trimmed, origin);
  if (trimmed.includes('-----BEGIN ')) return fromPem(trimmed, origin);
  throw invalid(`${origin}: neither PEM ("-----BEGIN ...") nor JSON (a JWK or JWKS)`);
}

/** `--secret S`: the UTF-8 bytes of S, for HS256/384/512. */
export function secretSource(secret: string): KeySource {
  if (secret.length === 0)
    throw invalid('--secret is empty', 'give the shared HMAC secret the issuer signs with');
  return { kind: 'secret', secret: new TextEncoder().encode(secret), origin: '--secret' };
}

/** The JWS algorithms a key can verify: its `alg` when it has one, else those of its type and curve. */
export function algorithmsForKey(jwk: JWK): string[] {
  if (typeof jwk.alg === 'string') return [jwk.alg];
  switch (jwk.kty) {
    case 'RSA':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'EC':
      if (jwk.crv === 'P-256') return ['ES256'];
      if (jwk.crv === 'P-384') return ['ES384'];
      if (jwk.crv === 'P-521') return ['ES512'];
      return [];
    case 'OKP':
      return jwk.crv === 'Ed25519' ? ['EdDSA', 'Ed25519'] : [];
    case 'oct':
      return ['HS256', 'HS384', 'HS512'];
    default:
      return [];
  }
}

/** "RSA key (kid abc)" */
export function describeKey(jwk: JWK): string {
  const type =
    jwk.kty === 'EC' || jwk.kty === 'OKP'
      ? `${jwk.kty} ${jwk.crv ?? ''}`.trim()
      : jwk.kty === 'oct'
        ? 'HMAC'
        : (jwk.kty ?? '?');
  const bits = [jwk.kid ? `kid "${jwk.kid}"` : '', jwk.alg ? `alg ${jwk.alg}` : '']
    .filter(Boolean)
    .join(', ');
  return `${type} key${bits ? ` (${bits})` : ''}`;
}
