/**
 * Kong's `anonymous` on the jwt plugin (docs/gateways/kong.md): a request
 * that fails authentication (no token, a bad one) goes on as the anonymous
 * consumer, with its X-Consumer-* headers and X-Anonymous-Consumer: true; a
 * valid token goes on as its own consumer; rate limiting by consumer counts
 * the anonymous consumer apart
 * (https://developer.konghq.com/plugins/jwt/reference/, `config.anonymous`); and
 * `run_on_preflight: false` lets OPTIONS requests through unauthenticated.
 * A decK file served in front of a real upstream, HS256 tokens.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { PlanError } from '../../src/gateway/plan.js';
import { loadTestPlan } from '../helpers/plan.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { hmacToken } from '../helpers/gateway-tokens.js';

const SECRET = 'kong-anonymous-secret-kong-anonymous-secret';
/** The gateway's clock. */
const AT = Date.parse('2027-03-10T12:00:05Z');
const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-kong-anon-'));
let upstream: Upstream;
let gw: TestGateway;

function deck(anonymous: string): string {
  return [
    '_format_version: "3.0"',
    'services:',
    '  - name: orders',
    `    url: ${upstream.url}`,
    '    routes:',
    '      - name: orders',
    '        paths: [/orders]',
    '        plugins:',
    '          - name: jwt',
    `            config: {anonymous: ${anonymous}}`,
    '          - name: rate-limiting',
    '            config: {minute: 2, limit_by: consumer}',
    'consumers:',
    '  - username: alice',
    '    jwt_secrets:',
    '      - key: issuer-a',
    `        secret: ${SECRET}`,
    '  - username: guest',
    '    custom_id: guest-0',
    '',
  ].join('\n');
}

beforeAll(async () => {
  upstream = await startUpstream();
  const file = join(dir, 'kong.yaml');
  writeFileSync(file, deck('guest'));
  gw = await startPlanGateway(await loadTestPlan([file]), { now: () => AT });
});

afterAll(async () => {
  await Promise.all([gw?.close(), upstream?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

async function get(authorization?: string) {
  const res = await fetch(`${gw.url}/orders`, {
    headers: {
      'x-anonymous-consumer': 'forged',
      ...(authorization ? { authorization } : {}),
    },
  });
  const text = await res.text();
  const seen =
    res.status === 200
      ? (JSON.parse(text) as { headers: Record<string, string[]> }).headers
      : undefined;
  return { status: res.status, seen };
}

test('no token and a bad token go on as the anonymous consumer; a valid one as its own', async () => {
  const none = await get();
  expect(none.status).toBe(200);
  expect(none.seen?.['x-consumer-username']).toEqual(['guest']);
  expect(none.seen?.['x-consumer-custom-id']).toEqual(['guest-0']);
  // The client's own copy never passes: Kong's value only.
  expect(none.seen?.['x-anonymous-consumer']).toEqual(['true']);
  const bad = await get('Bearer not.a.token');
  expect(bad.status).toBe(200);
  expect(bad.seen?.['x-consumer-username']).toEqual(['guest']);
  // The log says why it went on as anonymous.
  expect(gw.logs().at(-1)).toMatchObject({
    status: 200,
    gateway_reason: expect.stringMatching(/^anonymous \(/),
  });
  // Two anonymous requests used up guest's 2 per minute.
  expect((await get()).status).toBe(429);

  const t = hmacToken(
    { alg: 'HS256', typ: 'JWT' },
    { iss: 'issuer-a', exp: Math.floor(AT / 1000) + 3600 },
    SECRET,
  );
  const alice = await get(`Bearer ${t}`);
  expect(alice.status).toBe(200);
  expect(alice.seen?.['x-consumer-username']).toEqual(['alice']);
  expect(alice.seen?.['x-anonymous-consumer']).toBeUndefined();
});

test('an anonymous consumer the file does not have is an error naming the field', async () => {
  const file = join(dir, 'missing.yaml');
  writeFileSync(file, deck('nobody'));
  const error = await loadTestPlan([file]).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(PlanError);
  expect((error as PlanError).path).toBe('services[0].routes[0].plugins[0].config.anonymous');
  expect((error as PlanError).detail).toContain('no consumer nobody');
});

test('run_on_preflight: false lets OPTIONS through unauthenticated; other methods still need a token', async () => {
  const file = join(dir, 'preflight.yaml');
  writeFileSync(
    file,
    [
      '_format_version: "3.0"',
      'services:',
      '  - name: orders',
      `    url: ${upstream.url}`,
      '    routes:',
      '      - name: orders',
      '        paths: [/orders]',
      '        plugins:',
      '          - name: jwt',
      '            config: {run_on_preflight: false}',
      '',
    ].join('\n'),
  );
  const plan = await loadTestPlan([file]);
  expect(plan.warnings.map((w) => w.path)).not.toContain(
    'services[0].routes[0].plugins[0].config.run_on_preflight',
  );
  const preflight = await startPlanGateway(plan);
  try {
    const options = await fetch(`${preflight.url}/orders`, { method: 'OPTIONS' });
    await options.arrayBuffer();
    expect(options.status).toBe(200);
    const get = await fetch(`${preflight.url}/orders`);
    expect(get.status).toBe(401);
    expect(await get.json()).toMatchObject({ message: 'Unauthorized' });
  } finally {
    await preflight.close();
  }
});

test('--check says it: the anonymous consumer in words and in JSON', async () => {
  const { describePlan, planJson } = await import('../../src/gateway/explain.js');
  const file = join(dir, 'check.yaml');
  writeFileSync(file, deck('guest'));
  const plan = await loadTestPlan([file]);
  expect(describePlan(plan).join('\n')).toContain(
    'a request that fails authentication goes on as consumer guest (Kong anonymous)',
  );
  const json = planJson(plan) as { apis: Array<Record<string, unknown>> };
  expect(json.apis[0]?.['anonymous_consumer']).toEqual(expect.any(String));
});

test('decode --file names the counter serve uses for limit_by credential: the jwt secret, not the consumer', async () => {
  const { explainToken } = await import('../../src/gateway/http/explain-token.js');
  const file = join(dir, 'credential.yaml');
  writeFileSync(file, deck('guest').replace('limit_by: consumer', 'limit_by: credential'));
  const byCredential = await startPlanGateway(await loadTestPlan([file]), { now: () => AT });
  try {
    const t = hmacToken(
      { alg: 'HS256', typ: 'JWT' },
      { iss: 'issuer-a', exp: Math.floor(AT / 1000) + 3600 },
      SECRET,
    );
    const [verdict] = await explainToken(byCredential.service.current(), t, { nowMs: AT });
    const counted = verdict?.counted[0]?.key ?? '';
    // serve counts two requests of alice's token by the same key and refuses the third.
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${byCredential.url}/orders`, {
        headers: { authorization: `Bearer ${t}` },
      });
      await res.arrayBuffer();
    }
    const third = await fetch(`${byCredential.url}/orders`, {
      headers: { authorization: `Bearer ${t}` },
    });
    await third.arrayBuffer();
    expect(third.status).toBe(429);
    const logged = byCredential.logs().at(-1)?.['key'];
    expect(counted).toBe(`credential ${String(logged)}`);
  } finally {
    await byCredential.close();
  }
});
