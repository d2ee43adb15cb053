/** Private keys for private_key_jwt client authentication: PEM (PKCS#8) or JWK. */
import { importJWK, importPKCS8, type CryptoKey, type JWK } from 'jose';
import { GwError } from './errors/index.js';

export interface ClientKey {
  readonly key: CryptoKey;
  readonly kid: string | undefined;
  readonly alg: string;
}

function defaultAlg(jwk: JWK): string {
  if (jwk.alg) return jwk.alg;
  if (jwk.kty === 'RSA') return 'RS256';
  if (jwk.kty === 'EC')
    return jwk.crv === 'P-384' ? 'ES384' : jwk.crv === 'P-521' ? 'ES512' : 'ES256';
  if (jwk.kty === 'OKP') return 'EdDSA';
  return 'RS256';
}

/** Reads a private key from the text of a PEM or JWK (or single-key JWKS) file. */
export async function importClientKey(
  text: string,
  source: string,
  algHint?: string,
): Promise<ClientKey> {
  const trimmed = text.trim();
  const fail = (why: string, cause?: unknown) =>
    new GwError('ERR_INPUT_INVALID', `cannot use the private key ${source}: ${why}`, {
      cause,
      hint: 'give a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") or a private JWK',
    });
  if (trimmed.startsWith('-----BEGIN')) {
    if (!trimmed.includes('PRIVATE KEY-----')) throw fail('the PEM is not a private key');
    if (/BEGIN (RSA|EC) PRIVATE KEY/.test(trimmed)) {
      throw fail('it is PKCS#1/SEC1; convert it with `openssl pkcs8 -topk8 -nocrypt -in KEY`');
    }
    const isEc = algHint?.startsWith('ES');
    const alg = algHint ?? 'RS256';
    try {
      return { key: await importPKCS8(trimmed, alg, { extractable: false }), kid: undefined, alg };
    } catch (first) {
      if (algHint || isEc) throw fail((first as Error).message, first);
      for (const candidate of ['ES256', 'ES384', 'ES512', 'EdDSA']) {
        try {
          return { key: await importPKCS8(trimmed, candidate), kid: undefined, alg: candidate };
        } catch {
          /* try the next */
        }
      }
      throw fail((first as Error).message, first);
    }
  }
  let jwk: JWK;
  try {
    const parsed = JSON.parse(trimmed) as JWK & { keys?: JWK[] };
    jwk = Array.isArray(parsed.keys)
      ? parsed.keys.length === 1
        ? (parsed.keys[0] as JWK)
        : (() => {
            throw fail('a JWKS with more than one key: give one key');
          })()
      : parsed;
  } catch (error) {
    if (error instanceof GwError) throw error;
    throw fail('neither PEM nor JSON', error);
  }
  if (!('d' in jwk) || jwk.kty === 'oct') throw fail('the JWK has no private part ("d")');
  const alg = algHint ?? defaultAlg(jwk);
  try {
    const key = await importJWK(jwk, alg);
    if (key instanceof Uint8Array) throw fail('symmetric keys cannot be used for private_key_jwt');
    return { key, kid: jwk.kid, alg };
  } catch (error) {
    if (error instanceof GwError) throw error;
    throw fail((error as Error).message, error);
  }
}
