/**
 * The oidc-gw format (docs/gateway-config.md) through `loadPlan`, as `serve
 * --file` reads it: every field into the plan, `${VAR}` from the
 * environment, unknown fields as warnings with their path, invalid values
 * as `FILE: PATH: what is wrong`, duplicates across APIs, YAML and JSON,
 * YAML syntax errors with their line. Also keeps the JSON Schema
 * (schema/gateway-config.schema.json) and the docs in step with the loader.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { loadPlan } from '../../src/gateway/load/index.js';
import {
  API_FIELDS,
  CLIENT_CREDENTIALS_FIELDS,
  CREDENTIALS,
  INTROSPECTION_FIELDS,
  LIMIT_FIELDS,
  STYLES,
  SUPPORTED_ALGS,
  TOP_FIELDS,
} from '../../src/gateway/load/native.js';
import { PlanError, type Plan } from '../../src/gateway/plan.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-native-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function write(text: string, ext = 'yaml'): string {
  const file = join(dir, `gw-${++n}.${ext}`);
  writeFileSync(file, text);
  return file;
}

function load(
  files: string | string[],
  env: Record<string, string | undefined> = {},
): Promise<Plan> {
  return loadPlan({
    files: Array.isArray(files) ? files : [files],
    env,
    namedValues: {},
    strict: false,
    defaults: { upstreamTimeoutMs: 30_000, maxTokenBytes: 8192 },
  });
}

async function planError(p: Promise<unknown>): Promise<PlanError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PlanError);
  return err as PlanError;
}

const ISS = 'https://idp.example.test/';
const one = (fields: string) =>
  `apis:\n  - name: a\n    upstream: http://127.0.0.1:3000\n    issuers: [${ISS}]\n    audiences: [api]\n${fields}`;

describe('every field', () => {
  test('a YAML API with all fields compiles into the plan', async () => {
    const keyFile = join(dir, 'key.pem');
    writeFileSync(keyFile, '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
    const file = write(`# yaml-language-server: $schema=../schema/gateway-config.schema.json
$schema: ../schema/gateway-config.schema.json
apis:
  - name: orders
    path: /orders/
    strip_path: true
    upstream: http://127.0.0.1:3000/base
    upstream_timeout: 2.5
    issuers: [${ISS}]
    jwks_uris: https://keys.example.test/jwks.json
    public_keys: [key.pem]
    secret: \${GW_HMAC}
    audiences: [https://api.example.test/, other]
    algorithms: [RS256, HS256]
    clock_skew: 5
    max_token_size: 4096
    required_claims: {role: admin, tier: [gold, silver], verified: true}
    required_scopes: ["read:orders write:orders", admin]
    forward_claims: {X-User: sub, X-Org: org.id}
    strip_authorization: true
    credentials: [bearer, client_credentials, introspection]
    token_params: {audience: https://api.example.test/}
    client_credentials: {token_endpoint: https://idp.example.test/token, scope: read, auth_method: client_secret_post, from: [header, query]}
    introspection: {client_id: gw, client_secret: "\${GW_SECRET}", endpoint: https://idp.example.test/introspect, auth_method: client_secret_post, cache_inactive: 3, max_cache: 60}
    rate_limit: {requests: 100, per: 60s, by: "claim:org.id"}
    quota: {requests: 10000, per: 1d, by: client_id}
    errors: kong
`);
    const plan = await load(file, { GW_HMAC: 'h'.repeat(32), GW_SECRET: 's3cret' });
    expect(plan.warnings).toEqual([]);
    expect(plan.files).toEqual([file]);
    const api = plan.apis[0];
    expect(api).toBeDefined();
    if (!api) return;
    expect(api.name).toBe('orders');
    expect(api.source).toEqual({ format: 'oidc-gw', file, path: 'apis[0]' });
    expect(api.match).toEqual({ path: '/orders', stripPath: true });
    expect(api.upstream).toEqual({ url: 'http://127.0.0.1:3000/base', timeoutMs: 2500 });
    expect(api.trust.issuers).toEqual([ISS]);
    expect(api.trust.jwksUris).toEqual(['https://keys.example.test/jwks.json']);
    expect(api.trust.publicKeys.map((k) => k.source)).toEqual([
      `${file}: apis[0].public_keys[0] (key.pem)`,
    ]);
    expect(api.trust.publicKeys[0]?.text).toContain('BEGIN PUBLIC KEY');
    expect(new TextDecoder().decode(api.trust.secrets[0]?.secret)).toBe('h'.repeat(32));
    expect(api.checks.audiences).toEqual(['https://api.example.test/', 'other']);
    expect(api.checks.algorithms).toEqual(['RS256', 'HS256']);
    expect(api.checks.skew).toEqual({ exp: 5, nbf: 5, iat: 5 });
    expect(api.checks.maxTokenBytes).toBe(4096);
    expect(api.checks.claims).toEqual([
      expect.objectContaining({ claim: ['role'], match: 'any', values: ['admin'] }),
      expect.objectContaining({ claim: ['tier'], match: 'any', values: ['gold', 'silver'] }),
      expect.objectContaining({ claim: ['verified'], match: 'any', values: ['true'] }),
      expect.objectContaining({
        claim: ['scope'],
        match: 'all',
        values: ['read:orders', 'write:orders', 'admin'],
        failure: 'scope',
      }),
    ]);
    expect(api.forward).toEqual({
      claims: [
        { header: 'X-User', claim: 'sub' },
        { header: 'X-Org', claim: 'org.id' },
      ],
      stripAuthorization: true,
      consumerHeaders: false,
    });
    expect(api.credentials.bearer).toBe(true);
    expect(api.credentials.clientCredentials).toEqual({
      issuer: ISS,
      tokenEndpoint: 'https://idp.example.test/token',
      from: ['header', 'query'],
      authMethod: 'client_secret_post',
      scope: 'read',
      params: { audience: 'https://api.example.test/' },
    });
    expect(api.credentials.introspection).toEqual({
      issuer: ISS,
      endpoint: 'https://idp.example.test/introspect',
      clientId: 'gw',
      clientSecret: 's3cret',
      authMethod: 'client_secret_post',
      negativeTtlSeconds: 3,
      maxTtlSeconds: 60,
    });
    expect(api.limits.map((l) => [l.kind, l.limit, l.periodMs, l.algorithm, l.key])).toEqual([
      ['rate', 100, 60_000, 'sliding_log', { by: 'claim', claim: ['org', 'id'] }],
      ['quota', 10000, 86_400_000, 'fixed_from_start', { by: 'client_id' }],
    ]);
    expect(api.answers.style).toBe('kong');
  });

  test('defaults: path /, name root, bearer only, 30 s skew, rfc6750, flag defaults for timeout and size', async () => {
    const plan = await load(
      write(
        `apis:\n  - upstream: http://127.0.0.1:3000\n    issuers: ${ISS}\n    audiences: api\n`,
      ),
    );
    const api = plan.apis[0];
    expect(api?.name).toBe('root');
    expect(api?.match).toEqual({ path: '/', stripPath: false });
    expect(api?.upstream).toEqual({ url: 'http://127.0.0.1:3000/', timeoutMs: 30_000 });
    expect(api?.checks.algorithms).toBeUndefined();
    expect(api?.checks.skew).toEqual({ exp: 30, nbf: 30, iat: 30 });
    expect(api?.checks.maxTokenBytes).toBe(8192);
    expect(api?.checks.exp).toBe('required');
    expect(api?.credentials).toEqual({ bearer: true });
    expect(api?.forward.stripAuthorization).toBe(false);
    expect(api?.limits).toEqual([]);
    expect(api?.answers).toEqual({ style: 'rfc6750' });
    expect(plan.notFoundStyle).toEqual({ style: 'rfc6750' });
  });

  test('a name defaults to the path with dashes; rate limits count by sub by default', async () => {
    const plan = await load(
      write(
        `apis:\n  - upstream: http://127.0.0.1:3000\n    issuers: [${ISS}]\n    path: /v1/orders\n    rate_limit: {requests: 5, per: 1m}\n`,
      ),
    );
    expect(plan.apis[0]?.name).toBe('v1-orders');
    expect(plan.apis[0]?.limits[0]?.key).toEqual({ by: 'claim', claim: ['sub'] });
  });
});

describe('${VAR}', () => {
  test('is substituted in any string, also inside a longer one and in numbers given as strings', async () => {
    const plan = await load(
      write(`apis:
  - name: \${NAME}
    upstream: http://127.0.0.1:\${PORT}/\${BASE}
    issuers: ["\${ISS}"]
    audiences: ["api-\${ENV}"]
    clock_skew: \${SKEW}
`),
      { NAME: 'billing', PORT: '4000', BASE: 'v2', ISS, ENV: 'prod', SKEW: '7' },
    );
    const api = plan.apis[0];
    expect(api?.name).toBe('billing');
    expect(api?.upstream.url).toBe('http://127.0.0.1:4000/v2');
    expect(api?.trust.issuers).toEqual([ISS]);
    expect(api?.checks.audiences).toEqual(['api-prod']);
    expect(api?.checks.skew.exp).toBe(7);
  });

  test('a missing variable is an error naming the file, the path and the variable', async () => {
    const file = write(
      one(
        '    introspection: {client_id: gw, client_secret: "${GW_SECRET}"}\n    credentials: [introspection]\n',
      ),
    );
    const err = await planError(load(file, { OTHER: 'x' }));
    expect(err.file).toBe(file);
    expect(err.path).toBe('apis[0].introspection.client_secret');
    expect(err.message).toBe(
      `${file}: apis[0].introspection.client_secret: \${GW_SECRET}: environment variable GW_SECRET is not set`,
    );
  });

  test('a variable set to the empty string is used (an empty secret is then refused)', async () => {
    const err = await planError(load(write(one('    secret: ${EMPTY}\n')), { EMPTY: '' }));
    expect(err.message).toMatch(/: apis\[0\]\.secret: empty$/);
  });

  test('$NAME without braces and ${lower-case-dash} are left as written', async () => {
    const plan = await load(write(one('    forward_claims: {X-A: $HOME, X-B: "${not-a-var}"}\n')));
    expect(plan.apis[0]?.forward.claims).toEqual([
      { header: 'X-A', claim: '$HOME' },
      { header: 'X-B', claim: '${not-a-var}' },
    ]);
  });
});

describe('unknown fields', () => {
  test('are warnings with their path, at every level, never errors', async () => {
    const file = write(`colour: blue
apis:
  - name: a
    upstream: http://127.0.0.1:3000
    issuers: [${ISS}]
    audiences: [api]
    retries: 3
    rate_limit: {requests: 1, per: 1s, burst: 5}
    credentials: [bearer, introspection]
    introspection: {client_id: gw, client_secret: x, ttl: 9}
`);
    const plan = await load(file);
    expect(plan.warnings.map((w) => [w.file, w.path, w.kind, w.message])).toEqual([
      [file, 'colour', 'ignored', 'not supported'],
      [file, 'apis[0].retries', 'ignored', 'not supported'],
      [file, 'apis[0].introspection.ttl', 'ignored', 'not supported'],
      [file, 'apis[0].rate_limit.burst', 'ignored', 'not supported'],
    ]);
  });

  test('settings that are not used say so; no audience is a skipped check', async () => {
    const file = write(`apis:
  - upstream: http://127.0.0.1:3000
    issuers: [${ISS}]
    token_params: {audience: x}
    client_credentials: {from: [header]}
    introspection: {client_id: gw, client_secret: x}
`);
    const plan = await load(file);
    expect(plan.warnings.map((w) => [w.path, w.kind])).toEqual([
      ['apis[0].token_params', 'ignored'],
      ['apis[0].client_credentials', 'ignored'],
      ['apis[0].introspection', 'ignored'],
      ['apis[0]', 'skipped_check'],
    ]);
    expect(plan.warnings[3]?.message).toMatch(/audience \(aud\) of tokens is not checked/);
  });
});

describe('invalid values: FILE: PATH: what is wrong', () => {
  const cases: Array<[string, string, string]> = [
    [
      `apis:\n  - upstream: http://127.0.0.1:1\n    issuers: [${ISS}]\n  - name: b\n    path: /b\n    upstream: "not a url"\n    issuers: [${ISS}]\n`,
      'apis[1].upstream',
      'not a URL',
    ],
    [
      one('').replace('http://127.0.0.1:3000', 'ftp://127.0.0.1'),
      'apis[0].upstream',
      'must be http:// or https://, not ftp:',
    ],
    [
      one('').replace('http://127.0.0.1:3000', 'http://u:p@127.0.0.1:3000/?q=1'),
      'apis[0].upstream',
      'an upstream is a scheme, host, port and optional base path: no query, fragment or credentials',
    ],
    [
      `apis:\n  - issuers: [${ISS}]\n`,
      'apis[0].upstream',
      'missing: where requests go (http://host:port/base)',
    ],
    [
      `apis:\n  - upstream: http://127.0.0.1:1\n`,
      'apis[0]',
      'nothing to verify tokens with: give issuers, jwks_uris, public_keys or secret',
    ],
    [one('').replace(`[${ISS}]`, '[idp.example.test]'), 'apis[0].issuers[0]', 'not a URL'],
    [one('    algorithms: [none]\n'), 'apis[0].algorithms[0]', '"none" can never be enabled'],
    [one('    algorithms: [RS257]\n'), 'apis[0].algorithms[0]', 'unknown algorithm "RS257"'],
    [one('    algorithms: [HS256]\n'), 'apis[0].algorithms[0]', 'HS256 needs secret:'],
    [one('    clock_skew: -1\n'), 'apis[0].clock_skew', 'expected a number of at least 0, not -1'],
    [
      one('    clock_skew: soon\n'),
      'apis[0].clock_skew',
      'expected a number of at least 0, not "soon"',
    ],
    [
      one('    max_token_size: 10.5\n'),
      'apis[0].max_token_size',
      'expected a whole number, not 10.5',
    ],
    [one('    strip_path: "yes"\n'), 'apis[0].strip_path', 'expected true or false, not "yes"'],
    [one('    jwks_uris: {a: 1}\n'), 'apis[0].jwks_uris', 'expected a list, not a mapping'],
    [
      one('    required_claims: [role]\n'),
      'apis[0].required_claims',
      'expected a mapping, not a list',
    ],
    [
      one('    forward_claims: {"X User": sub}\n'),
      'apis[0].forward_claims.X User',
      '"X User" is not a header name',
    ],
    [
      one('    forward_claims: {Authorization: sub}\n'),
      'apis[0].forward_claims.Authorization',
      'cannot set the Authorization header',
    ],
    [
      one('    forward_claims: {X_Forwarded_For: sub}\n'),
      'apis[0].forward_claims.X_Forwarded_For',
      'cannot set the X_Forwarded_For header',
    ],
    [
      one('    credentials: [basic]\n'),
      'apis[0].credentials[0]',
      '"basic" is not one of bearer, client_credentials, introspection',
    ],
    [
      one('    credentials: [introspection]\n'),
      'apis[0].introspection',
      'missing: client_id and client_secret the gateway introspects with',
    ],
    [
      one('    credentials: [introspection]\n    introspection: {client_id: gw}\n'),
      'apis[0].introspection',
      'client_id and client_secret are required',
    ],
    [
      one('    credentials: [client_credentials]\n    client_credentials: {from: [cookie]}\n'),
      'apis[0].client_credentials.from',
      '"cookie": header or query',
    ],
    [
      one('    rate_limit: {requests: 0, per: 1s}\n'),
      'apis[0].rate_limit.requests',
      'expected a whole number of at least 1, not 0',
    ],
    [
      one('    rate_limit: {requests: 5}\n'),
      'apis[0].rate_limit.per',
      'missing (e.g. 60s, 1m, 1h, 1d)',
    ],
    [
      one('    quota: {requests: 5, per: 1w}\n'),
      'apis[0].quota.per',
      '"1w" is not a period (e.g. 60s, 1m, 1h, 1d)',
    ],
    [
      one('    quota: {requests: 5, per: 1d, by: user}\n'),
      'apis[0].quota.by',
      '"user" is not claim:NAME, client_id or ip',
    ],
    [
      one('    errors: nginx\n'),
      'apis[0].errors',
      '"nginx" is not one of rfc6750, tyk, kong, apim',
    ],
    [
      one('    path: /a/../b\n'),
      'apis[0].path',
      '"/a/../b" has a dot segment (. or ..): requests are matched after those are resolved',
    ],
    [
      one('    path: /a?b=1\n'),
      'apis[0].path',
      '"/a?b=1" is not a path prefix: no query, fragment, spaces or control characters',
    ],
    [one('    public_keys: [missing.pem]\n'), 'apis[0].public_keys[0]', 'cannot read missing.pem'],
    ['apis: []\n', 'apis', 'expected a list of at least one API'],
    ['apis: [3]\n', 'apis[0]', 'expected a mapping, not 3'],
  ];
  test.each(cases)('%#: %s', async (text, path, message) => {
    const file = write(text);
    const err = await planError(load(file));
    expect(err.file).toBe(file);
    expect(err.path).toBe(path);
    expect(err.detail.startsWith(message)).toBe(true);
    expect(err.message.startsWith(`${file}: ${path}: ${message}`)).toBe(true);
  });

  test('an error quotes no secret it was given through ${VAR}', async () => {
    const err = await planError(
      load(write(one('    secret: ${S}\n    algorithms: [HS999]\n')), { S: 'topsecret-value-123' }),
    );
    expect(err.message).not.toContain('topsecret');
  });
});

describe('duplicates across APIs and files', () => {
  test('two APIs with one name', async () => {
    const file = write(
      `apis:\n  - {name: a, path: /x, upstream: "http://127.0.0.1:1", secret: s}\n  - {name: a, path: /y, upstream: "http://127.0.0.1:1", secret: s}\n`,
    );
    const err = await planError(load(file));
    expect(err.message).toBe(`${file}: apis[1]: API name "a" is already used (${file}: apis[0])`);
  });

  test('two APIs on one path prefix, also when spelled with a trailing slash, also across files', async () => {
    const a = write(`apis:\n  - {name: a, path: /x, upstream: "http://127.0.0.1:1", secret: s}\n`);
    const b = write(`apis:\n  - {name: b, path: /x/, upstream: "http://127.0.0.1:1", secret: s}\n`);
    const err = await planError(load([a, b]));
    expect(err.message).toBe(
      `${b}: apis[0]: path /x is already taken by API "a": each path prefix goes to one API`,
    );
  });

  test('two files with different APIs make one plan, warnings from both', async () => {
    const a = write(
      `apis:\n  - {name: a, path: /a, upstream: "http://127.0.0.1:1", secret: s, x: 1}\n`,
    );
    const b = write(
      `apis:\n  - {name: b, path: /b, upstream: "http://127.0.0.1:2", secret: s, y: 1}\n`,
      'json',
    );
    const plan = await load([a, b]);
    expect(plan.apis.map((x) => [x.name, x.source.file])).toEqual([
      ['a', a],
      ['b', b],
    ]);
    expect(plan.warnings.map((w) => `${w.file}: ${w.path}`)).toEqual(
      expect.arrayContaining([`${a}: apis[0].x`, `${b}: apis[0].y`]),
    );
  });
});

describe('YAML and JSON', () => {
  test('a JSON file gives the same plan as the YAML one', async () => {
    const yaml = write(one('    required_scopes: [read]\n    forward_claims: {X-User: sub}\n'));
    const json = write(
      JSON.stringify({
        apis: [
          {
            name: 'a',
            upstream: 'http://127.0.0.1:3000',
            issuers: [ISS],
            audiences: ['api'],
            required_scopes: ['read'],
            forward_claims: { 'X-User': 'sub' },
          },
        ],
      }),
      'json',
    );
    const [py, pj] = await Promise.all([load(yaml), load(json)]);
    const strip = (p: Plan) => p.apis.map((a) => ({ ...a, source: { ...a.source, file: '' } }));
    expect(strip(pj)).toEqual(strip(py));
  });

  test('a YAML syntax error names the file and its line', async () => {
    const file = write(
      `apis:\n  - name: a\n    upstream: http://127.0.0.1:1\n    issuers: [${ISS}\n    audiences: [api]\n`,
    );
    const err = await planError(load(file));
    expect(err.file).toBe(file);
    expect(err.path).toMatch(/^line \d+$/);
    expect(Number(err.path.slice(5))).toBeGreaterThanOrEqual(4);
    expect(err.message).toMatch(
      new RegExp(
        `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line \\d+: not valid YAML or JSON: `,
      ),
    );
  });

  test('a duplicate key is a YAML error with its line', async () => {
    const file = write(
      `apis:\n  - name: a\n    name: b\n    upstream: http://127.0.0.1:1\n    secret: s\n`,
    );
    const err = await planError(load(file));
    expect(err.path).toBe('line 3');
    expect(err.detail).toMatch(/not valid YAML or JSON: .*unique/i);
  });

  test('JSON with a trailing comma is read by the YAML parser, with a line on error', async () => {
    const file = write(
      '{"apis": [\n  {"upstream": "http://127.0.0.1:1", "secret": "s",}\n]}',
      'json',
    );
    // YAML flow mappings allow a trailing comma: it loads.
    const plan = await load(file);
    expect(plan.apis[0]?.name).toBe('root');
    const bad = write('{"apis": [\n  {"upstream": "http://127.0.0.1:1" "secret": "s"}\n]}', 'json');
    const err = await planError(load(bad));
    expect(err.path).toMatch(/^line \d+$/);
  });
});

describe('the JSON Schema and the docs keep up with the loader', () => {
  const schema = JSON.parse(
    readFileSync(join(ROOT, 'schema', 'gateway-config.schema.json'), 'utf8'),
  ) as {
    $schema: string;
    properties: Record<string, unknown>;
    $defs: Record<
      string,
      { properties?: Record<string, { enum?: string[]; description?: string }>; enum?: string[] }
    >;
  };
  const api = schema.$defs['api'];
  const props = (name: string) =>
    Object.keys(
      (api?.properties?.[name] as { properties?: Record<string, unknown> } | undefined)
        ?.properties ?? {},
    );

  test('draft 2020-12; property names equal API_FIELDS and TOP_FIELDS', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(Object.keys(schema.properties).sort()).toEqual([...TOP_FIELDS].sort());
    expect(Object.keys(api?.properties ?? {}).sort()).toEqual([...API_FIELDS].sort());
    expect(props('client_credentials').sort()).toEqual([...CLIENT_CREDENTIALS_FIELDS].sort());
    expect(props('introspection').sort()).toEqual([...INTROSPECTION_FIELDS].sort());
    expect(Object.keys(schema.$defs['limit']?.properties ?? {}).sort()).toEqual(
      [...LIMIT_FIELDS].sort(),
    );
  });

  test('every field has a description; enums equal the loader', () => {
    for (const field of API_FIELDS)
      expect(api?.properties?.[field]?.description, field).toMatch(/\w/);
    expect(api?.properties?.['errors']?.enum).toEqual([...STYLES]);
    expect(schema.$defs['credential']?.enum).toEqual([...CREDENTIALS]);
    expect([...(schema.$defs['algorithm']?.enum ?? [])].sort()).toEqual([...SUPPORTED_ALGS].sort());
  });

  test('docs/gateway-config.md documents every field and points editors at the schema', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'gateway-config.md'), 'utf8');
    for (const field of [
      ...API_FIELDS,
      ...CLIENT_CREDENTIALS_FIELDS,
      ...INTROSPECTION_FIELDS,
      ...LIMIT_FIELDS,
    ]) {
      expect(doc, field).toMatch(new RegExp(`^\\| \`${field.replace('$', '\\$')}\``, 'm'));
    }
    expect(doc).toContain(
      '# yaml-language-server: $schema=./node_modules/oidc-gw/schema/gateway-config.schema.json',
    );
  });

  test('every example of docs/gateway-config.md loads, without warnings', async () => {
    const doc = readFileSync(join(ROOT, 'docs', 'gateway-config.md'), 'utf8');
    const examples = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)]
      .map((m) => m[1] as string)
      .filter((text) => /^apis:/m.test(text));
    expect(examples.length).toBeGreaterThanOrEqual(7);
    const keys = mkdtempSync(join(dir, 'doc-'));
    mkdirSync(join(keys, 'keys'));
    writeFileSync(join(keys, 'keys', 'partner.pem'), 'PEM');
    for (const text of examples) {
      const file = join(keys, `example-${examples.indexOf(text)}.yaml`);
      writeFileSync(file, text);
      const plan = await load(file, { GW_INTROSPECTION_SECRET: 'x' });
      expect(plan.warnings, text).toEqual([]);
    }
  });
});
