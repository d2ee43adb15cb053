/**
 * The Kong importer on hand-written decK files (test/fixtures/kong/, written
 * from Kong's documented declarative format): what each plugin compiles
 * into, the warnings with their paths, decK's DECK_ environment references.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { describe, expect, test } from 'vitest';
import {
  isKongDocument,
  loadKong,
  looksLikeKongText,
  substituteDeckEnv,
} from '../../src/gateway/load/kong.js';
import { issuerFromDiscovery } from '../../src/gateway/load/kong-plugins.js';
import type { LoadContext, SourceDoc } from '../../src/gateway/load/types.js';
import { PlanError, type ApiPlan, type Warning } from '../../src/gateway/plan.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/kong/', import.meta.url));

function ctx(env: Record<string, string> = {}, strict = false): LoadContext {
  return {
    env,
    namedValues: {},
    readFile: () => Promise.reject(new Error('no files in this test')),
    strict,
    defaults: { upstreamTimeoutMs: 30_000, maxTokenBytes: 8192 },
  };
}

/** A document as the caller hands it over: text, and its parse (undefined when it does not parse before substitution). */
function doc(name: string, text?: string): SourceDoc {
  const body = text ?? readFileSync(`${FIXTURES}${name}`, 'utf8');
  let value: unknown;
  try {
    value = parse(body);
  } catch {
    value = undefined;
  }
  return { file: name, text: body, value };
}

function api(apis: readonly ApiPlan[], name: string): ApiPlan {
  const found = apis.find((a) => a.name === name);
  if (!found) throw new Error(`no API ${name} among ${apis.map((a) => a.name).join(', ')}`);
  return found;
}

function messagesAt(warnings: readonly Warning[], path: string): string[] {
  return warnings.filter((w) => w.path === path).map((w) => `${w.kind}: ${w.message}`);
}

async function planError(p: Promise<unknown>): Promise<PlanError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PlanError);
  return err as PlanError;
}

describe('isKongDocument', () => {
  test('is true for a mapping with _format_version, false otherwise', () => {
    expect(isKongDocument({ _format_version: '3.0' })).toBe(true);
    expect(isKongDocument({ apis: [] })).toBe(false);
    expect(isKongDocument([{ _format_version: '3.0' }])).toBe(false);
    expect(isKongDocument('_format_version')).toBe(false);
  });

  test('looksLikeKongText finds _format_version in YAML or JSON text', () => {
    expect(looksLikeKongText('# c\n_format_version: "3.0"\n')).toBe(true);
    expect(looksLikeKongText('{\n  "_format_version": "3.0"\n}')).toBe(true);
    expect(looksLikeKongText('apis: []\n# _format_version: 3\n')).toBe(false);
  });

  test('a file that parses only after substitution loads (value undefined)', async () => {
    const text =
      '_format_version: "3.0"\nservices: [{name: s, url: ${{ env "DECK_URL" }}, routes: [{name: r, paths: [/]}]}]\n';
    const d: SourceDoc = { file: 'f.yaml', text, value: undefined };
    const { apis } = await loadKong([d], ctx({ DECK_URL: 'http://127.0.0.1:8' }));
    expect(apis[0]?.upstream.url).toBe('http://127.0.0.1:8');
  });
});

describe('jwt plugin, consumers and jwt_secrets', () => {
  test('one API per route path, upstream from url or protocol/host/port/path, strip_path default true', async () => {
    const { apis } = await loadKong([doc('jwt.yaml')], ctx());
    expect(apis.map((a) => a.name)).toEqual(['orders.list', 'legacy.routes[0]']);
    const list = api(apis, 'orders.list');
    expect(list.match).toEqual({ path: '/orders', stripPath: true });
    expect(list.upstream).toEqual({ url: 'http://127.0.0.1:3000/v1', timeoutMs: 30_000 });
    expect(list.source).toEqual({
      format: 'kong',
      file: 'jwt.yaml',
      path: 'services[0].routes[0]',
    });
    const legacy = api(apis, 'legacy.routes[0]');
    expect(legacy.match).toEqual({ path: '/legacy', stripPath: false });
    expect(legacy.upstream.url).toBe('http://legacy.internal:8080/api');
  });

  test('key_claim_name selects a jwt_secret: nested and top-level secrets, consumers by username', async () => {
    const { apis } = await loadKong([doc('jwt.yaml')], ctx());
    const keyed = api(apis, 'orders.list').trust.keyedBy;
    expect(keyed?.claim).toBe('iss');
    const [alice, bob] = keyed?.credentials ?? [];
    expect(alice?.key).toBe('https://issuer.example.com/alice');
    expect(alice?.algorithm).toBe('HS256');
    expect(alice?.credentialId).toBe('https://issuer.example.com/alice');
    expect(alice?.consumer?.username).toBe('alice');
    expect(alice?.consumer?.customId).toBe('alice-001');
    expect(alice?.consumer?.id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(Buffer.from(alice?.secret?.secret ?? []).toString()).toBe('alice-shared-secret');
    expect(alice?.secret?.algorithms).toEqual(['HS256']);
    expect(bob?.key).toBe('bob-rsa');
    expect(bob?.consumer?.id).toBe('6f1c7f0e-7a55-4a38-9d55-3f1c2a9e0b11');
    expect(bob?.publicKey?.text).toContain('-----BEGIN PUBLIC KEY-----');
    expect(bob?.publicKey?.algorithms).toEqual(['RS256']);
    expect(bob?.publicKey?.source).toBe('jwt.yaml: jwt_secrets[0].rsa_public_key');
    // The service-level plugin on `legacy` selects by kid.
    expect(api(apis, 'legacy.routes[0]').trust.keyedBy?.claim).toBe('kid');
    expect(api(apis, 'legacy.routes[0]').answers.keyClaimName).toBe('kid');
  });

  test('the consumer id is the same on every load (derived from the username)', async () => {
    const a = await loadKong([doc('jwt.yaml')], ctx());
    const b = await loadKong([doc('jwt.yaml')], ctx());
    const id = (r: typeof a) =>
      api(r.apis, 'orders.list').trust.keyedBy?.credentials[0]?.consumer?.id;
    expect(id(a)).toBe(id(b));
  });

  test('claims_to_verify decides exp/nbf, maximum_expiration, no leeway, token sources', async () => {
    const { apis } = await loadKong([doc('jwt.yaml')], ctx());
    const list = api(apis, 'orders.list');
    expect(list.checks.exp).toBe('required');
    expect(list.checks.nbf).toBe('off');
    expect(list.checks.iat).toBe('off');
    expect(list.checks.skew).toEqual({ exp: 0, nbf: 0, iat: 0 });
    expect(list.checks.maxExpirationSeconds).toBe(3600);
    expect(list.checks.issuers).toEqual([]);
    expect(list.checks.audiences).toEqual([]);
    expect(list.token).toEqual({
      headers: ['authorization'],
      scheme: 'required',
      query: ['jwt'],
      cookies: ['session_jwt'],
    });
    expect(list.forward).toEqual({ claims: [], stripAuthorization: false, consumerHeaders: true });
    expect(list.credentials).toEqual({ bearer: true });
    expect(list.answers).toEqual({
      style: 'kong',
      kongPlugin: 'jwt',
      keyClaimName: 'iss',
      realm: 'orders',
    });
    const legacy = api(apis, 'legacy.routes[0]');
    expect(legacy.checks.exp).toBe('off');
    expect(legacy.token).toEqual({
      headers: ['x-token'],
      scheme: 'required',
      query: [],
      cookies: [],
    });
  });

  test('says which checks Kong skips, and what is not supported, with paths', async () => {
    const { warnings } = await loadKong([doc('jwt.yaml')], ctx());
    expect(messagesAt(warnings, 'services[1].plugins[0].config.claims_to_verify')).toContain(
      'skipped_check: exp is not checked: this API accepts expired tokens (claims_to_verify does not list exp)',
    );
    expect(messagesAt(warnings, 'services[0].routes[0].plugins[0]')).toEqual(
      expect.arrayContaining([
        "skipped_check: aud and scopes are never checked by Kong's jwt plugin",
        'skipped_check: iss only selects a jwt_secret (key_claim_name): it is not compared to a trusted issuer',
      ]),
    );
    expect(messagesAt(warnings, 'services[0].routes[0].plugins[1]')).toEqual([
      'ignored: plugin request-transformer is not supported, not enforced',
    ]);
    expect(messagesAt(warnings, 'plugins[0]')).toEqual([
      'ignored: plugin cors is not supported, not enforced',
    ]);
    expect(messagesAt(warnings, 'services[0].routes[0].paths[1]')).toEqual([
      'ignored: regex path ~/orders/[0-9]+$ is not supported: not served',
    ]);
    // A service-level plugin applies to each route, but is reported once.
    const kidWarnings = warnings.filter((w) => w.path === 'services[1].plugins[0]');
    expect(new Set(kidWarnings.map((w) => w.message)).size).toBe(kidWarnings.length);
  });

  test('--strict adds exp (and nbf/iat when present) on top of Kong, and says so', async () => {
    const { apis, warnings } = await loadKong([doc('jwt.yaml')], ctx({}, true));
    const legacy = api(apis, 'legacy.routes[0]');
    expect(legacy.checks.exp).toBe('required');
    expect(legacy.checks.nbf).toBe('if_present');
    expect(messagesAt(warnings, 'services[1].plugins[0].config.claims_to_verify')).toEqual([
      'note: Kong does not check exp here; --strict does',
    ]);
  });

  test('secret_is_base64 decodes HS secrets; a route plugin beats a service plugin', async () => {
    const { apis } = await loadKong([doc('rate-limiting.yaml')], ctx());
    const query = api(apis, 'search.query');
    const cred = query.trust.keyedBy?.credentials[0];
    expect(Buffer.from(cred?.secret?.secret ?? []).toString()).toBe('c2VjcmV0LWJ5dGVz');
    const text = `_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes: [{name: r, paths: [/]}]
    plugins: [{name: jwt, config: {secret_is_base64: true}}]
consumers:
  - username: app
    jwt_secrets: [{key: k, secret: c2VjcmV0LWJ5dGVz}]
`;
    const b64 = await loadKong([doc('b64.yaml', text)], ctx());
    const secret = b64.apis[0]?.trust.keyedBy?.credentials[0]?.secret?.secret;
    expect(Buffer.from(secret ?? []).toString()).toBe('secret-bytes');
    // Not base64 at all: an error naming the setting, never garbage bytes (nor the secret).
    const bad = await planError(
      loadKong([doc('bad.yaml', text.replace('c2VjcmV0LWJ5dGVz', 'not*base64!'))], ctx()),
    );
    expect(bad.path).toBe('services[0].plugins[0].config.secret_is_base64');
    expect(bad.detail).toContain('is not valid base64');
    expect(bad.message).not.toContain('not*base64!');
  });

  test('invalid settings are PlanErrors naming the file and path', async () => {
    const base = (plugin: string, extra = '') => `_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes: [{name: r, paths: [/r], plugins: [${plugin}]}]
${extra}`;
    let err = await planError(
      loadKong([doc('a.yaml', base('{name: jwt, config: {maximum_expiration: 60}}'))], ctx()),
    );
    expect(err.message).toBe(
      'a.yaml: services[0].routes[0].plugins[0].config.maximum_expiration: Kong requires "exp" in claims_to_verify with it',
    );
    err = await planError(
      loadKong([doc('b.yaml', base('{name: jwt, config: {claims_to_verify: [iat]}}'))], ctx()),
    );
    expect(err.path).toBe('services[0].routes[0].plugins[0].config.claims_to_verify[0]');
    err = await planError(
      loadKong(
        [
          doc(
            'c.yaml',
            base('{name: jwt}', 'jwt_secrets: [{consumer: nobody, key: k, secret: s}]'),
          ),
        ],
        ctx(),
      ),
    );
    expect(err.message).toBe('c.yaml: jwt_secrets[0].consumer: no consumer nobody');
    err = await planError(
      loadKong(
        [
          doc(
            'd.yaml',
            base(
              '{name: jwt}',
              'consumers: [{username: u, jwt_secrets: [{key: k, algorithm: RS256}]}]',
            ),
          ),
        ],
        ctx(),
      ),
    );
    expect(err.message).toBe(
      'd.yaml: consumers[0].jwt_secrets[0].rsa_public_key: required for RS256',
    );
  });
});

describe('openid-connect', () => {
  test('bearer: issuer from the discovery URL, issuers_allowed, JWKS, required claims as AND/OR groups (403)', async () => {
    const { apis, warnings } = await loadKong([doc('oidc-bearer.yaml')], ctx());
    const pay = api(apis, 'payments.pay');
    expect(pay.trust).toEqual({
      issuers: ['https://idp.example.com/realms/main'],
      jwksUris: ['https://keys.example.com/jwks.json'],
      publicKeys: [],
      secrets: [],
    });
    expect(pay.checks.issuers).toEqual(['https://idp.example.com/realms/main']);
    expect(pay.checks.skew).toEqual({ exp: 5, nbf: 5, iat: 5 });
    expect(pay.checks.claims).toEqual([
      {
        claim: ['aud'],
        match: 'any_group',
        values: ['payments-api'],
        groups: [['payments-api']],
        failure: 'forbidden',
        label: 'services[0].routes[0].plugins[0].config.audience_required',
      },
      {
        claim: ['scope'],
        match: 'any_group',
        values: ['payments:read', 'payments:write', 'payments:admin'],
        groups: [['payments:read', 'payments:write'], ['payments:admin']],
        separator: ' ',
        failure: 'forbidden',
        label: 'services[0].routes[0].plugins[0].config.scopes_required',
      },
      {
        claim: ['realm_access', 'roles'],
        match: 'any_group',
        values: ['cashier'],
        groups: [['cashier']],
        failure: 'forbidden',
        label: 'services[0].routes[0].plugins[0].config.roles_required',
      },
    ]);
    expect(pay.credentials).toEqual({ bearer: true });
    expect(pay.token).toEqual({
      headers: ['authorization'],
      scheme: 'required',
      query: [],
      cookies: [],
    });
    expect(pay.forward).toEqual({
      claims: [
        { header: 'X-User', claim: 'sub' },
        { header: 'X-Email', claim: 'email' },
      ],
      stripAuthorization: false,
      consumerHeaders: false,
    });
    expect(pay.credentialClaim).toEqual(['sub']);
    expect(pay.answers).toEqual({
      style: 'kong',
      kongPlugin: 'openid-connect',
      unauthorizedMessage: 'Please log in',
      forbiddenMessage: 'Not for you',
    });
    // Fields that are read are not reported; cache_tokens at its default is not either.
    expect(messagesAt(warnings, 'services[0].routes[0].plugins[0].config')).toEqual([
      'ignored: openid-connect: not supported, not enforced: session_secret',
    ]);
  });

  test('issuerFromDiscovery strips the well-known suffix, keeps an issuer as is', () => {
    expect(issuerFromDiscovery('https://t.auth0.com/.well-known/openid-configuration')).toBe(
      'https://t.auth0.com',
    );
    expect(issuerFromDiscovery('https://kc/realms/x/.well-known/openid-configuration/')).toBe(
      'https://kc/realms/x',
    );
    expect(issuerFromDiscovery('https://kc/realms/x')).toBe('https://kc/realms/x');
  });

  test('client_credentials, Auth0 style: DECK_ issuer, audience and post args, param types, scope openid by default', async () => {
    const { apis, warnings } = await loadKong(
      [doc('oidc-client-credentials.yaml')],
      ctx({ DECK_AUTH0_DOMAIN: 'tenant.eu.auth0.com' }),
    );
    expect(apis.map((a) => a.name)).toEqual(['inventory.stock[0]', 'inventory.stock[1]']);
    const [stock, warehouse] = apis;
    expect(stock?.match.path).toBe('/stock');
    expect(warehouse?.match.path).toBe('/warehouse');
    expect(stock?.trust.issuers).toEqual(['https://tenant.eu.auth0.com']);
    expect(stock?.credentials).toEqual({
      bearer: true,
      clientCredentials: {
        issuer: 'https://tenant.eu.auth0.com',
        from: ['header'],
        authMethod: 'client_secret_post',
        scope: 'openid',
        params: { audience: 'https://inventory.example.com/', organization: 'org_123' },
      },
    });
    expect(messagesAt(warnings, 'plugins[0].config.audience')[0]).toMatch(
      /^note: sent as audience= with the client credentials grant/,
    );
    expect(messagesAt(warnings, 'plugins[0].config.scopes')).toEqual([
      'note: not given: scope=openid is sent with the client credentials grant, as Kong does; Okta rejects it (use a custom scope)',
    ]);
  });

  test('rate-limiting per credential in redis: calendar windows, refused requests count, counters shared by the paths', async () => {
    const { apis, warnings } = await loadKong(
      [doc('oidc-client-credentials.yaml')],
      ctx({ DECK_AUTH0_DOMAIN: 'tenant.eu.auth0.com' }),
    );
    const [stock, warehouse] = apis;
    expect(stock?.limits).toEqual([
      {
        id: 'kong-minute',
        kind: 'rate',
        algorithm: 'fixed_calendar',
        limit: 5,
        periodMs: 60_000,
        calendar: 'minute',
        countRefused: true,
        key: { by: 'credential' },
        label: 'plugins[1].config.minute',
      },
      {
        id: 'kong-hour',
        kind: 'rate',
        algorithm: 'fixed_calendar',
        limit: 100,
        periodMs: 3_600_000,
        calendar: 'hour',
        countRefused: true,
        key: { by: 'credential' },
        label: 'plugins[1].config.hour',
      },
    ]);
    expect(stock?.counterScope).toBe('kong:service:inventory');
    expect(warehouse?.counterScope).toBe(stock?.counterScope);
    expect(stock?.credentialClaim).toEqual(['sub']);
    expect(stock?.answers).toEqual({
      style: 'kong',
      kongPlugin: 'openid-connect',
      limitStatus: 429,
      limitMessage: 'Slow down',
    });
    expect(messagesAt(warnings, 'plugins[1].config.redis')).toEqual([
      'note: policy redis: counters are shared only when serve is given --redis (the redis settings of the file are not used)',
    ]);
    expect(messagesAt(warnings, 'plugins[1].config.fault_tolerant')).toEqual([
      'note: false: give serve --redis-failure closed to refuse requests while Redis is down',
    ]);
  });

  test('introspection with the plugin client credentials (secret from DECK_), JSON file', async () => {
    const { apis } = await loadKong(
      [doc('oidc-introspection.json')],
      ctx({ DECK_INTROSPECTION_SECRET: 'introspection-secret' }),
    );
    const reports = api(apis, 'reports.daily');
    expect(reports.credentials).toEqual({
      bearer: false,
      introspection: {
        issuer: 'https://idp.example.com',
        endpoint: 'https://idp.example.com/oauth2/introspect',
        clientId: 'gateway',
        clientSecret: 'introspection-secret',
        authMethod: 'client_secret_basic',
        negativeTtlSeconds: 10,
        maxTtlSeconds: 600,
      },
    });
  });

  test('auth_methods missing: bearer only, with a note; unsupported methods are warnings', async () => {
    const text = `_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes: [{name: r, paths: [/r]}]
    plugins:
      - name: openid-connect
        config: {issuer: "https://idp.example.com/"}
  - name: t
    url: http://127.0.0.1:2
    routes: [{name: r, paths: [/t]}]
    plugins:
      - name: openid-connect
        config: {issuer: "https://idp.example.com/", auth_methods: [bearer, session, password]}
`;
    const { apis, warnings } = await loadKong([doc('m.yaml', text)], ctx());
    expect(apis[0]?.credentials).toEqual({ bearer: true });
    expect(apis[0]?.token.query).toEqual(['access_token']);
    expect(messagesAt(warnings, 'services[0].plugins[0].config.auth_methods')[0]).toMatch(
      /^note: not given: Kong enables every method/,
    );
    expect(messagesAt(warnings, 'services[1].plugins[0].config.auth_methods')).toEqual([
      'ignored: session is not supported',
      'ignored: password is not supported',
    ]);
    expect(messagesAt(warnings, 'services[0].plugins[0].config')).toContain(
      'skipped_check: aud is not checked (no audience_required)',
    );
  });
});

describe('rate-limiting', () => {
  test('service plugin per consumer shared by its routes; route plugin per header beats it', async () => {
    const { apis, warnings } = await loadKong([doc('rate-limiting.yaml')], ctx());
    const query = api(apis, 'search.query');
    const suggest = api(apis, 'search.suggest');
    expect(query.limits.map((l) => [l.id, l.limit, l.key, l.countRefused])).toEqual([
      ['kong-second', 2, { by: 'consumer' }, true],
      ['kong-minute', 10, { by: 'consumer' }, true],
    ]);
    expect(query.counterScope).toBe('kong:service:search');
    expect(suggest.limits.map((l) => [l.id, l.limit, l.key, l.countRefused])).toEqual([
      ['kong-day', 1000, { by: 'header', header: 'x-tenant' }, false],
    ]);
    expect(suggest.counterScope).toBe('kong:route:suggest');
    expect(suggest.answers.hideLimitHeaders).toBe(true);
    expect(query.answers.hideLimitHeaders).toBeUndefined();
    // The jwt plugin of the service applies to both routes.
    expect(suggest.answers.kongPlugin).toBe('jwt');
    expect(messagesAt(warnings, 'services[0].plugins[0].config')).toEqual([
      'note: redis_host, redis_port: use --redis instead',
    ]);
    expect(messagesAt(warnings, 'services[0].routes[1].plugins[0].config.policy')).toEqual([
      'ignored: cluster is counted like local (per gateway process)',
    ]);
  });

  test('a longer period may not have a lower limit; header needs header_name', async () => {
    const base = (config: string) => `_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:1
    routes: [{name: r, paths: [/r]}]
plugins: [{name: rate-limiting, config: ${config}}]
`;
    let err = await planError(loadKong([doc('x.yaml', base('{minute: 10, hour: 5}'))], ctx()));
    expect(err.message).toBe(
      'x.yaml: plugins[0].config.hour: the limit for hour (5) must be at least the limit for minute (10)',
    );
    err = await planError(loadKong([doc('y.yaml', base('{minute: 1, limit_by: header}'))], ctx()));
    expect(err.path).toBe('plugins[0].config.header_name');
    err = await planError(loadKong([doc('z.yaml', base('{limit_by: ip}'))], ctx()));
    expect(err.detail).toBe('at least one of second, minute, hour, day, month, year is required');
  });

  test('a global plugin counts every route together; limit_by service per service', async () => {
    const text = `_format_version: "3.0"
services:
  - {name: a, url: "http://127.0.0.1:1", routes: [{name: r, paths: [/a]}]}
  - {name: b, url: "http://127.0.0.1:2", routes: [{name: r, paths: [/b]}]}
plugins: [{name: rate-limiting, config: {minute: 3, limit_by: ip}}]
`;
    const { apis } = await loadKong([doc('g.yaml', text)], ctx());
    expect(apis.map((a) => a.counterScope)).toEqual(['kong:global', 'kong:global']);
    const bySvc = await loadKong(
      [doc('g.yaml', text.replace('limit_by: ip', 'limit_by: service'))],
      ctx(),
    );
    expect(bySvc.apis.map((a) => a.counterScope)).toEqual(['kong:service:a', 'kong:service:b']);
    expect(bySvc.apis[0]?.limits[0]?.key).toEqual({ by: 'api' });
  });
});

describe('decK environment references', () => {
  test('substitutes ${{ env "DECK_X" }} in the text before parsing', () => {
    const d = doc(
      'e.yaml',
      '_format_version: "3.0"\nx: ${{ env "DECK_A" }}\ny: [${{env "DECK_B"}}]\n',
    );
    expect(substituteDeckEnv(d, { DECK_A: 'one', DECK_B: '2' })).toEqual({
      _format_version: '3.0',
      x: 'one',
      y: [2],
    });
  });

  test('a missing variable is a PlanError naming it (and its line), never a value', async () => {
    const err = await planError(loadKong([doc('oidc-client-credentials.yaml')], ctx()));
    expect(err.message).toBe(
      'oidc-client-credentials.yaml: line 16: environment variable DECK_AUTH0_DOMAIN is not set',
    );
  });

  test('only DECK_-prefixed names, as decK requires', async () => {
    const d = doc('p.yaml', '_format_version: "3.0"\nx: ${{ env "HOME" }}\n');
    const err = await planError(loadKong([d], ctx({ HOME: '/root' })));
    expect(err.message).toBe(
      'p.yaml: line 2: ${{ env "HOME" }}: decK reads only environment variables whose names start with DECK_',
    );
  });

  test('a substitution that breaks the YAML is reported without the value', async () => {
    const d = doc('q.yaml', '_format_version: "3.0"\nx: ${{ env "DECK_V" }}\n');
    const err = await planError(loadKong([d], ctx({ DECK_V: 'secret: [unclosed' })));
    expect(err.message).not.toContain('secret');
    expect(err.file).toBe('q.yaml');
  });
});

describe('documents and entities', () => {
  test('top-level routes and plugins refer to services and routes by name, across files', async () => {
    const services = `_format_version: "3.0"
services: [{name: s, url: "http://127.0.0.1:9/base/"}]
`;
    const routes = `_format_version: "3.0"
routes: [{name: r, service: s, paths: [/r/]}]
plugins:
  - {name: jwt, route: r}
  - {name: key-auth, service: s}
`;
    const { apis, warnings } = await loadKong(
      [doc('s.yaml', services), doc('r.yaml', routes)],
      ctx(),
    );
    expect(apis.map((a) => [a.name, a.match.path, a.upstream.url, a.answers.kongPlugin])).toEqual([
      ['s.r', '/r', 'http://127.0.0.1:9/base/', 'jwt'],
    ]);
    expect(messagesAt(warnings, 'plugins[1]')).toEqual([
      'ignored: plugin key-auth is not supported, not enforced',
    ]);
  });

  test('a route without an authentication plugin proxies every request, and says so', async () => {
    const text = `_format_version: "3.0"
services: [{name: open, url: "http://127.0.0.1:9", routes: [{paths: [/o], hosts: [a.example]}]}]
`;
    const { apis, warnings } = await loadKong([doc('o.yaml', text)], ctx());
    expect(apis[0]?.credentials).toEqual({ bearer: false });
    expect(apis[0]?.answers).toEqual({ style: 'kong' });
    expect(messagesAt(warnings, 'services[0].routes[0]')).toEqual([
      'note: no authentication plugin: every request is proxied',
    ]);
    // hosts select the route, as in Kong: no warning.
    expect(messagesAt(warnings, 'services[0].routes[0].hosts')).toEqual([]);
    expect(apis[0]?.match.hosts).toEqual(['a.example']);
  });

  test('unknown top-level collections and consumer credentials are warnings; a disabled plugin is not applied', async () => {
    const text = `_format_version: "3.0"
services:
  - name: s
    url: http://127.0.0.1:9
    routes: [{name: r, paths: [/r]}]
    plugins: [{name: jwt, enabled: false}]
consumers:
  - username: u
    keyauth_credentials: [{key: abc}]
vaults: [{name: env, prefix: e}]
`;
    const { apis, warnings } = await loadKong([doc('u.yaml', text)], ctx());
    expect(apis[0]?.answers.kongPlugin).toBeUndefined();
    expect(messagesAt(warnings, 'vaults')).toEqual(['ignored: not supported, not enforced']);
    expect(messagesAt(warnings, 'consumers[0].keyauth_credentials')).toEqual([
      'ignored: not supported (only jwt_secrets credentials are read)',
    ]);
  });

  test('a disabled service: its routes, and top-level routes and plugins naming it, are skipped with a note', async () => {
    const text = `_format_version: "3.0"
services:
  - {name: off, enabled: false, url: "http://127.0.0.1:9", routes: [{name: nested, paths: [/n]}]}
  - {name: on, url: "http://127.0.0.1:9", routes: [{name: live, paths: [/l]}]}
routes:
  - {name: top, service: off, paths: [/t]}
plugins:
  - {name: jwt, service: off}
  - {name: jwt, route: nested}
  - {name: jwt, route: top}
`;
    const { apis, warnings } = await loadKong([doc('d.yaml', text)], ctx());
    expect(apis.map((a) => a.match.path)).toEqual(['/l']);
    expect(apis[0]?.credentials).toEqual({ bearer: false });
    expect(messagesAt(warnings, 'services[0]')).toContain(
      'note: service disabled: its routes are not served',
    );
    expect(messagesAt(warnings, 'routes[0]')).toEqual([
      'note: service off is disabled: this route is not served',
    ]);
  });

  test('duplicate API names are a PlanError', async () => {
    const text = `_format_version: "3.0"
services:
  - {name: s, url: "http://127.0.0.1:9", routes: [{name: r, paths: [/a]}]}
routes: [{name: r, service: s, paths: [/b]}]
`;
    const err = await planError(loadKong([doc('n.yaml', text)], ctx()));
    expect(err.message).toBe(
      'n.yaml: routes[0]: the API name s.r is already used by services[0].routes[0]',
    );
  });
});
