/**
 * `oidc-gw serve --file policy.xml` end to end with an Azure API Management
 * policy (docs/gateways/apim.md): the built CLI, spawned with a clean
 * environment, in front of a real upstream, trusting the real test IdP by
 * its openid-config URL. The missing --upstream (exit 2, one error line),
 * `--check` in words and JSON (the null counter-key warning), named values
 * from --named-value and the environment (never printed), and
 * rate-limit-by-key counted in one real redis-server by two gateway
 * processes.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cleanEnv, runOnce, startServe, type ServeProcess } from '../helpers/gateway-cli.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import { REDIS_SERVER, startRedis, type RedisServer } from '../helpers/redis.js';

let idp: TestIdp;
let upstream: Upstream;
let env: Record<string, string>;
let cleanup: () => void;
const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-apim-cli-'));
const running: ServeProcess[] = [];

beforeAll(async () => {
  [idp, upstream] = await Promise.all([startTestIdp(), startUpstream()]);
  ({ env, cleanup } = cleanEnv());
});

afterAll(async () => {
  for (const p of running) await p.stop('SIGKILL', 1000);
  await Promise.all([idp?.close(), upstream?.close()]);
  cleanup?.();
  rmSync(dir, { recursive: true, force: true });
});

const SUBJECT_KEY =
  '@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject)';

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** Microsoft's "throttle by JWT subject" policy, trusting the test IdP. */
function throttlePolicy(calls: number, openidConfig: string): string {
  return `<policies>
    <inbound>
        <base />
        <validate-jwt header-name="Authorization" require-scheme="Bearer" failed-validation-httpcode="401" failed-validation-error-message="Unauthorized. Access token is missing or invalid.">
            <openid-config url="${openidConfig}" />
            <audiences>
                <audience>{{api-audience}}</audience>
            </audiences>
        </validate-jwt>
        <rate-limit-by-key calls="${calls}" renewal-period="60" counter-key="${SUBJECT_KEY}" />
    </inbound>
</policies>
`;
}

async function token(client: 'basic' | 'post' = 'post'): Promise<string> {
  const { clientId, clientSecret } = idp.clients[client];
  const res = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret,
      resource: idp.audience,
    }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no token from the test IdP: ${JSON.stringify(body)}`);
  return body.access_token;
}

async function get(url: string, t?: string) {
  const res = await fetch(`${url}/orders`, {
    headers: t === undefined ? {} : { authorization: `Bearer ${t}` },
  });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

async function serve(args: string[], extraEnv: Record<string, string> = {}) {
  const p = await startServe(['--port', '0', '--log-format', 'json', ...args], {
    ...env,
    ...extraEnv,
  });
  running.push(p);
  return p;
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('start-up', () => {
  test('without --upstream: exit 2 and one error line naming the file and the flag', async () => {
    const file = write('no-upstream.xml', throttlePolicy(5, 'https://idp.example/'));
    const r = await runOnce(['serve', '--file', file], env);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const errors = r.stderr.split('\n').filter((l) => /error/i.test(l));
    expect(errors).toEqual([
      `oidc-gw: error: ${file}: an APIM policy needs --upstream (the policy holds no backend)`,
    ]);
    expect(r.stderr).not.toMatch(/\bat .*\.js:\d+/); // no stack trace
  });

  test('--check: the plan in words with the null counter-key warning, and as JSON; no port, no fetch', async () => {
    const file = write(
      'basic-and-jwt.xml',
      `<policies>
    <inbound>
        <rate-limit-by-key calls="10" renewal-period="60" counter-key="${SUBJECT_KEY}" />
        <set-header name="X-Gateway" exists-action="override"><value>local</value></set-header>
    </inbound>
</policies>
`,
    );
    const before = idp.requests.count('');
    const r = await runOnce(
      ['serve', '--check', '--file', file, '--upstream', upstream.url, '--path', '/orders'],
      env,
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('/orders (prefix stripped)');
    const warning = r.stdout
      .split('\n')
      .find((l) => l.includes('/policies/inbound/rate-limit-by-key[1]/@counter-key'));
    expect(warning).toContain(
      `/policies/inbound/rate-limit-by-key[1]/@counter-key — the counter key reads Authorization with AsJwt(): a request whose Authorization holds no JWT (another scheme, or none) gets APIM's 500 "Expression value is invalid. The counter-key field is required."`,
    );
    expect(warning).toMatch(new RegExp(`\\(${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)$`));
    expect(r.stdout).toContain(
      `ignored: /policies/inbound/set-header[1] — set-header is not supported: not run (${file})`,
    );

    const j = await runOnce(
      ['serve', '--check', '--json', '--file', file, '--upstream', upstream.url],
      env,
    );
    expect(j.code).toBe(0);
    const plan = JSON.parse(j.stdout) as {
      apis: Array<{ format: string; upstream: string }>;
      warnings: Array<{ path: string; kind: string }>;
    };
    expect(plan.apis[0]).toMatchObject({ format: 'apim', upstream: `${upstream.url}/` });
    expect(plan.warnings).toContainEqual(
      expect.objectContaining({
        path: '/policies/inbound/rate-limit-by-key[1]/@counter-key',
        kind: 'note',
      }),
    );
    expect(idp.requests.count('')).toBe(before);
  });

  test('--named-value and OIDC_GW_NV_*: the policy runs; a missing one is exit 2 naming it; values are never printed', async () => {
    const secret = 'c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWJlLXByaW50ZWQtMTIzNDU2Nzg5MA==';
    const file = write(
      'named.xml',
      `<policies>
    <inbound>
        <validate-jwt header-name="Authorization" require-scheme="Bearer">
            <openid-config url="{{idp-openid-config}}" />
            <issuer-signing-keys>
                <key>{{jwt-signing-key}}</key>
            </issuer-signing-keys>
            <audiences>
                <audience>{{api-audience}}</audience>
            </audiences>
        </validate-jwt>
    </inbound>
</policies>
`,
    );
    const gw = await serve(
      [
        '--file',
        file,
        '--upstream',
        upstream.url,
        '--named-value',
        `idp-openid-config=${idp.issuer}/.well-known/openid-configuration`,
        '--named-value',
        `api-audience=${idp.audience}`,
      ],
      { OIDC_GW_NV_JWT_SIGNING_KEY: secret },
    );
    const ok = await get(gw.url, await token());
    expect(ok.status).toBe(200);
    expect(await get(gw.url)).toMatchObject({
      status: 401,
      body: '{ "statusCode": 401, "message": "JWT not present." }',
    });
    const check = await runOnce(
      [
        'serve',
        '--check',
        '--file',
        file,
        '--upstream',
        upstream.url,
        '--named-value',
        'idp-openid-config=https://idp.example/.well-known/openid-configuration',
        '--named-value',
        `api-audience=${idp.audience}`,
      ],
      { ...env, OIDC_GW_NV_JWT_SIGNING_KEY: secret },
    );
    expect(check.code).toBe(0);
    await gw.stop();
    for (const text of [gw.stderr(), gw.stdout(), check.stdout, check.stderr]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(Buffer.from(secret, 'base64').toString('latin1'));
    }

    const missing = await runOnce(
      ['serve', '--file', file, '--upstream', upstream.url, '--named-value', 'api-audience=x'],
      env,
    );
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(
      `${file}: /policies/inbound/validate-jwt[1]/openid-config[1]/@url: named value "idp-openid-config" is not defined: give --named-value idp-openid-config=VALUE or set OIDC_GW_NV_IDP_OPENID_CONFIG`,
    );
  });
});

describe.skipIf(!existsSync(REDIS_SERVER))('Redis', () => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  test('two gateway processes count one subject in one Redis counter', async () => {
    const file = write(
      'throttle.xml',
      throttlePolicy(3, `${idp.issuer}/.well-known/openid-configuration`),
    );
    const args = [
      '--file',
      file,
      '--upstream',
      upstream.url,
      '--named-value',
      `api-audience=${idp.audience}`,
      '--redis',
      redis.url,
    ];
    const [a, b] = await Promise.all([serve(args), serve(args)]);
    const first = await token('post');
    const reissued = await token('post');
    expect((await get(a.url, first)).status).toBe(200);
    expect((await get(b.url, reissued)).status).toBe(200);
    expect((await get(a.url, reissued)).status).toBe(200);
    const refused = await get(b.url, first);
    expect(refused.status).toBe(429);
    const n = refused.headers.get('retry-after') ?? '';
    expect(n).toMatch(/^\d+$/);
    expect(refused.body).toBe(
      `{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in ${n} seconds." }`,
    );
    expect((await get(a.url, first)).status).toBe(429);
    // Another subject, either process: its own counter.
    expect((await get(b.url, await token('basic'))).status).toBe(200);

    await Promise.all([a.stop(), b.stop()]);
    const logB = jsonLines(b.stderr()).filter((l) => l['status'] === 429);
    expect(logB).toEqual([
      expect.objectContaining({
        reason: 'rate_limited',
        gateway_reason: 'RateLimitExceeded',
        key: 'test-post',
        limit: '/policies/inbound/rate-limit-by-key[1]',
      }),
    ]);
    expect(a.stderr()).not.toContain(first);
  });
  test("increment-condition: Microsoft's sample (only 200s count) in two processes sharing Redis; --check names it", async () => {
    upstream.handler = (req, res) => {
      res.writeHead(req.url?.endsWith('/fail') ? 500 : 200, { 'content-type': 'text/plain' });
      res.end('x');
    };
    try {
      const file = write(
        'count-200s.xml',
        `<policies>
    <inbound>
        <base />
        <rate-limit-by-key calls="2" renewal-period="60"
                           increment-condition="@(context.Response.StatusCode == 200)"
                           counter-key="@(context.Request.IpAddress)" />
    </inbound>
</policies>
`,
      );
      const check = await runOnce(
        ['serve', '--check', '--file', file, '--upstream', upstream.url],
        env,
      );
      expect(check.code).toBe(0);
      expect(check.stdout).toContain(
        'counted once answered when @(context.Response.StatusCode == 200)',
      );
      expect(check.stdout).not.toContain('increment-condition is not evaluated');

      const args = ['--file', file, '--upstream', upstream.url, '--redis', redis.url];
      const [a, b] = await Promise.all([serve(args), serve(args)]);
      const status = async (url: string, path: string) => {
        const res = await fetch(`${url}${path}`);
        await res.arrayBuffer();
        return res.status;
      };
      // Failures on either process: never counted.
      for (let i = 0; i < 3; i++) {
        expect(await status(a.url, '/fail')).toBe(500);
        expect(await status(b.url, '/fail')).toBe(500);
      }
      expect(await status(a.url, '/ok')).toBe(200);
      expect(await status(b.url, '/ok')).toBe(200);
      // Two 200s in one Redis counter: both processes now refuse, whatever the path.
      expect(await status(a.url, '/ok')).toBe(429);
      expect(await status(b.url, '/fail')).toBe(429);
      await Promise.all([a.stop(), b.stop()]);
    } finally {
      upstream.handler = undefined;
    }
  });
});
