/**
 * Client credentials at the gateway, sent as query parameters (RFC 6749
 * §2.3.1 allows them in the body; Kong's `client_credentials_param_type`
 * also takes the query): exchanged for a token, and never forwarded — the
 * upstream's URL carries the caller's other parameters, not its id and
 * secret (SPEC section 3: "The caller's secret is never forwarded").
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { withoutCredentials } from '../../src/gateway/http/exchange.js';
import { basicAuthorization } from '../fixtures/kong/live/deck-env.js';
import { loadTestPlan } from '../helpers/plan.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';

const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-cc-query-'));
let idp: TestIdp;
let upstream: Upstream;
let gw: TestGateway;

beforeAll(async () => {
  [idp, upstream] = await Promise.all([startTestIdp(), startUpstream()]);
  const file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    [
      'apis:',
      '  - name: m2m',
      `    upstream: ${upstream.url}`,
      `    issuers: [${idp.issuer}]`,
      `    audiences: ["${idp.audience}"]`,
      '    credentials: [client_credentials]',
      '    client_credentials: {from: [header, query]}',
      `    token_params: {audience: "${idp.audience}"}`,
      '',
    ].join('\n'),
  );
  gw = await startPlanGateway(await loadTestPlan([file]));
});

afterAll(async () => {
  await Promise.all([gw?.close(), upstream?.close(), idp?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

test('query credentials are exchanged and cut out of the upstream URL', async () => {
  const { clientId, clientSecret } = idp.clients.basic;
  const q = new URLSearchParams({
    a: '1',
    client_id: clientId,
    client_secret: clientSecret,
    b: '2',
  });
  const res = await fetch(`${gw.url}/orders?${q}`);
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  const seen = upstream.requests.at(-1);
  expect(seen?.url).toBe('/orders?a=1&b=2');
  expect(seen?.url).not.toContain(clientSecret);
  expect(seen?.headers['authorization']?.[0]).toMatch(/^Bearer ey/);
  expect(gw.logText()).not.toContain(clientSecret);
});

test('malformed Basic credentials: 401 client_credentials_invalid, no token request, nothing upstream', async () => {
  const tokens = idp.requests.count('/token');
  const before = upstream.requests.length;
  const res = await fetch(`${gw.url}/orders`, { headers: { authorization: 'Basic !!!' } });
  expect(res.status).toBe(401);
  await res.arrayBuffer();
  expect(gw.logs().at(-1)).toMatchObject({ status: 401, reason: 'client_credentials_invalid' });
  expect(idp.requests.count('/token')).toBe(tokens);
  expect(upstream.requests.length).toBe(before);
});

test('the IdP down: 503 idp_unavailable, nothing upstream', async () => {
  const { closedPort } = await import('../helpers/gateway-servers.js');
  const file = join(dir, 'down.yaml');
  writeFileSync(
    file,
    [
      'apis:',
      '  - name: m2m-down',
      `    upstream: ${upstream.url}`,
      `    jwks_uris: [${idp.jwksUri}]`,
      '    credentials: [client_credentials]',
      `    client_credentials: {issuer: "http://127.0.0.1:${await closedPort()}"}`,
      '',
    ].join('\n'),
  );
  const down = await startPlanGateway(await loadTestPlan([file]));
  try {
    const before = upstream.requests.length;
    const { clientId, clientSecret } = idp.clients.basic;
    const res = await fetch(`${down.url}/orders`, {
      headers: { authorization: basicAuthorization(clientId, clientSecret) },
    });
    expect(res.status).toBe(503);
    await res.arrayBuffer();
    expect(down.logs().at(-1)).toMatchObject({ status: 503, reason: 'idp_unavailable' });
    expect(down.logText()).not.toContain(clientSecret);
    expect(upstream.requests.length).toBe(before);
  } finally {
    await down.close();
  }
});

test('withoutCredentials keeps everything else', () => {
  expect(withoutCredentials('/p?client_id=a&client_secret=b')).toBe('/p');
  expect(withoutCredentials('/p?x=1&client_secret=b')).toBe('/p?x=1');
  expect(withoutCredentials('/p')).toBe('/p');
});
