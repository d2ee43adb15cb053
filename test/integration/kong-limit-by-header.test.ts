/**
 * Kong rate-limiting (docs/gateways/kong.md): a 429 carries the headers of
 * every configured period, and `limit_by: header` keeps one counter
 * per value of the header, and a request without the header counted by its
 * client IP, as Kong falls back to `ip` when the entity cannot be determined
 * (https://developer.konghq.com/plugins/rate-limiting/reference/, `limit_by`).
 * A decK file run by the gateway in front of a real upstream.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadTestPlan } from '../helpers/plan.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';

const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-kong-header-'));
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
      '  - name: reports',
      `    url: ${upstream.url}`,
      '    routes:',
      '      - name: reports',
      '        paths: [/reports]',
      '        plugins:',
      '          - name: rate-limiting',
      '            config: {minute: 1, limit_by: header, header_name: X-Tenant}',
      '      - name: burst',
      '        paths: [/burst]',
      '        plugins:',
      '          - name: rate-limiting',
      '            config: {second: 1, minute: 5, limit_by: ip}',
      '',
    ].join('\n'),
  );
  const plan = await loadTestPlan([file]);
  const at = Date.parse('2027-03-10T12:00:05Z');
  gw = await startPlanGateway(plan, { now: () => at });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function status(headers: Record<string, string>): Promise<number> {
  const res = await fetch(`${gw.url}/reports`, { headers });
  await res.arrayBuffer();
  return res.status;
}

test('a counter per header value; without the header, per client IP (not refused)', async () => {
  expect(await status({ 'x-tenant': 'acme' })).toBe(200);
  expect(await status({ 'x-tenant': 'acme' })).toBe(429);
  expect(await status({ 'x-tenant': 'globex' })).toBe(200);
  // No header: Kong counts by the client's address.
  expect(await status({})).toBe(200);
  expect(await status({})).toBe(429);
  const refused = gw.logs().filter((l) => l['status'] === 429);
  expect(refused.map((l) => l['key'])).toEqual([expect.stringMatching(/^sha256:/), '127.0.0.1']);
});

test("a 429 of the second's limit carries the minute's headers too, the refused request not counted", async () => {
  const first = await fetch(`${gw.url}/burst`);
  await first.arrayBuffer();
  expect(first.status).toBe(200);
  const refused = await fetch(`${gw.url}/burst`);
  expect(refused.status).toBe(429);
  expect(await refused.json()).toMatchObject({ message: 'API rate limit exceeded' });
  const h = Object.fromEntries(
    [...refused.headers].filter(([k]) => k.startsWith('x-ratelimit') || k === 'retry-after'),
  );
  expect(h).toEqual({
    'x-ratelimit-limit-second': '1',
    'x-ratelimit-remaining-second': '0',
    'x-ratelimit-limit-minute': '5',
    'x-ratelimit-remaining-minute': '4',
    'retry-after': '1',
  });
});
