/**
 * Signature verification for `decode --verify`, over jose: the strict
 * encoding pre-check, the algorithm pinned to the key, `none` never, and
 * key material from the token (jwk, jku, x5u, x5c) never used. Failures name
 * their cause (unknown kid, bad signature, algorithm mismatch...).
 *
 * Silent: the fetch and the timeout are parameters.
 */
import {
  compactVerify,
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type CompactVerifyResult,
  type JWK,
  type JWSHeaderParameters,
  type FlattenedJWSInput,
  type FetchImplementation,
} from 'jose';
import { GwError, isGwError } from '../errors/index.js';
import { wrapOAuthError } from '../oauth-errors.js';
import { isCanonicalBase64url } from './compact.js';
import { DuplicateMemberError, parseStrictJson } from './strict-json.js';
import { algorithmsForKey, describeKey, type KeySource } from './keys.js';

export type SignatureCause =
  | 'not_jws'
  | 'encoding'
  | 'header'
  | 'alg_missing'
  | 'alg_none'
  | 'alg_mismatch'
  | 'unknown_kid'
  | 'bad_signature'
  | 'key_unusable'
  | 'invalid';

export interface SignatureResult {
  readonly ok: boolean;
  /** Why verification failed (undefined when ok). */
  readonly cause?: SignatureCause;
  readonly message: string;
  readonly alg?: string;
  readonly kid?: string;
}

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface VerifyOptions {
  /** Used for a remote JWKS (default: the global fetch). */
  fetch?: FetchLike;
  /** Seconds (default 30). */
  timeoutSeconds?: number;
}

/** Every asymmetric JWS algorithm jose verifies (a JWKS never verifies HS*). */
export const ASYMMETRIC_ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;

const HMAC_ALGS = ['HS256', 'HS384', 'HS512'];

function fail(
  cause: SignatureCause,
  message: string,
  extra: { alg?: string; kid?: string } = {},
): SignatureResult {
  return { ok: false, cause, message, ...extra };
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function list(keys: readonly JWK[]): string {
  if (keys.length === 0) return 'no keys';
  return keys.map((k) => describeKey(k)).join(', ');
}

/** Explains a "no matching key" answer from a key set. */
function noMatchingKey(
  keys: readonly JWK[],
  origin: string,
  alg: string,
  kid: string | undefined,
): SignatureResult {
  if (kid !== undefined) {
    const named = keys.filter((k) => k.kid === kid);
    if (named.length === 0) {
      const kids = keys.map((k) => (k.kid === undefined ? '(none)' : `"${k.kid}"`));
      return fail(
        'unknown_kid',
        `unknown kid: no key with kid "${kid}" in ${origin} (its kids: ${kids.length > 0 ? kids.join(', ') : 'none'}); the signing key may have been rotated, or the token comes from another issuer`,
        { alg, kid },
      );
    }
    const key = named[0] as JWK;
    if (key.use !== undefined && key.use !== 'sig') {
      return fail(
        'key_unusable',
        `the key with kid "${kid}" in ${origin} is for "${key.use}", not for signatures`,
        { alg, kid },
      );
    }
    if (Array.isArray(key.key_ops) && !key.key_ops.includes('verify')) {
      return fail(
        'key_unusable',
        `the key with kid "${kid}" in ${origin} does not allow "verify" (key_ops)`,
        { alg, kid },
      );
    }
    return fail(
      'alg_mismatch',
      `algorithm mismatch: the token says ${alg}, but the key with kid "${kid}" in ${origin} is an ${describeKey(key)}`,
      { alg, kid },
    );
  }
  return fail(
    'alg_mismatch',
    `algorithm mismatch: no key in ${origin} verifies ${alg} (it has: ${list(keys)})`,
    { alg },
  );
}

function fromJoseError(
  error: unknown,
  what: string,
  alg: string,
  kid: string | undefined,
): SignatureResult {
  const extra = { alg, ...(kid === undefined ? {} : { kid }) };
  const message = error instanceof Error ? error.message : String(error);
  switch (codeOf(error)) {
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return fail(
        'bad_signature',
        `bad signature: ${what} did not sign this token as it is (it was signed by another key, or changed after signing)`,
        extra,
      );
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return fail(
        'alg_mismatch',
        `algorithm mismatch: ${alg} cannot be verified with ${what}`,
        extra,
      );
    case 'ERR_JOSE_NOT_SUPPORTED':
      return fail(
        'alg_mismatch',
        `algorithm ${alg} cannot be verified with ${what}: ${message}`,
        extra,
      );
    case 'ERR_JWKS_INVALID':
    case 'ERR_JWK_INVALID':
      return fail('key_unusable', `${what} is not a usable key set: ${message}`, extra);
    case 'ERR_JWS_INVALID':
      return fail('invalid', `the token cannot be verified: ${message}`, extra);
    default:
      // jose's key checks (use, key_ops, alg, RSA modulus size) and WebCrypto import errors.
      return fail('key_unusable', `${what} cannot verify this token: ${message}`, extra);
  }
}

type VerifyKey = Exclude<Parameters<typeof compactVerify>[1], (...args: never[]) => unknown>;

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<unknown>;

/** Verifies with a key set, trying each candidate when several keys match (no kid). */
async function verifyWithSet(
  token: string,
  set: KeyResolver,
  algorithms: readonly string[],
): Promise<CompactVerifyResult> {
  try {
    return await compactVerify(
      token,
      set as Parameters<typeof compactVerify>[1] & ((...a: never[]) => never),
      {
        algorithms: [...algorithms],
      },
    );
  } catch (error) {
    if (codeOf(error) !== 'ERR_JWKS_MULTIPLE_MATCHING_KEYS') throw error;
    let last: unknown = error;
    for await (const key of error as AsyncIterable<VerifyKey>) {
      try {
        return await compactVerify(token, key, { algorithms: [...algorithms] });
      } catch (inner) {
        last = inner;
      }
    }
    throw codeOf(last) === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS'
      ? Object.assign(new Error('no key verified'), {
          code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
        })
      : last;
  }
}

interface Prepared {
  readonly header: Record<string, unknown>;
  readonly alg: string;
  readonly kid: string | undefined;
}

/** The strict pre-checks every token passes before jose sees it. */
function prepare(token: string): Prepared | SignatureResult {
  const parts = token.split('.');
  if (parts.length === 5)
    return fail(
      'not_jws',
      'an encrypted JWE has no signature to verify: it must be decrypted first',
    );
  if (parts.length !== 3)
    return fail('not_jws', `a JWS has 3 dot-separated parts; this has ${parts.length}`);
  const names = ['header', 'payload', 'signature'];
  for (let i = 0; i < 3; i++) {
    if (!isCanonicalBase64url(parts[i] as string)) {
      return fail(
        'encoding',
        `the ${names[i]} is not canonical base64url: refused before any key is tried`,
      );
    }
  }
  let header: unknown;
  try {
    header = parseStrictJson(
      new TextDecoder('utf-8', { fatal: true }).decode(
        Buffer.from(parts[0] as string, 'base64url'),
      ),
    );
  } catch (error) {
    if (error instanceof DuplicateMemberError)
      return fail('header', `the header has "${error.member}" more than once`);
    return fail('header', 'the header is not valid UTF-8 JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    return fail('header', 'the header is not a JSON object');
  }
  const h = header as Record<string, unknown>;
  const alg = h['alg'];
  const kid = typeof h['kid'] === 'string' ? h['kid'] : undefined;
  if (typeof alg !== 'string' || alg.length === 0)
    return fail('alg_missing', 'the header has no "alg"');
  if (alg.toLowerCase() === 'none') {
    return fail('alg_none', `alg "${alg}": an unsigned token never verifies`, {
      alg,
      ...(kid ? { kid } : {}),
    });
  }
  return { header: h, alg, kid };
}

async function remoteSet(
  url: string,
  options: VerifyOptions,
): Promise<{ resolver: KeyResolver; keys: JWK[] }> {
  const set = createRemoteJWKSet(new URL(url), {
    timeoutDuration: Math.round((options.timeoutSeconds ?? 30) * 1000),
    ...(options.fetch ? { [customFetch]: options.fetch as FetchImplementation } : {}),
  });
  try {
    await set.reload();
  } catch (error) {
    if (codeOf(error) === 'ERR_JWKS_TIMEOUT') {
      throw new GwError('ERR_TIMEOUT', `the JWKS request timed out (${url})`, {
        cause: error,
        hint: 'raise --timeout, or check the URL',
      });
    }
    if (codeOf(error) === 'ERR_JWKS_INVALID') {
      throw new GwError(
        'ERR_IDP_RESPONSE',
        `${url} did not answer with a JSON Web Key Set ({"keys": [...]})`,
        {
          cause: error,
        },
      );
    }
    throw wrapOAuthError(error, { action: 'JWKS request', url });
  }
  return { resolver: set as unknown as KeyResolver, keys: set.jwks()?.keys ?? [] };
}

/**
 * Verifies the signature of a compact JWS with the given keys. Returns a
 * result (ok or a named failure); throws GwError only when the keys cannot
 * be fetched (network, timeout, not a JWKS).
 */
export async function verifySignature(
  token: string,
  source: KeySource,
  options: VerifyOptions = {},
): Promise<SignatureResult> {
  const prepared = prepare(token);
  if ('ok' in prepared) return prepared;
  const { alg, kid } = prepared;
  const extra = { alg, ...(kid === undefined ? {} : { kid }) };
  const isHmac = HMAC_ALGS.includes(alg);
  try {
    switch (source.kind) {
      case 'secret': {
        if (!isHmac) {
          return fail(
            'alg_mismatch',
            `algorithm mismatch: the token says ${alg}, but --secret is an HMAC key (HS256, HS384, HS512); give the public key with --key, --jwks-uri or --issuer`,
            extra,
          );
        }
        await compactVerify(token, source.secret, { algorithms: [alg] });
        return {
          ok: true,
          message: `valid ${alg} signature with the shared secret (--secret)`,
          ...extra,
        };
      }
      case 'key': {
        const algorithms = algorithmsForKey(source.jwk);
        if (!algorithms.includes(alg)) {
          const hint = isHmac ? '; an HMAC token needs the shared secret (--secret)' : '';
          return fail(
            'alg_mismatch',
            `algorithm mismatch: the token says ${alg}, but the key in ${source.origin} is an ${describeKey(source.jwk)} (${algorithms.length > 0 ? algorithms.join(', ') : 'no JWS algorithm'})${hint}`,
            extra,
          );
        }
        if (kid !== undefined && source.jwk.kid !== undefined && source.jwk.kid !== kid) {
          return fail(
            'unknown_kid',
            `unknown kid: the token names kid "${kid}", the key in ${source.origin} is kid "${source.jwk.kid}"`,
            extra,
          );
        }
        await compactVerify(token, source.jwk, { algorithms });
        return {
          ok: true,
          message: `valid ${alg} signature, ${describeKey(source.jwk)} from ${source.origin}`,
          ...extra,
        };
      }
      case 'jwks':
      case 'remote': {
        if (isHmac) {
          return fail(
            'alg_mismatch',
            `algorithm mismatch: ${alg} is an HMAC algorithm, verified with a shared secret (--secret), never with a key from a JWKS`,
            extra,
          );
        }
        if (!(ASYMMETRIC_ALGS as readonly string[]).includes(alg)) {
          return fail(
            'alg_mismatch',
            `algorithm ${alg} is not one oidc-gw verifies (${ASYMMETRIC_ALGS.join(', ')})`,
            extra,
          );
        }
        let resolver: KeyResolver;
        let keys: readonly JWK[];
        if (source.kind === 'jwks') {
          keys = source.keys;
          try {
            resolver = createLocalJWKSet({ keys: [...keys] }) as unknown as KeyResolver;
          } catch (error) {
            return fromJoseError(error, source.origin, alg, kid);
          }
        } else {
          ({ resolver, keys } = await remoteSet(source.url, options));
        }
        try {
          await verifyWithSet(token, resolver, ASYMMETRIC_ALGS);
        } catch (error) {
          if (codeOf(error) === 'ERR_JWKS_NO_MATCHING_KEY')
            return noMatchingKey(keys, source.origin, alg, kid);
          const used =
            kid === undefined
              ? `the keys of ${source.origin}`
              : `the key with kid "${kid}" from ${source.origin}`;
          return fromJoseError(error, used, alg, kid);
        }
        const used = kid === undefined ? 'a key' : `key kid "${kid}"`;
        return {
          ok: true,
          message: `valid ${alg} signature, ${used} from ${source.origin}`,
          ...extra,
        };
      }
    }
  } catch (error) {
    if (isGwError(error)) throw error;
    const what =
      source.kind === 'secret'
        ? 'the shared secret'
        : source.kind === 'key'
          ? `the key in ${source.origin}`
          : source.origin;
    return fromJoseError(error, what, alg, kid);
  }
}
