/**
 * `decode TOKEN --file FILE [--path P]` says what `serve` with the same file
 * would answer: for every token below, the status, body and reason from
 * decode's explanation are those the running gateway sends (docs/commands/decode.md,
 * "What a gateway configuration would answer").
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { explainToken } from '../../src/gateway/http/explain-token.js';
import { loadTestPlan } from '../helpers/plan.js';
import { runCli, baseEnv } from '../helpers/cli.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { b64, makeKey, nowSeconds, sign, type TestKey } from '../helpers/gateway-tokens.js';
import { startLocalIssuer, type LocalIssuer } from '../helpers/jwt-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-decode-file-'));
let issuer: LocalIssuer;
let upstream: Upstream;
let key: TestKey;
let gw: TestGateway;
let file: string;

beforeAll(async () => {
  key = await makeKey('RS256', 'k1');
  [issuer, upstream] = await Promise.all([startLocalIssuer([key.publicJwk]), startUpstream()]);
  file = join(dir, 'gateway.yaml');
  writeFileSync(
    file,
    [
      'apis:',
      '  - name: orders',
      '    path: /orders',
      `    upstream: ${upstream.url}`,
      `    issuers: [${issuer.issuer}]`,
      '    audiences: [https://orders.test/]',
      '    required_scopes: [read]',
      '    rate_limit: {requests: 100, per: 1m}',
      '  - name: billing',
      '    path: /billing',
      `    upstream: ${upstream.url}`,
      `    issuers: [${issuer.issuer}]`,
      '    audiences: [https://billing.test/]',
      '    errors: rfc6750',
      '',
    ].join('\n'),
  );
  const plan = await loadTestPlan([file]);
  gw = await startPlanGateway(plan);
});

afterAll(async () => {
  await Promise.all([gw?.close(), issuer?.close(), upstream?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const good = (extra: Record<string, unknown> = {}) => ({
  iss: issuer.issuer,
  aud: 'https://orders.test/',
  sub: 'alice',
  scope: 'read',
  iat: nowSeconds(),
  exp: nowSeconds() + 600,
  ...extra,
});

describe('decode --file agrees with serve', () => {
  const cases: Array<[string, () => Promise<string>]> = [
    ['accepted', () => sign(key, good())],
    ['expired', () => sign(key, good({ exp: nowSeconds() - 3600, iat: nowSeconds() - 7200 }))],
    ['wrong audience', () => sign(key, good({ aud: 'https://billing.test/' }))],
    ['missing scope', () => sign(key, good({ scope: 'write' }))],
    ['nested JWT (cty: JWT)', () => sign(key, good(), { cty: 'JWT' })],
    [
      'wrong algorithm (HS256)',
      async () => `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(good())}.c2ln`,
    ],
    ['unknown kid', () => sign(key, good(), { kid: 'nope' })],
  ];
  for (const [name, make] of cases) {
    test(name, async () => {
      const token = await make();
      const before = upstream.requests.length;
      const res = await fetch(`${gw.url}/orders/1`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = await res.text();
      const [verdict] = await explainToken(gw.service.current(), token, {
        path: '/orders/1',
        nowMs: Date.now(),
      });
      expect(verdict?.api).toBe('orders');
      if (res.status === 200) {
        expect(verdict?.accepted).toBe(true);
        expect(upstream.requests.length).toBe(before + 1);
        expect(verdict?.counted[0]?.key).toBe('sub=alice');
      } else {
        expect(verdict?.accepted).toBe(false);
        expect(verdict?.answer?.status).toBe(res.status);
        expect(verdict?.answer?.body).toBe(body);
        expect(verdict?.answer?.headers['www-authenticate']).toBe(
          res.headers.get('www-authenticate') ?? undefined,
        );
        const logged = gw
          .logs()
          .filter((l) => l['path'] === '/orders/1')
          .at(-1);
        expect(logged?.['reason']).toBe(verdict?.reason);
      }
      expect(name === 'accepted').toBe(res.status === 200);
    });
  }
});

describe('the CLI', () => {
  test('every API, JSON, exit 1 when one refuses; --path selects one, exit 0', async () => {
    const token = await sign(key, good());
    const env = baseEnv(dir);
    const all = await runCli(['decode', token, '--file', file, '--json'], { env });
    expect(all.code).toBe(1);
    const json = JSON.parse(all.stdout) as {
      accepted: boolean;
      apis: Array<{
        api: string;
        accepted: boolean;
        status: number | null;
        reason: string | null;
        body: string | null;
      }>;
    };
    expect(json.accepted).toBe(false);
    expect(json.apis.map((a) => [a.api, a.accepted, a.status, a.reason])).toEqual([
      ['orders', true, null, null],
      ['billing', false, 401, 'audience_not_allowed'],
    ]);
    const one = await runCli(['decode', token, '--file', file, '--path', '/orders/7'], { env });
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/orders \(\/orders, oidc-gw/);
    expect(one.stdout).toMatch(/accepted/);
    expect(one.stdout).toMatch(/counted as sub=alice/);
    const none = await runCli(['decode', token, '--file', file, '--path', '/nothing'], { env });
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/404/);
  });

  test('an invalid file: exit 2 naming the file and the path inside it', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'apis:\n  - name: x\n    upstream: not-a-url\n    issuers: [http://127.0.0.1:1]\n',
    );
    const token = await sign(key, good());
    const r = await runCli(['decode', token, '--file', bad], { env: baseEnv(dir) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${bad}: apis[0].upstream: not a URL`);
  });
});
