/**
 * A Kong declarative file run by the gateway against the real test IdP
 * (oidc-provider on 127.0.0.1) and a real upstream: the jwt plugin with a
 * consumer whose jwt_secret holds the IdP's key (each of Kong's 401 bodies
 * byte for byte, the consumer headers upstream), openid-connect bearer with
 * audience_required / scopes_required (403), and rate-limiting per consumer
 * and per virtual credential (credential_claim: sub) with Kong's headers and
 * 429 body. The decK files are test/fixtures/kong/live/, their DECK_
 * variables filled with the IdP's real URLs and key.
 */
import { createHmac } from 'node:crypto';
import type * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPlan } from '../../src/gateway/load/index.js';
import type { Plan } from '../../src/gateway/plan.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { b64, makeKey, sign } from '../helpers/gateway-tokens.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import {
  confidentialClient,
  copyToTemp,
  deckEnv,
  jwtAccessToken,
} from '../fixtures/kong/live/deck-env.js';

let idp: TestIdp;
let upstream: Upstream;
let env: Record<string, string>;
let basic: oidc.Configuration;
let post: oidc.Configuration;
const cleanups: Array<() => void> = [];
const gateways: TestGateway[] = [];

async function kongPlan(name: string): Promise<Plan> {
  const copy = copyToTemp(name);
  cleanups.push(copy.cleanup);
  return loadPlan({
    files: [copy.file],
    env,
    namedValues: {},
    strict: false,
    defaults: { upstreamTimeoutMs: 5000, maxTokenBytes: 8192 },
  });
}

async function gateway(name: string, now?: () => number): Promise<TestGateway> {
  const gw = await startPlanGateway(await kongPlan(name), now ? { now } : {});
  gateways.push(gw);
  return gw;
}

beforeAll(async () => {
  idp = await startTestIdp();
  upstream = await startUpstream();
  env = await deckEnv(idp, upstream.url);
  basic = await confidentialClient(idp, 'basic');
  post = await confidentialClient(idp, 'post');
});

afterAll(async () => {
  for (const gw of gateways) await gw.close();
  await upstream?.close();
  await idp?.close();
  for (const c of cleanups) c();
});

function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { headers });
}

/** The last request the upstream saw. */
function lastUpstream() {
  const r = upstream.requests.at(-1);
  if (!r) throw new Error('the upstream saw no request');
  return r;
}

// ---------------------------------------------------------------------------

describe('jwt plugin: a consumer whose jwt_secret is the IdP (key = iss, RS256 PEM)', () => {
  let gw: TestGateway;
  let token: string;

  beforeAll(async () => {
    gw = await gateway('jwt.yaml');
    token = await jwtAccessToken(basic, idp);
  });

  it('proxies a valid IdP token with X-Consumer-ID, X-Consumer-Username, X-Credential-Identifier', async () => {
    const res = await get(`${gw.url}/orders/7`, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const seen = lastUpstream();
    expect(seen.url).toBe('/v1/7');
    expect(seen.headers['x-consumer-id']).toEqual(['3f1e2d4c-5b6a-4798-8a7b-6c5d4e3f2a10']);
    expect(seen.headers['x-consumer-username']).toEqual(['idp-service']);
    expect(seen.headers['x-consumer-custom-id']).toEqual(['svc-001']);
    expect(seen.headers['x-credential-identifier']).toEqual([idp.issuer]);
    // The jwt plugin forwards the caller's Authorization as it came.
    expect(seen.headers['authorization']).toEqual([`Bearer ${token}`]);
  });

  it('a client cannot spoof the consumer headers', async () => {
    const res = await get(`${gw.url}/orders`, {
      authorization: `Bearer ${token}`,
      'x-consumer-id': 'evil',
      'X-Consumer-Username': 'admin',
      'x-credential-identifier': 'forged',
      'x-consumer-custom-id': 'forged',
      'x-anonymous-consumer': 'true',
    });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const seen = lastUpstream();
    expect(seen.headers['x-consumer-id']).toEqual(['3f1e2d4c-5b6a-4798-8a7b-6c5d4e3f2a10']);
    expect(seen.headers['x-consumer-username']).toEqual(['idp-service']);
    expect(seen.headers['x-credential-identifier']).toEqual([idp.issuer]);
    expect(seen.headers['x-consumer-custom-id']).toEqual(['svc-001']);
    expect(seen.headers['x-anonymous-consumer']).toBeUndefined();
  });

  it('reads the token from the jwt query parameter (uri_param_names default)', async () => {
    const res = await get(`${gw.url}/orders?jwt=${token}`);
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  async function refused(
    path: string,
    headers: Record<string, string>,
    body: string,
    challenge: string,
  ): Promise<void> {
    const res = await get(`${gw.url}${path}`, headers);
    expect(res.status).toBe(401);
    expect(await res.text()).toBe(body);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('www-authenticate')).toBe(challenge);
    expect(res.headers.get('x-kong-request-id')).toMatch(/^[0-9a-f]+$/);
  }

  it('no token: {"message":"Unauthorized"}, WWW-Authenticate: Bearer', async () => {
    const before = upstream.requests.length;
    await refused('/orders', {}, '{"message":"Unauthorized"}', 'Bearer');
    // A Basic header is not a token either.
    await refused(
      '/orders',
      { authorization: 'Basic dXNlcjpwYXNz' },
      '{"message":"Unauthorized"}',
      'Bearer',
    );
    expect(upstream.requests.length).toBe(before);
  });

  it('garbage: Bad token; invalid JSON', async () => {
    await refused(
      '/orders',
      { authorization: 'Bearer garbage' },
      '{"message":"Bad token; invalid JSON"}',
      'Bearer error="invalid_token"',
    );
  });

  it("an alg other than the jwt_secret's: Invalid algorithm", async () => {
    const [, payload] = token.split('.');
    const header = b64({ alg: 'HS256', typ: 'JWT' });
    const input = `${header}.${payload}`;
    const forged = `${input}.${createHmac('sha256', 'whatever').update(input).digest('base64url')}`;
    await refused(
      '/orders',
      { authorization: `Bearer ${forged}` },
      '{"message":"Invalid algorithm"}',
      'Bearer error="invalid_token"',
    );
  });

  it('a tampered payload: Invalid signature', async () => {
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    const tampered = `${header}.${b64({ ...claims, sub: 'someone-else' })}.${signature}`;
    await refused(
      '/orders',
      { authorization: `Bearer ${tampered}` },
      '{"message":"Invalid signature"}',
      'Bearer error="invalid_token"',
    );
  });

  it("an iss no jwt_secret has: No credentials found for given 'iss'", async () => {
    const stranger = await makeKey('RS256', 'stranger');
    const now = Math.floor(Date.now() / 1000);
    const other = await sign(stranger, {
      iss: 'https://unknown.example.test/',
      sub: 'x',
      exp: now + 600,
    });
    await refused(
      '/orders',
      { authorization: `Bearer ${other}` },
      `{"message":"No credentials found for given 'iss'"}`,
      'Bearer error="invalid_token"',
    );
  });

  it("no iss: No mandatory 'iss' in claims; an empty iss: Invalid 'iss' in claims", async () => {
    const stranger = await makeKey('RS256', 'stranger');
    const exp = Math.floor(Date.now() / 1000) + 600;
    await refused(
      '/orders',
      { authorization: `Bearer ${await sign(stranger, { sub: 'x', exp })}` },
      `{"message":"No mandatory 'iss' in claims"}`,
      'Bearer error="invalid_token"',
    );
    await refused(
      '/orders',
      { authorization: `Bearer ${await sign(stranger, { iss: '', sub: 'x', exp })}` },
      `{"message":"Invalid 'iss' in claims"}`,
      'Bearer error="invalid_token"',
    );
  });

  it('with realm: Bearer realm="orders", then error="invalid_token" with no comma', async () => {
    await refused('/realm', {}, '{"message":"Unauthorized"}', 'Bearer realm="orders"');
    await refused(
      '/realm',
      { authorization: 'Bearer garbage' },
      '{"message":"Bad token; invalid JSON"}',
      'Bearer realm="orders" error="invalid_token"',
    );
  });

  it('claims_to_verify [exp]: an expired token is {"exp":"token expired"}; without exp listed it is accepted', async () => {
    // The same real IdP token, two hours later on the gateway's clock.
    const later = Date.now() + 2 * 3600 * 1000;
    const future = await gateway('jwt.yaml', () => later);
    const strict = await get(`${future.url}/orders`, { authorization: `Bearer ${token}` });
    expect(strict.status).toBe(401);
    expect(await strict.text()).toBe('{"exp":"token expired"}');
    expect(strict.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    const lenient = await get(`${future.url}/lenient`, { authorization: `Bearer ${token}` });
    expect(lenient.status).toBe(200);
    await lenient.arrayBuffer();
    expect(lastUpstream().headers['x-consumer-username']).toEqual(['idp-service']);
  });

  it('the plan says that the lenient route accepts expired tokens', async () => {
    const plan = await kongPlan('jwt.yaml');
    const skipped = plan.warnings.filter((w) => w.kind === 'skipped_check');
    expect(
      skipped.some(
        (w) =>
          w.path === 'services[0].routes[1].plugins[0].config.claims_to_verify' &&
          /accepts expired tokens/.test(w.message),
      ),
    ).toBe(true);
    expect(
      skipped.some(
        (w) =>
          w.path === 'services[0].routes[0].plugins[0].config.claims_to_verify' &&
          /expired/.test(w.message),
      ),
    ).toBe(false);
  });
});

// ---------------------------------------------------------------------------

describe('openid-connect bearer: audience_required and scopes_required', () => {
  let gw: TestGateway;

  beforeAll(async () => {
    gw = await gateway('oidc.yaml');
  });

  it('a token with the audience and both scopes: 200', async () => {
    const token = await jwtAccessToken(basic, idp, 'read write');
    const res = await get(`${gw.url}/bearer/x`, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    expect(lastUpstream().url).toBe('/x');
  });

  it('a token missing one of the scopes: 403 {"message":"Forbidden"}', async () => {
    const token = await jwtAccessToken(basic, idp, 'read');
    const before = upstream.requests.length;
    const res = await get(`${gw.url}/bearer/x`, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(403);
    expect(await res.text()).toBe('{"message":"Forbidden"}');
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="insufficient_scope"');
    expect(upstream.requests.length).toBe(before);
  });

  it('a token for another audience: 403 {"message":"Forbidden"}', async () => {
    const token = await jwtAccessToken(basic, idp, 'read write');
    const res = await get(`${gw.url}/other-audience`, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(403);
    expect(await res.text()).toBe('{"message":"Forbidden"}');
  });

  it('the plan warns about form-body tokens only where a token is read', async () => {
    const plan = await kongPlan('oidc.yaml');
    const bodyWarnings = plan.warnings
      .filter((w) => w.path.endsWith('.bearer_token_param_type'))
      .map((w) => w.path.replace(/\.plugins.*/, ''));
    // bearer (0, 1), introspection (5) and bearer (6) read tokens; the three exchanges (2-4) do not.
    expect(bodyWarnings).toEqual([
      'services[0].routes[0]',
      'services[0].routes[1]',
      'services[0].routes[5]',
      'services[0].routes[6]',
    ]);
  });

  it('no token and a garbage token: 401 {"message":"Unauthorized"}', async () => {
    const none = await get(`${gw.url}/bearer`);
    expect(none.status).toBe(401);
    expect(await none.text()).toBe('{"message":"Unauthorized"}');
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    const bad = await get(`${gw.url}/bearer`, { authorization: 'Bearer garbage' });
    expect(bad.status).toBe(401);
    expect(await bad.text()).toBe('{"message":"Unauthorized"}');
    expect(bad.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
  });
});

// ---------------------------------------------------------------------------

describe('rate-limiting per consumer (jwt) and per credential (openid-connect credential_claim sub)', () => {
  /**
   * A fixed clock: every request in the same calendar minute. A minute ahead
   * of the real one, so that tokens the IdP issues during the test are never
   * issued in the gateway's future (openid-connect checks iat, leeway 0).
   */
  let fixed = 0;
  let gw: TestGateway;

  beforeAll(async () => {
    fixed = Date.now() + 60_000;
    gw = await gateway('oidc.yaml', () => fixed);
  });

  const resetSeconds = () => {
    const ms = 60_000 - (fixed % 60_000);
    return String(Math.max(1, Math.ceil(ms / 1000)));
  };

  it('per consumer: Kong headers on each answer, the 4th of a minute refused with request_id', async () => {
    const jwtGw = await gateway('jwt.yaml', () => fixed);
    const token = await jwtAccessToken(basic, idp);
    for (let i = 1; i <= 3; i++) {
      const res = await get(`${jwtGw.url}/search`, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      expect(res.headers.get('x-ratelimit-limit-minute')).toBe('3');
      expect(res.headers.get('x-ratelimit-remaining-minute')).toBe(String(3 - i));
      expect(res.headers.get('ratelimit-limit')).toBe('3');
      expect(res.headers.get('ratelimit-remaining')).toBe(String(3 - i));
      expect(res.headers.get('ratelimit-reset')).toBe(resetSeconds());
    }
    // Another token of the same consumer (the jwt_secret selects the consumer): same counter.
    const again = await jwtAccessToken(post, idp);
    const res = await get(`${jwtGw.url}/search`, { authorization: `Bearer ${again}` });
    expect(res.status).toBe(429);
    const id = res.headers.get('x-kong-request-id') ?? '';
    expect(id).not.toBe('');
    expect(await res.text()).toBe(
      `{\n  "message":"API rate limit exceeded",\n  "request_id":"${id}"\n}`,
    );
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(res.headers.get('retry-after')).toBe(resetSeconds());
    expect(res.headers.get('x-ratelimit-remaining-minute')).toBe('0');
    expect(res.headers.get('ratelimit-remaining')).toBe('0');
  });

  it('per credential (sub): a re-issued token for the same sub is still limited; another sub is not', async () => {
    const first = await jwtAccessToken(basic, idp);
    for (let i = 1; i <= 3; i++) {
      const res = await get(`${gw.url}/limited`, { authorization: `Bearer ${first}` });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      expect(res.headers.get('x-ratelimit-remaining-minute')).toBe(String(3 - i));
    }
    const reissued = await jwtAccessToken(basic, idp);
    expect(reissued).not.toBe(first);
    const res = await get(`${gw.url}/limited`, { authorization: `Bearer ${reissued}` });
    expect(res.status).toBe(429);
    expect(await res.text()).toMatch(/^\{\n {2}"message":"API rate limit exceeded",\n/);
    // The post client is another sub: its own counter.
    const other = await jwtAccessToken(post, idp);
    const ok = await get(`${gw.url}/limited`, { authorization: `Bearer ${other}` });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    expect(ok.headers.get('x-ratelimit-limit-minute')).toBe('3');
    expect(ok.headers.get('x-ratelimit-remaining-minute')).toBe('2');
    expect(ok.headers.get('ratelimit-limit')).toBe('3');
    expect(ok.headers.get('ratelimit-remaining')).toBe('2');
    expect(ok.headers.get('ratelimit-reset')).toBe(resetSeconds());
  });

  it('the log line of a refusal names the limit rule', async () => {
    const line = gw.logs().find((l) => l['reason'] === 'rate_limited');
    expect(line).toBeDefined();
    expect(String(line?.['limit'])).toMatch(/rate-limiting|config\.minute/);
  });
});
