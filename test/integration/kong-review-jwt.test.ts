/**
 * Kong's jwt plugin answers for `claims_to_verify: [nbf]` (docs/gateways/kong.md):
 * Kong's jwt_parser checks each listed claim's type first, so a token
 * without `nbf`, or with a non-numeric one, is 401 `{"nbf":"must be a number"}`
 * — never the `exp` message nor the generic `Unauthorized`
 * (https://github.com/Kong/kong/blob/master/kong/plugins/jwt/jwt_parser.lua,
 * `verify_registered_claims`). The gateway runs a decK file against a real
 * upstream; tokens are HS256 with the consumer's secret.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadTestPlan } from '../helpers/plan.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { hmacToken, nowSeconds } from '../helpers/gateway-tokens.js';

const SECRET = 'kong-review-secret-kong-review-secret';
const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-kong-review-jwt-'));
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
      '      - name: nbf',
      '        paths: [/nbf]',
      '        plugins:',
      '          - name: jwt',
      '            config:',
      '              claims_to_verify: [nbf]',
      '      - name: both',
      '        paths: [/both]',
      '        plugins:',
      '          - name: jwt',
      '            config:',
      '              claims_to_verify: [exp, nbf]',
      'consumers:',
      '  - username: alice',
      '    jwt_secrets:',
      '      - key: issuer-a',
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

const token = (claims: Record<string, unknown>) =>
  hmacToken({ alg: 'HS256', typ: 'JWT' }, { iss: 'issuer-a', ...claims }, SECRET);

async function call(path: string, jwt: string) {
  const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${jwt}` } });
  return {
    status: res.status,
    body: await res.text(),
    challenge: res.headers.get('www-authenticate'),
  };
}

test('claims_to_verify [nbf]: a token without nbf is {"nbf":"must be a number"}', async () => {
  const before = upstream.requests.length;
  expect(await call('/nbf', token({ sub: 'a' }))).toEqual({
    status: 401,
    body: '{"nbf":"must be a number"}',
    challenge: 'Bearer error="invalid_token"',
  });
  expect(upstream.requests.length).toBe(before);
});

test('claims_to_verify [nbf]: a string nbf is {"nbf":"must be a number"}, not the exp message', async () => {
  expect(await call('/nbf', token({ nbf: 'soon' }))).toEqual({
    status: 401,
    body: '{"nbf":"must be a number"}',
    challenge: 'Bearer error="invalid_token"',
  });
});

test('claims_to_verify [nbf]: a past nbf passes; a future one is "token not valid yet"', async () => {
  expect((await call('/nbf', token({ nbf: nowSeconds() - 10 }))).status).toBe(200);
  expect((await call('/nbf', token({ nbf: nowSeconds() + 600 }))).body).toBe(
    '{"nbf":"token not valid yet"}',
  );
});

test('claims_to_verify [exp, nbf]: a string exp is {"exp":"must be a number"}', async () => {
  expect((await call('/both', token({ exp: 'later', nbf: 1 }))).body).toBe(
    '{"exp":"must be a number"}',
  );
});
