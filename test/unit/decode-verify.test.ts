/**
 * The verification core of `decode --verify` (src/core/jwt/verify.ts,
 * keys.ts): keys from PEM/JWK/JWKS/secret, the algorithm pinned to the key,
 * `none` never, token-carried keys never used, and failures that name their
 * cause. Remote key sets are served by a real HTTP server on 127.0.0.1.
 */
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CompactSign,
  exportJWK,
  exportPKCS8,
  exportSPKI,
  generateKeyPair,
  importPKCS8,
  type JWK,
} from 'jose';
import { parseKeyFile, secretSource, type KeySource } from '../../src/core/jwt/keys.js';
import { verifySignature, type SignatureResult } from '../../src/core/jwt/verify.js';
import { isGwError } from '../../src/core/errors/index.js';
import {
  b64u,
  claims,
  hmacToken,
  signingKey,
  startLocalIssuer,
  tamper,
  type LocalIssuer,
  type SigningKey,
} from '../helpers/jwt-fixtures.js';

const NOW_S = Math.floor(Date.now() / 1000);

/** A self-signed P-256 certificate and its key, made once with openssl for this test. */
const CERT_PEM = `-----BEGIN CERTIFICATE-----
MIIBlDCCATmgAwIBAgIUDCrFRHFbx8x3izlFQwmYMC1MKaYwCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTb2lkYy1ndyBkZWNvZGUgdGVzdDAgFw0yNjExMjMwMTQyMjFa
GA8yMTI2MTAzMDAxNDIyMVowHjEcMBoGA1UEAwwTb2lkYy1ndyBkZWNvZGUgdGVz
dDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABATdbLzCTf86p50SeTNVsO719Mr/
6esBMNdVjEYelGF8aM0O5bdmqD4AJpKrDNMfMipZqPu4FV2cuHcTrp9md4ujUzBR
MB0GA1UdDgQWBBQ/I2rNbHuBI9OqrDKyqesDvCgK3DAfBgNVHSMEGDAWgBQ/I2rN
bHuBI9OqrDKyqesDvCgK3DAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0kA
MEYCIQDpFpbBD3qsOJyOyzc780+pQqpPNx+WWB5ZuQjQvsJdmwIhAIjEgqxxjAfv
tpVa+0sbgRMY+NkjDei0E9CQsVLysWAX
-----END CERTIFICATE-----
`;
const CERT_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgoxTHL/ZP/BJoMiAL
4BqSLwcuIstNMni5JeTxXuBwYkahRANCAAQE3Wy8wk3/OqedEnkzVbDu9fTK/+nr
ATDXVYxGHpRhfGjNDuW3Zqg+ACaSqwzTHzIqWaj7uBVdnLh3E66fZneL
-----END PRIVATE KEY-----
`;

let rs: SigningKey;
let rs2: SigningKey;
let es: SigningKey;
let ed: SigningKey;
let attacker: SigningKey;
let issuer: LocalIssuer;

beforeAll(async () => {
  [rs, rs2, es, ed, attacker] = await Promise.all([
    signingKey('RS256', 'rs-1'),
    signingKey('RS256', 'rs-2'),
    signingKey('ES256', 'es-1'),
    signingKey('EdDSA', 'ed-1'),
    signingKey('RS256', 'evil'),
  ]);
  issuer = await startLocalIssuer([rs.publicJwk, rs2.publicJwk, es.publicJwk]);
});

afterAll(async () => {
  await issuer.close();
});

const keyOf = (k: SigningKey): KeySource => ({ kind: 'key', jwk: k.publicJwk, origin: 'key.json' });
const jwksOf = (...ks: SigningKey[]): KeySource => ({
  kind: 'jwks',
  keys: ks.map((k) => k.publicJwk),
  origin: 'jwks.json',
});

function expectFail(r: SignatureResult, cause: string, message?: RegExp): void {
  expect(r.ok, r.message).toBe(false);
  expect(r.cause).toBe(cause);
  if (message) expect(r.message).toMatch(message);
}

describe('keys given by the user', () => {
  it('a JWK, and a private JWK (its public half is used)', async () => {
    const token = await rs.sign(claims(NOW_S));
    expect(
      (await verifySignature(token, parseKeyFile(JSON.stringify(rs.publicJwk), 'k.json'))).ok,
    ).toBe(true);
    const priv = { ...(await exportJWK(rs.privateKey)), kid: 'rs-1', alg: 'RS256' };
    const source = parseKeyFile(JSON.stringify(priv), 'private.json');
    expect(source.kind === 'key' && 'd' in source.jwk).toBe(false);
    const r = await verifySignature(token, source);
    expect(r).toMatchObject({ ok: true, alg: 'RS256', kid: 'rs-1' });
    expect(r.message).toBe(
      'valid RS256 signature, RSA key (kid "rs-1", alg RS256) from private.json',
    );
  });

  it('a PEM public key (SPKI), a PEM private key (PKCS#8), a certificate', async () => {
    const { publicKey, privateKey } = await generateKeyPair('PS256', { extractable: true });
    const token = await new CompactSign(new TextEncoder().encode(JSON.stringify(claims(NOW_S))))
      .setProtectedHeader({ alg: 'PS256', kid: 'whatever' })
      .sign(privateKey);
    // A PEM has no kid: the user chose this key, so the token's kid does not matter.
    expect(
      (await verifySignature(token, parseKeyFile(await exportSPKI(publicKey), 'pub.pem'))).ok,
    ).toBe(true);
    expect(
      (await verifySignature(token, parseKeyFile(await exportPKCS8(privateKey), 'priv.pem'))).ok,
    ).toBe(true);
    const certKey = await importPKCS8(CERT_KEY_PEM, 'ES256');
    const certToken = await new CompactSign(new TextEncoder().encode('{"sub":"x"}'))
      .setProtectedHeader({ alg: 'ES256' })
      .sign(certKey);
    const fromCert = parseKeyFile(`subject=CN...\n${CERT_PEM}`, 'cert.pem');
    expect(await verifySignature(certToken, fromCert)).toMatchObject({ ok: true });
    // The same certificate does not verify another key's token.
    const other = await es.sign(claims(NOW_S));
    expectFail(await verifySignature(other, fromCert), 'bad_signature');
  });

  it('a JWKS: the kid picks the key; a kid-less token tries each matching key', async () => {
    const source = parseKeyFile(
      JSON.stringify({ keys: [rs.publicJwk, rs2.publicJwk, es.publicJwk] }),
      'set.json',
    );
    expect(source.kind).toBe('jwks');
    expect((await verifySignature(await rs2.sign(claims(NOW_S)), source)).ok).toBe(true);
    expect((await verifySignature(await es.sign(claims(NOW_S)), source)).ok).toBe(true);
    const noKid = await new CompactSign(new TextEncoder().encode('{}'))
      .setProtectedHeader({ alg: 'RS256' })
      .sign(rs2.privateKey);
    expect((await verifySignature(noKid, source)).ok).toBe(true);
    const stranger = await new CompactSign(new TextEncoder().encode('{}'))
      .setProtectedHeader({ alg: 'RS256' })
      .sign(attacker.privateKey);
    expectFail(await verifySignature(stranger, source), 'bad_signature');
  });

  it('EdDSA keys', async () => {
    expect((await verifySignature(await ed.sign(claims(NOW_S)), keyOf(ed))).ok).toBe(true);
  });

  it('an HMAC secret: HS256 verifies; a wrong secret is a bad signature', async () => {
    const token = await hmacToken('a shared secret of at least 32 bytes!', claims(NOW_S));
    expect(
      await verifySignature(token, secretSource('a shared secret of at least 32 bytes!')),
    ).toMatchObject({
      ok: true,
      message: 'valid HS256 signature with the shared secret (--secret)',
    });
    expectFail(
      await verifySignature(token, secretSource('another secret')),
      'bad_signature',
      /bad signature/,
    );
  });

  it('unreadable key files are input errors (exit 2)', () => {
    for (const [text, message] of [
      ['', /empty/],
      ['hello', /neither PEM/],
      ['{"keys": []}', /no keys/],
      ['{"foo": 1}', /without "kty"/],
      ['{"kty": "oct"}', /needs "k"/],
      ['-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----', /not a usable key/],
      ['-----BEGIN PUBLIC KEY-----\nAAAA', /not closed/],
    ] as const) {
      let caught: unknown;
      try {
        parseKeyFile(text, 'k');
      } catch (error) {
        caught = error;
      }
      expect(isGwError(caught) && caught.code, text).toBe('ERR_INPUT_INVALID');
      expect((caught as Error).message, text).toMatch(message);
    }
  });
});

describe('failures name their cause', () => {
  it('tampered payload: bad signature', async () => {
    const token = tamper(await rs.sign(claims(NOW_S)), claims(NOW_S, { sub: 'admin' }));
    expectFail(await verifySignature(token, keyOf(rs)), 'bad_signature', /changed after signing/);
    expectFail(await verifySignature(token, jwksOf(rs, es)), 'bad_signature');
  });

  it('unknown kid: names the kid and the kids the set has', async () => {
    const token = await attacker.sign(claims(NOW_S));
    expectFail(
      await verifySignature(token, jwksOf(rs, rs2)),
      'unknown_kid',
      /no key with kid "evil" in jwks.json \(its kids: "rs-1", "rs-2"\)/,
    );
    expectFail(await verifySignature(token, keyOf(rs)), 'unknown_kid', /kid "evil".*kid "rs-1"/);
  });

  it('a kid naming a trusted key is not rescued by another key that would verify', async () => {
    const token = await rs.sign(claims(NOW_S), { kid: 'rs-2' });
    expectFail(await verifySignature(token, jwksOf(rs, rs2)), 'bad_signature');
  });

  it('algorithm mismatch: ES256 key and an RS256 token; RSA key and an ES256 token', async () => {
    const token = await rs.sign(claims(NOW_S), { kid: undefined });
    expectFail(
      await verifySignature(token, keyOf(es)),
      'alg_mismatch',
      /token says RS256.*EC P-256 key/,
    );
    const esToken = await es.sign(claims(NOW_S), { kid: 'rs-1' });
    expectFail(
      await verifySignature(esToken, jwksOf(rs, rs2)),
      'alg_mismatch',
      /kid "rs-1".*RSA key/,
    );
    expectFail(
      await verifySignature(token, secretSource('s')),
      'alg_mismatch',
      /--secret is an HMAC key/,
    );
  });

  it('HS256 signed with the RSA public key as the secret (key confusion) never verifies with that key', async () => {
    const pem = (
      await exportSPKI((await generateKeyPair('RS256', { extractable: true })).publicKey)
    ).trim();
    const forged = await hmacToken(pem, claims(NOW_S));
    const source = parseKeyFile(pem, 'pub.pem');
    expectFail(await verifySignature(forged, source), 'alg_mismatch', /HS256.*RSA key/);
    expectFail(await verifySignature(forged, jwksOf(rs)), 'alg_mismatch', /shared secret/);
  });

  it('alg none never verifies, whatever the key', async () => {
    const token = `${b64u({ alg: 'none' })}.${b64u(claims(NOW_S))}.`;
    for (const source of [keyOf(rs), jwksOf(rs), secretSource('x')]) {
      expectFail(await verifySignature(token, source), 'alg_none');
    }
    expectFail(
      await verifySignature(`${b64u({ alg: 'NONE' })}.${b64u({})}.`, keyOf(rs)),
      'alg_none',
    );
  });

  it('a key for encryption, or an RSA key under 2048 bits, cannot verify', async () => {
    const token = await rs.sign(claims(NOW_S));
    const encKey: KeySource = {
      kind: 'key',
      jwk: { ...rs.publicJwk, use: 'enc' },
      origin: 'enc.json',
    };
    expectFail(await verifySignature(token, encKey), 'key_unusable', /"use"/);
    // jose will not make a 1024-bit key; node:crypto will.
    const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const signingInput = `${b64u({ alg: 'RS256' })}.${b64u({ sub: 'x' })}`;
    const smallToken = `${signingInput}.${cryptoSign('sha256', Buffer.from(signingInput), small.privateKey).toString('base64url')}`;
    const r = await verifySignature(smallToken, {
      kind: 'key',
      jwk: small.publicKey.export({ format: 'jwk' }) as JWK,
      origin: 'small.json',
    });
    expectFail(r, 'key_unusable', /2048/);
  });

  it('non-canonical base64url is refused before any key is tried', async () => {
    const token = await rs.sign(claims(NOW_S));
    const [h, p, s] = token.split('.') as [string, string, string];
    expectFail(await verifySignature(`${h}.${p}=.${s}`, keyOf(rs)), 'encoding');
    expectFail(await verifySignature(`${h}.${p}.${s} `, keyOf(rs)), 'encoding');
    expectFail(await verifySignature(`${h}.${p}`, keyOf(rs)), 'not_jws');
  });
});

describe('key material inside the token is never used', () => {
  it('embedded jwk: the attacker key in the header does not verify it', async () => {
    const token = await attacker.sign(claims(NOW_S), { kid: 'rs-1', jwk: attacker.publicJwk });
    expectFail(await verifySignature(token, keyOf(rs)), 'bad_signature');
    expectFail(await verifySignature(token, jwksOf(rs, rs2)), 'bad_signature');
  });

  it('jku / x5u: never fetched', async () => {
    const evil = await startLocalIssuer([attacker.publicJwk]);
    try {
      const token = await attacker.sign(claims(NOW_S), {
        jku: evil.jwksUri,
        x5u: `${evil.issuer}/cert`,
      });
      expectFail(await verifySignature(token, jwksOf(rs, rs2)), 'unknown_kid');
      const remote: KeySource = { kind: 'remote', url: issuer.jwksUri, origin: 'the JWKS' };
      expectFail(await verifySignature(token, remote), 'unknown_kid');
      expect(evil.hits.size).toBe(0);
    } finally {
      await evil.close();
    }
  });
});

describe('a remote JWKS over HTTP', () => {
  it('fetches the set and verifies; an unknown kid lists the kids', async () => {
    const remote: KeySource = {
      kind: 'remote',
      url: issuer.jwksUri,
      origin: `the JWKS at ${issuer.jwksUri}`,
    };
    const before = issuer.hits.get('/jwks') ?? 0;
    expect(await verifySignature(await rs2.sign(claims(NOW_S)), remote)).toMatchObject({
      ok: true,
      kid: 'rs-2',
    });
    expect((issuer.hits.get('/jwks') ?? 0) - before).toBe(1);
    expectFail(
      await verifySignature(await attacker.sign(claims(NOW_S)), remote),
      'unknown_kid',
      /"rs-1", "rs-2", "es-1"/,
    );
  });

  async function gwCode(promise: Promise<unknown>): Promise<string | undefined> {
    try {
      await promise;
    } catch (error) {
      return isGwError(error) ? error.code : `not a GwError: ${String(error)}`;
    }
    return undefined;
  }

  it('an answer that is not a JWKS, or not 200: ERR_IDP_RESPONSE (exit 1)', async () => {
    const token = await rs.sign(claims(NOW_S));
    for (const options of [
      { jwksBody: '{"keys": "nope"}' },
      { jwksBody: '<html>', jwksStatus: 200 },
      { jwksStatus: 500 },
    ]) {
      const bad = await startLocalIssuer([], options);
      try {
        const code = await gwCode(
          verifySignature(token, { kind: 'remote', url: bad.jwksUri, origin: 'x' }),
        );
        expect(code, JSON.stringify(options)).toBe('ERR_IDP_RESPONSE');
      } finally {
        await bad.close();
      }
    }
  });

  it('connection refused: ERR_NETWORK (exit 3); no answer in time: ERR_TIMEOUT (exit 3)', async () => {
    const token = await rs.sign(claims(NOW_S));
    const closed = await startLocalIssuer([]);
    const url = closed.jwksUri;
    await closed.close();
    expect(await gwCode(verifySignature(token, { kind: 'remote', url, origin: 'x' }))).toBe(
      'ERR_NETWORK',
    );
    const silent = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const port = (silent.address() as AddressInfo).port;
      const code = await gwCode(
        verifySignature(
          token,
          { kind: 'remote', url: `http://127.0.0.1:${port}/jwks`, origin: 'x' },
          { timeoutSeconds: 0.5 },
        ),
      );
      expect(code).toBe('ERR_TIMEOUT');
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });
});
