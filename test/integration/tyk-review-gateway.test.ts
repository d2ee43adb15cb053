/**
 * Review of the Tyk emulation against Tyk's documented and published
 * behaviour (docs/gateways/tyk.md): classic API definitions and a policies
 * file written to a temporary folder, loaded with loadPlan and served by
 * the gateway in front of a real upstream, called with HMAC tokens.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTestPlan } from '../helpers/plan.js';
import { startPlanGateway, type TestGateway } from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { hmacToken, nowSeconds } from '../helpers/gateway-tokens.js';

const SECRET = 'tyk-review-hmac-secret-0123456789abcdefgh';
let upstream: Upstream;
let dir: string;
const started: TestGateway[] = [];

function tykBody(message: string): string {
  return `{\n    "error": ${JSON.stringify(message)}\n}`;
}

const POLICIES = {
  // Opens only another API: a token that gets it is refused here.
  closed: {
    org_id: 'acme',
    rate: -1,
    per: 0,
    quota_max: -1,
    quota_renewal_rate: 0,
    access_rights: { elsewhere: { api_id: 'elsewhere', versions: ['Default'] } },
  },
  open: {
    org_id: 'acme',
    rate: -1,
    per: 0,
    quota_max: -1,
    quota_renewal_rate: 0,
    access_rights: { reports: { api_id: 'reports', versions: ['Default'] } },
  },
};

async function gateway(api: Record<string, unknown>): Promise<TestGateway> {
  const apiFile = join(dir, `api-${started.length}.json`);
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
      jwt_default_policies: ['closed'],
      proxy: { listen_path: '/reports/', target_url: upstream.url, strip_listen_path: true },
      ...api,
    }),
  );
  writeFileSync(polFile, JSON.stringify(POLICIES));
  const plan = await loadTestPlan([apiFile, polFile]);
  const gw = await startPlanGateway(plan);
  started.push(gw);
  return gw;
}

function token(claims: Record<string, unknown>): string {
  return hmacToken(
    { alg: 'HS256', typ: 'JWT' },
    { sub: 'user-1', exp: nowSeconds() + 300, ...claims },
    SECRET,
  );
}

async function call(gw: TestGateway, t: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${gw.url}/reports/list`, { headers: { authorization: `Bearer ${t}` } });
  return { status: res.status, body: await res.text() };
}

beforeAll(async () => {
  upstream = await startUpstream();
  dir = mkdtempSync(join(tmpdir(), 'oidc-gw-tyk-review-'));
});

afterAll(async () => {
  for (const gw of started) await gw.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Tyk scopes: scopes.jwt replaces the legacy fields as a whole', () => {
  // Tyk's APIDefinition.GetScopeClaimName / GetScopeToPolicyMapping: when
  // `scopes` is set at all, its jwt block is used and jwt_scope_claim_name /
  // jwt_scope_to_policy_mapping are not read (the claim defaults to `scope`).
  it('reads the scope claim `scope` when scopes.jwt names none, whatever jwt_scope_claim_name says', async () => {
    const gw = await gateway({
      jwt_scope_claim_name: 'permissions',
      scopes: { jwt: { scope_to_policy: { 'reports:read': 'open' } } },
    });
    const ok = await call(gw, token({ scope: 'reports:read' }));
    expect(ok.status).toBe(200);
    // The legacy claim is not read: its scope maps nothing, the default policy applies.
    const refused = await call(gw, token({ permissions: 'reports:read' }));
    expect(refused).toEqual({
      status: 403,
      body: tykBody('Access to this API has been disallowed'),
    });
  });

  it('ignores jwt_scope_to_policy_mapping when scopes.jwt is set without a mapping', async () => {
    const gw = await gateway({
      jwt_scope_to_policy_mapping: { 'reports:read': 'open' },
      scopes: { jwt: { scope_claim_name: 'scp' } },
    });
    const res = await call(gw, token({ scp: 'reports:read', scope: 'reports:read' }));
    expect(res).toEqual({ status: 403, body: tykBody('Access to this API has been disallowed') });
  });

  it('uses the legacy fields when scopes is absent', async () => {
    const gw = await gateway({
      jwt_scope_claim_name: 'permissions',
      jwt_scope_to_policy_mapping: { 'reports:read': 'open' },
    });
    expect((await call(gw, token({ permissions: 'reports:read' }))).status).toBe(200);
  });
});
