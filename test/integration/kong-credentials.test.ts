/**
 * Kong openid-connect credentials other than a bearer JWT, run by the
 * gateway from a decK file against the real test IdP (oidc-provider on
 * 127.0.0.1) and a real upstream:
 *  - client_credentials, the Auth0 guide's pattern (issuer given as the
 *    .well-known URL, audience from config.audience or token_post_args): a
 *    caller's HTTP Basic credentials become a JWT for the audience that the
 *    upstream gets as `Authorization: Bearer`, never the caller's Basic
 *    header or secret; many calls make one token request (counted at the
 *    IdP); a wrong secret is 401 and never gets the cached token;
 *  - introspection of the IdP's opaque tokens: active 200, revoked 401 once
 *    the positive cache lifetime has passed (an injected clock passes it),
 *    revoked before first use 401 at once, garbage 401.
 */
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPlan } from '../../src/gateway/load/index.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream, type RecordedRequest } from '../helpers/gateway-servers.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import {
  basicAuthorization,
  confidentialClient,
  copyToTemp,
  deckEnv,
  opaqueAccessToken,
} from '../fixtures/kong/live/deck-env.js';

let idp: TestIdp;
let upstream: Upstream;
let basic: oidc.Configuration;
let gw: TestGateway;
/**
 * The gateway's clock: the real one plus an offset the tests move (the
 * tokens the IdP issues during the test must not be issued in the gateway's
 * future: openid-connect checks iat with leeway 0).
 */
const clock = { offsetMs: 0 };
let cleanup = () => {};

beforeAll(async () => {
  idp = await startTestIdp();
  upstream = await startUpstream();
  basic = await confidentialClient(idp, 'basic');
  const copy = copyToTemp('oidc.yaml');
  cleanup = copy.cleanup;
  const plan = await loadPlan({
    files: [copy.file],
    env: await deckEnv(idp, upstream.url),
    namedValues: {},
    strict: false,
    defaults: { upstreamTimeoutMs: 5000, maxTokenBytes: 8192 },
  });
  gw = await startPlanGateway(plan, { now: () => Date.now() + clock.offsetMs });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await idp?.close();
  cleanup();
});

function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gw.url}${path}`, { headers });
}

function claimsOf(jwt: string): Record<string, unknown> {
  const payload = jwt.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
}

/** Every byte of a recorded request that could carry a credential. */
function everything(r: RecordedRequest): string {
  return `${r.url}\n${r.rawHeaders.join('\n')}\n${r.body}`;
}

describe("client_credentials: the caller's Basic credentials exchanged for a token (Auth0 guide)", () => {
  /** test-basic's secret holds `:%+`: the caller form-urlencodes it (RFC 6749 §2.3.1). */
  let secret: string;

  beforeAll(() => {
    secret = idp.clients.basic.clientSecret;
  });

  it('config.audience: the upstream gets Authorization: Bearer <JWT for the audience>, never the Basic header or the secret', async () => {
    const authorization = basicAuthorization(idp.clients.basic.clientId, secret);
    const res = await get('/exchange/items?x=1', { authorization });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const seen = upstream.requests.at(-1) as RecordedRequest;
    expect(seen.url).toBe('/items?x=1');
    const sent = seen.headers['authorization'] ?? [];
    expect(sent).toHaveLength(1);
    const bearer = /^Bearer (\S+)$/.exec(sent[0] ?? '')?.[1] ?? '';
    expect(bearer.split('.')).toHaveLength(3);
    const claims = claimsOf(bearer);
    expect(claims['aud']).toBe(idp.audience);
    expect(claims['iss']).toBe(idp.issuer);
    expect(claims['client_id']).toBe(idp.clients.basic.clientId);
    expect(claims['scope']).toBe('read');
    const all = everything(seen);
    expect(all).not.toContain(authorization.slice('Basic '.length));
    expect(all).not.toContain(secret);
    expect(all).not.toContain(encodeURIComponent(secret));
    expect(all.toLowerCase()).not.toContain('basic ');
  });

  it('20 calls: the IdP token endpoint sees one request', async () => {
    const authorization = basicAuthorization(idp.clients.basic.clientId, secret);
    // A fresh route (its own exchanger and cache): token_post_args carry the audience.
    const before = idp.requests.count('/token');
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => get('/exchange-args', { authorization })),
    );
    for (let i = 0; i < 10; i++) {
      const res = await get('/exchange-args', { authorization });
      answers.push(res);
    }
    const tokens = new Set<string>();
    for (const res of answers) {
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    for (const r of upstream.requests.slice(-20)) tokens.add(r.headers['authorization']?.[0] ?? '');
    expect(idp.requests.count('/token') - before).toBe(1);
    expect(tokens.size).toBe(1);
    const [only] = tokens;
    expect(claimsOf((only ?? '').replace(/^Bearer /, ''))['aud']).toBe(idp.audience);
  });

  it('a wrong secret: 401 {"message":"Unauthorized"}, and never the cached token of the right one', async () => {
    const good = basicAuthorization(idp.clients.basic.clientId, secret);
    const warm = await get('/exchange', { authorization: good });
    expect(warm.status).toBe(200);
    await warm.arrayBuffer();
    const before = upstream.requests.length;
    const wrong = basicAuthorization(idp.clients.basic.clientId, `${secret}x`);
    const res = await get('/exchange', { authorization: wrong });
    expect(res.status).toBe(401);
    expect(await res.text()).toBe('{"message":"Unauthorized"}');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(upstream.requests.length).toBe(before);
    // The same body as a missing token: the log tells the IdP refused the exchange.
    expect(gw.logs().at(-1)).toMatchObject({ status: 401, reason: 'client_credentials_invalid' });
    // An unknown client too.
    const unknown = await get('/exchange', { authorization: basicAuthorization('nobody', 'x') });
    expect(unknown.status).toBe(401);
    expect(await unknown.text()).toBe('{"message":"Unauthorized"}');
    expect(gw.logs().at(-1)).toMatchObject({ status: 401, reason: 'client_credentials_invalid' });
  });

  it('no credentials at all: 401 {"message":"Unauthorized"}', async () => {
    const res = await get('/exchange');
    expect(res.status).toBe(401);
    expect(await res.text()).toBe('{"message":"Unauthorized"}');
  });

  it('the secret is in no log line', () => {
    const text = gw.logText();
    expect(text.length).toBeGreaterThan(0);
    expect(text).not.toContain(secret);
    expect(text).not.toContain(encodeURIComponent(secret));
  });
});

describe("introspection of the IdP's opaque tokens", () => {
  it('an active opaque token: 200, with the token forwarded', async () => {
    const token = await opaqueAccessToken(basic);
    expect(token.split('.')).toHaveLength(1);
    const res = await get('/opaque/a', { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(upstream.requests.at(-1)?.url).toBe('/a');
  });

  it('revoked: still accepted while the active answer is cached (cache_ttl_max 60), 401 once it has expired', async () => {
    const token = await opaqueAccessToken(basic);
    const first = await get('/opaque', { authorization: `Bearer ${token}` });
    expect(first.status).toBe(200);
    await first.arrayBuffer();
    await oidc.tokenRevocation(basic, token);
    const cached = await get('/opaque', { authorization: `Bearer ${token}` });
    expect(cached.status).toBe(200);
    await cached.arrayBuffer();
    clock.offsetMs += 61_000;
    const after = await get('/opaque', { authorization: `Bearer ${token}` });
    expect(after.status).toBe(401);
    expect(await after.text()).toBe('{"message":"Unauthorized"}');
    expect(after.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect(gw.logs().at(-1)).toMatchObject({ status: 401, reason: 'token_inactive' });
  });

  it('revoked before its first use: 401 at once; the inactive answer is remembered (cache_ttl_neg 10)', async () => {
    const token = await opaqueAccessToken(basic);
    await oidc.tokenRevocation(basic, token);
    const before = idp.requests.count('/token/introspection');
    for (let i = 0; i < 3; i++) {
      const res = await get('/opaque', { authorization: `Bearer ${token}` });
      expect(res.status).toBe(401);
      expect(await res.text()).toBe('{"message":"Unauthorized"}');
    }
    expect(idp.requests.count('/token/introspection') - before).toBe(1);
    clock.offsetMs += 11_000;
    const again = await get('/opaque', { authorization: `Bearer ${token}` });
    expect(again.status).toBe(401);
    await again.arrayBuffer();
    expect(idp.requests.count('/token/introspection') - before).toBe(2);
  });

  it('garbage: 401 {"message":"Unauthorized"}', async () => {
    const res = await get('/opaque', { authorization: 'Bearer not-a-token-the-idp-issued' });
    expect(res.status).toBe(401);
    expect(await res.text()).toBe('{"message":"Unauthorized"}');
    const none = await get('/opaque');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
  });

  it("the gateway's own introspection secret is in no log line", () => {
    expect(gw.logText()).not.toContain(idp.clients.post.clientSecret);
  });
});
