/**
 * decode --verify and serve share one verification (docs/commands/decode.md,
 * "One verification for decode and serve"): the gateway's verifier decides decode's verdict.
 * Regression: a validly signed token with `cty: JWT` was "valid" for decode
 * and 401 nested_jwt for serve.
 */
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, test } from 'vitest';
import { gatewayVerdict } from '../../src/core/gateway/decode-verdict.js';
import { verifySignature } from '../../src/core/jwt/verify.js';
import type { KeySource } from '../../src/core/jwt/keys.js';

const noFetch = () => Promise.reject(new Error('no network in this test'));

describe('gatewayVerdict', async () => {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1' };
  const source: KeySource = { kind: 'key', jwk, origin: 'test.jwk' };
  const sign = (header: Record<string, unknown>) =>
    new SignJWT({ sub: 'alice', exp: Math.floor(Date.now() / 1000) + 60 })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1', ...header })
      .sign(privateKey);
  const verdict = (token: string) =>
    gatewayVerdict(token, source, {
      fetch: noFetch,
      timeoutSeconds: 1,
      explain: (s) => verifySignature(token, s, { timeoutSeconds: 1 }),
    });

  test('a good token verifies, with decode’s own message', async () => {
    const r = await verdict(await sign({}));
    expect(r.ok).toBe(true);
    expect(r.message).toMatch(/valid RS256 signature/);
  });

  test('cty: JWT is refused as serve refuses it, although the signature is valid', async () => {
    const token = await sign({ cty: 'JWT' });
    // decode's own check alone would accept it...
    expect((await verifySignature(token, source, { timeoutSeconds: 1 })).ok).toBe(true);
    // ...the shared verdict does not.
    const r = await verdict(token);
    expect(r.ok).toBe(false);
    expect(r.cause).toBe('header');
    expect(r.message).toMatch(/nested_jwt/);
  });

  test('a kid that names another key: unknown_kid, even though a key was given', async () => {
    const r = await verdict(await sign({ kid: 'other' }));
    expect(r.ok).toBe(false);
    expect(r.cause).toBe('unknown_kid');
  });
});
