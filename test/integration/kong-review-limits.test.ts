/**
 * Kong rate-limiting headers for `month` and `year` windows
 * (docs/gateways/kong.md): the counters are calendar months and years, but
 * Kong computes `RateLimit-Reset` (and `Retry-After`) as its fixed window
 * length — 2592000 s for a month, 31536000 s for a year, the plugin's
 * expirations — minus the whole seconds elapsed since the period started,
 * at least 1 (https://github.com/Kong/kong/blob/master/kong/plugins/rate-limiting/handler.lua).
 * The gateway runs a decK file on a fixed clock against a real upstream.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadTestPlan } from '../helpers/plan.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';

const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-kong-review-limits-'));
let upstream: Upstream;
const gateways: TestGateway[] = [];
let file: string;

beforeAll(async () => {
  upstream = await startUpstream();
  file = join(dir, 'kong.yaml');
  writeFileSync(
    file,
    [
      '_format_version: "3.0"',
      'services:',
      '  - name: reports',
      `    url: ${upstream.url}`,
      '    routes:',
      '      - name: monthly',
      '        paths: [/monthly]',
      '        plugins:',
      '          - name: rate-limiting',
      '            config: {month: 2, limit_by: ip}',
      '      - name: yearly',
      '        paths: [/yearly]',
      '        plugins:',
      '          - name: rate-limiting',
      '            config: {year: 1, limit_by: ip}',
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  for (const gw of gateways) await gw.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function gatewayAt(iso: string): Promise<TestGateway> {
  const at = Date.parse(iso);
  const plan = await loadTestPlan([file]);
  const gw = await startPlanGateway(plan, { now: () => at });
  gateways.push(gw);
  return gw;
}

test('month: RateLimit-Reset is 30 days minus the time since the 1st, on 200 and with Retry-After on 429', async () => {
  // 10 Feb 2026, 00:00:00.5 UTC: 9 days and 0.5 s into the month.
  const gw = await gatewayAt('2026-02-10T00:00:00.500Z');
  const expected = String(2592000 - (9 * 86400 + 0));
  const first = await fetch(`${gw.url}/monthly`);
  expect(first.status).toBe(200);
  expect(first.headers.get('x-ratelimit-limit-month')).toBe('2');
  expect(first.headers.get('x-ratelimit-remaining-month')).toBe('1');
  expect(first.headers.get('ratelimit-reset')).toBe(expected);
  expect((await fetch(`${gw.url}/monthly`)).status).toBe(200);
  const refused = await fetch(`${gw.url}/monthly`);
  expect(refused.status).toBe(429);
  expect(refused.headers.get('ratelimit-reset')).toBe(expected);
  expect(refused.headers.get('retry-after')).toBe(expected);
});

test('month: on the 31st Kong has run past its 30-day window, so the reset is 1', async () => {
  const gw = await gatewayAt('2026-01-31T12:00:00Z');
  const res = await fetch(`${gw.url}/monthly`);
  expect(res.status).toBe(200);
  expect(res.headers.get('ratelimit-reset')).toBe('1');
});

test('year: RateLimit-Reset is 365 days minus the time since 1 January', async () => {
  // A leap year: 1 March 2024 is 60 days after 1 January.
  const gw = await gatewayAt('2024-03-01T00:00:10Z');
  const res = await fetch(`${gw.url}/yearly`);
  expect(res.status).toBe(200);
  expect(res.headers.get('ratelimit-reset')).toBe(String(31536000 - (60 * 86400 + 10)));
});
