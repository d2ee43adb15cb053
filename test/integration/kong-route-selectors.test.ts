/**
 * Kong routes select requests by `methods` and `hosts` as well as `paths`
 * (docs/gateways/kong.md, "Routes"): a request whose method or Host no
 * route takes gets Kong's 404 `no Route matched with those values`; of two
 * routes on one path, the one naming hosts wins for its host
 * (https://developer.konghq.com/gateway/routing/expressions/ and the
 * traditional router's matching rules); with `strip_path`, a request for
 * exactly the route's path goes to the service path as written
 * (`path_handling` v0: https://developer.konghq.com/gateway/entities/route/). A decK file served in front of a
 * real upstream; node:http sets the Host header.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { Plan } from '../../src/gateway/plan.js';
import { loadTestPlan } from '../helpers/plan.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';

const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-kong-routes-'));
let upstream: Upstream;
let gw: TestGateway;
let plan: Plan;

beforeAll(async () => {
  upstream = await startUpstream();
  const file = join(dir, 'kong.yaml');
  writeFileSync(
    file,
    [
      '_format_version: "3.0"',
      'services:',
      '  - name: orders',
      `    url: ${upstream.url}/orders-svc`,
      '    routes:',
      '      - name: read',
      '        paths: [/orders]',
      '        methods: [GET]',
      '      - name: tenant',
      '        paths: [/orders]',
      '        hosts: ["*.tenant.example", "api.example.com"]',
      '  - name: admin',
      `    url: ${upstream.url}/admin-svc`,
      '    routes:',
      '      - name: admin',
      '        hosts: [admin.example]',
      '',
    ].join('\n'),
  );
  plan = await loadTestPlan([file]);
  gw = await startPlanGateway(plan);
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

function send(
  method: string,
  path: string,
  host?: string,
): Promise<{ status: number; body: string; upstreamPath?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${gw.url}${path}`, { method, headers: host ? { host } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const upstreamPath =
          res.statusCode === 200 ? (JSON.parse(body) as { url: string }).url : undefined;
        resolve({ status: res.statusCode ?? 0, body, ...(upstreamPath ? { upstreamPath } : {}) });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

test('strip_path: exactly the route path goes to the service path as written (Kong path_handling v0)', async () => {
  expect(await send('GET', '/orders')).toMatchObject({ status: 200, upstreamPath: '/orders-svc' });
  expect(await send('GET', '/orders?page=2')).toMatchObject({
    status: 200,
    upstreamPath: '/orders-svc?page=2',
  });
  expect(await send('GET', '/orders/')).toMatchObject({
    status: 200,
    upstreamPath: '/orders-svc/',
  });
});

test('methods: GET takes the route, POST on another host does not', async () => {
  expect(await send('GET', '/orders/1')).toMatchObject({
    status: 200,
    upstreamPath: '/orders-svc/1',
  });
  const post = await send('POST', '/orders/1');
  expect(post.status).toBe(404);
  expect(JSON.parse(post.body)).toMatchObject({ message: 'no Route matched with those values' });
});

test('hosts: exact and leading wildcard, port ignored; the host route wins over the GET route', async () => {
  const port = new URL(gw.url).port;
  expect((await send('POST', '/orders/2', `api.example.com:${port}`)).status).toBe(200);
  expect((await send('POST', '/orders/2', `eu.tenant.example:${port}`)).status).toBe(200);
  expect((await send('POST', '/orders/2', `tenant.example:${port}`)).status).toBe(404);
  const logs = gw.logs().filter((l) => l['status'] === 200);
  expect(logs.at(-1)?.['api']).toMatch(/tenant/);
});

test('a route with hosts and no paths serves every path of that host only', async () => {
  expect(await send('GET', '/anything', 'admin.example')).toMatchObject({
    status: 200,
    upstreamPath: '/admin-svc/anything',
  });
  expect((await send('GET', '/anything')).status).toBe(404);
});

test('--check --json shows the methods and hosts that select each route', async () => {
  const { planJson } = await import('../../src/gateway/explain.js');
  const json = planJson(plan) as { apis: Array<Record<string, unknown>> };
  expect(json.apis.map((a) => [a['name'], a['methods'], a['hosts']])).toEqual([
    ['orders.read', ['GET'], undefined],
    ['orders.tenant', undefined, ['*.tenant.example', 'api.example.com']],
    ['admin.admin', undefined, ['admin.example']],
  ]);
});
