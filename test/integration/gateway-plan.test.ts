/**
 * Several APIs from one oidc-gw YAML file (docs/gateway-config.md), run by
 * the gateway as `serve --file` runs them: two issuers (two discovery + JWKS
 * servers with their own keys), each API with its own audience, scopes and
 * upstream, routed by the longest path prefix and refused independently;
 * strip_path and upstream base paths; 404 in the native style when nothing
 * matches; dot segments (plain or `%2e`) resolved before routing, so a path
 * cannot climb out of its API; the `api` log field and metrics label.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { loadPlan } from '../../src/gateway/load/index.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import {
  parseRawResponse,
  rawExchange,
  startJwksServer,
  startUpstream,
  type JwksServer,
  type Upstream,
} from '../helpers/gateway-servers.js';
import { claims, makeKey, sign, type TestKey } from '../helpers/gateway-tokens.js';

let idpA: JwksServer;
let idpB: JwksServer;
let keyA: TestKey;
let keyB: TestKey;
let orders: Upstream;
let billing: Upstream;
let gw: TestGateway;
let dir: string;

beforeAll(async () => {
  [keyA, keyB] = await Promise.all([makeKey('RS256', 'a1'), makeKey('ES256', 'b1')]);
  [idpA, idpB, orders, billing] = await Promise.all([
    startJwksServer({ keys: [keyA.publicJwk] }),
    startJwksServer({ keys: [keyB.publicJwk] }),
    startUpstream(),
    startUpstream(),
  ]);
  dir = mkdtempSync(join(tmpdir(), 'oidc-gw-plan-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    `# yaml-language-server: $schema=../schema/gateway-config.schema.json
apis:
  - name: orders
    path: /orders
    strip_path: true
    upstream: ${orders.url}/svc
    issuers: [${idpA.issuer}]
    audiences: [orders-api]
    required_scopes: [read:orders]
    forward_claims: {X-User: sub}
  - name: orders-admin
    path: /orders/admin
    upstream: ${orders.url}/internal/
    issuers: [${idpA.issuer}]
    audiences: [orders-api]
    required_claims: {role: admin}
  - name: billing
    path: /billing
    upstream: ${billing.url}/base/
    issuers: ["\${BILLING_ISSUER}"]
    audiences: [billing-api]
    required_scopes: [pay]
    strip_authorization: true
`,
  );
  const plan = await loadPlan({
    files: [file],
    env: { BILLING_ISSUER: idpB.issuer },
    namedValues: {},
    strict: false,
    defaults: { upstreamTimeoutMs: 5000, maxTokenBytes: 8192 },
  });
  expect(plan.warnings).toEqual([]);
  gw = await startPlanGateway(plan, { adminPort: 0 });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([idpA?.close(), idpB?.close(), orders?.close(), billing?.close()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  orders.requests.length = 0;
  billing.requests.length = 0;
});

const ordersToken = (extra: Record<string, unknown> = {}) =>
  sign(keyA, claims({ iss: idpA.issuer, aud: 'orders-api', scope: 'read:orders', ...extra }));
const billingToken = (extra: Record<string, unknown> = {}) =>
  sign(keyB, claims({ iss: idpB.issuer, aud: 'billing-api', scope: 'pay', ...extra }));

/** GET `path` exactly as written, on a raw socket: clients (undici, fetch) resolve dot segments before sending. */
async function get(path: string, token?: string) {
  const text = await rawExchange(
    gw.port,
    `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${token ? `Authorization: Bearer ${token}\r\n` : ''}\r\n`,
    5000,
  );
  const res = parseRawResponse(text);
  return {
    status: res.status,
    headers: res.headers,
    body: res.body.startsWith('{') ? (JSON.parse(res.body) as Record<string, unknown>) : res.body,
  };
}

const lastLog = () =>
  gw
    .logs()
    .filter((l) => l['status'] !== undefined)
    .at(-1) ?? {};

describe('two APIs, two issuers, routed and refused independently', () => {
  test('each token is accepted by its API, at its upstream, with its path rules', async () => {
    const a = await get('/orders/42?expand=lines', await ordersToken({ sub: 'ann' }));
    expect(a.status).toBe(200);
    expect(orders.requests.map((r) => r.url)).toEqual(['/svc/42?expand=lines']);
    expect(orders.requests[0]?.headers['x-user']).toEqual(['ann']);
    expect(orders.requests[0]?.headers['authorization']?.[0]).toMatch(/^Bearer /);
    expect(lastLog()).toMatchObject({ api: 'orders', status: 200, sub: 'ann' });

    const b = await get('/billing/invoices/7', await billingToken({ sub: 'bob' }));
    expect(b.status).toBe(200);
    expect(billing.requests.map((r) => r.url)).toEqual(['/base/billing/invoices/7']);
    expect(billing.requests[0]?.headers['authorization']).toBeUndefined();
    expect(billing.requests[0]?.headers['x-user']).toBeUndefined();
    expect(lastLog()).toMatchObject({ api: 'billing', status: 200, sub: 'bob' });
  });

  test('the prefix alone, with and without a trailing slash, goes to the base path', async () => {
    expect((await get('/orders', await ordersToken())).status).toBe(200);
    expect((await get('/orders/', await ordersToken())).status).toBe(200);
    expect((await get('/billing?x=1', await billingToken())).status).toBe(200);
    expect(orders.requests.map((r) => r.url)).toEqual(['/svc/', '/svc/']);
    expect(billing.requests.map((r) => r.url)).toEqual(['/base/billing?x=1']);
  });

  test("one API's token is refused by the other: issuer and key, then audience", async () => {
    // An orders token at billing: signed by a key billing does not trust.
    const r1 = await get('/billing/x', await ordersToken());
    expect(r1.status).toBe(401);
    expect(r1.body).toMatchObject({ error: 'invalid_token' });
    expect(lastLog()).toMatchObject({ api: 'billing' });
    // Billing trusts one ES256 key: an RS256 token is refused before any key lookup.
    expect(lastLog()['reason']).toBe('alg_not_allowed');
    // A billing token at orders.
    const r2 = await get('/orders/x', await billingToken());
    expect(r2.status).toBe(401);
    expect(lastLog()).toMatchObject({ api: 'orders' });
    // The right issuer, the other API's audience.
    const r3 = await get('/orders/x', await ordersToken({ aud: 'billing-api' }));
    expect(r3.status).toBe(401);
    expect(r3.body).toEqual({
      error: 'invalid_token',
      error_description: 'audience not allowed',
    });
    expect(lastLog()).toMatchObject({ api: 'orders', reason: 'audience_not_allowed' });
    expect(orders.requests).toHaveLength(0);
    expect(billing.requests).toHaveLength(0);
  });

  test('scopes are per API: 403 insufficient_scope names the API’s own scope', async () => {
    const r1 = await get('/orders/1', await ordersToken({ scope: 'pay' }));
    expect(r1.status).toBe(403);
    expect(r1.body).toMatchObject({ error: 'insufficient_scope', scope: 'read:orders' });
    expect(r1.headers['www-authenticate']).toContain('scope="read:orders"');
    const r2 = await get('/billing/1', await billingToken({ scope: 'read:orders' }));
    expect(r2.status).toBe(403);
    expect(r2.body).toMatchObject({ error: 'insufficient_scope', scope: 'pay' });
    expect(orders.requests).toHaveLength(0);
    expect(billing.requests).toHaveLength(0);
  });

  test('the longest prefix wins: /orders/admin has its own rules and upstream path', async () => {
    const plain = await get('/orders/admin/users', await ordersToken());
    expect(plain.status).toBe(401);
    expect(lastLog()).toMatchObject({ api: 'orders-admin', reason: 'claim_missing' });
    const admin = await get('/orders/admin/users', await ordersToken({ role: 'admin', scope: '' }));
    expect(admin.status).toBe(200);
    expect(orders.requests.map((r) => r.url)).toEqual(['/internal/orders/admin/users']);
    // A segment boundary: /orders/administrator is still the orders API.
    const other = await get('/orders/administrator', await ordersToken());
    expect(other.status).toBe(200);
    expect(orders.requests.at(-1)?.url).toBe('/svc/administrator');
  });

  test('no token: 401 in the native style, per API', async () => {
    const r = await get('/billing/1');
    expect(r.status).toBe(401);
    expect(r.body).toEqual({ error: 'unauthorized', error_description: 'missing bearer token' });
    expect(lastLog()).toMatchObject({ api: 'billing', reason: 'missing_token' });
  });

  test('metrics carry the api label', async () => {
    await get('/orders/1', await ordersToken());
    const text = await (await request(`${gw.adminUrl}/metrics`)).body.text();
    expect(text).toMatch(/oidc_gw_requests_total\{status="200",reason="[^"]*",api="orders"\} \d+/);
    expect(text).toMatch(/api="billing"/);
  });
});

describe('paths outside every API', () => {
  test('404 with the native body when no prefix matches; nothing forwarded', async () => {
    for (const path of ['/', '/ordersx', '/payments/1', '/billingx?a=1']) {
      const r = await get(path, await ordersToken());
      expect(r.status, path).toBe(404);
      expect(r.body).toEqual({ error: 'not_found', error_description: 'no API at this path' });
      expect(r.headers['content-type']).toBe('application/json');
      expect(lastLog()).toMatchObject({ status: 404, reason: 'route_not_found' });
    }
    expect(orders.requests).toHaveLength(0);
    expect(billing.requests).toHaveLength(0);
  });

  test('dot segments that climb above the root are 400 path_invalid, plain or %2e-encoded', async () => {
    const token = await ordersToken();
    for (const path of [
      '/orders/../../admin',
      '/orders/%2e%2e/%2e%2e/admin',
      '/orders/%2E%2E/%2e./%2e%2e/etc/passwd',
      '/../orders/1',
      '/orders/..%2f..%2fadmin',
      '/orders/%2e%2e%5c%2e%2e%5cadmin',
    ]) {
      const r = await get(path, token);
      expect(r.status, path).toBe(400);
      expect(r.body).toEqual({
        error: 'invalid_request',
        error_description: 'the path leaves the API',
      });
      expect(lastLog()).toMatchObject({ reason: 'path_invalid' });
    }
    expect(orders.requests).toHaveLength(0);
  });

  test('/orders/../admin resolves to /admin (no API: 404); /orders/%2e%2e/billing is billing’s, with billing’s checks', async () => {
    const token = await ordersToken();
    expect((await get('/orders/../admin', token)).status).toBe(404);
    expect((await get('/orders/%2e%2e/admin', token)).status).toBe(404);
    // Into another API: that API's rules, so the orders token is refused there.
    const r = await get('/orders/%2e%2e/billing/1', token);
    expect(r.status).toBe(401);
    expect(lastLog()).toMatchObject({ api: 'billing' });
    // Out of the stripped prefix into the admin API: its claim rule applies.
    const admin = await get('/orders/x/../admin/users', token);
    expect(admin.status).toBe(401);
    expect(lastLog()).toMatchObject({ api: 'orders-admin', reason: 'claim_missing' });
    expect(orders.requests).toHaveLength(0);
    expect(billing.requests).toHaveLength(0);
  });

  test('a dot segment that stays inside the API is resolved and served', async () => {
    const token = await ordersToken();
    const r = await get('/orders/a/b/../../42/./lines?x=..', token);
    expect(r.status).toBe(200);
    const e = await get('/orders/a/%2e%2e/43', token);
    expect(e.status).toBe(200);
    expect(orders.requests.map((x) => x.url)).toEqual(['/svc/42/lines?x=..', '/svc/43']);
  });
});
