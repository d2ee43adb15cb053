/**
 * Review of the Tyk importer's warnings: settings Tyk enforces that
 * oidc-gw does not are named by their path, never dropped silently
 * (docs/gateways/tyk.md). Files are written to a temporary folder and
 * loaded with loadPlan, as `serve --file` loads them.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadTestPlan } from '../helpers/plan.js';
import type { Plan } from '../../src/gateway/plan.js';

let dir: string;
let n = 0;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'oidc-gw-tyk-review-load-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SOURCE = Buffer.from('tyk-review-hmac-secret-0123456789abcdefgh').toString('base64');

const JWT_API = {
  name: 'Reports',
  api_id: 'reports',
  org_id: 'acme',
  enable_jwt: true,
  jwt_signing_method: 'hmac',
  jwt_source: SOURCE,
  jwt_default_policies: ['open'],
  proxy: { listen_path: '/reports/', target_url: 'http://127.0.0.1:3000', strip_listen_path: true },
};

const OIDC_API = {
  name: 'Orders',
  api_id: 'orders',
  org_id: 'acme',
  use_openid: true,
  openid_options: {
    providers: [
      {
        issuer: 'http://127.0.0.1:9000',
        client_ids: { [Buffer.from('web-app').toString('base64')]: 'open' },
      },
    ],
  },
  proxy: { listen_path: '/orders/', target_url: 'http://127.0.0.1:3000' },
};

async function load(api: Record<string, unknown>): Promise<Plan> {
  const file = join(dir, `api-${n++}.json`);
  writeFileSync(file, JSON.stringify(api));
  return loadTestPlan([file]);
}

function paths(plan: Plan): string[] {
  return plan.warnings.map((w) => w.path);
}

function warning(plan: Plan, path: string): string {
  const w = plan.warnings.find((x) => x.path === path);
  expect(w, `a warning at ${path}; got ${paths(plan).join(', ')}`).toBeDefined();
  return w?.message ?? '';
}

describe('scopes (JWT)', () => {
  test('legacy jwt_scope_* fields are named as not read when scopes is set', async () => {
    const plan = await load({
      ...JWT_API,
      jwt_scope_claim_name: 'permissions',
      jwt_scope_to_policy_mapping: { read: 'open' },
      scopes: { jwt: { scope_to_policy: { read: 'open' } } },
    });
    expect(warning(plan, 'jwt_scope_claim_name')).toMatch(/scopes\.jwt/);
    expect(warning(plan, 'jwt_scope_to_policy_mapping')).toMatch(/scopes\.jwt/);
    expect(plan.apis[0]?.policies?.scopeClaim).toBe('scope');
  });
});

describe('use_openid: a scope-to-policy mapping is never dropped silently', () => {
  // Tyk's OpenID Connect middleware applies the policies of the token's
  // scopes instead of the client's policy when a mapping is set.
  test('jwt_scope_to_policy_mapping on an OpenID Connect API', async () => {
    const plan = await load({ ...OIDC_API, jwt_scope_to_policy_mapping: { read: 'open' } });
    expect(warning(plan, 'jwt_scope_to_policy_mapping')).toMatch(/not emulated/);
  });

  test('scopes.oidc.scope_to_policy', async () => {
    const plan = await load({
      ...OIDC_API,
      scopes: { oidc: { scope_claim_name: 'scp', scope_to_policy: { read: 'open' } } },
    });
    expect(warning(plan, 'scopes.oidc.scope_to_policy')).toMatch(/not emulated/);
  });
});

describe('version_data', () => {
  test('a versioned API with a single version is named, with what Tyk answers', async () => {
    const plan = await load({
      ...JWT_API,
      definition: { location: 'header', key: 'x-api-version' },
      version_data: { not_versioned: false, versions: { v1: { name: 'v1' } } },
    });
    const message = warning(plan, 'version_data.not_versioned');
    expect(message).toContain('header x-api-version');
    expect(message).toContain('Version information not found');
    expect(message).toContain('This API version does not seem to exist');
  });

  test('with a default_version, requests without a version are served by Tyk too', async () => {
    const plan = await load({
      ...JWT_API,
      definition: { location: 'url-param', key: 'version' },
      version_data: {
        not_versioned: false,
        default_version: 'v1',
        versions: { v1: { name: 'v1' }, v2: { name: 'v2' } },
      },
    });
    const message = warning(plan, 'version_data.not_versioned');
    expect(message).toContain('query parameter version');
    expect(message).not.toContain('Version information not found');
  });

  test('a version expiry is named', async () => {
    const plan = await load({
      ...JWT_API,
      version_data: {
        not_versioned: true,
        versions: { Default: { name: 'Default', expires: '2020-01-01 00:00' } },
      },
    });
    expect(warning(plan, 'version_data.versions.Default.expires')).toMatch(/expired/);
  });

  test('an unversioned API and an absent version_data say nothing', async () => {
    const plain = await load({
      ...JWT_API,
      version_data: { not_versioned: true, versions: { Default: { name: 'Default' } } },
    });
    expect(paths(plain).filter((p) => p.startsWith('version_data'))).toEqual([]);
    const none = await load(JWT_API);
    expect(paths(none).filter((p) => p.startsWith('version_data'))).toEqual([]);
  });
});
