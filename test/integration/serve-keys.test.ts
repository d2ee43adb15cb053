/**
 * Keys over time (docs/commands/serve.md): an unknown-kid flood fetches the JWKS
 * at most once per 30 s, rotation is picked up, a JWKS that goes down leaves
 * the last good keys serving, a removed key stops verifying (the verified-
 * token cache is cleared), and tokens from the real test IdP pass. The
 * gateway's clock is injected, so "30 s later" needs no waiting.
 */
import { afterEach, describe, expect, test } from 'vitest';
import { Pool, request } from 'undici';
import {
  startJwksServer,
  startUpstream,
  type JwksServer,
  type Upstream,
} from '../helpers/gateway-servers.js';
import { b64, claims, makeKey, sign, type TestKey } from '../helpers/gateway-tokens.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Setup {
  upstream: Upstream;
  jwks: JwksServer;
  gw: TestGateway;
  k1: TestKey;
  clock: { offsetMs: number };
}

async function setup(extra: { jwksMaxAgeMs?: number; keys?: TestKey[] } = {}): Promise<Setup> {
  const k1 = extra.keys?.[0] ?? (await makeKey('ES256', 'k1'));
  const upstream = await startUpstream();
  cleanups.push(() => upstream.close());
  const jwks = await startJwksServer({ keys: (extra.keys ?? [k1]).map((k) => k.publicJwk) });
  cleanups.push(() => jwks.close());
  const clock = { offsetMs: 0 };
  const gw = await startTestGateway({
    upstream: upstream.url,
    issuers: [jwks.issuer],
    audiences: ['api'],
    now: () => Date.now() + clock.offsetMs,
    ...(extra.jwksMaxAgeMs === undefined ? {} : { jwksMaxAgeMs: extra.jwksMaxAgeMs }),
  });
  cleanups.push(() => gw.close());
  return { upstream, jwks, gw, k1, clock };
}

async function status(gw: TestGateway, token: string): Promise<{ status: number; body: unknown }> {
  const r = await request(`${gw.url}/r`, { headers: { authorization: `Bearer ${token}` } });
  const text = await r.body.text();
  return { status: r.statusCode, body: JSON.parse(text) as unknown };
}

/** 1,000 requests at once, each with a different unknown kid. */
async function flood(gw: TestGateway, iss: string, tag: string): Promise<number[]> {
  const pool = new Pool(gw.url, { connections: 100 });
  try {
    const payload = b64(claims({ iss, aud: 'api' }));
    const results = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => {
        const token = `${b64({ alg: 'ES256', kid: `${tag}-${i}` })}.${payload}.${b64(new Uint8Array(64).fill(1))}`;
        const r = await pool.request({
          path: '/r',
          method: 'GET',
          headers: { authorization: `Bearer ${token}` },
        });
        await r.body.text();
        return r.statusCode;
      }),
    );
    return results;
  } finally {
    await pool.close();
  }
}

describe('discovery', () => {
  test('--issuer also takes the full .well-known URL; iss is compared with the metadata issuer', async () => {
    const k1 = await makeKey('ES256', 'k1');
    const upstream = await startUpstream();
    cleanups.push(() => upstream.close());
    const jwks = await startJwksServer({ keys: [k1.publicJwk] });
    cleanups.push(() => jwks.close());
    const gw = await startTestGateway({
      upstream: upstream.url,
      issuers: [`${jwks.issuer}/.well-known/openid-configuration`],
      audiences: ['api'],
    });
    cleanups.push(() => gw.close());
    expect(
      (await status(gw, await sign(k1, claims({ iss: jwks.issuer, aud: 'api' })))).status,
    ).toBe(200);
    const wrong = await status(gw, await sign(k1, claims({ iss: `${jwks.issuer}/`, aud: 'api' })));
    expect(wrong.body).toEqual({ error: 'invalid_token', error_description: 'issuer not allowed' });
  });
});

describe('unknown kid', () => {
  test('1,000 concurrent tokens with unknown kids: at most one JWKS fetch, shared', async () => {
    const { jwks, gw, upstream, clock } = await setup();
    // Right after start (the start fetch counts): no re-fetch at all.
    const atStart = jwks.jwksRequests;
    const first = await flood(gw, jwks.issuer, 'a');
    expect(first.every((s) => s === 401)).toBe(true);
    expect(jwks.jwksRequests).toBe(atStart);
    // 31 s later: exactly one fetch for the whole flood.
    clock.offsetMs = 31_000;
    const second = await flood(gw, jwks.issuer, 'b');
    expect(second.every((s) => s === 401)).toBe(true);
    expect(jwks.jwksRequests).toBe(atStart + 1);
    // And none again within the next 30 s.
    clock.offsetMs = 45_000;
    await flood(gw, jwks.issuer, 'c');
    expect(jwks.jwksRequests).toBe(atStart + 1);
    expect(upstream.requests).toHaveLength(0);
    expect(gw.metrics.jwksFetchCount(jwks.jwksUri)).toBe(2);
  });
});

describe('rotation and outages', () => {
  test('a key rotated at the IdP is picked up on the first token that names it', async () => {
    const { jwks, gw, k1, clock } = await setup();
    const k2 = await makeKey('ES256', 'k2');
    const good = (key: TestKey) => sign(key, claims({ iss: jwks.issuer, aud: 'api' }));
    const t1 = await good(k1);
    expect((await status(gw, t1)).status).toBe(200);
    jwks.jwks = { keys: [k1.publicJwk, k2.publicJwk] };
    clock.offsetMs = 31_000;
    const before = jwks.jwksRequests;
    expect((await status(gw, await good(k2))).status).toBe(200);
    expect(jwks.jwksRequests).toBe(before + 1);
    expect(gw.logText()).toMatch(/keys changed \(unknown kid\)/);
    // k1 still verifies (both published).
    expect((await status(gw, await good(k1))).status).toBe(200);
  });

  test('a key removed from the JWKS stops verifying, even for a token that was cached', async () => {
    const { jwks, gw, k1, clock } = await setup();
    const k2 = await makeKey('ES256', 'k2');
    const t1 = await sign(k1, claims({ iss: jwks.issuer, aud: 'api' }));
    expect((await status(gw, t1)).status).toBe(200);
    expect(gw.verifier.cache.size).toBe(1);
    jwks.jwks = { keys: [k2.publicJwk] };
    clock.offsetMs = 31_000;
    expect(
      (await status(gw, await sign(k2, claims({ iss: jwks.issuer, aud: 'api' })))).status,
    ).toBe(200);
    const again = await status(gw, t1);
    expect(again.status).toBe(401);
    expect(again.body).toEqual({
      error: 'invalid_token',
      error_description: 'no trusted key for kid',
    });
  });

  test('the JWKS endpoint down: the last good keys keep serving, and it is not hammered', async () => {
    const { jwks, gw, k1, clock } = await setup({ jwksMaxAgeMs: 60_000 });
    for (const mode of ['error', 'reset'] as const) {
      jwks.mode = mode;
      clock.offsetMs += 61_000; // past the lifetime and the cooldown
      const before = jwks.jwksRequests;
      const token = await sign(k1, claims({ iss: jwks.issuer, aud: 'api', jti: mode }));
      expect((await status(gw, token)).status).toBe(200);
      // A background refresh was tried (and failed); keys still serve.
      await new Promise((r) => setTimeout(r, 100));
      expect(jwks.jwksRequests).toBe(before + 1);
      expect(
        (await status(gw, await sign(k1, claims({ iss: jwks.issuer, aud: 'api', n: 2 })))).status,
      ).toBe(200);
      // Unknown kids while it is down: refused, without another fetch inside the cooldown.
      const unknown = await sign({ ...k1, kid: 'nope' }, claims({ iss: jwks.issuer, aud: 'api' }));
      expect((await status(gw, unknown)).status).toBe(401);
      expect(jwks.jwksRequests).toBe(before + 1);
    }
    expect(gw.logText()).toMatch(/refresh failed .*the last good keys keep serving/);
    // Back up: the next refresh after the cooldown restores normal service.
    jwks.mode = 'up';
    clock.offsetMs += 31_000;
    const k2 = await makeKey('ES256', 'k2');
    jwks.jwks = { keys: [k1.publicJwk, k2.publicJwk] };
    expect(
      (await status(gw, await sign(k2, claims({ iss: jwks.issuer, aud: 'api' })))).status,
    ).toBe(200);
  });
});

describe('with the test IdP (oidc-provider)', () => {
  let idp: TestIdp;

  async function accessToken(): Promise<string> {
    const { clientId, clientSecret } = idp.clients.basic;
    const r = await request(`${idp.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        resource: idp.audience,
        scope: 'read',
      }).toString(),
    });
    const body = (await r.body.json()) as { access_token?: string };
    expect(r.statusCode).toBe(200);
    return body.access_token as string;
  }

  test('a real access token passes, claims are forwarded; a rotated key is picked up', async () => {
    idp = await startTestIdp();
    cleanups.push(() => idp.close());
    const upstream = await startUpstream();
    cleanups.push(() => upstream.close());
    const clock = { offsetMs: 0 };
    const gw = await startTestGateway({
      upstream: upstream.url,
      issuers: [idp.issuer],
      audiences: [idp.audience],
      requiredScopes: ['read'],
      forwardClaims: [
        { header: 'X-Client', claim: 'client_id' },
        { header: 'X-Scope', claim: 'scope' },
      ],
      now: () => Date.now() + clock.offsetMs,
    });
    cleanups.push(() => gw.close());

    const token = await accessToken();
    const ok = await request(`${gw.url}/api/items?x=1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ok.statusCode).toBe(200);
    await ok.body.text();
    const seen = upstream.requests[upstream.requests.length - 1]!;
    expect(seen.url).toBe('/api/items?x=1');
    expect(seen.headers['x-client']).toEqual([idp.clients.basic.clientId]);
    expect(seen.headers['x-scope']?.[0]).toContain('read');

    // A tampered copy is refused.
    const [h, p, s] = token.split('.') as [string, string, string];
    const claimsObj = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${h}.${b64({ ...claimsObj, scope: 'read write admin' })}.${s}`;
    const bad = await request(`${gw.url}/api/items`, {
      headers: { authorization: `Bearer ${tampered}` },
    });
    expect(bad.statusCode).toBe(401);
    expect(await bad.body.json()).toEqual({
      error: 'invalid_token',
      error_description: 'signature verification failed',
    });

    // Rotation at the IdP: the new kid is fetched once the cooldown has passed.
    const jwksBefore = idp.requests.count('/jwks');
    await idp.rotateKeys();
    const rotated = await accessToken();
    expect(JSON.parse(Buffer.from(rotated.split('.')[0]!, 'base64url').toString()).kid).not.toBe(
      JSON.parse(Buffer.from(h, 'base64url').toString()).kid,
    );
    clock.offsetMs = 31_000;
    const after = await request(`${gw.url}/api/items`, {
      headers: { authorization: `Bearer ${rotated}` },
    });
    expect(after.statusCode).toBe(200);
    await after.body.text();
    expect(idp.requests.count('/jwks')).toBe(jwksBefore + 1);
  });
});
