/**
 * Keys and tokens for the gateway tests: real keys from jose, real
 * signatures, and hand-built tokens for the attacks (any header, any
 * payload bytes, any signature).
 */
import { createHmac } from 'node:crypto';
import {
  CompactSign,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  type CryptoKey,
  type JWK,
} from 'jose';

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
  publicPem: string;
}

export async function makeKey(
  alg: 'RS256' | 'ES256' | 'PS256' | 'EdDSA' | 'ES384',
  kid: string,
): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

export function b64(value: string | Uint8Array | object): string {
  if (typeof value === 'string') return Buffer.from(value, 'utf8').toString('base64url');
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64url');
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

/** Claims for a token that passes the default test gateway (iss/aud set by the caller). */
export function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = nowSeconds();
  return { sub: 'alice', iat: now, exp: now + 600, ...extra };
}

/** Signs `payload` (an object, or raw text) with `key`; `header` overrides or adds members. */
export async function sign(
  key: TestKey,
  payload: Record<string, unknown> | string,
  header: Record<string, unknown> = {},
): Promise<string> {
  const bytes = new TextEncoder().encode(
    typeof payload === 'string' ? payload : JSON.stringify(payload),
  );
  const protectedHeader = { alg: key.alg, kid: key.kid, typ: 'JWT', ...header } as { alg: string };
  for (const [k, v] of Object.entries(protectedHeader)) {
    if (v === undefined) delete (protectedHeader as Record<string, unknown>)[k];
  }
  return new CompactSign(bytes).setProtectedHeader(protectedHeader).sign(key.privateKey);
}

/** A token with the given header and payload text, signed by `key` over exactly those segments. */
export async function signRaw(
  key: TestKey,
  headerText: string,
  payloadText: string,
): Promise<string> {
  const { createSign, KeyObject } = await import('node:crypto');
  const input = `${b64(headerText)}.${b64(payloadText)}`;
  const keyObject = KeyObject.from(
    key.privateKey as unknown as Parameters<typeof KeyObject.from>[0],
  );
  let signature: Buffer;
  if (key.alg === 'RS256') {
    signature = createSign('RSA-SHA256').update(input).sign(keyObject);
  } else if (key.alg === 'ES256') {
    signature = createSign('SHA256')
      .update(input)
      .sign({ key: keyObject, dsaEncoding: 'ieee-p1363' });
  } else {
    throw new Error(`signRaw: ${key.alg} not supported`);
  }
  return `${input}.${signature.toString('base64url')}`;
}

/** HS256 over header.payload with `secret` (for algorithm-confusion attacks). */
export function hmacToken(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  secret: string | Buffer,
  alg = 'HS256',
): string {
  const input = `${b64(header)}.${b64(payload)}`;
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg] ?? 'sha256';
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`;
}
