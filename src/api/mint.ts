/**
 * mintToken: signs a JWT access token with keys the caller gives, shaped as
 * the dev IdP's own (RFC 9068 `at+jwt`: iss, sub, aud, client_id, scope, iat,
 * exp, jti), with every part overridable. A test suite uses it to make the
 * tokens an IdP would never issue (expired, not yet valid, wrong audience or
 * issuer, unknown `kid`, extra or missing claims) and assert that its API
 * refuses them. Nothing is printed and nothing is kept between calls.
 */
import { randomBytes } from 'node:crypto';
import { GwError } from '../core/errors/index.js';
import type { Jwks, PrivateJwk } from './keys.js';

export interface MintTokenOptions {
  /**
   * The signing key: a private JWK, or a key set whose first key signs (as
   * `idp.keys()` returns). Its `kid` goes into the header.
   */
  readonly key: PrivateJwk | Jwks<PrivateJwk>;
  /** JWS algorithm (default: the key's `alg`, else RS256 / ES256 / ES384 / ES512 / EdDSA / HS256 by key type). */
  readonly alg?: string;
  readonly issuer?: string;
  /** `aud`: one audience or several. */
  readonly audience?: string | readonly string[];
  readonly subject?: string;
  /** `client_id` (RFC 9068). */
  readonly clientId?: string;
  /** `scope`: a space-separated string or a list. */
  readonly scope?: string | readonly string[];
  /** Seconds from `now` to `exp` (default 3600). Negative: already expired. */
  readonly expiresIn?: number;
  /**
   * Claims added last, over the ones above; a claim set to `undefined` is
   * left out (e.g. `{ exp: undefined }` for a token without expiry).
   */
  readonly claims?: Readonly<Record<string, unknown>>;
  /**
   * Protected header members added over `{ alg, typ: 'at+jwt', kid }`; a
   * member set to `undefined` is left out (e.g. `{ kid: undefined }`).
   * `alg` here replaces the signing algorithm's name in the header only.
   */
  readonly header?: Readonly<Record<string, unknown>>;
  /** The moment taken as now: a Date or milliseconds since the epoch (default: the clock). */
  readonly now?: Date | number;
}

/** The default lifetime of a minted token, in seconds (the dev IdP's default too). */
export const DEFAULT_EXPIRES_IN = 3600;

/** Signs a JWT access token (compact JWS) with `options.key`. */
export async function mintToken(options: MintTokenOptions): Promise<string> {
  const jose = await import('jose');
  const jwk = signingKey(options.key);
  const alg = options.alg ?? defaultAlg(jwk);
  let key: Awaited<ReturnType<typeof jose.importJWK>>;
  try {
    key = await jose.importJWK(withoutMeta(jwk), alg);
  } catch (cause) {
    throw new GwError('ERR_INPUT_INVALID', `the signing key cannot sign with ${alg}`, {
      hint: 'give a private JWK (RSA, EC or OKP with its private members) that fits the algorithm',
      cause,
    });
  }

  const nowMs = options.now === undefined ? Date.now() : Number(options.now);
  if (!Number.isFinite(nowMs)) throw usage('`now` must be a Date or a number of milliseconds');
  const iat = Math.floor(nowMs / 1000);
  const expiresIn = options.expiresIn ?? DEFAULT_EXPIRES_IN;
  if (!Number.isFinite(expiresIn)) throw usage('`expiresIn` must be a number of seconds');

  const payload = dropUndefined({
    iss: options.issuer,
    sub: options.subject,
    aud: audienceClaim(options.audience),
    client_id: options.clientId,
    scope: scopeClaim(options.scope),
    iat,
    exp: iat + Math.trunc(expiresIn),
    jti: randomBytes(16).toString('base64url'),
    ...options.claims,
  });
  const header = dropUndefined({
    alg,
    typ: 'at+jwt',
    kid: typeof jwk.kid === 'string' ? jwk.kid : undefined,
    ...options.header,
  });

  const bytes = new TextEncoder().encode(JSON.stringify(payload));
  // jose signs with `alg` from the header: a header that names another
  // algorithm is signed with the real one, then its header is swapped in.
  if (header['alg'] === alg) {
    return new jose.CompactSign(bytes).setProtectedHeader(header as { alg: string }).sign(key);
  }
  const signed = await new jose.CompactSign(bytes).setProtectedHeader({ ...header, alg }).sign(key);
  const [, body, signature] = signed.split('.');
  const fakeHeader = Buffer.from(JSON.stringify(header)).toString('base64url');
  return `${fakeHeader}.${body}.${signature}`;
}

function signingKey(key: PrivateJwk | Jwks<PrivateJwk>): PrivateJwk {
  const first = 'keys' in key && Array.isArray(key.keys) ? key.keys[0] : key;
  if (!first || typeof first !== 'object' || typeof (first as PrivateJwk).kty !== 'string') {
    throw usage('`key` must be a private JWK or a key set ({ keys: [...] }) with at least one key');
  }
  return first as PrivateJwk;
}

function defaultAlg(jwk: PrivateJwk): string {
  if (typeof jwk.alg === 'string') return jwk.alg;
  switch (jwk.kty) {
    case 'RSA':
      return 'RS256';
    case 'OKP':
      return 'EdDSA';
    case 'oct':
      return 'HS256';
    case 'EC':
      return jwk.crv === 'P-384' ? 'ES384' : jwk.crv === 'P-521' ? 'ES512' : 'ES256';
    default:
      throw usage(`a key of type "${jwk.kty}" cannot sign`);
  }
}

/** The key without the members importJWK does not need (and might refuse: `use`, `key_ops`). */
function withoutMeta(jwk: PrivateJwk): Record<string, unknown> {
  const { kid: _kid, use: _use, key_ops: _ops, alg: _alg, ...rest } = jwk;
  return rest;
}

function audienceClaim(audience: string | readonly string[] | undefined): unknown {
  if (audience === undefined) return undefined;
  return typeof audience === 'string' ? audience : [...audience];
}

function scopeClaim(scope: string | readonly string[] | undefined): string | undefined {
  if (scope === undefined) return undefined;
  return typeof scope === 'string' ? scope : scope.join(' ');
}

function dropUndefined(record: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(record)) if (v !== undefined) out[k] = v;
  return out;
}

function usage(message: string): GwError {
  return new GwError('ERR_USAGE', message);
}
