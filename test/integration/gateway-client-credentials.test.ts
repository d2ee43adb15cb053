/**
 * The gateway's client-credentials exchange against the real dev IdP
 * (oidc-provider on 127.0.0.1): a caller's id and secret become a token,
 * cached per (client, secret, parameters), one token request for many
 * concurrent calls, wrong secrets refused without touching the cache of the
 * right one, the secret in no log line, and IdP failures answered, never
 * thrown. The fetch passed in is the seam the requests are counted at.
 */
import * as jose from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ClientCredentialsExchanger,
  DEFAULT_MAX_RESPONSE_BYTES,
  scrubSecrets,
  servedForMs,
  TtlLru,
  type ClientCredentialsExchangerOptions,
  type ExchangeResult,
} from '../../src/gateway/check/client-credentials.js';
import { parseBasicAuthorization } from '../../src/gateway/check/basic-auth.js';
import type { ClientCredentialsExchange } from '../../src/gateway/plan.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';

let idp: TestIdp;
let fake: Upstream;
/** Every log line any exchanger wrote in this file. */
const logs: string[] = [];
/** Every description any exchange returned. */
const descriptions: string[] = [];
/** Every request body and Authorization header sent (to check what went where). */
const sent: Array<{ url: string; body: string; authorization: string | null }> = [];

beforeAll(async () => {
  idp = await startTestIdp();
  fake = await startUpstream();
});
afterAll(async () => {
  await idp?.close();
  await fake?.close();
});
beforeEach(() => {
  fake.handler = undefined;
});

/** A clock the test moves. */
function clock(start = Date.now()) {
  const c = { now: start, fn: () => c.now };
  return c;
}

/** The real fetch, counting and recording what passes. */
function countingFetch() {
  const counts = { token: 0, discovery: 0, all: 0 };
  const fetchFn = async (url: string, init: RequestInit) => {
    counts.all++;
    if (url.endsWith('/token')) counts.token++;
    if (url.includes('/.well-known/')) counts.discovery++;
    sent.push({
      url,
      body: typeof init.body === 'string' ? init.body : String(init.body ?? ''),
      authorization: new Headers(init.headers).get('authorization'),
    });
    return fetch(url, init);
  };
  return { counts, fetch: fetchFn };
}

function exchanger(
  exchange: Partial<ClientCredentialsExchange>,
  extra: Partial<ClientCredentialsExchangerOptions> = {},
) {
  const f = countingFetch();
  const c = clock();
  const ex = new ClientCredentialsExchanger({
    exchange: {
      issuer: idp.issuer,
      from: ['header'],
      authMethod: 'client_secret_basic',
      params: {},
      ...exchange,
    },
    fetch: f.fetch,
    now: c.fn,
    timeoutMs: 5000,
    log: (line) => logs.push(line),
    ...extra,
  });
  const run = async (id: string, secret: string): Promise<ExchangeResult> => {
    const result = await ex.exchange(id, secret);
    if (!result.ok) descriptions.push(result.description);
    return result;
  };
  return { ex, counts: f.counts, clock: c, run };
}

async function verifyAt(token: string) {
  const jwks = jose.createRemoteJWKSet(new URL(idp.jwksUri));
  return (await jose.jwtVerify(token, jwks, { issuer: idp.issuer })).payload;
}

describe('client credentials exchange', () => {
  it("turns a caller's Basic credentials plus Auth0's audience into a JWT for that audience", async () => {
    const { run, counts, clock: c } = exchanger({ params: { audience: idp.audience } });
    const { clientId, clientSecret } = idp.clients.basic;
    const result = await run(clientId, clientSecret);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.cached).toBe(false);
    const payload = await verifyAt(result.accessToken);
    expect(payload.aud).toBe(idp.audience);
    expect(payload['client_id']).toBe(clientId);
    expect(result.expiresAtMs).toBe(c.now + 3600 * 1000);
    expect(counts.token).toBe(1);
    // The secret went to the IdP form-urlencoded in Basic (it holds ":%+"), and nowhere else.
    const tokenRequest = sent.filter((s) => s.url.endsWith('/token')).at(-1)!;
    expect(tokenRequest.body).toContain('audience=');
    expect(tokenRequest.body).not.toContain('client_secret');
    const decoded = Buffer.from(tokenRequest.authorization!.slice(6), 'base64').toString();
    expect(decoded).not.toContain(clientSecret);
    expect(parseBasicAuthorization(tokenRequest.authorization!)).toMatchObject({
      clientId,
      clientSecret,
    });
  });

  it('sends client_secret_post when the plan says so, with the scope', async () => {
    const { run, counts } = exchanger({
      authMethod: 'client_secret_post',
      scope: 'read',
      params: { audience: idp.audience },
    });
    const { clientId, clientSecret } = idp.clients.post;
    const result = await run(clientId, clientSecret);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect((await verifyAt(result.accessToken))['scope']).toBe('read');
    expect(counts.token).toBe(1);
    const tokenRequest = sent.filter((s) => s.url.endsWith('/token')).at(-1)!;
    expect(tokenRequest.authorization).toBeNull();
    expect(new URLSearchParams(tokenRequest.body).get('client_secret')).toBe(clientSecret);
    expect(new URLSearchParams(tokenRequest.body).get('scope')).toBe('read');
  });

  it('makes one token request (and one discovery) for many concurrent first calls', async () => {
    const { run, counts, ex } = exchanger({ params: { audience: idp.audience } });
    const before = idp.requests.count('/token');
    const { clientId, clientSecret } = idp.clients.basic;
    const results = await Promise.all(
      Array.from({ length: 40 }, () => run(clientId, clientSecret)),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    const tokens = new Set(results.map((r) => (r.ok ? r.accessToken : '')));
    expect(tokens.size).toBe(1);
    expect(results.filter((r) => r.ok && !r.cached)).toHaveLength(1);
    expect(counts.token).toBe(1);
    expect(ex.requests).toBe(1);
    expect(idp.requests.count('/token') - before).toBe(1);
    expect(counts.discovery).toBe(1);
    // And later calls are served from the cache.
    await run(clientId, clientSecret);
    expect(counts.token).toBe(1);
  });

  it('serves the cached token until shortly before it expires, then asks again', async () => {
    const { run, counts, clock: c } = exchanger({});
    const { clientId, clientSecret } = idp.clients.basic;
    const start = c.now;
    const first = await run(clientId, clientSecret);
    expect(first.ok).toBe(true);
    // 3600 s tokens: served for 3600 - 30 s.
    c.now = start + servedForMs(3600_000) - 1;
    const second = await run(clientId, clientSecret);
    expect(second).toMatchObject({ ok: true, cached: true });
    expect(second.ok && first.ok && second.accessToken === first.accessToken).toBe(true);
    expect(counts.token).toBe(1);
    c.now = start + servedForMs(3600_000);
    const third = await run(clientId, clientSecret);
    expect(third).toMatchObject({ ok: true, cached: false });
    expect(counts.token).toBe(2);
  });

  it('refuses a wrong secret, never serves the cached token to it, and a right secret still works', async () => {
    const { run, counts, clock: c } = exchanger({ params: { audience: idp.audience } });
    const { clientId, clientSecret } = idp.clients.basic;
    const wrong = `${clientSecret}x`;

    // Wrong first: refused; the right secret afterwards gets a token.
    const refused = await run(clientId, wrong);
    expect(refused).toMatchObject({ ok: false, reason: 'client_credentials_invalid' });
    expect(!refused.ok && refused.description).toContain('invalid_client');
    const good = await run(clientId, clientSecret);
    expect(good).toMatchObject({ ok: true, cached: false });
    expect(counts.token).toBe(2);

    // A wrong secret of a client whose token is cached asks the IdP and is refused.
    const other = `nope-${clientSecret}`;
    const refusedAgain = await run(clientId, other);
    expect(refusedAgain).toMatchObject({ ok: false, reason: 'client_credentials_invalid' });
    expect(counts.token).toBe(3);

    // The refusal is remembered 5 s for that exact secret, then asked again.
    expect(await run(clientId, other)).toMatchObject({ ok: false });
    expect(counts.token).toBe(3);
    c.now += 5_000;
    expect(await run(clientId, other)).toMatchObject({
      ok: false,
      reason: 'client_credentials_invalid',
    });
    expect(counts.token).toBe(4);

    // The right secret is still served from the cache throughout.
    expect(await run(clientId, clientSecret)).toMatchObject({ ok: true, cached: true });
    expect(counts.token).toBe(4);
  });

  it('refuses an unknown client and empty credentials', async () => {
    const { run, counts } = exchanger({});
    expect(await run('no-such-client', 'whatever')).toMatchObject({
      ok: false,
      reason: 'client_credentials_invalid',
    });
    expect(counts.token).toBe(1);
    expect(await run('', 'x')).toMatchObject({ ok: false, reason: 'client_credentials_invalid' });
    expect(await run('x', '')).toMatchObject({ ok: false, reason: 'client_credentials_invalid' });
    expect(counts.token).toBe(1);
  });

  it('remembers nothing about refusals with negativeTtlMs 0', async () => {
    const { run, counts } = exchanger({}, { negativeTtlMs: 0 });
    const { clientId } = idp.clients.basic;
    await run(clientId, 'wrong-1');
    await run(clientId, 'wrong-1');
    expect(counts.token).toBe(2);
  });

  it('keeps a bounded number of entries', async () => {
    const { run, ex } = exchanger({}, { maxEntries: 2 });
    const { clientId } = idp.clients.basic;
    for (const s of ['w1', 'w2', 'w3', 'w4']) await run(clientId, s);
    expect(ex.cacheSize).toBe(2);
  });

  it('uses a token endpoint given without an issuer', async () => {
    const { run, counts } = exchanger({
      issuer: undefined,
      tokenEndpoint: `${idp.issuer}/token`,
      params: { audience: idp.audience },
    });
    const result = await run(idp.clients.basic.clientId, idp.clients.basic.clientSecret);
    expect(result.ok).toBe(true);
    expect(counts.discovery).toBe(0);
    expect(counts.token).toBe(1);
  });
});

describe('client credentials exchange when the IdP fails', () => {
  it('answers idp_unavailable, never throws, when the IdP is stopped (before and after discovery)', async () => {
    const down = await startTestIdp();
    const f = countingFetch();
    const ex = new ClientCredentialsExchanger({
      exchange: {
        issuer: down.issuer,
        from: ['header'],
        authMethod: 'client_secret_basic',
        params: {},
      },
      fetch: f.fetch,
      now: Date.now,
      timeoutMs: 5000,
      log: (line) => logs.push(line),
    });
    const { clientId, clientSecret } = down.clients.basic;
    expect(await ex.exchange(clientId, clientSecret)).toMatchObject({ ok: true });
    const fresh = new ClientCredentialsExchanger({
      exchange: {
        issuer: down.issuer,
        from: ['header'],
        authMethod: 'client_secret_basic',
        params: {},
      },
      fetch: f.fetch,
      now: Date.now,
      timeoutMs: 5000,
      log: (line) => logs.push(line),
    });
    await down.close();
    // A new secret (not cached) needs the token endpoint, now down.
    const afterDiscovery = await ex.exchange(clientId, `${clientSecret}-other`);
    expect(afterDiscovery).toMatchObject({ ok: false, reason: 'idp_unavailable' });
    expect(!afterDiscovery.ok && afterDiscovery.description).toMatch(/ECONNREFUSED|reach/);
    const beforeDiscovery = await fresh.exchange(clientId, clientSecret);
    expect(beforeDiscovery).toMatchObject({ ok: false, reason: 'idp_unavailable' });
    for (const r of [afterDiscovery, beforeDiscovery]) if (!r.ok) descriptions.push(r.description);
    // The cached token still serves its own caller while the IdP is down.
    expect(await ex.exchange(clientId, clientSecret)).toMatchObject({ ok: true, cached: true });
    // A failure is not cached: the next call tries again.
    const tokenCalls = f.counts.token;
    await ex.exchange(clientId, `${clientSecret}-other`);
    expect(f.counts.token).toBe(tokenCalls + 1);
  });

  it('answers idp_unavailable for a 5xx and for an answer that is not a token response', async () => {
    const { run } = exchanger({ issuer: undefined, tokenEndpoint: `${fake.url}/token` });
    fake.handler = (_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"error":"temporarily_unavailable"}');
    };
    expect(await run('svc', 'secret-503')).toMatchObject({ ok: false, reason: 'idp_unavailable' });
    fake.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>login</html>');
    };
    expect(await run('svc', 'secret-html')).toMatchObject({ ok: false, reason: 'idp_unavailable' });
    fake.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"token_type":"Bearer","expires_in":60}');
    };
    expect(await run('svc', 'secret-no-token')).toMatchObject({
      ok: false,
      reason: 'idp_unavailable',
    });
  });

  it('stops reading an answer larger than the bound', async () => {
    let written = 0;
    const LIMIT = 32 * 1024 * 1024;
    fake.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(16 * 1024, 0x20);
      const pump = () => {
        // Bounded: at most 32 MiB, stopping as soon as the client goes away.
        while (written < LIMIT && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      res.write('{"access_token":"');
      pump();
    };
    const { run } = exchanger({ issuer: undefined, tokenEndpoint: `${fake.url}/token` });
    const result = await run('svc', 'secret-big');
    expect(result).toMatchObject({ ok: false, reason: 'idp_unavailable' });
    expect(!result.ok && result.description).toContain(`${DEFAULT_MAX_RESPONSE_BYTES / 1024} KiB`);
    // The client hung up long before the server ran out of bytes to send.
    expect(written).toBeLessThan(LIMIT);
  });

  it('answers idp_unavailable when the token endpoint does not answer in time', async () => {
    fake.handler = () => {
      // never answers; the timeout ends it
    };
    const { run } = exchanger(
      { issuer: undefined, tokenEndpoint: `${fake.url}/token` },
      { timeoutMs: 200 },
    );
    const result = await run('svc', 'secret-slow');
    expect(result).toMatchObject({ ok: false, reason: 'idp_unavailable' });
    expect(!result.ok && result.description).toMatch(/timed out/);
  });

  it('answers idp_unavailable without asking when too many token requests are pending', async () => {
    const held: Array<() => void> = [];
    fake.handler = (_req, res) => {
      held.push(() => {
        res.writeHead(503);
        res.end();
      });
    };
    const { ex, counts } = exchanger(
      { issuer: undefined, tokenEndpoint: `${fake.url}/token` },
      { maxPending: 2 },
    );
    const a = ex.exchange('svc', 'p1');
    const b = ex.exchange('svc', 'p2');
    expect(await ex.exchange('svc', 'p3')).toMatchObject({
      ok: false,
      reason: 'idp_unavailable',
    });
    // Bounded wait for both held requests to arrive, then release them.
    for (let i = 0; i < 200 && held.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    for (const release of held) release();
    await Promise.all([a, b]);
    expect(counts.token).toBe(2);
  });
});

describe('the secret stays secret', () => {
  it('appears in no log line and no description of this file', () => {
    expect(logs.length).toBeGreaterThan(5);
    expect(descriptions.length).toBeGreaterThan(5);
    const secrets = [idp.clients.basic.clientSecret, idp.clients.post.clientSecret];
    for (const text of [...logs, ...descriptions]) {
      for (const secret of secrets) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(encodeURIComponent(secret));
      }
      // Nor a token.
      expect(text).not.toMatch(/eyJ[\w-]+\.[\w-]+\./);
    }
  });

  it('scrubs a secret an IdP echoes in its error description', async () => {
    fake.handler = (_req, res, recorded) => {
      const secret = new URLSearchParams(recorded.body).get('client_secret') ?? '';
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: 'invalid_client', error_description: `bad secret ${secret}` }),
      );
    };
    const captured: string[] = [];
    const { ex } = exchanger(
      { issuer: undefined, tokenEndpoint: `${fake.url}/token`, authMethod: 'client_secret_post' },
      { log: (line) => captured.push(line) },
    );
    const result = await ex.exchange('svc', 'Echoed+Secret/42');
    expect(result).toMatchObject({ ok: false, reason: 'client_credentials_invalid' });
    expect(!result.ok && result.description).toContain('bad secret [secret]');
    expect(captured.join('\n')).not.toContain('Echoed+Secret/42');
    expect(captured.join('\n')).toContain('[secret]');
  });

  it('scrubSecrets replaces the raw and the form-urlencoded forms', () => {
    expect(scrubSecrets('a s:%+ b s%3A%25%2B c s%3A%25%2B d', ['s:%+'])).toBe(
      'a [secret] b [secret] c [secret] d',
    );
  });
});

describe('helpers', () => {
  it('servedForMs keeps a margin of 10% of the lifetime, at most 30 s', () => {
    expect(servedForMs(3600_000)).toBe(3570_000);
    expect(servedForMs(60_000)).toBe(54_000);
    expect(servedForMs(300_000)).toBe(270_000);
  });

  it('TtlLru drops expired entries and the least recently used first', () => {
    const lru = new TtlLru<number>(2);
    lru.set('a', 1, 100, 0);
    lru.set('b', 2, 100, 0);
    expect(lru.get('a', 10)).toBe(1); // a is now the most recent
    lru.set('c', 3, 100, 10);
    expect(lru.get('b', 10)).toBeUndefined();
    expect(lru.get('a', 10)).toBe(1);
    expect(lru.get('c', 100)).toBeUndefined();
    lru.set('d', 4, 5, 10); // already expired: not stored
    expect(lru.get('d', 10)).toBeUndefined();
    expect(lru.size).toBe(1);
  });
});
