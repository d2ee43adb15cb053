/**
 * Unit tests of the pure parts of `serve`'s core: bearer extraction, claim
 * checks, forwarded-claim encoding, key classification, the verified-token
 * cache, and RFC 6750 response rendering.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { VerifiedTokenCache } from '../../src/core/gateway/cache.js';
import { checkClaims, tokenScopes, type ClaimPolicy } from '../../src/core/gateway/claims.js';
import { extractBearer, parseAuthorization } from '../../src/core/gateway/extract.js';
import {
  encodeClaimValue,
  forwardedHeaders,
  normalizeHeaderName,
} from '../../src/core/gateway/forward.js';
import { classifyJwk, hasRocaFingerprint, keysFromFile } from '../../src/core/gateway/keys.js';
import { refusal, refusalBody, wwwAuthenticate } from '../../src/core/gateway/reasons.js';

describe('extractBearer', () => {
  const reason = (raw: string[]) => {
    const r = extractBearer(raw);
    return 'token' in r ? `token:${r.token}` : r.refusal.reason;
  };
  test('exactly one Authorization header, counted on the raw list', () => {
    expect(reason([])).toBe('missing_token');
    expect(reason(['Authorization', 'Bearer abc'])).toBe('token:abc');
    expect(reason(['AUTHORIZATION', 'Bearer abc', 'authorization', 'Bearer abc'])).toBe(
      'duplicate_authorization',
    );
    expect(reason(['X-Authorization', 'Bearer abc'])).toBe('missing_token');
  });
  test('scheme syntax', () => {
    const p = (v: string) => {
      const r = parseAuthorization(v);
      return 'token' in r ? `token:${r.token}` : r.refusal.reason;
    };
    expect(p('bearer    abc')).toBe('token:abc');
    expect(p('BEARER abc')).toBe('token:abc');
    expect(p('Bearer')).toBe('malformed_authorization');
    expect(p('Bearer ')).toBe('malformed_authorization');
    expect(p('Bearer a b')).toBe('malformed_authorization');
    expect(p('Bearer\tabc')).toBe('malformed_authorization');
    expect(p('')).toBe('malformed_authorization');
    expect(p('Basic abc')).toBe('not_bearer');
    expect(p('Bearerabc')).toBe('not_bearer');
    expect(p('eyJhbGciOi.x.y')).toBe('not_bearer');
    expect(p('DPoP abc')).toBe('not_bearer');
  });
});

describe('checkClaims', () => {
  const policy: ClaimPolicy = {
    issuers: ['https://idp.example/'],
    audiences: ['api', 'api2'],
    clockSkewSeconds: 30,
    requiredClaims: [{ name: 'email_verified', value: 'true' }],
    requiredScopes: ['read'],
  };
  const now = 1_700_000_000;
  const base = {
    iss: 'https://idp.example/',
    aud: 'api',
    exp: now + 60,
    email_verified: true,
    scope: 'read',
  };
  const check = (extra: Record<string, unknown>) =>
    checkClaims({ ...base, ...extra }, now * 1000, policy)?.reason;
  test('times, with skew', () => {
    expect(check({})).toBeUndefined();
    expect(check({ exp: now - 29 })).toBeUndefined();
    expect(check({ exp: now - 30 })).toBe('token_expired');
    expect(check({ exp: undefined })).toBe('exp_missing');
    expect(check({ exp: Number.NaN })).toBe('claim_type');
    expect(check({ nbf: now + 30 })).toBeUndefined();
    expect(check({ nbf: now + 31 })).toBe('token_not_yet_valid');
    expect(check({ iat: now + 31 })).toBe('iat_future');
    expect(check({ iat: '0' })).toBe('claim_type');
  });
  test('iss exact, aud any-of', () => {
    expect(check({ iss: 'https://idp.example' })).toBe('issuer_not_allowed');
    expect(check({ iss: 'HTTPS://idp.example/' })).toBe('issuer_not_allowed');
    expect(check({ iss: 5 })).toBe('issuer_not_allowed');
    expect(check({ iss: undefined })).toBe('issuer_missing');
    expect(check({ aud: ['x', 'api2'] })).toBeUndefined();
    expect(check({ aud: 'API' })).toBe('audience_not_allowed');
    expect(check({ aud: { api: true } })).toBe('claim_type');
  });
  test('required claims and scopes', () => {
    expect(check({ email_verified: 'true' })).toBeUndefined();
    expect(check({ email_verified: false })).toBe('claim_mismatch');
    expect(check({ email_verified: undefined })).toBe('claim_missing');
    expect(check({ scope: 'write' })).toBe('insufficient_scope');
    expect(check({ scope: undefined, scp: ['read'] })).toBeUndefined();
    const r = checkClaims({ ...base, scope: 'readx' }, now * 1000, policy);
    expect(r?.status).toBe(403);
    expect(r?.scope).toBe('read');
  });
  test('tokenScopes reads scope and scp, string or array', () => {
    expect([...tokenScopes({ scope: 'a  b', scp: ['c', 3, ''] })].sort()).toEqual(['a', 'b', 'c']);
    expect([...tokenScopes({ scp: 'User.Read Files.Read' })]).toEqual(['User.Read', 'Files.Read']);
  });
});

describe('forwarded claims', () => {
  test('encoding', () => {
    expect(encodeClaimValue('alice')).toEqual({ value: 'alice' });
    expect(encodeClaimValue(42)).toEqual({ value: '42' });
    expect(encodeClaimValue(true)).toEqual({ value: 'true' });
    expect(encodeClaimValue(['a', 'b'])).toEqual({ value: '["a","b"]' });
    expect(encodeClaimValue({ n: 'x\ny' })).toEqual({ value: '{"n":"x\\ny"}' });
    expect(encodeClaimValue(null)).toBeUndefined();
    expect(encodeClaimValue(undefined)).toBeUndefined();
    expect(encodeClaimValue('José')).toEqual({ value: 'Jos%C3%A9' });
    expect(encodeClaimValue('\ud800x')).toEqual({ value: '%EF%BF%BDx' });
    for (const bad of ['a\rb', 'a\nb', 'a\u0000', 'a\tb', '\u007f', '\u0085', '\u009b']) {
      expect('refusal' in (encodeClaimValue(bad) ?? {}), JSON.stringify(bad)).toBe(true);
    }
  });
  test('header name normalisation for spoof protection', () => {
    expect(normalizeHeaderName('X_User')).toBe('x-user');
    expect(normalizeHeaderName('x-USER')).toBe('x-user');
  });
  test('forwardedHeaders names the claim on refusal', () => {
    const r = forwardedHeaders({ sub: 'a\r\nb' }, [{ header: 'X-User', claim: 'sub' }]);
    expect('refusal' in r && r.refusal.description).toBe(
      'claim sub contains a control character and cannot be forwarded',
    );
    expect(forwardedHeaders({ sub: 'a' }, [{ header: 'X-User', claim: 'sub' }])).toEqual({
      headers: ['X-User', 'a'],
    });
  });
});

describe('key classification', () => {
  const rsa = (bits: number) =>
    generateKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ format: 'jwk' });
  const rsa2048 = rsa(2048);
  test('usable keys and their algorithms', () => {
    expect(classifyJwk(rsa2048)).toMatchObject({
      ok: true,
      algs: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'],
    });
    expect(classifyJwk({ ...rsa2048, alg: 'PS256', kid: 'a' })).toMatchObject({
      ok: true,
      algs: ['PS256'],
    });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({
      format: 'jwk',
    });
    expect(classifyJwk(ec)).toMatchObject({ ok: true, algs: ['ES384'] });
    const ed = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    expect(classifyJwk(ed)).toMatchObject({ ok: true, algs: ['EdDSA', 'Ed25519'] });
  });
  test('unusable keys are dropped with a reason', () => {
    const why = (jwk: unknown) => {
      const c = classifyJwk(jwk);
      return c.ok ? 'ok' : c.why;
    };
    expect(why({ kty: 'oct', k: 'AAAA' })).toMatch(/symmetric/);
    expect(why({ ...rsa2048, use: 'enc' })).toMatch(/"use"/);
    expect(why({ ...rsa2048, key_ops: ['encrypt'] })).toMatch(/key_ops/);
    expect(why(rsa(1024))).toMatch(/1024 bits/);
    expect(why({ ...rsa2048, e: 'AQ' })).toMatch(/exponent/);
    expect(why({ ...rsa2048, e: 'AAEAAA' })).toMatch(/exponent/);
    expect(why({ ...rsa2048, alg: 'ES256' })).toMatch(/does not fit/);
    expect(why({ ...rsa2048, alg: 'none' })).toMatch(/does not fit/);
    expect(why({ ...rsa2048, alg: 'HS256' })).toMatch(/does not fit/);
    expect(why({ kty: 'EC', crv: 'secp256k1', x: 'AA', y: 'AA' })).toMatch(/curve/);
    expect(why({ ...rsa2048, kid: 7 })).toMatch(/kid/);
    expect(why('nope')).toMatch(/object/);
  });
  test('private members never reach the trusted key', () => {
    const priv = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      format: 'jwk',
    });
    const c = classifyJwk(priv);
    expect(c.ok && Object.keys(c.jwk).sort()).toEqual(['e', 'kty', 'n']);
  });
  test('ROCA: random keys never match', () => {
    expect(hasRocaFingerprint(Buffer.from((rsa2048 as { n: string }).n, 'base64url'))).toBe(false);
  });
  test('--public-key files: PEM (SPKI, PKCS#1, private), JWK, JWKS; symmetric refused', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const spki = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const pkcs1 = publicKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    const pkcs8 = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    for (const text of [
      spki,
      pkcs1,
      pkcs8,
      JSON.stringify(rsa2048),
      JSON.stringify({ keys: [rsa2048] }),
    ]) {
      const r = await keysFromFile(text, 'key.pem');
      expect(r.entries).toHaveLength(1);
      expect(r.entries[0]!.wildcard).toBe(true);
    }
    const withKid = await keysFromFile(JSON.stringify({ ...rsa2048, kid: 'k' }), 'k.json');
    expect(withKid.entries[0]!.wildcard).toBe(false);
    await expect(keysFromFile(JSON.stringify({ kty: 'oct', k: 'AAAA' }), 'k.json')).rejects.toThrow(
      /--secret/,
    );
    await expect(keysFromFile('hello', 'k')).rejects.toThrow(/neither PEM nor JSON/);
    await expect(keysFromFile(JSON.stringify(rsa(1024)), 'k')).rejects.toThrow(/1024 bits/);
  });
});

describe('verified-token cache', () => {
  test('bounded, oldest out first, never past exp', () => {
    const cache = new VerifiedTokenCache<number>(2);
    cache.set('a', 1, 1000, 0);
    cache.set('b', 2, 1000, 0);
    cache.set('c', 3, 1000, 0);
    expect(cache.size).toBe(2);
    expect(cache.get('a', 0)).toBeUndefined();
    expect(cache.get('c', 999)).toBe(3);
    expect(cache.get('c', 1000)).toBeUndefined();
    cache.set('d', 4, 10, 20);
    expect(cache.get('d', 0)).toBeUndefined();
    const off = new VerifiedTokenCache<number>(0);
    off.set('a', 1, 1000, 0);
    expect(off.get('a', 0)).toBeUndefined();
  });

  test('a token that hit is found again by its text, until its exp or a clear', () => {
    const cache = new VerifiedTokenCache<number>(10);
    cache.set('key-1', 1, 1000, 0);
    expect(cache.getRecent('token-1', 0)).toBeUndefined();
    // A hit by key remembers the token's text; a miss does not.
    expect(cache.get('key-1', 0, 'token-1')).toBe(1);
    expect(cache.get('key-2', 0, 'token-2')).toBeUndefined();
    expect(cache.getRecent('token-1', 999)).toBe(1);
    expect(cache.getRecent('token-2', 0)).toBeUndefined();
    expect(cache.hits).toBe(2);
    // Never past the token's exp.
    expect(cache.getRecent('token-1', 1000)).toBeUndefined();
    cache.set('key-3', 3, 5000, 0);
    expect(cache.get('key-3', 0, 'token-3')).toBe(3);
    // Keys changed: both maps are emptied.
    cache.clear();
    expect(cache.getRecent('token-3', 0)).toBeUndefined();
    // At most 64 texts are remembered, the oldest going first.
    for (let i = 0; i < 70; i++) {
      cache.set(`k${i}`, i, 5000, 0);
      cache.get(`k${i}`, 0, `t${i}`);
    }
    expect(cache.getRecent('t5', 0)).toBeUndefined();
    expect(cache.getRecent('t6', 0)).toBe(6);
    expect(cache.getRecent('t69', 0)).toBe(69);
  });
});

describe('RFC 6750 rendering', () => {
  test('WWW-Authenticate and body', () => {
    expect(wwwAuthenticate(refusal('missing_token'))).toBe('Bearer realm="oidc-gw"');
    const r = refusal('insufficient_scope', {
      description: 'missing required scope a"b',
      scope: 'a"b c',
    });
    expect(wwwAuthenticate(r)).toBe(
      'Bearer realm="oidc-gw", error="insufficient_scope", error_description="missing required scope a?b", scope="a?b c"',
    );
    expect(JSON.parse(refusalBody(r))).toEqual({
      error: 'insufficient_scope',
      error_description: 'missing required scope a"b',
      scope: 'a"b c',
    });
  });
});
