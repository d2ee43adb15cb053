/**
 * Kong jwt plugin refusals that only a request can show: `maximum_expiration`
 * ({"exp":"exceeds maximum allowed expiration"}) and two different tokens in
 * one request ("Multiple tokens provided"), each with oidc-gw's reason in the
 * log and nothing sent upstream (docs/gateways/kong.md).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadTestPlan } from '../helpers/plan.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { hmacToken, nowSeconds } from '../helpers/gateway-tokens.js';

const SECRET = 'kong-test-secret-kong-test-secret-32';
const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-kong-jwt-'));
let upstream: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startUpstream();
  const file = join(dir, 'kong.yaml');
  writeFileSync(
    file,
    [
      '_format_version: "3.0"',
      'services:',
      '  - name: orders',
      `    url: ${upstream.url}`,
      '    routes:',
      '      - name: list',
      '        paths: [/orders]',
      '        plugins:',
      '          - name: jwt',
      '            config:',
      '              claims_to_verify: [exp]',
      '              maximum_expiration: 3600',
      'consumers:',
      '  - username: alice',
      '    jwt_secrets:',
      '      - key: issuer-a',
      '        algorithm: HS256',
      `        secret: ${SECRET}`,
      '',
    ].join('\n'),
  );
  gw = await startPlanGateway(await loadTestPlan([file]));
});

afterAll(async () => {
  await Promise.all([gw?.close(), upstream?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const token = (exp: number, sub = 'u1') =>
  hmacToken({ alg: 'HS256', typ: 'JWT' }, { iss: 'issuer-a', sub, exp }, SECRET);

async function call(path: string, authorization?: string) {
  const res = await fetch(`${gw.url}${path}`, {
    headers: authorization ? { authorization } : {},
  });
  return { status: res.status, body: await res.text() };
}

test('a token within maximum_expiration passes; one beyond it is refused as Kong does', async () => {
  expect((await call('/orders', `Bearer ${token(nowSeconds() + 600)}`)).status).toBe(200);
  const before = upstream.requests.length;
  const far = await call('/orders', `Bearer ${token(nowSeconds() + 7200)}`);
  expect(far).toEqual({ status: 401, body: '{"exp":"exceeds maximum allowed expiration"}' });
  expect(upstream.requests.length).toBe(before);
  expect(gw.logs().at(-1)?.['reason']).toBe('exp_too_far');
});

test('two different tokens (header and ?jwt=): "Multiple tokens provided"; the same one twice passes', async () => {
  const a = token(nowSeconds() + 600, 'a');
  const b = token(nowSeconds() + 600, 'b');
  const before = upstream.requests.length;
  const two = await call(`/orders?jwt=${b}`, `Bearer ${a}`);
  expect(two).toEqual({ status: 401, body: '{"message":"Multiple tokens provided"}' });
  expect(upstream.requests.length).toBe(before);
  expect(gw.logs().at(-1)?.['reason']).toBe('multiple_tokens');
  expect((await call(`/orders?jwt=${a}`, `Bearer ${a}`)).status).toBe(200);
});
