/**
 * RFC 7662 introspection by the gateway against the real dev IdP
 * (oidc-provider on 127.0.0.1): opaque tokens active with their claims,
 * revoked ones inactive once the cache lifetime has passed (an injected
 * clock passes it), garbage inactive, one request for many concurrent
 * introspections, and IdP failures answered idp_unavailable, never thrown.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_TOKEN_LENGTH,
  Introspector,
  judgeIntrospection,
  type IntrospectorOptions,
} from '../../src/gateway/check/introspection.js';
import type { Introspection } from '../../src/gateway/plan.js';
import { startUpstream } from '../helpers/gateway-servers.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';

let idp: TestIdp;
/** openid-client for the token's owner (test-basic): obtains and revokes tokens. */
let owner: oidc.Configuration;
const logs: string[] = [];

beforeAll(async () => {
  idp = await startTestIdp();
  owner = await oidc.discovery(
    new URL(idp.issuer),
    idp.clients.basic.clientId,
    undefined,
    oidc.ClientSecretBasic(idp.clients.basic.clientSecret),
    { execute: [oidc.allowInsecureRequests] },
  );
});
afterAll(async () => {
  await idp?.close();
});

/** An opaque access token (no audience asked: the IdP issues a reference token). */
async function opaqueToken(): Promise<string> {
  const response = await oidc.clientCredentialsGrant(owner, {});
  expect(response.access_token.split('.')).toHaveLength(1);
  return response.access_token;
}

function introspector(
  introspection: Partial<Introspection> = {},
  extra: Partial<IntrospectorOptions> = {},
) {
  const counts = { introspect: 0, discovery: 0 };
  const c = { now: Date.now() };
  const it = new Introspector({
    introspection: {
      issuer: idp.issuer,
      // The gateway's own credentials: another confidential client than the token's.
      clientId: idp.clients.post.clientId,
      clientSecret: idp.clients.post.clientSecret,
      authMethod: 'client_secret_post',
      negativeTtlSeconds: 10,
      maxTtlSeconds: 60,
      ...introspection,
    },
    fetch: async (url, init) => {
      if (url.endsWith('/token/introspection')) counts.introspect++;
      if (url.includes('/.well-known/')) counts.discovery++;
      return fetch(url, init);
    },
    now: () => c.now,
    timeoutMs: 5000,
    log: (line) => logs.push(line),
    ...extra,
  });
  return { it, counts, clock: c };
}

describe('introspection', () => {
  it('finds an opaque token active, with its claims, and caches the answer', async () => {
    const token = await opaqueToken();
    const { it: intro, counts } = introspector();
    const result = await intro.introspect(token);
    expect(result).toMatchObject({ active: true });
    if (!('active' in result) || !result.active) return;
    expect(result.claims['client_id']).toBe(idp.clients.basic.clientId);
    expect(result.claims['iss']).toBe(idp.issuer);
    expect(typeof result.claims['exp']).toBe('number');
    expect(counts.introspect).toBe(1);
    expect(await intro.introspect(token)).toMatchObject({ active: true });
    expect(counts.introspect).toBe(1);
  });

  it('authenticates with client_secret_basic too (a secret holding ":%+")', async () => {
    const token = await opaqueToken();
    const { it: intro, counts } = introspector({
      clientId: idp.clients.basic.clientId,
      clientSecret: idp.clients.basic.clientSecret,
      authMethod: 'client_secret_basic',
    });
    expect(await intro.introspect(token)).toMatchObject({ active: true });
    expect(counts.introspect).toBe(1);
  });

  it('finds a token the IdP will not introspect inactive, not idp_unavailable', async () => {
    // oidc-provider answers 400 unsupported_token_type for its JWT access tokens.
    const response = await oidc.clientCredentialsGrant(owner, { audience: idp.audience });
    expect(response.access_token.split('.')).toHaveLength(3);
    const { it: intro, counts } = introspector();
    expect(await intro.introspect(response.access_token)).toEqual({ active: false });
    expect(await intro.introspect(response.access_token)).toEqual({ active: false });
    expect(counts.introspect).toBe(1);
    expect(logs.at(-1)).toContain('unsupported_token_type');
  });

  it('finds a revoked token inactive once the cached answer has run out', async () => {
    const token = await opaqueToken();
    const { it: intro, counts, clock } = introspector({ maxTtlSeconds: 60 });
    expect(await intro.introspect(token)).toMatchObject({ active: true });
    await oidc.tokenRevocation(owner, token);
    // Within maxTtlSeconds the cached answer stands (documented).
    clock.now += 59_000;
    expect(await intro.introspect(token)).toMatchObject({ active: true });
    expect(counts.introspect).toBe(1);
    clock.now += 1_000;
    expect(await intro.introspect(token)).toEqual({ active: false });
    expect(counts.introspect).toBe(2);
  });

  it('finds garbage inactive, and remembers that for negativeTtlSeconds', async () => {
    const { it: intro, counts, clock } = introspector({ negativeTtlSeconds: 10 });
    expect(await intro.introspect('not-a-token')).toEqual({ active: false });
    expect(await intro.introspect('not-a-token')).toEqual({ active: false });
    expect(counts.introspect).toBe(1);
    clock.now += 10_000;
    expect(await intro.introspect('not-a-token')).toEqual({ active: false });
    expect(counts.introspect).toBe(2);
  });

  it('does not send an empty or oversized token', async () => {
    const { it: intro, counts } = introspector();
    expect(await intro.introspect('')).toEqual({ active: false });
    expect(await intro.introspect('x'.repeat(DEFAULT_MAX_TOKEN_LENGTH + 1))).toEqual({
      active: false,
    });
    expect(counts.introspect).toBe(0);
  });

  it('keeps an active answer no longer than the token lives', async () => {
    const token = await opaqueToken();
    const { it: intro, counts, clock } = introspector({ maxTtlSeconds: 24 * 3600 });
    const first = await intro.introspect(token);
    expect(first).toMatchObject({ active: true });
    const exp = 'active' in first && first.active ? (first.claims['exp'] as number) : 0;
    clock.now = exp * 1000 - 1;
    expect(await intro.introspect(token)).toMatchObject({ active: true });
    expect(counts.introspect).toBe(1);
    // Past exp the cache entry is gone, and the IdP's answer (exp in the past) is inactive here.
    clock.now = exp * 1000;
    expect(await intro.introspect(token)).toEqual({ active: false });
    expect(counts.introspect).toBe(2);
  });

  it('makes one request for many concurrent introspections of one token', async () => {
    const token = await opaqueToken();
    const { it: intro, counts } = introspector();
    const results = await Promise.all(Array.from({ length: 30 }, () => intro.introspect(token)));
    expect(results.every((r) => 'active' in r && r.active)).toBe(true);
    expect(counts.introspect).toBe(1);
    expect(counts.discovery).toBe(1);
    expect(intro.requests).toBe(1);
  });

  it('uses an endpoint given without an issuer', async () => {
    const token = await opaqueToken();
    const { it: intro, counts } = introspector({
      issuer: undefined,
      endpoint: `${idp.issuer}/token/introspection`,
    });
    expect(await intro.introspect(token)).toMatchObject({ active: true });
    expect(counts.discovery).toBe(0);
  });

  it('keeps a bounded number of entries', async () => {
    const { it: intro } = introspector({}, { maxEntries: 3 });
    for (let i = 0; i < 6; i++) await intro.introspect(`garbage-${i}`);
    expect(intro.cacheSize).toBe(3);
  });
});

describe('introspection failures', () => {
  it("answers idp_unavailable when the IdP refuses the gateway's own credentials (secret not shown)", async () => {
    const token = await opaqueToken();
    const wrong = `${idp.clients.post.clientSecret}-wrong`;
    const { it: intro } = introspector({ clientSecret: wrong });
    const result = await intro.introspect(token);
    expect(result).toMatchObject({ error: 'idp_unavailable' });
    const description = 'error' in result ? result.description : '';
    expect(description).toContain('own client credentials');
    expect(description).not.toContain(wrong);
    expect(description).not.toContain(token);
  });

  it('answers idp_unavailable, never throws, when the IdP is stopped (before and after discovery)', async () => {
    const down = await startTestIdp();
    const ownerDown = await oidc.discovery(
      new URL(down.issuer),
      down.clients.basic.clientId,
      undefined,
      oidc.ClientSecretBasic(down.clients.basic.clientSecret),
      { execute: [oidc.allowInsecureRequests] },
    );
    const token = (await oidc.clientCredentialsGrant(ownerDown, {})).access_token;
    const make = () =>
      new Introspector({
        introspection: {
          issuer: down.issuer,
          clientId: down.clients.post.clientId,
          clientSecret: down.clients.post.clientSecret,
          authMethod: 'client_secret_post',
          negativeTtlSeconds: 10,
          maxTtlSeconds: 60,
        },
        fetch,
        now: Date.now,
        timeoutMs: 5000,
        log: (line) => logs.push(line),
      });
    const discovered = make();
    expect(await discovered.introspect(token)).toMatchObject({ active: true });
    const fresh = make();
    await down.close();
    const afterDiscovery = await discovered.introspect(`${token}-other`);
    expect(afterDiscovery).toMatchObject({ error: 'idp_unavailable' });
    const beforeDiscovery = await fresh.introspect(token);
    expect(beforeDiscovery).toMatchObject({ error: 'idp_unavailable' });
    // The cached answer still serves; a failure is not cached.
    expect(await discovered.introspect(token)).toMatchObject({ active: true });
    const sentBefore = discovered.requests;
    await discovered.introspect(`${token}-other`);
    expect(discovered.requests).toBe(sentBefore + 1);
  });

  it('answers idp_unavailable for a 5xx, a non-JSON answer and an oversized one', async () => {
    const fake = await startUpstream();
    try {
      const { it: intro } = introspector({ issuer: undefined, endpoint: `${fake.url}/introspect` });
      fake.handler = (_req, res) => {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html>bad gateway</html>');
      };
      expect(await intro.introspect('tok-1')).toMatchObject({ error: 'idp_unavailable' });
      fake.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"active":');
      };
      expect(await intro.introspect('tok-2')).toMatchObject({ error: 'idp_unavailable' });
      fake.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ active: true, pad: 'x'.repeat(70 * 1024) }));
      };
      const big = await intro.introspect('tok-3');
      expect(big).toMatchObject({ error: 'idp_unavailable' });
      expect('error' in big && big.description).toContain('64 KiB');
      // Failures are not cached: a good answer afterwards is taken.
      fake.handler = (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ active: true, sub: 'svc' }));
      };
      expect(await intro.introspect('tok-3')).toMatchObject({
        active: true,
        claims: { sub: 'svc' },
      });
    } finally {
      await fake.close();
    }
  });

  it('logs neither tokens nor secrets', () => {
    expect(logs.length).toBeGreaterThan(0);
    for (const line of logs) {
      expect(line).not.toContain(idp.clients.post.clientSecret);
      expect(line).not.toContain(idp.clients.basic.clientSecret);
    }
  });
});

describe('judgeIntrospection', () => {
  const now = 1_700_000_000_000;
  it('calls active only what is active, unexpired, started, and not a refresh token', () => {
    expect(judgeIntrospection({ active: true, sub: 'a' }, now)).toEqual({
      active: true,
      claims: { active: true, sub: 'a' },
    });
    expect(judgeIntrospection({ active: 'true' }, now)).toEqual({ active: false });
    expect(judgeIntrospection({ active: false }, now)).toEqual({ active: false });
    expect(judgeIntrospection({ active: true, exp: now / 1000 }, now)).toEqual({ active: false });
    expect(judgeIntrospection({ active: true, exp: now / 1000 + 1 }, now)).toMatchObject({
      active: true,
    });
    expect(judgeIntrospection({ active: true, nbf: now / 1000 + 1 }, now)).toEqual({
      active: false,
    });
    expect(judgeIntrospection({ active: true, token_type: 'refresh_token' }, now)).toEqual({
      active: false,
    });
    expect(judgeIntrospection({ active: true, typ: 'Refresh' }, now)).toEqual({ active: false });
  });
});
