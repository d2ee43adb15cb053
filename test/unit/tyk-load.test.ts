import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { isTykDocument, loadTyk } from '../../src/gateway/load/tyk.js';
import type { LoadContext, SourceDoc } from '../../src/gateway/load/types.js';
import { PlanError, type ApiPlan, type Warning } from '../../src/gateway/plan.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'tyk');

function fixture(name: string): SourceDoc {
  const text = readFileSync(join(DIR, name), 'utf8');
  return { file: name, text, value: JSON.parse(text) as unknown };
}

function inline(file: string, value: unknown): SourceDoc {
  return { file, text: JSON.stringify(value), value };
}

function context(strict = false): LoadContext {
  return {
    env: {},
    namedValues: {},
    strict,
    defaults: { upstreamTimeoutMs: 30_000, maxTokenBytes: 8192 },
    readFile: () => Promise.reject(new Error('no key files in Tyk definitions')),
  };
}

async function load(docs: SourceDoc[], strict = false) {
  return loadTyk(docs, context(strict));
}

function only(apis: readonly ApiPlan[]): ApiPlan {
  expect(apis).toHaveLength(1);
  return apis[0] as ApiPlan;
}

function messages(warnings: readonly Warning[], kind?: Warning['kind']): string[] {
  return warnings.filter((w) => !kind || w.kind === kind).map((w) => `${w.path}: ${w.message}`);
}

async function planError(docs: SourceDoc[]): Promise<PlanError> {
  const e: unknown = await load(docs).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(PlanError);
  return e as PlanError;
}

const POLICIES = fixture('policies.json');

describe('isTykDocument', () => {
  test('recognises classic definitions, lists, OAS documents and policies files', () => {
    for (const f of [
      'jwt-jwks-api.json',
      'hmac-api.json',
      'oas-api.json',
      'oidc-api.json',
      'policies.json',
    ]) {
      expect(isTykDocument(fixture(f).value), f).toBe(true);
    }
  });

  test('does not claim other formats', () => {
    expect(isTykDocument({ _format_version: '3.0', services: [] })).toBe(false);
    expect(isTykDocument({ apis: [{ name: 'x', path: '/', upstream: 'http://a' }] })).toBe(false);
    expect(isTykDocument({})).toBe(false);
    expect(isTykDocument([])).toBe(false);
    expect(isTykDocument('<policies/>')).toBe(false);
    expect(isTykDocument({ openapi: '3.0.0', paths: {} })).toBe(false);
  });
});

describe('classic JWT API, jwt_source = base64 of a JWK Set URL', () => {
  test('routing, trust, algorithms, token location and Tyk time checks', async () => {
    const { apis } = await load([fixture('jwt-jwks-api.json'), POLICIES]);
    const api = only(apis);
    expect(api.name).toBe('Orders (JWT, JWKS)');
    expect(api.source).toEqual({ format: 'tyk', file: 'jwt-jwks-api.json', path: '' });
    expect(api.match).toEqual({ path: '/orders', stripPath: true });
    expect(api.upstream).toEqual({ url: 'http://127.0.0.1:9001/v1', timeoutMs: 30_000 });
    expect(api.trust).toEqual({
      issuers: [],
      jwksUris: ['https://idp.example.test/.well-known/jwks.json'],
      publicKeys: [],
      secrets: [],
    });
    expect(api.checks.algorithms).toEqual(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
    expect(api.checks.exp).toBe('if_present');
    expect(api.checks.nbf).toBe('if_present');
    expect(api.checks.iat).toBe('if_present');
    expect(api.checks.skew).toEqual({ exp: 5, nbf: 2, iat: 1 });
    expect(api.checks.issuers).toEqual([]);
    expect(api.checks.audiences).toEqual([]);
    expect(api.token).toEqual({
      headers: ['authorization'],
      scheme: 'optional',
      query: ['access_token'],
      cookies: [],
    });
    expect(api.credentials).toEqual({ bearer: true });
    expect(api.forward.stripAuthorization).toBe(true);
    expect(api.answers).toEqual({
      style: 'tyk',
      hideGenerator: false,
      limitHeaderSource: 'quotas',
      tykAuth: 'jwt',
    });
    expect(api.auth).toBeUndefined();
  });

  test('policies: identity, policy claim, defaults, limits per identity, global limit per API', async () => {
    const { apis } = await load([fixture('jwt-jwks-api.json'), POLICIES]);
    const api = only(apis);
    const p = api.policies;
    expect(p?.identityClaim).toBe('sub');
    expect(p?.identityClaims).toBeUndefined();
    expect(p?.policyClaim).toBe('pol');
    expect(p?.defaultPolicies).toEqual(['gold']);
    expect(p?.scopeToPolicy).toBeUndefined();
    const key = { by: 'claim', claim: ['sub'] };
    expect(p?.policies['gold']).toEqual({
      allowsApi: true,
      limits: [
        {
          id: 'rate',
          kind: 'rate',
          algorithm: 'sliding_log',
          limit: 10,
          periodMs: 60_000,
          countRefused: true,
          key,
          label: 'policy gold: rate 10 per 60s',
        },
        {
          id: 'quota',
          kind: 'quota',
          algorithm: 'fixed_first_request',
          limit: 1000,
          periodMs: 3_600_000,
          countRefused: true,
          key,
          label: 'policy gold: quota 1000 per 3600s',
        },
      ],
    });
    // silver opens only the OAS API; rate 2/s, quota -1 means none.
    expect(p?.policies['silver']?.allowsApi).toBe(false);
    expect(p?.policies['silver']?.limits.map((l) => [l.kind, l.limit, l.periodMs])).toEqual([
      ['rate', 2, 1000],
    ]);
    // open: no access rights (Tyk lets the session through), rate -1 none, quota 5 a day.
    expect(p?.policies['open']?.allowsApi).toBe(true);
    expect(p?.policies['open']?.limits.map((l) => [l.kind, l.limit, l.periodMs])).toEqual([
      ['quota', 5, 86_400_000],
    ]);
    expect(api.limits).toEqual([
      {
        id: 'global:orders-jwt',
        kind: 'rate',
        algorithm: 'sliding_log',
        limit: 100,
        periodMs: 1000,
        countRefused: true,
        key: { by: 'api' },
        label: 'global_rate_limit',
      },
    ]);
    expect(api.counterScope).toBe('tyk:acme');
  });

  test('warnings: skipped iss/aud and exp checks, unsupported fields with their paths', async () => {
    const { warnings } = await load([fixture('jwt-jwks-api.json'), POLICIES]);
    const skipped = messages(warnings, 'skipped_check');
    expect(skipped).toContain('enable_jwt: this API accepts tokens without exp');
    expect(
      skipped.some((m) =>
        m.includes(
          'this API accepts tokens from any issuer for any audience signed by its key source',
        ),
      ),
    ).toBe(true);
    const ignored = messages(warnings, 'ignored');
    expect(ignored).toContain('CORS: CORS is not emulated');
    expect(
      ignored.some((m) => m.startsWith('version_data.versions.Default.extended_paths: ')),
    ).toBe(true);
    // From the policies file.
    expect(ignored.some((m) => m.startsWith('silver.throttle_interval: '))).toBe(true);
    expect(messages(warnings, 'note')).toContain(
      'silver.id: "silver-renamed" differs from the key: Tyk uses the key "silver"',
    );
    expect(
      warnings.every((w) => w.file === 'jwt-jwks-api.json' || w.file === 'policies.json'),
    ).toBe(true);
  });

  test('--strict requires exp and says so instead of the skipped-check warning', async () => {
    const { apis, warnings } = await load([fixture('jwt-jwks-api.json'), POLICIES], true);
    expect(only(apis).checks.exp).toBe('required');
    expect(messages(warnings, 'skipped_check')).not.toContain(
      'enable_jwt: this API accepts tokens without exp',
    );
  });

  test('a plain http(s) URL in jwt_source is a JWK Set too', async () => {
    const doc = JSON.parse(fixture('jwt-jwks-api.json').text) as Record<string, unknown>;
    doc['jwt_source'] = 'https://idp.example.test/jwks';
    const { apis } = await load([inline('plain.json', doc)]);
    expect(only(apis).trust.jwksUris).toEqual(['https://idp.example.test/jwks']);
  });
});

describe('classic HMAC API', () => {
  test('secret, empty signing method as HMAC with a warning, identity fallback, scope mapping', async () => {
    const { apis, warnings } = await load([fixture('hmac-api.json'), POLICIES]);
    const api = only(apis);
    expect(api.match).toEqual({ path: '/billing', stripPath: false });
    expect(api.trust.jwksUris).toEqual([]);
    expect(api.trust.secrets).toHaveLength(1);
    const secret = api.trust.secrets[0];
    expect(Buffer.from(secret?.secret ?? []).toString()).toBe(
      'tyk-hmac-secret-for-tests-0123456789',
    );
    expect(secret?.algorithms).toEqual(['HS256', 'HS384', 'HS512']);
    expect(secret?.source).toBe('hmac-api.json: [0].jwt_source');
    expect(api.checks.algorithms).toEqual(['HS256', 'HS384', 'HS512']);
    expect(
      messages(warnings, 'note').some((m) =>
        m.startsWith('[0].jwt_signing_method: no signing method'),
      ),
    ).toBe(true);
    const p = api.policies;
    expect(p?.identityClaim).toBe('user_id');
    expect(p?.identityClaims).toEqual(['user_id', 'sub']);
    // The new scopes.jwt block wins over the deprecated mapping.
    expect(p?.scopeToPolicy).toEqual({ 'billing:read': 'silver', 'billing:write': 'gold' });
    expect(p?.scopeClaim).toBe('permissions');
    expect(p?.policyClaim).toBeUndefined();
    expect(p?.defaultPolicies).toEqual([]);
    // disable_quota: the gold policy keeps its rate only; the counters follow the resolved identity.
    expect(p?.policies['gold']?.limits.map((l) => [l.kind, l.key])).toEqual([
      ['rate', { by: 'consumer' }],
    ]);
    expect(p?.policies['gold']?.allowsApi).toBe(true);
  });

  test('a secret that is not base64 is an error naming the field', async () => {
    const [doc] = JSON.parse(fixture('hmac-api.json').text) as Array<Record<string, unknown>>;
    const e = await planError([inline('bad.json', { ...doc, jwt_source: 'not base64!' })]);
    expect(e.path).toBe('jwt_source');
    expect(e.message).toMatch(/^bad\.json: jwt_source: is neither an http\(s\) URL nor base64/);
  });
});

describe('Tyk OAS API', () => {
  test('listen path, upstream, JWK Sets, iss/aud, claim rules, header, API-wide rate limit', async () => {
    const { apis, warnings } = await load([fixture('oas-api.json'), POLICIES]);
    const api = only(apis);
    expect(api.name).toBe('Inventory (OAS)');
    expect(api.match).toEqual({ path: '/inventory', stripPath: true });
    expect(api.upstream.url).toBe('http://127.0.0.1:9003/');
    expect(api.trust.jwksUris).toEqual(['https://idp.example.test/.well-known/jwks.json']);
    expect(api.checks.issuers).toEqual(['https://idp.example.test/']);
    expect(api.checks.audiences).toEqual(['https://api.example.test/', 'inventory']);
    expect(api.checks.skew).toEqual({ exp: 10, nbf: 0, iat: 0 });
    expect(api.checks.claims).toEqual([
      {
        claim: ['role'],
        match: 'any',
        values: ['admin', 'clerk'],
        failure: 'claim',
        label: 'customClaimValidation.role:exact_match',
      },
      {
        claim: ['org', 'tenant'],
        match: 'present',
        values: [],
        failure: 'claim',
        label: 'customClaimValidation.org.tenant:required',
      },
    ]);
    expect(api.token).toEqual({
      headers: ['x-api-token'],
      scheme: 'optional',
      query: [],
      cookies: [],
    });
    expect(api.policies?.policyClaim).toBe('pol');
    expect(api.policies?.policyClaims).toEqual(['pol', 'tier']);
    expect(api.policies?.defaultPolicies).toEqual(['silver']);
    expect(api.policies?.policies['silver']?.allowsApi).toBe(true);
    expect(api.policies?.policies['gold']?.allowsApi).toBe(false);
    expect(api.limits.map((l) => [l.id, l.limit, l.periodMs, l.key])).toEqual([
      ['global:inventory-oas', 50, 60_000, { by: 'api' }],
    ]);
    const skipped = messages(warnings, 'skipped_check');
    expect(skipped.some((m) => m.includes('customClaimValidation.groups: non-blocking'))).toBe(
      true,
    );
    expect(skipped.some((m) => m.includes('any issuer'))).toBe(false);
    const ignored = messages(warnings, 'ignored');
    expect(ignored.some((m) => m.startsWith('x-tyk-api-gateway.middleware: '))).toBe(true);
  });

  test('another enabled auth mode (an auth token) cannot be emulated', async () => {
    const doc = JSON.parse(fixture('oas-api.json').text) as {
      components: { securitySchemes: Record<string, unknown> };
      'x-tyk-api-gateway': {
        server: { authentication: { securitySchemes: Record<string, unknown> } };
      };
    };
    doc.components.securitySchemes['key'] = { type: 'apiKey', in: 'header', name: 'Authorization' };
    doc['x-tyk-api-gateway'].server.authentication.securitySchemes['key'] = { enabled: true };
    const e = await planError([inline('multi.json', doc)]);
    expect(e.path).toBe('x-tyk-api-gateway.server.authentication.securitySchemes.key');
    expect(e.detail).toMatch(/auth token\) cannot be emulated/);
  });
});

describe('OpenID Connect middleware (use_openid)', () => {
  test('trust by discovery, client ids as audiences and policy selectors', async () => {
    const { apis, warnings } = await load([fixture('oidc-api.json'), POLICIES]);
    const api = only(apis);
    expect(api.trust).toEqual({
      issuers: ['https://tenant.example.test/'],
      jwksUris: [],
      publicKeys: [],
      secrets: [],
    });
    expect(api.checks.audiences).toEqual(['orders-web', 'orders-cli']);
    expect(api.checks.issuers).toEqual([]);
    expect(api.checks.exp).toBe('if_present');
    expect(api.token).toEqual({
      headers: ['authorization'],
      scheme: 'required',
      query: [],
      cookies: [],
    });
    expect(api.answers.tykAuth).toBe('openid');
    expect(api.policies?.identityClaim).toBe('sub');
    expect(api.policies?.clientPolicies).toEqual({
      claim: 'aud',
      byClient: { 'orders-web': 'gold', 'orders-cli': 'silver' },
    });
    expect(api.policies?.policies['gold']?.allowsApi).toBe(true);
    expect(api.policies?.policies['silver']?.allowsApi).toBe(false);
    expect(api.policies?.policies['gold']?.limits[0]?.key).toEqual({ by: 'claim', claim: ['sub'] });
    expect(messages(warnings, 'skipped_check')).toContain(
      'use_openid: this API accepts tokens without exp',
    );
  });

  test('a client id key that is not base64 is an error', async () => {
    const doc = JSON.parse(fixture('oidc-api.json').text) as Record<string, unknown>;
    doc['openid_options'] = {
      providers: [{ issuer: 'https://t.example.test/', client_ids: { 'orders web': 'gold' } }],
    };
    const e = await planError([inline('oidc.json', doc)]);
    expect(e.path).toBe('openid_options.providers[0].client_ids["orders web"]');
  });
});

describe('auth modes and inputs', () => {
  const base = {
    api_id: 'a1',
    name: 'A1',
    proxy: { listen_path: '/a1/', target_url: 'http://127.0.0.1:9005', strip_listen_path: true },
  };

  test('keyless: no credential, API-wide limit only', async () => {
    const { apis } = await load([
      inline('keyless.json', {
        ...base,
        use_keyless: true,
        global_rate_limit: { rate: 3, per: 10 },
      }),
    ]);
    const api = only(apis);
    expect(api.auth).toBe('none');
    expect(api.credentials).toEqual({ bearer: false });
    expect(api.policies).toBeUndefined();
    expect(api.answers.tykAuth).toBe('keyless');
    expect(api.limits.map((l) => [l.limit, l.periodMs, l.key.by])).toEqual([[3, 10_000, 'api']]);
  });

  test('basic auth, Tyk OAuth and auth tokens cannot be emulated', async () => {
    expect((await planError([inline('b.json', { ...base, use_basic_auth: true })])).path).toBe(
      'use_basic_auth',
    );
    expect((await planError([inline('o.json', { ...base, use_oauth2: true })])).detail).toMatch(
      /OAuth server/,
    );
    expect((await planError([inline('t.json', { ...base })])).detail).toMatch(
      /no auth mode oidc-gw can emulate/,
    );
  });

  test("JWT without a central source needs Tyk's key store", async () => {
    const e = await planError([
      inline('j.json', { ...base, enable_jwt: true, jwt_signing_method: 'rsa' }),
    ]);
    expect(e.path).toBe('jwt_source');
  });

  test('a PEM public key in jwt_source (rsa); a wrong key type is an error', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    const b64 = Buffer.from(String(rsa)).toString('base64');
    const ok = await load([
      inline('pem.json', {
        ...base,
        enable_jwt: true,
        jwt_signing_method: 'rsa',
        jwt_source: b64,
        jwt_default_policies: ['p'],
      }),
    ]);
    const api = only(ok.apis);
    expect(api.trust.publicKeys).toHaveLength(1);
    expect(api.trust.publicKeys[0]?.text).toContain('BEGIN PUBLIC KEY');
    expect(
      messages(ok.warnings, 'note').some((m) => m.includes('policy "p" is in no policies file')),
    ).toBe(true);
    const e = await planError([
      inline('ec.json', {
        ...base,
        enable_jwt: true,
        jwt_signing_method: 'ecdsa',
        jwt_source: b64,
      }),
    ]);
    expect(e.detail).toMatch(/holds a rsa key, but the signing method is ecdsa/);
  });

  test('a list of classic definitions, duplicate names made unique, inactive ones skipped', async () => {
    const { apis, warnings } = await load([
      inline('list.json', [
        { ...base, use_keyless: true },
        { ...base, api_id: 'a2', use_keyless: true, proxy: { ...base.proxy, listen_path: '/a2' } },
        { ...base, api_id: 'a3', active: false, use_keyless: true },
      ]),
    ]);
    expect(apis.map((a) => [a.name, a.match.path, a.source.path])).toEqual([
      ['A1', '/a1', '[0]'],
      ['A1-2', '/a2', '[1]'],
    ]);
    expect(messages(warnings, 'note').some((m) => m.startsWith('[2].active: '))).toBe(true);
  });

  test('a regular-expression listen path is an error', async () => {
    const e = await planError([
      inline('re.json', {
        ...base,
        use_keyless: true,
        proxy: { ...base.proxy, listen_path: '/users/{id}' },
      }),
    ]);
    expect(e.path).toBe('proxy.listen_path');
  });
});
