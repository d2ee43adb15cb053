/**
 * Tyk API definitions and policies run by the gateway against the real
 * test IdP (oidc-provider on 127.0.0.1) and a real upstream: the fixtures
 * of test/fixtures/tyk/live are written to a temporary folder with the
 * IdP's and the upstream's real URLs, loaded by the Tyk importer
 * (loadPlan), and served through the same run step as `serve`. Every
 * answer is asserted byte for byte (status, Tyk's headers, body), with the
 * reason code oidc-gw logs for it (docs/gateways/tyk.md).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPlan } from '../../src/gateway/load/index.js';
import type { Plan } from '../../src/gateway/plan.js';
import { ROOT } from '../helpers/cli.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { hmacToken, nowSeconds } from '../helpers/gateway-tokens.js';
import { signInWithoutBrowser, startTestIdp, type TestIdp } from '../helpers/idp.js';

const TEMPLATES = join(ROOT, 'test', 'fixtures', 'tyk', 'live');
/** The HMAC API's secret (40 bytes: no short-secret note). */
const HMAC_SECRET = 'tyk-hmac-secret-for-the-live-tests-0123456';

let idp: TestIdp;
let upstream: Upstream;
let dir: string;
const started: TestGateway[] = [];

/** Tyk's error template: 4-space indent, no trailing newline. */
function tykBody(message: string): string {
  return `{\n    "error": ${JSON.stringify(message)}\n}`;
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** Writes a template with the real URLs into the temp folder; `edit` may change the parsed JSON. */
function fixture(name: string, edit?: (doc: Record<string, unknown>) => void, as = name): string {
  let text = readFileSync(join(TEMPLATES, name), 'utf8')
    .replaceAll('__JWKS_URI_BASE64__', b64(idp.jwksUri))
    .replaceAll('__JWKS_URI__', idp.jwksUri)
    .replaceAll('__ISSUER__', idp.issuer)
    .replaceAll('__UPSTREAM__', upstream.url.replace(/\/$/, ''))
    .replaceAll('__HMAC_SECRET_BASE64__', b64(HMAC_SECRET))
    .replaceAll('__NATIVE_CLIENT_ID_BASE64__', b64(idp.clients.native.clientId));
  if (edit) {
    const doc = JSON.parse(text) as Record<string, unknown>;
    edit(doc);
    text = JSON.stringify(doc, null, 2);
  }
  const path = join(dir, as);
  writeFileSync(path, text);
  return path;
}

function plan(files: string[]): Promise<Plan> {
  return loadPlan({
    files,
    env: {},
    namedValues: {},
    strict: false,
    defaults: { upstreamTimeoutMs: 5000, maxTokenBytes: 8192 },
  });
}

async function gateway(files: string[], now?: () => number): Promise<TestGateway> {
  const gw = await startPlanGateway(await plan(files), now ? { now } : {});
  started.push(gw);
  return gw;
}

/** A client-credentials access token of the IdP (sub = the client id; re-issued on each call). */
async function accessToken(which: 'post' | 'basic'): Promise<string> {
  const c = idp.clients[which];
  const meta = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as {
    token_endpoint: string;
  };
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: c.clientId,
      client_secret: c.clientSecret,
      resource: idp.audience,
    }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no token from the test IdP: ${JSON.stringify(body)}`);
  return body.access_token;
}

/** An ID token (aud = the client id), by the authorization code flow without a browser. */
async function idToken(which: 'native' | 'basic'): Promise<string> {
  const auth =
    which === 'native' ? client.None() : client.ClientSecretBasic(idp.clients.basic.clientSecret);
  const config = await client.discovery(
    new URL(idp.issuer),
    idp.clients[which].clientId,
    {},
    auth,
    { execute: [client.allowInsecureRequests] },
  );
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: 'http://127.0.0.1:49152/callback',
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
  });
  const signedIn = await signInWithoutBrowser(url, 'alice', 'alice');
  if (!signedIn.redirect) throw new Error(`sign-in failed: ${signedIn.status}`);
  const tokens = await client.authorizationCodeGrant(config, signedIn.redirect, {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  if (!tokens.id_token) throw new Error('no id_token');
  return tokens.id_token;
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<
    string,
    unknown
  >;
}

async function call(
  gw: TestGateway,
  path: string,
  token?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(`${gw.url}${path}`, {
    headers: { ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}), ...headers },
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** The log line of the last request to `path`. */
function lastLine(gw: TestGateway, path: string): Record<string, unknown> | undefined {
  return gw
    .logs()
    .filter((l) => l['path'] === path)
    .at(-1);
}

function expectTyk(
  r: { status: number; headers: Headers; body: string },
  status: number,
  message: string,
): void {
  expect({ status: r.status, body: r.body }).toEqual({ status, body: tykBody(message) });
  expect(r.headers.get('content-type')).toBe('application/json');
  expect(r.headers.get('x-generator')).toBe('tyk.io');
  expect(r.headers.get('www-authenticate')).toBeNull();
  expect(r.headers.get('retry-after')).toBeNull();
}

beforeAll(async () => {
  [idp, upstream] = await Promise.all([startTestIdp(), startUpstream()]);
  dir = mkdtempSync(join(tmpdir(), 'oidc-gw-tyk-'));
});

afterAll(async () => {
  await Promise.all(started.map((g) => g.close()));
  await Promise.all([idp?.close(), upstream?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a classic JWT API on the IdP JWKS URL (jwt_source = base64 of the URL, rsa)', () => {
  let gw: TestGateway;
  let token: string;
  beforeAll(async () => {
    gw = await gateway([fixture('orders-jwks-api.json'), fixture('policies.json')]);
    token = await accessToken('post');
  });

  it('a valid IdP token is proxied: 200, the request at the upstream under target_url, listen path stripped', async () => {
    const before = upstream.requests.length;
    const r = await call(gw, '/orders/items?id=7', token);
    expect(r.status).toBe(200);
    const seen = upstream.requests.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.url).toBe('/v1/items?id=7');
    expect(seen[0]?.headers['authorization']).toEqual([`Bearer ${token}`]);
    const line = lastLine(gw, '/orders/items');
    expect(line).toMatchObject({ status: 200, api: 'Orders (JWT, JWKS)', sub: 'test-post' });
    expect(line?.['reason']).toBeUndefined();
    // Policy "open" has no quota: no X-RateLimit-* (a documented difference: Tyk writes its
    // session's values; docs/gateways/tyk.md, "Differences from Tyk").
    expect(r.headers.get('x-ratelimit-limit')).toBeNull();
  });

  it('a bare token without "Bearer " is taken too (Tyk strips the prefix when present)', async () => {
    const res = await fetch(`${gw.url}/orders/bare`, { headers: { authorization: token } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  });

  it('no token: 400 Authorization field missing, byte for byte, X-Generator: tyk.io; logged as missing_token', async () => {
    const before = upstream.requests.length;
    const r = await call(gw, '/orders/none');
    expectTyk(r, 400, 'Authorization field missing');
    expect(r.body).toBe('{\n    "error": "Authorization field missing"\n}');
    expect(upstream.requests.length).toBe(before);
    expect(lastLine(gw, '/orders/none')).toMatchObject({ status: 400, reason: 'missing_token' });
  });

  it('an XML request gets the XML template', async () => {
    const r = await call(gw, '/orders/xml', undefined, {
      'content-type': 'application/xml; charset=utf-8',
    });
    expect(r.status).toBe(400);
    expect(r.body).toBe('<error>Authorization field missing</error>\n');
    expect(r.headers.get('content-type')).toBe('application/xml');
    expect(r.headers.get('x-generator')).toBe('tyk.io');
  });

  it('a tampered token (payload changed, signature kept): 403 Key not authorized; logged as signature_invalid', async () => {
    const [h, , s] = token.split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...payloadOf(token), sub: 'mallory' }),
      'utf8',
    ).toString('base64url');
    const r = await call(gw, '/orders/tampered', `${h}.${forged}.${s}`);
    expectTyk(r, 403, 'Key not authorized');
    expect(lastLine(gw, '/orders/tampered')).toMatchObject({
      status: 403,
      reason: 'signature_invalid',
    });
  });

  it('an HS256 token on an rsa API: 403 Key not authorized: Unexpected signing method; logged as alg_not_allowed', async () => {
    const hs = hmacToken(
      { alg: 'HS256', typ: 'JWT' },
      { sub: 'test-post', iat: nowSeconds(), exp: nowSeconds() + 600 },
      // The attack of RFC 8725 §2.1: the public key's bytes as the HMAC secret.
      idp.jwksUri,
    );
    const r = await call(gw, '/orders/hs256', hs);
    expectTyk(r, 403, 'Key not authorized: Unexpected signing method');
    expect(lastLine(gw, '/orders/hs256')).toMatchObject({ reason: 'alg_not_allowed' });
  });

  it('an expired IdP token: 401 Key not authorized: token has expired; logged as token_expired', async () => {
    const exp = payloadOf(token)['exp'] as number;
    // The same plan on a gateway whose clock is one second past the token's exp (skew 0, as Tyk's default).
    const late = await gateway(
      [fixture('orders-jwks-api.json'), fixture('policies.json')],
      () => (exp + 1) * 1000,
    );
    const r = await call(late, '/orders/expired', token);
    expectTyk(r, 401, 'Key not authorized: token has expired');
    expect(lastLine(late, '/orders/expired')).toMatchObject({
      status: 401,
      reason: 'token_expired',
    });
  });

  it("no API at the path: Go's 404 page not found", async () => {
    const r = await call(gw, '/nowhere', token);
    expect(r.status).toBe(404);
    expect(r.body).toBe('404 page not found\n');
    expect(r.headers.get('x-generator')).toBeNull();
  });
});

describe('a classic HMAC API (jwt_source = base64 of the secret)', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await gateway([fixture('billing-hmac-api.json'), fixture('policies.json')]);
  });

  it('a token signed with the secret passes; the identity is jwt_identity_base_field', async () => {
    const token = hmacToken(
      { alg: 'HS256', typ: 'JWT' },
      { user_id: 'u-42', iat: nowSeconds(), exp: nowSeconds() + 600 },
      HMAC_SECRET,
    );
    const before = upstream.requests.length;
    const r = await call(gw, '/billing/invoices', token);
    expect(r.status).toBe(200);
    expect(upstream.requests.slice(before).map((q) => q.url)).toEqual(['/billing/invoices']);
  });

  it('HS512 is an hmac method too', async () => {
    const token = hmacToken(
      { alg: 'HS512', typ: 'JWT' },
      { sub: 'u-43', exp: nowSeconds() + 600 },
      HMAC_SECRET,
      'HS512',
    );
    expect((await call(gw, '/billing/x', token)).status).toBe(200);
  });

  it('a token signed with another secret: 403 Key not authorized', async () => {
    const token = hmacToken(
      { alg: 'HS256', typ: 'JWT' },
      { sub: 'u-42', exp: nowSeconds() + 600 },
      'not-the-secret-not-the-secret-not-the-secret',
    );
    expectTyk(await call(gw, '/billing/wrong', token), 403, 'Key not authorized');
    expect(lastLine(gw, '/billing/wrong')).toMatchObject({ reason: 'signature_invalid' });
  });

  it('an RS256 IdP token on an hmac API: 403 Key not authorized: Unexpected signing method', async () => {
    const r = await call(gw, '/billing/rs', await accessToken('post'));
    expectTyk(r, 403, 'Key not authorized: Unexpected signing method');
  });

  it('a token without the identity claim nor sub: 403 no suitable claims for user ID were found', async () => {
    const token = hmacToken({ alg: 'HS256', typ: 'JWT' }, { exp: nowSeconds() + 600 }, HMAC_SECRET);
    expectTyk(
      await call(gw, '/billing/anon', token),
      403,
      'no suitable claims for user ID were found',
    );
    expect(lastLine(gw, '/billing/anon')).toMatchObject({ reason: 'identity_missing' });
  });
});

describe('a Tyk OAS API with allowedIssuers, allowedAudiences and customClaimValidation', () => {
  let gw: TestGateway;
  type Scheme = Record<string, unknown>;
  const scheme = (doc: Record<string, unknown>): Scheme =>
    (
      (((doc['x-tyk-api-gateway'] as Scheme)['server'] as Scheme)['authentication'] as Scheme)[
        'securitySchemes'
      ] as Scheme
    )['jwtAuth'] as Scheme;
  const variant = (id: string, edit: (s: Scheme) => void) =>
    fixture(
      'inventory-oas-api.json',
      (doc) => {
        const x = doc['x-tyk-api-gateway'] as Scheme;
        (x['info'] as Scheme)['id'] = id;
        (x['info'] as Scheme)['name'] = id;
        ((x['server'] as Scheme)['listenPath'] as Scheme)['value'] = `/${id}/`;
        edit(scheme(doc));
      },
      `${id}.json`,
    );

  beforeAll(async () => {
    gw = await gateway([
      fixture('inventory-oas-api.json'),
      variant('wrong-iss', (s) => (s['allowedIssuers'] = ['https://other.example.test/'])),
      variant('wrong-aud', (s) => (s['allowedAudiences'] = ['inventory', 'orders'])),
      variant('needs-tenant', (s) => {
        s['customClaimValidation'] = { 'org.tenant': { type: 'required' } };
      }),
      fixture('policies.json'),
    ]);
  });

  it('a token of the allowed issuer, audience and client_id passes', async () => {
    expect((await call(gw, '/inventory/stock', await accessToken('post'))).status).toBe(200);
  });

  it("another client's token: 401 Key not authorized: claim client_id value does not match any expected values", async () => {
    const r = await call(gw, '/inventory/stock', await accessToken('basic'));
    expectTyk(
      r,
      401,
      'Key not authorized: claim client_id value does not match any expected values',
    );
    expect(lastLine(gw, '/inventory/stock')).toMatchObject({ reason: 'claim_mismatch' });
  });

  it('a token of another issuer: 401 Key not authorized: invalid issuer claim: ISS', async () => {
    const r = await call(gw, '/wrong-iss/x', await accessToken('post'));
    expectTyk(r, 401, `Key not authorized: invalid issuer claim: ${idp.issuer}`);
    expect(lastLine(gw, '/wrong-iss/x')).toMatchObject({ reason: 'issuer_not_allowed' });
  });

  it('a token for another audience: 401 Key not authorized: no matching audience found in token: [AUD]', async () => {
    const r = await call(gw, '/wrong-aud/x', await accessToken('post'));
    expectTyk(r, 401, `Key not authorized: no matching audience found in token: [${idp.audience}]`);
    expect(lastLine(gw, '/wrong-aud/x')).toMatchObject({ reason: 'audience_not_allowed' });
  });

  it('a required custom claim the token lacks: 401 ...custom claim org.tenant is required but not present in token', async () => {
    const r = await call(gw, '/needs-tenant/x', await accessToken('post'));
    expectTyk(
      r,
      401,
      'Key not authorized: custom claim org.tenant is required but not present in token',
    );
    expect(lastLine(gw, '/needs-tenant/x')).toMatchObject({ reason: 'claim_missing' });
  });
});

describe('the OpenID Connect middleware (use_openid) with the IdP as provider', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await gateway([fixture('orders-oidc-api.json'), fixture('policies.json')]);
  });

  it('an ID token of a listed client (client_ids keyed by base64) is proxied', async () => {
    const token = await idToken('native');
    expect(payloadOf(token)['aud']).toBe(idp.clients.native.clientId);
    const before = upstream.requests.length;
    const r = await call(gw, '/orders-oidc/me', token);
    expect(r.status).toBe(200);
    expect(upstream.requests.slice(before).map((q) => q.url)).toEqual(['/me']);
    expect(lastLine(gw, '/orders-oidc/me')).toMatchObject({ status: 200, sub: 'alice' });
  });

  it("an ID token of a client that is not listed: 401 Key not authorised (the middleware's British spelling)", async () => {
    const token = await idToken('basic');
    expect(payloadOf(token)['aud']).toBe(idp.clients.basic.clientId);
    const r = await call(gw, '/orders-oidc/me', token);
    expectTyk(r, 401, 'Key not authorised');
    expect(lastLine(gw, '/orders-oidc/me')).toMatchObject({
      status: 401,
      reason: 'audience_not_allowed',
    });
  });

  it('an access token (aud = the API, not a client): 401 Key not authorised', async () => {
    expectTyk(
      await call(gw, '/orders-oidc/me', await accessToken('post')),
      401,
      'Key not authorised',
    );
  });

  it('no token: 401 Key not authorised too', async () => {
    expectTyk(await call(gw, '/orders-oidc/none'), 401, 'Key not authorised');
    expect(lastLine(gw, '/orders-oidc/none')).toMatchObject({ reason: 'missing_token' });
  });
});

describe('policies: per-identity rate and quota across re-issued tokens, access rights', () => {
  const clock = { now: 0 };
  let gw: TestGateway;
  let first: string;
  let reissued: string;
  let other: string;

  beforeAll(async () => {
    first = await accessToken('post');
    reissued = await accessToken('post');
    other = await accessToken('basic');
    // After the tokens are issued: their iat is never in the gateway's future.
    clock.now = Date.now() + 1000;
    gw = await gateway([fixture('metered-api.json'), fixture('policies.json')], () => clock.now);
  });

  it('re-issued tokens share the identity rate limit (3 per 60 s) and quota (5 per hour); another sub does not', async () => {
    expect(reissued).not.toBe(first);
    expect(payloadOf(reissued)['sub']).toBe(payloadOf(first)['sub']);
    const renews = String(Math.floor((clock.now + 3_600_000) / 1000));
    const quotaHeaders = (r: { headers: Headers }) => [
      r.headers.get('x-ratelimit-limit'),
      r.headers.get('x-ratelimit-remaining'),
      r.headers.get('x-ratelimit-reset'),
    ];

    const r1 = await call(gw, '/metered/a', first);
    expect(r1.status).toBe(200);
    expect(quotaHeaders(r1)).toEqual(['5', '4', renews]);
    const r2 = await call(gw, '/metered/a', reissued);
    expect(quotaHeaders(r2)).toEqual(['5', '3', renews]);
    const r3 = await call(gw, '/metered/a', first);
    expect(quotaHeaders(r3)).toEqual(['5', '2', renews]);

    // The fourth request of this sub in 60 s, with the re-issued token.
    const limited = await call(gw, '/metered/limited', reissued);
    expectTyk(limited, 429, 'Rate Limit Exceeded');
    expect(quotaHeaders(limited)).toEqual([null, null, null]);
    expect(lastLine(gw, '/metered/limited')).toMatchObject({
      status: 429,
      reason: 'rate_limited',
      limit: 'policy metered: rate 3 per 60s',
    });

    // Another sub has its own counters.
    const someoneElse = await call(gw, '/metered/a', other);
    expect(someoneElse.status).toBe(200);
    expect(quotaHeaders(someoneElse)).toEqual(['5', '4', renews]);

    // 61 s later the rolling window has room again; the refused request did not use quota.
    clock.now += 61_000;
    const r5 = await call(gw, '/metered/a', reissued);
    expect(r5.status).toBe(200);
    expect(quotaHeaders(r5)).toEqual(['5', '1', renews]);
    const r6 = await call(gw, '/metered/a', first);
    expect(quotaHeaders(r6)).toEqual(['5', '0', renews]);

    const over = await call(gw, '/metered/over', reissued);
    expectTyk(over, 403, 'Quota exceeded');
    expect(quotaHeaders(over)).toEqual([null, null, null]);
    expect(lastLine(gw, '/metered/over')).toMatchObject({
      status: 403,
      reason: 'quota_exceeded',
      limit: 'policy metered: quota 5 per 3600s',
    });

    expect((await call(gw, '/metered/a', other)).status).toBe(200);
  });

  it('a policy whose access_rights do not list the API: 403 Access to this API has been disallowed', async () => {
    const before = upstream.requests.length;
    const r = await call(gw, '/closed/x', first);
    expectTyk(r, 403, 'Access to this API has been disallowed');
    expect(upstream.requests.length).toBe(before);
    expect(lastLine(gw, '/closed/x')).toMatchObject({ status: 403, reason: 'api_not_allowed' });
  });
});

describe('global_rate_limit: the API-wide limit runs after the identity rate limit, as in Tyk', () => {
  const clock = { now: 0 };
  let gw: TestGateway;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    alice = await accessToken('post');
    bob = await accessToken('basic');
    clock.now = Date.now() + 1000;
    gw = await gateway([fixture('shared-api.json'), fixture('policies.json')], () => clock.now);
  });

  it('a request refused by the identity limit does not use the API-wide allowance; over it: 429 API Rate Limit Exceeded', async () => {
    expect((await call(gw, '/shared/a', alice)).status).toBe(200);
    expect((await call(gw, '/shared/a', alice)).status).toBe(200);
    // Third in 60 s for this sub (policy pair: 2 per 60 s).
    expectTyk(await call(gw, '/shared/own', alice), 429, 'Rate Limit Exceeded');
    expect(lastLine(gw, '/shared/own')).toMatchObject({ limit: 'policy pair: rate 2 per 60s' });
    // Tyk's RateLimitForAPI runs after RateLimitAndQuotaCheck: the API has seen 2 requests, not 3.
    expect((await call(gw, '/shared/b', bob)).status).toBe(200);
    const over = await call(gw, '/shared/api', bob);
    expectTyk(over, 429, 'API Rate Limit Exceeded');
    expect(lastLine(gw, '/shared/api')).toMatchObject({
      status: 429,
      reason: 'rate_limited',
      limit: 'global_rate_limit',
    });
    // The rolling minute passes for everyone.
    clock.now += 61_000;
    expect((await call(gw, '/shared/a', alice)).status).toBe(200);
  });
});
