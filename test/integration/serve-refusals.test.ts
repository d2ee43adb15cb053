/**
 * Every refusal of `serve` (docs/commands/serve.md: checks and refusals) and the attacks
 * of issue 5, through a real gateway (in-process, real HTTP) in front of a
 * real echo upstream, with keys served by a real JWKS/discovery server. Each
 * case asserts the status, WWW-Authenticate, the JSON body, the log's reason
 * code, and that the upstream received nothing.
 */
import { createPublicKey, generateKeyPairSync, createSign } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { request } from 'undici';
import { CompactEncrypt, FlattenedSign, generateKeyPair } from 'jose';
import {
  parseRawResponse,
  rawExchange,
  startJwksServer,
  startTrap,
  startUpstream,
  type JwksServer,
  type Upstream,
} from '../helpers/gateway-servers.js';
import {
  b64,
  claims,
  hmacToken,
  makeKey,
  nowSeconds,
  sign,
  signRaw,
  type TestKey,
} from '../helpers/gateway-tokens.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway-harness.js';

const AUD = 'https://api.example.test/';
const SECRET = 'a-shared-secret-that-is-long-enough-for-hs256!';

let upstream: Upstream;
let jwks: JwksServer;
let trap: Awaited<ReturnType<typeof startTrap>>;
let k1: TestKey;
let e1: TestKey;
let attacker: TestKey;
let gw: TestGateway; // --issuer, --audience, --forward-claim
let scoped: TestGateway; // --jwks-uri, --require-scope read write, --require-claim tenant=acme
let withSecret: TestGateway; // --jwks-uri and --secret
let large: TestGateway; // --max-token-size 300000
const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
const hsKey = Buffer.alloc(32, 7);

beforeAll(async () => {
  [k1, e1, attacker] = await Promise.all([
    makeKey('RS256', 'k1'),
    makeKey('ES256', 'e1'),
    makeKey('RS256', 'attacker'),
  ]);
  const encKey = await makeKey('RS256', 'enc1');
  upstream = await startUpstream();
  trap = await startTrap();
  jwks = await startJwksServer({
    keys: [
      k1.publicJwk,
      e1.publicJwk,
      { kty: 'oct', kid: 'hs1', k: hsKey.toString('base64url'), alg: 'HS256' },
      { ...weak.publicKey.export({ format: 'jwk' }), kid: 'weak', alg: 'RS256' },
      { ...encKey.publicJwk, use: 'enc' },
    ],
  });
  gw = await startTestGateway({
    upstream: upstream.url,
    issuers: [jwks.issuer],
    audiences: [AUD],
    forwardClaims: [
      { header: 'X-User', claim: 'sub' },
      { header: 'X-Tenant', claim: 'tenant' },
      { header: 'X-Roles', claim: 'roles' },
    ],
  });
  scoped = await startTestGateway({
    upstream: upstream.url,
    jwksUris: [jwks.jwksUri],
    audiences: [AUD],
    requiredScopes: ['read', 'write'],
    requiredClaims: [{ name: 'tenant', value: 'acme' }],
  });
  withSecret = await startTestGateway({
    upstream: upstream.url,
    jwksUris: [jwks.jwksUri],
    secret: new TextEncoder().encode(SECRET),
    audiences: [AUD],
  });
  large = await startTestGateway({
    upstream: upstream.url,
    jwksUris: [jwks.jwksUri],
    maxTokenBytes: 300_000,
  });
});

afterAll(async () => {
  await Promise.all([gw?.close(), scoped?.close(), withSecret?.close(), large?.close()]);
  await Promise.all([upstream?.close(), jwks?.close(), trap?.close()]);
});

function good(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return claims({ iss: jwks.issuer, aud: AUD, tenant: 'acme', ...extra });
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

async function call(
  target: TestGateway,
  path: string,
  headers: string[] | Record<string, string> = {},
  init: { method?: string; body?: string } = {},
): Promise<Answer> {
  const r = await request(`${target.url}${path}`, {
    method: (init.method ?? 'GET') as 'GET',
    headers,
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  const text = await r.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.statusCode, headers: r.headers, text, json };
}

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

function lastLog(target: TestGateway): Record<string, unknown> {
  const lines = target.logs().filter((l) => 'status' in l);
  return lines[lines.length - 1] as Record<string, unknown>;
}

/** Sends the request and checks the whole refusal: status, header, body, log, upstream untouched. */
async function expectRefused(
  target: TestGateway,
  headers: string[] | Record<string, string>,
  expected: {
    status: 400 | 401 | 403;
    error: string;
    description?: string;
    reason: string;
    scope?: string;
  },
  path = '/resource',
  init: { method?: string; body?: string } = {},
): Promise<Answer> {
  const before = upstream.requests.length;
  const res = await call(target, path, headers, init);
  expect(res.status).toBe(expected.status);
  expect(res.headers['content-type']).toBe('application/json');
  if (expected.error === 'unauthorized') {
    expect(res.headers['www-authenticate']).toBe('Bearer realm="oidc-gw"');
    expect(res.json).toEqual({ error: 'unauthorized', error_description: 'missing bearer token' });
  } else {
    let www = `Bearer realm="oidc-gw", error="${expected.error}", error_description="${expected.description}"`;
    if (expected.scope !== undefined) www += `, scope="${expected.scope}"`;
    expect(res.headers['www-authenticate']).toBe(www);
    expect(res.json).toEqual({
      error: expected.error,
      error_description: expected.description,
      ...(expected.scope === undefined ? {} : { scope: expected.scope }),
    });
  }
  expect(upstream.requests.length).toBe(before);
  const log = lastLog(target);
  expect(log['status']).toBe(expected.status);
  expect(log['reason']).toBe(expected.reason);
  return res;
}

const invalid = (description: string, reason: string) => ({
  status: 401 as const,
  error: 'invalid_token',
  description,
  reason,
});

describe('the Authorization header', () => {
  test('no header: 401 without an error code', async () => {
    await expectRefused(gw, {}, { status: 401, error: 'unauthorized', reason: 'missing_token' });
  });

  test('another scheme (Basic): 401 without an error code', async () => {
    await expectRefused(
      gw,
      { authorization: 'Basic YWxpY2U6YWxpY2U=' },
      { status: 401, error: 'unauthorized', reason: 'not_bearer' },
    );
  });

  test('a bare token without a scheme: 401 without an error code', async () => {
    await expectRefused(
      gw,
      { authorization: await sign(k1, good()) },
      { status: 401, error: 'unauthorized', reason: 'not_bearer' },
    );
  });

  const malformed = {
    status: 400 as const,
    error: 'invalid_request',
    description: 'malformed Authorization header (expected Bearer TOKEN)',
    reason: 'malformed_authorization',
  };

  test('a bare "Bearer": 400 invalid_request', async () => {
    await expectRefused(gw, { authorization: 'Bearer' }, malformed);
  });

  test('two words after Bearer: 400 invalid_request', async () => {
    const token = await sign(k1, good());
    await expectRefused(gw, { authorization: `Bearer ${token} extra` }, malformed);
  });

  test('a tab instead of a space: 400 invalid_request', async () => {
    const token = await sign(k1, good());
    await expectRefused(gw, { authorization: `Bearer\t${token}` }, malformed);
  });

  test('two Authorization headers, even both valid: 400 invalid_request', async () => {
    const token = await sign(k1, good());
    await expectRefused(
      gw,
      ['Authorization', `Bearer ${token}`, 'authorization', `Bearer ${token}`],
      {
        status: 400,
        error: 'invalid_request',
        description: 'more than one Authorization header',
        reason: 'duplicate_authorization',
      },
    );
  });

  test('the scheme in any case, with several spaces, is accepted', async () => {
    const token = await sign(k1, good());
    for (const value of [`bearer   ${token}`, `BEARER ${token}`, `BeArEr ${token}`]) {
      const res = await call(gw, '/ok', { authorization: value });
      expect(res.status).toBe(200);
    }
  });

  test('a token in the query string is not accepted (and never logged)', async () => {
    const token = await sign(k1, good());
    await expectRefused(
      gw,
      {},
      { status: 401, error: 'unauthorized', reason: 'missing_token' },
      `/resource?access_token=${token}`,
    );
    expect(gw.logText()).not.toContain(token.slice(0, 40));
    expect(lastLog(gw)['path']).toBe('/resource');
  });

  test('a token in a form body is not accepted', async () => {
    const token = await sign(k1, good());
    await expectRefused(
      gw,
      { 'content-type': 'application/x-www-form-urlencoded' },
      { status: 401, error: 'unauthorized', reason: 'missing_token' },
      '/resource',
      { method: 'POST', body: `access_token=${token}` },
    );
  });
});

describe('the token form', () => {
  test('alg none, None, NONE: refused', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const token = `${b64({ alg, typ: 'JWT' })}.${b64(good())}.`;
      await expectRefused(gw, bearer(token), invalid('algorithm not allowed', 'alg_not_allowed'));
      const withKid = `${b64({ alg, kid: 'k1' })}.${b64(good())}.`;
      await expectRefused(gw, bearer(withKid), invalid('algorithm not allowed', 'alg_not_allowed'));
    }
  });

  test('RS256 -> HS256 confusion with the public key as HMAC secret: refused (no --secret)', async () => {
    const pem = k1.publicPem.endsWith('\n') ? k1.publicPem : `${k1.publicPem}\n`;
    const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
    const secrets: Array<string | Buffer> = [
      pem,
      pem.trimEnd(),
      der,
      JSON.stringify(k1.publicJwk),
      JSON.stringify({ keys: [k1.publicJwk] }),
    ];
    for (const secret of secrets) {
      for (const kid of ['k1', undefined]) {
        const header = { alg: 'HS256', typ: 'JWT', ...(kid ? { kid } : {}) };
        await expectRefused(
          gw,
          bearer(hmacToken(header, good(), secret)),
          invalid('algorithm not allowed', 'alg_not_allowed'),
        );
      }
    }
  });

  test('HS256 confusion when HMAC is enabled with --secret: the public key is not the secret', async () => {
    const pem = k1.publicPem;
    const der = createPublicKey(pem).export({ type: 'spki', format: 'der' });
    for (const secret of [pem, pem.trimEnd(), der, JSON.stringify(k1.publicJwk)]) {
      for (const kid of ['k1', undefined]) {
        const header = { alg: 'HS256', typ: 'JWT', ...(kid ? { kid } : {}) };
        await expectRefused(
          withSecret,
          bearer(hmacToken(header, good(), secret)),
          invalid('signature verification failed', 'signature_invalid'),
        );
      }
    }
    // The real secret does verify: the refusals above are about the key, not HS256 itself.
    const ok = await call(withSecret, '/ok', bearer(hmacToken({ alg: 'HS256' }, good(), SECRET)));
    expect(ok.status).toBe(200);
  });

  test('a symmetric key published in the JWKS is dropped (with a log line) and never used', async () => {
    const token = hmacToken({ alg: 'HS256', kid: 'hs1' }, good(), hsKey);
    await expectRefused(gw, bearer(token), invalid('algorithm not allowed', 'alg_not_allowed'));
    expect(gw.logText()).toMatch(/kid \\"hs1\\".*dropped: a symmetric key/);
  });

  test('an RSA key under 2048 bits in the JWKS is dropped (with a log line)', async () => {
    const input = `${b64({ alg: 'RS256', kid: 'weak' })}.${b64(good())}`;
    const signature = createSign('RSA-SHA256')
      .update(input)
      .sign(weak.privateKey)
      .toString('base64url');
    await expectRefused(
      gw,
      bearer(`${input}.${signature}`),
      invalid('no trusted key for kid', 'unknown_kid'),
    );
    expect(gw.logText()).toMatch(/kid \\"weak\\".*dropped: RSA key of 1024 bits/);
  });

  test('a key with use "enc" in the JWKS is dropped (with a log line)', async () => {
    const encSigner = { ...attacker, kid: 'enc1' };
    await expectRefused(
      gw,
      bearer(await sign(encSigner, good())),
      invalid('no trusted key for kid', 'unknown_kid'),
    );
    expect(gw.logText()).toMatch(/kid \\"enc1\\".*dropped: \\"use\\" is/);
  });

  test('an embedded jwk is never used', async () => {
    const withTrustedKid = await sign(attacker, good(), { kid: 'k1', jwk: attacker.publicJwk });
    await expectRefused(
      gw,
      bearer(withTrustedKid),
      invalid('signature verification failed', 'signature_invalid'),
    );
    const ownKid = await sign(attacker, good(), { jwk: attacker.publicJwk });
    await expectRefused(gw, bearer(ownKid), invalid('no trusted key for kid', 'unknown_kid'));
    const noKid = await sign(attacker, good(), { kid: undefined, jwk: attacker.publicJwk });
    await expectRefused(
      gw,
      bearer(noKid),
      invalid('signature verification failed', 'signature_invalid'),
    );
  });

  test('jku and x5u pointing at a local server: refused, and the server sees no request', async () => {
    const jwksFetches = jwks.jwksRequests;
    for (const member of ['jku', 'x5u']) {
      const t1 = await sign(attacker, good(), { [member]: `${trap.url}/keys.json` });
      await expectRefused(gw, bearer(t1), invalid('no trusted key for kid', 'unknown_kid'));
      const t2 = await sign(attacker, good(), { kid: 'k1', [member]: `${trap.url}/keys.json` });
      await expectRefused(
        gw,
        bearer(t2),
        invalid('signature verification failed', 'signature_invalid'),
      );
    }
    const t3 = await sign(attacker, good(), {
      kid: 'k1',
      x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'],
    });
    await expectRefused(
      gw,
      bearer(t3),
      invalid('signature verification failed', 'signature_invalid'),
    );
    // Give any stray fetch time to arrive before counting.
    await new Promise((r) => setTimeout(r, 100));
    expect(trap.hits).toBe(0);
    // Unknown kids within 30 s of the start do not re-fetch the JWKS either.
    expect(jwks.jwksRequests).toBe(jwksFetches);
  });

  test('kid injection strings: refused (a kid naming no trusted key, even though k1 would verify)', async () => {
    const kids = [
      '../../../../../../dev/null',
      "' OR '1'='1",
      "k1' --",
      'k1\u0000',
      'k1 ',
      'K1',
      '/etc/passwd',
      '${jndi:ldap://127.0.0.1/x}',
    ];
    for (const kid of kids) {
      await expectRefused(
        gw,
        bearer(await sign(k1, good(), { kid })),
        invalid('no trusted key for kid', 'unknown_kid'),
      );
    }
    const res = await call(gw, '/ok', bearer(await sign(k1, good())));
    expect(res.status).toBe(200);
  });

  test('a 100,000-character kid: refused by size, and (with a big size cap) by kid lookup without a JWKS fetch', async () => {
    const before = upstream.requests.length;
    const fetches = jwks.jwksRequests;
    const token = await sign(k1, good(), { kid: 'k'.repeat(100_000) });
    // Over the request-head limit: Node's parser refuses it before the gateway reads it (431).
    const res = await call(gw, '/resource', bearer(token));
    expect(res.status).toBe(431);
    expect(res.json).toEqual({
      error: 'invalid_request',
      error_description: 'request headers too large',
    });
    // Under the limit but over --max-token-size: token_too_large.
    const mid = await sign(k1, good(), { kid: 'k'.repeat(7_000) });
    await expectRefused(
      gw,
      bearer(mid),
      invalid('token larger than 8192 bytes', 'token_too_large'),
    );
    // With --max-token-size 300000 (the head limit follows), the kid is looked up and not found.
    const r2 = await call(large, '/resource', bearer(token));
    expect(r2.status).toBe(401);
    expect(r2.json).toEqual({
      error: 'invalid_token',
      error_description: 'no trusted key for kid',
    });
    expect(upstream.requests.length).toBe(before);
    expect(jwks.jwksRequests).toBe(fetches);
  });

  test('an ES256 signature of all zero bytes: refused', async () => {
    const token = `${b64({ alg: 'ES256', kid: 'e1' })}.${b64(good())}.${b64(new Uint8Array(64))}`;
    await expectRefused(
      gw,
      bearer(token),
      invalid('signature verification failed', 'signature_invalid'),
    );
    const noKid = `${b64({ alg: 'ES256' })}.${b64(good())}.${b64(new Uint8Array(64))}`;
    await expectRefused(
      gw,
      bearer(noKid),
      invalid('signature verification failed', 'signature_invalid'),
    );
  });

  test('a stripped signature: refused', async () => {
    const token = await sign(k1, good());
    const [h, p] = token.split('.');
    await expectRefused(
      gw,
      bearer(`${h}.${p}.`),
      invalid('signature verification failed', 'signature_invalid'),
    );
    await expectRefused(
      gw,
      bearer(`${h}.${p}`),
      invalid('token is not a compact JWS (three dot-separated parts)', 'token_malformed'),
    );
  });

  test('a signature from another trusted key under this kid: refused', async () => {
    const token = await sign({ ...e1, kid: 'k1' }, good());
    await expectRefused(
      gw,
      bearer(token),
      invalid('algorithm not allowed for this key', 'alg_not_allowed'),
    );
  });

  test('an algorithm no trusted key has (PS256 when the keys say RS256): refused', async () => {
    const ps = await makeKey('PS256', 'k1');
    const token = await sign(ps, good());
    await expectRefused(gw, bearer(token), invalid('algorithm not allowed', 'alg_not_allowed'));
  });

  test('unknown crit: refused', async () => {
    const token = await signRaw(
      k1,
      JSON.stringify({
        alg: 'RS256',
        kid: 'k1',
        crit: ['urn:example:custom'],
        'urn:example:custom': 1,
      }),
      JSON.stringify(good()),
    );
    await expectRefused(
      gw,
      bearer(token),
      invalid('unsupported critical header parameter', 'crit_unsupported'),
    );
  });

  test('b64: false: refused', async () => {
    const token = await signRaw(
      k1,
      JSON.stringify({ alg: 'RS256', kid: 'k1', b64: false, crit: ['b64'] }),
      JSON.stringify(good()),
    );
    await expectRefused(
      gw,
      bearer(token),
      invalid('unencoded payload (b64) is not accepted', 'b64_unsupported'),
    );
  });

  test('duplicate JSON members in the header or the payload: refused', async () => {
    const claimsText = JSON.stringify(good());
    const dupHeader = await signRaw(k1, '{"alg":"RS256","kid":"e1","kid":"k1"}', claimsText);
    await expectRefused(
      gw,
      bearer(dupHeader),
      invalid('duplicate member in token header or payload', 'duplicate_member'),
    );
    const dupPayload = await signRaw(
      k1,
      '{"alg":"RS256","kid":"k1"}',
      `${claimsText.slice(0, -1)},"sub":"admin"}`,
    );
    await expectRefused(
      gw,
      bearer(dupPayload),
      invalid('duplicate member in token header or payload', 'duplicate_member'),
    );
    const escaped = await signRaw(
      k1,
      '{"alg":"RS256","kid":"k1"}',
      `${claimsText.slice(0, -1)},"\\u0073ub":"admin"}`,
    );
    await expectRefused(
      gw,
      bearer(escaped),
      invalid('duplicate member in token header or payload', 'duplicate_member'),
    );
  });

  test('non-canonical base64url: refused', async () => {
    const token = await sign(k1, good());
    const [h, p, s] = token.split('.') as [string, string, string];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // A 256-byte signature ends in a character whose low 4 bits are padding: flip one.
    const last = s[s.length - 1] as string;
    const sibling = alphabet[alphabet.indexOf(last) ^ 1] as string;
    const nonCanonical = `${h}.${p}.${s.slice(0, -1)}${sibling}`;
    expect(
      Buffer.from(nonCanonical.split('.')[2] as string, 'base64url').equals(
        Buffer.from(s, 'base64url'),
      ),
    ).toBe(true);
    await expectRefused(
      gw,
      bearer(nonCanonical),
      invalid('token segment is not canonical base64url', 'non_canonical_base64url'),
    );
    await expectRefused(
      gw,
      bearer(`${h}.${p}.${s}==`),
      invalid('token segment is not base64url', 'not_base64url'),
    );
    const std = `${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}`;
    if (std !== token)
      await expectRefused(
        gw,
        bearer(std),
        invalid('token segment is not base64url', 'not_base64url'),
      );
  });

  test('an oversized token: refused before parsing', async () => {
    const token = await sign(k1, good({ pad: 'x'.repeat(9000) }));
    await expectRefused(
      gw,
      bearer(token),
      invalid('token larger than 8192 bytes', 'token_too_large'),
    );
    const junk = 'a'.repeat(8193);
    await expectRefused(
      gw,
      bearer(junk),
      invalid('token larger than 8192 bytes', 'token_too_large'),
    );
  });

  test('a JWE: refused without decrypting', async () => {
    const { publicKey } = await generateKeyPair('ECDH-ES');
    const jwe = await new CompactEncrypt(new TextEncoder().encode(JSON.stringify(good())))
      .setProtectedHeader({ alg: 'ECDH-ES', enc: 'A256GCM', kid: 'k1' })
      .encrypt(publicKey);
    expect(jwe.split('.')).toHaveLength(5);
    await expectRefused(
      gw,
      bearer(jwe),
      invalid('encrypted tokens (JWE) are not accepted', 'jwe_not_accepted'),
    );
  });

  test('JWS JSON serialization: refused', async () => {
    const flattened = await new FlattenedSign(new TextEncoder().encode(JSON.stringify(good())))
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .sign(k1.privateKey);
    await expectRefused(
      gw,
      bearer(JSON.stringify(flattened)),
      invalid('JWS JSON serialization is not accepted (compact form only)', 'jws_json'),
    );
  });

  test('a nested JWT (cty JWT): refused', async () => {
    const inner = await sign(k1, good());
    for (const cty of ['JWT', 'jwt', 'application/jwt']) {
      await expectRefused(
        gw,
        bearer(await sign(k1, inner, { cty })),
        invalid('nested JWT is not accepted', 'nested_jwt'),
      );
    }
  });

  test('a payload that is not a JSON object: refused', async () => {
    await expectRefused(
      gw,
      bearer(await sign(k1, '["not","an","object"]')),
      invalid('token payload is not a JSON object', 'payload_invalid'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, 'foo')),
      invalid('token payload is not a JSON object', 'payload_invalid'),
    );
  });

  test('a kid that is not a string: refused', async () => {
    const token = await signRaw(
      k1,
      JSON.stringify({ alg: 'RS256', kid: ['k1'] }),
      JSON.stringify(good()),
    );
    await expectRefused(gw, bearer(token), invalid('kid is not a string', 'kid_invalid'));
  });
});

describe('the claims', () => {
  test('iss: wrong, trailing slash, missing', async () => {
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ iss: 'https://evil.example/' }))),
      invalid('issuer not allowed', 'issuer_not_allowed'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ iss: `${jwks.issuer}/` }))),
      invalid('issuer not allowed', 'issuer_not_allowed'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ iss: undefined }))),
      invalid('token has no iss', 'issuer_missing'),
    );
  });

  test('aud: wrong, missing, array without it, wrong type; an array with it passes', async () => {
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ aud: 'https://other.example/' }))),
      invalid('audience not allowed', 'audience_not_allowed'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ aud: AUD.slice(0, -1) }))),
      invalid('audience not allowed', 'audience_not_allowed'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ aud: undefined }))),
      invalid('token has no aud', 'audience_missing'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ aud: ['a', 'b'] }))),
      invalid('audience not allowed', 'audience_not_allowed'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ aud: [] }))),
      invalid('audience not allowed', 'audience_not_allowed'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ aud: 42 }))),
      invalid('aud is not a string or an array of strings', 'claim_type'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ aud: [AUD, 42] }))),
      invalid('aud is not a string or an array of strings', 'claim_type'),
    );
    const ok = await call(
      gw,
      '/ok',
      bearer(await sign(k1, good({ aud: ['https://other.example/', AUD] }))),
    );
    expect(ok.status).toBe(200);
  });

  test('exp: passed, missing, not a number; within the skew it passes', async () => {
    const now = nowSeconds();
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ exp: now - 120 }))),
      invalid('token expired', 'token_expired'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ exp: undefined }))),
      invalid('token has no exp', 'exp_missing'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ exp: String(now + 600) }))),
      invalid('exp is not a number', 'claim_type'),
    );
    const withinSkew = await call(gw, '/ok', bearer(await sign(k1, good({ exp: now - 10 }))));
    expect(withinSkew.status).toBe(200);
  });

  test('nbf and iat in the future: refused; within the skew they pass', async () => {
    const now = nowSeconds();
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ nbf: now + 120 }))),
      invalid('token not yet valid (nbf)', 'token_not_yet_valid'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ iat: now + 120 }))),
      invalid('token issued in the future (iat)', 'iat_future'),
    );
    await expectRefused(
      gw,
      bearer(await sign(k1, good({ iat: 'yesterday' }))),
      invalid('iat is not a number', 'claim_type'),
    );
    const ok = await call(
      gw,
      '/ok',
      bearer(await sign(k1, good({ nbf: now + 10, iat: now + 10 }))),
    );
    expect(ok.status).toBe(200);
  });

  test('--require-scope: 403 insufficient_scope with scope= in WWW-Authenticate', async () => {
    await expectRefused(scoped, bearer(await sign(k1, good({ scope: 'read' }))), {
      status: 403,
      error: 'insufficient_scope',
      description: 'missing required scope write',
      scope: 'read write',
      reason: 'insufficient_scope',
    });
    await expectRefused(scoped, bearer(await sign(k1, good({ scp: ['write'] }))), {
      status: 403,
      error: 'insufficient_scope',
      description: 'missing required scope read',
      scope: 'read write',
      reason: 'insufficient_scope',
    });
    await expectRefused(scoped, bearer(await sign(k1, good())), {
      status: 403,
      error: 'insufficient_scope',
      description: 'missing required scope read write',
      scope: 'read write',
      reason: 'insufficient_scope',
    });
    for (const extra of [
      { scope: 'openid read write' },
      { scp: ['read', 'write'] },
      { scp: 'write read' },
    ]) {
      const ok = await call(scoped, '/ok', bearer(await sign(k1, good(extra))));
      expect(ok.status).toBe(200);
    }
  });

  test('--require-claim: missing or different value refused; array element matches', async () => {
    await expectRefused(
      scoped,
      bearer(await sign(k1, good({ tenant: 'other', scope: 'read write' }))),
      invalid('required claim tenant does not match', 'claim_mismatch'),
    );
    await expectRefused(
      scoped,
      bearer(await sign(k1, good({ tenant: undefined, scope: 'read write' }))),
      invalid('required claim tenant missing', 'claim_missing'),
    );
    const ok = await call(
      scoped,
      '/ok',
      bearer(await sign(k1, good({ tenant: ['x', 'acme'], scope: 'read write' }))),
    );
    expect(ok.status).toBe(200);
  });
});

describe('forwarded claims', () => {
  function lastUpstream() {
    return upstream.requests[upstream.requests.length - 1]!;
  }

  test('spoofed identity headers are removed in every case and _ variant', async () => {
    const token = await sign(k1, good({ roles: ['admin', 'dev'] }));
    const res = await call(gw, '/who', [
      'authorization',
      `Bearer ${token}`,
      'X-User',
      'mallory1',
      'x-user',
      'mallory2',
      'X_User',
      'mallory3',
      'x_uSeR',
      'mallory4',
      'X-TENANT',
      'evil',
      'x_tenant',
      'evil2',
      'X-Roles',
      '["root"]',
      'X_Forwarded_Host',
      'evil.example',
      'X-Forwarded-Host',
      'evil.example',
      'X-Forwarded-Proto',
      'https',
    ]);
    expect(res.status).toBe(200);
    const seen = lastUpstream();
    expect(seen.headers['x-user']).toEqual(['alice']);
    expect(seen.headers['x-tenant']).toEqual(['acme']);
    expect(seen.headers['x-roles']).toEqual(['["admin","dev"]']);
    expect(seen.headers['x_user']).toBeUndefined();
    expect(seen.headers['x_tenant']).toBeUndefined();
    expect(seen.headers['x_forwarded_host']).toBeUndefined();
    expect(seen.headers['x-forwarded-host']).toEqual([`127.0.0.1:${gw.port}`]);
    expect(seen.headers['x-forwarded-proto']).toEqual(['http']);
  });

  test('a claim the token does not have: the header is absent, and the client copy is still removed', async () => {
    const token = await sign(k1, good({ tenant: undefined }));
    const res = await call(gw, '/who', [
      'authorization',
      `Bearer ${token}`,
      'X-Tenant',
      'evil',
      'X_TENANT',
      'evil',
    ]);
    expect(res.status).toBe(200);
    expect(lastUpstream().headers['x-tenant']).toBeUndefined();
    expect(lastUpstream().headers['x_tenant']).toBeUndefined();
  });

  test('Connection: X-User does not remove the injected header (nor pass the client one)', async () => {
    const token = await sign(k1, good());
    const res = await call(gw, '/who', [
      'authorization',
      `Bearer ${token}`,
      'Connection',
      'X-User, keep-alive',
      'X-User',
      'mallory',
    ]);
    expect(res.status).toBe(200);
    expect(lastUpstream().headers['x-user']).toEqual(['alice']);
  });

  test('CR/LF, NUL or another control character in a forwarded claim: 401, nothing upstream', async () => {
    for (const sub of [
      'alice\r\nX-Admin: true',
      'alice\nx',
      'alice\u0000',
      'tab\there',
      'del\u007f',
      'c1\u0085',
    ]) {
      await expectRefused(
        gw,
        bearer(await sign(k1, good({ sub }))),
        invalid(
          'claim sub contains a control character and cannot be forwarded',
          'forward_claim_invalid',
        ),
      );
    }
  });

  test('characters outside printable ASCII are percent-encoded (UTF-8); numbers and JSON as documented', async () => {
    const token = await sign(k1, good({ sub: 'Zoë 山田 😀', tenant: 42, roles: { a: 'é' } }));
    const res = await call(gw, '/who', bearer(token));
    expect(res.status).toBe(200);
    const seen = lastUpstream();
    expect(seen.headers['x-user']).toEqual(['Zo%C3%AB %E5%B1%B1%E7%94%B0 %F0%9F%98%80']);
    expect(decodeURIComponent(seen.headers['x-user']![0]!)).toBe('Zoë 山田 😀');
    expect(seen.headers['x-tenant']).toEqual(['42']);
    expect(seen.headers['x-roles']).toEqual(['{"a":"%C3%A9"}']);
    expect(lastLog(gw)['sub']).toBe('Zoë 山田 😀');
  });
});

describe('Upgrade requests', () => {
  const wsHead = (auth: string | undefined) =>
    `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${auth ? `Authorization: ${auth}\r\n` : ''}\r\n`;

  test('an Upgrade request with no token: 401, nothing upstream', async () => {
    const before = upstream.requests.length;
    const upgrades = upstream.upgrades;
    const res = parseRawResponse(await rawExchange(gw.port, wsHead(undefined)));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Bearer realm="oidc-gw"');
    expect(JSON.parse(res.body)).toEqual({
      error: 'unauthorized',
      error_description: 'missing bearer token',
    });
    expect(upstream.requests.length).toBe(before);
    expect(upstream.upgrades).toBe(upgrades);
    expect(lastLog(gw)['reason']).toBe('missing_token');
  });

  test('a verified Upgrade other than WebSocket with a body: 400 upgrade_with_body, nothing upstream', async () => {
    const before = upstream.requests.length;
    const token = await sign(k1, good());
    const head = `POST /h2c HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nAuthorization: Bearer ${token}\r\nContent-Length: 2\r\n\r\n{}`;
    const res = parseRawResponse(await rawExchange(gw.port, head));
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ error: 'invalid_request' });
    expect(upstream.requests.length).toBe(before);
    expect(lastLog(gw)['reason']).toBe('upgrade_with_body');
  });

  test('an Upgrade request with a bad token: 401 invalid_token, nothing upstream', async () => {
    const upgrades = upstream.upgrades;
    const token = await sign(k1, good({ exp: nowSeconds() - 3600 }));
    const res = parseRawResponse(await rawExchange(gw.port, wsHead(`Bearer ${token}`)));
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      'Bearer realm="oidc-gw", error="invalid_token", error_description="token expired"',
    );
    expect(upstream.upgrades).toBe(upgrades);
  });

  test('a verified WebSocket upgrade is tunnelled, with forwarded claims and no spoofing', async () => {
    const upgrades = upstream.upgrades;
    const token = await sign(k1, good());
    const net = await import('node:net');
    const text = await new Promise<string>((resolve, reject) => {
      let got = '';
      const socket = net.connect(gw.port, '127.0.0.1', () => {
        socket.write(wsHead(`Bearer ${token}`).replace('\r\n\r\n', '\r\nX_User: mallory\r\n\r\n'));
      });
      socket.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got.includes('\r\n\r\n') && !got.includes('ping-through-tunnel'))
          socket.write('ping-through-tunnel');
        if (got.includes('ping-through-tunnel')) {
          socket.destroy();
          resolve(got);
        }
      });
      socket.on('error', reject);
      setTimeout(() => {
        socket.destroy();
        resolve(got);
      }, 3000);
    });
    expect(text.startsWith('HTTP/1.1 101')).toBe(true);
    expect(text).toContain('ping-through-tunnel');
    expect(upstream.upgrades).toBe(upgrades + 1);
    const seen = upstream.requests[upstream.requests.length - 1]!;
    expect(seen.headers['x-user']).toEqual(['alice']);
    expect(seen.headers['x_user']).toBeUndefined();
  });

  test('a WebSocket upgrade the upstream refuses: the upstream answer is relayed, then the connection closed', async () => {
    const upgrades = upstream.upgrades;
    const token = await sign(k1, good());
    const res = parseRawResponse(
      await rawExchange(gw.port, wsHead(`Bearer ${token}`).replace('GET /ws ', 'GET /ws-refused ')),
    );
    expect(res.status).toBe(403);
    expect(res.headers['x-upstream']).toBe('refused');
    expect(res.headers['connection']).toBe('close');
    expect(JSON.parse(res.body)).toEqual({ error: 'origin not allowed' });
    expect(upstream.upgrades).toBe(upgrades + 1);
    const log = lastLog(gw);
    expect(log).toMatchObject({ path: '/ws-refused', status: 403 });
    expect(log['reason']).toBeUndefined();
  });

  test('a verified non-WebSocket upgrade (h2c) is answered as plain HTTP/1.1, the Upgrade ignored', async () => {
    const token = await sign(k1, good());
    const before = upstream.requests.length;
    const res = parseRawResponse(
      await rawExchange(
        gw.port,
        `GET /h2c HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      ),
    );
    expect(res.status).toBe(200);
    expect(upstream.requests.length).toBe(before + 1);
    const seen = upstream.requests[upstream.requests.length - 1]!;
    expect(seen.url).toBe('/h2c');
    expect(seen.headers['upgrade']).toBeUndefined();
    expect(seen.headers['http2-settings']).toBeUndefined();
  });

  test('CONNECT is never forwarded', async () => {
    const before = upstream.requests.length;
    const token = await sign(k1, good());
    const res = parseRawResponse(
      await rawExchange(
        gw.port,
        `CONNECT 127.0.0.1:${upstream.port} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      ),
    );
    expect(res.status).toBe(405);
    expect(upstream.requests.length).toBe(before);
    expect(lastLog(gw)).toMatchObject({
      method: 'CONNECT',
      status: 405,
      reason: 'connect_not_allowed',
    });
  });

  test('an absolute-form request target is refused', async () => {
    const before = upstream.requests.length;
    const token = await sign(k1, good());
    const res = parseRawResponse(
      await rawExchange(
        gw.port,
        `GET http://evil.example/x HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
      ),
    );
    expect(res.status).toBe(400);
    expect(upstream.requests.length).toBe(before);
  });
});
