/**
 * Several Tyk policies for one token (docs/gateways/tyk.md, "Policies"):
 * Tyk merges them into one session, keeping the highest rate (as requests
 * per second) and the highest quota, an unlimited quota (-1) above all. A
 * classic API definition and a policies file, served in front of a real
 * upstream, called with HMAC tokens whose `pol` claim names the policies.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { loadTestPlan } from '../helpers/plan.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { hmacToken } from '../helpers/gateway-tokens.js';

const SECRET = 'tyk-merge-hmac-secret-0123456789abcdefgh';
const AT = Date.parse('2027-03-10T12:00:05Z');
const ACCESS = { reports: { api_id: 'reports', versions: ['Default'] } };
let upstream: Upstream;
let dir: string;
let gw: TestGateway;

beforeAll(async () => {
  upstream = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'oidc-gw-tyk-merge-'));
  const apiFile = join(dir, 'api.json');
  const polFile = join(dir, 'policies.json');
  writeFileSync(
    apiFile,
    JSON.stringify({
      name: 'Reports',
      api_id: 'reports',
      org_id: 'acme',
      enable_jwt: true,
      jwt_signing_method: 'hmac',
      jwt_source: Buffer.from(SECRET).toString('base64'),
      jwt_identity_base_field: 'sub',
      jwt_policy_field_name: 'pol',
      proxy: { listen_path: '/reports/', target_url: upstream.url, strip_listen_path: true },
    }),
  );
  writeFileSync(
    polFile,
    JSON.stringify({
      // 2 per minute (0.033/s) and a quota of 3.
      slow: {
        org_id: 'acme',
        rate: 2,
        per: 60,
        quota_max: 3,
        quota_renewal_rate: 3600,
        access_rights: ACCESS,
      },
      // 4 per 10 minutes (0.0067/s: lower) and a quota of 5 (higher).
      bigger: {
        org_id: 'acme',
        rate: 4,
        per: 600,
        quota_max: 5,
        quota_renewal_rate: 3600,
        access_rights: ACCESS,
      },
      // A high rate, a quota of 2.
      tight: {
        org_id: 'acme',
        rate: 100,
        per: 60,
        quota_max: 2,
        quota_renewal_rate: 3600,
        access_rights: ACCESS,
      },
      // No rate, an unlimited quota.
      unlimited: {
        org_id: 'acme',
        rate: -1,
        per: 0,
        quota_max: -1,
        quota_renewal_rate: 0,
        access_rights: ACCESS,
      },
    }),
  );
  const plan = await loadTestPlan([apiFile, polFile]);
  gw = await startPlanGateway(plan, { now: () => AT });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function statuses(sub: string, pol: string[], n: number): Promise<number[]> {
  const t = hmacToken(
    { alg: 'HS256', typ: 'JWT' },
    { sub, pol, exp: Math.floor(AT / 1000) + 300 },
    SECRET,
  );
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(`${gw.url}/reports/x`, { headers: { authorization: `Bearer ${t}` } });
    await res.arrayBuffer();
    out.push(res.status);
  }
  return out;
}

test('the highest rate and the highest quota of the policies apply, in either order', async () => {
  // slow alone: the rate (2 per minute) refuses the third.
  expect(await statuses('alice', ['slow'], 3)).toEqual([200, 200, 429]);
  // slow + bigger: rate 2/min (the higher per second), quota 5 (the higher): the third is
  // still refused by the rate.
  expect(await statuses('bob', ['bigger', 'slow'], 3)).toEqual([200, 200, 429]);
});

test('an unlimited quota (-1) wins over a limited one', async () => {
  // bigger alone: rate 4 per 10 min refuses the fifth (its quota of 5 is not reached).
  expect(await statuses('carol', ['bigger'], 5)).toEqual([200, 200, 200, 200, 429]);
  // bigger + slow: quota max(3, 5) = 5, rate 2/min: two pass. With `unlimited` too, the
  // quota is gone but the rate still applies.
  expect(await statuses('dave', ['slow', 'bigger', 'unlimited'], 3)).toEqual([200, 200, 429]);
  const refused = gw.logs().filter((l) => l['status'] === 429 && l['sub'] === 'dave');
  expect(refused[0]?.['reason']).toBe('rate_limited');
  // tight alone: its quota of 2 refuses the third (Tyk: 403 Quota exceeded)...
  expect(await statuses('erin', ['tight'], 3)).toEqual([200, 200, 403]);
  // ...merged with an unlimited quota, nothing does.
  expect(await statuses('frank', ['tight', 'unlimited'], 3)).toEqual([200, 200, 200]);
});
