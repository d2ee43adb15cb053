/**
 * The library as a user gets it: `npm pack` this project, install the
 * tarball into a fresh consumer project (test/fixtures/consumer, copied to a
 * temporary folder) from the npm cache, offline, and run there:
 *
 * - its own node:test suite (api.test.mjs): startIdp + a node:http API that
 *   verifies tokens with jose, its refusals asserted, through the public
 *   exports only;
 * - gateway.test.mjs: startIdp + startGateway (flag-like options and a YAML
 *   file) in front of a node:http app that reads the forwarded identity: 200,
 *   401 expired / other audience / no token, 403, a 2/1m limit's 429, reload;
 * - `import 'oidc-gw'` traced: no gateway, network client or IdP loaded;
 * - side-effects.mjs: startIdp and startGateway used, then no signal or exit
 *   handlers, no output, nothing left running after stop() (the process
 *   ends by itself);
 * - `tsc --noEmit` on a consumer .ts file (types.ts.txt): the exports and
 *   their declarations type-check strictly, without @types/node.
 *
 * Before that, startGateway from the sources (no packing): the same gateway
 * as `serve` from flag-like options, a file, a plan; reload; its errors.
 *
 * Needs the build (`npm run build`): the tarball is packed from dist/ with
 * --ignore-scripts, so this test does not rebuild.
 */
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startGateway,
  startIdp,
  type Gateway,
  type GatewayLogLine,
  type Idp,
} from '../../src/api/index.js';
import { loadTestPlan } from '../helpers/plan.js';
import { ROOT } from '../helpers/cli.js';
import { closedPort, startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { startRedis } from '../helpers/redis.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/** Output kept per stream: enough for a failure report, bounded. */
const OUTPUT_LIMIT = 256 * 1024;

/** Runs a command to its end (killed after timeoutMs), with npm/vitest variables of this run removed. */
function run(
  cmd: string,
  args: readonly string[],
  cwd: string,
  timeoutMs: number,
  extraEnv: Record<string, string> = {},
): Promise<Run> {
  const env: Record<string, string> = { ...extraEnv };
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || /^(npm_|VITEST|NODE_OPTIONS$|NODE_ENV$)/i.test(k)) continue;
    env[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '' };
    for (const name of ['stdout', 'stderr'] as const) {
      child[name].setEncoding('utf8');
      child[name].on('data', (chunk: string) => {
        if (out[name].length < OUTPUT_LIMIT) out[name] += chunk;
      });
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, ...out });
    });
  });
}

const explain = (r: Run) => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

describe('startIdp is the IdP of `oidc-gw idp`', () => {
  it('registers the same client ids and default audience', async () => {
    const api = await import('../../src/api/idp.js');
    const cli = await import('../../src/commands/idp.js');
    expect([api.CLI_CLIENT_ID, api.SERVICE_CLIENT_ID, api.DEFAULT_AUDIENCE]).toEqual([
      cli.CLI_CLIENT_ID,
      cli.SERVICE_CLIENT_ID,
      cli.DEFAULT_AUDIENCE,
    ]);
  });
});

async function call(
  url: string,
  token?: string,
): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return {
    status: res.status,
    headers: res.headers,
    body: (await res.json()) as Record<string, unknown>,
  };
}

describe('startGateway is the gateway of `oidc-gw serve`, in process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-start-gateway-'));
  let idp: Idp;
  let upstream: Upstream;
  const started: Gateway[] = [];
  const start = async (options: Parameters<typeof startGateway>[0]) => {
    const gw = await startGateway(options);
    started.push(gw);
    return gw;
  };

  beforeAll(async () => {
    idp = await startIdp({ audience: 'https://orders.example.test/' });
    upstream = await startUpstream();
  });
  afterAll(async () => {
    await Promise.all(started.map((g) => g.stop()));
    await upstream?.close();
    await idp?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('flag-like options: forwards a valid token with the identity, refuses the rest with the reason', async () => {
    const lines: GatewayLogLine[] = [];
    const gw = await start({
      upstream: upstream.url,
      issuers: [idp.issuer],
      audiences: [idp.audience],
      forwardClaims: { 'X-User': 'sub' },
      log: (line) => lines.push(line),
    });
    expect(gw.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(gw.adminUrl).toBeUndefined();

    const ok = await call(`${gw.url}/orders`, await idp.token({ user: 'alice' }));
    expect(ok.status).toBe(200);
    expect((ok.body['headers'] as Record<string, string[]>)['x-user']).toEqual(['alice']);

    const expired = await call(`${gw.url}/orders`, await idp.token({ expiresIn: -120 }));
    expect(expired.status).toBe(401);
    expect(expired.body).toEqual({ error: 'invalid_token', error_description: 'token expired' });
    expect(expired.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);

    const other = await call(
      `${gw.url}/orders`,
      await idp.token({ audience: 'https://other.test/' }),
    );
    expect(other.status).toBe(401);
    expect(other.body['error']).toBe('invalid_token');

    const none = await call(`${gw.url}/orders`);
    expect(none.status).toBe(401);

    await gw.stop();
    // Lines came to the sink only, as objects, with the refusal reasons.
    const reasons = lines.filter((l) => l.status !== undefined).map((l) => [l.status, l.reason]);
    expect(reasons[0]).toEqual([200, undefined]);
    expect(reasons[1]).toEqual([401, 'token_expired']);
    expect(reasons).toHaveLength(4);
    expect(lines.some((l) => /^listening on http/.test(String(l.message)))).toBe(true);
    await expect(fetch(gw.url)).rejects.toThrow(TypeError);
  });

  it('rateLimit 2/1m: the third call of one identity is 429, another identity still passes', async () => {
    const gw = await start({
      upstream: upstream.url,
      jwksUris: [idp.jwksUri],
      rateLimit: '2/1m',
      adminPort: 0,
    });
    const token = await idp.token({ user: 'bob' });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await call(gw.url, token)).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect((await call(gw.url, await idp.token({ user: 'carol' }))).status).toBe(200);
    const health = await fetch(`${gw.adminUrl}/healthz`);
    expect(health.status).toBe(200);
    await gw.stop();
  });

  it('a file: loaded as `serve --file` does; reload() re-reads it; a broken file keeps the old plan', async () => {
    const file = join(dir, 'gateway.yaml');
    const yaml = (scope: string) =>
      [
        'apis:',
        '  - name: orders',
        '    path: /orders',
        '    upstream: ${UPSTREAM}',
        `    issuers: [${idp.issuer}]`,
        `    audiences: [${idp.audience}]`,
        `    required_scopes: [${scope}]`,
        '',
      ].join('\n');
    writeFileSync(file, yaml('read'));
    const gw = await start({ file, env: { UPSTREAM: upstream.url } });
    const read = await idp.token({ scope: 'read' });
    expect((await call(`${gw.url}/orders/1`, read)).status).toBe(200);
    expect((await call(`${gw.url}/other`, read)).status).toBe(404);

    writeFileSync(file, yaml('admin'));
    // Not watched: the running plan changes on reload() only.
    expect((await call(`${gw.url}/orders/1`, read)).status).toBe(200);
    await gw.reload();
    expect((await call(`${gw.url}/orders/1`, read)).status).toBe(403);

    writeFileSync(file, 'apis:\n  - name: x\n');
    await expect(gw.reload()).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: expect.stringContaining('apis[0].upstream'),
    });
    expect((await call(`${gw.url}/orders/1`, read)).status).toBe(403);

    // reload(next): another source; the listen options are fixed.
    await gw.reload({ upstream: upstream.url, issuers: [idp.issuer] });
    expect((await call(`${gw.url}/other`, read)).status).toBe(200);
    await expect(
      gw.reload({ upstream: upstream.url, issuers: [idp.issuer], port: 1 }),
    ).rejects.toMatchObject({
      code: 'ERR_USAGE',
    });
    await gw.stop();
    await gw.stop();
    await expect(gw.reload()).rejects.toMatchObject({ code: 'ERR_USAGE' });
  });

  it('a plan object, as the loaders make it', async () => {
    const file = join(dir, 'plan.yaml');
    writeFileSync(
      file,
      `apis:\n  - path: /\n    upstream: ${upstream.url}\n    jwks_uris: [${idp.jwksUri}]\n    surprise: 1\n`,
    );
    const plan = await loadTestPlan([file]);
    const gw = await start({ plan });
    expect(gw.warnings.map((w) => w.path)).toContain('apis[0].surprise');
    expect((await call(gw.url, await idp.token())).status).toBe(200);
    expect((await call(gw.url)).status).toBe(401);
    await gw.stop();
  });

  it('redis: two gateways share one limit; an unreachable Redis is ERR_LIMIT_STORE', async () => {
    const redis = await startRedis();
    try {
      const options = {
        upstream: upstream.url,
        issuers: [idp.issuer],
        rateLimit: '2/1m',
        redis: redis.url,
      } as const;
      const [a, b] = [await start(options), await start(options)];
      const token = await idp.token({ user: 'dana' });
      const statuses = [
        (await call(a.url, token)).status,
        (await call(b.url, token)).status,
        (await call(a.url, token)).status,
        (await call(b.url, token)).status,
      ];
      expect(statuses).toEqual([200, 200, 429, 429]);
      await Promise.all([a.stop(), b.stop()]);
    } finally {
      await redis.stop();
    }
    await expect(
      startGateway({
        upstream: upstream.url,
        issuers: [idp.issuer],
        redis: `redis://127.0.0.1:${await closedPort()}`,
      }),
    ).rejects.toMatchObject({ code: 'ERR_LIMIT_STORE' });
  });

  it('throws GwError with the CLI codes', async () => {
    await expect(startGateway({ upstream: upstream.url })).rejects.toMatchObject({
      name: 'GwError',
      code: 'ERR_SERVE_NO_TRUST',
    });
    await expect(
      startGateway({ upstream: upstream.url, issuers: [idp.issuer], rateLimit: '2 per minute' }),
    ).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining('rateLimit') });
    await expect(
      startGateway({ upstream: 'ftp://x', issuers: [idp.issuer] }),
    ).rejects.toMatchObject({
      code: 'ERR_USAGE',
    });
    await expect(startGateway({ file: join(dir, 'absent.yaml') })).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      message: expect.stringContaining('no such file'),
    });
    await expect(
      // @ts-expect-error a file says who is trusted: issuers cannot come with it
      startGateway({ file: join(dir, 'absent.yaml'), issuers: [idp.issuer] }),
    ).rejects.toMatchObject({ code: 'ERR_USAGE' });
    const gw = await start({ upstream: upstream.url, issuers: [idp.issuer] });
    const port = Number(new URL(gw.url).port);
    await expect(
      startGateway({ upstream: upstream.url, issuers: [idp.issuer], port }),
    ).rejects.toMatchObject({ code: 'ERR_SERVE_LISTEN' });
    await gw.stop();
  });
});

describe('oidc-gw as a dependency of a user project', () => {
  const work = mkdtempSync(join(tmpdir(), 'oidc-gw-consumer-'));
  const consumer = join(work, 'consumer');
  let installed: Run | undefined;

  beforeAll(async () => {
    if (!existsSync(join(ROOT, 'dist', 'api', 'index.d.ts'))) {
      throw new Error('dist/api is missing: run `npm run build` first');
    }
    const packed = await run(
      NPM,
      ['pack', '--ignore-scripts', '--silent', '--pack-destination', work],
      ROOT,
      120_000,
    );
    expect(packed.code, explain(packed)).toBe(0);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    expect(tarball, explain(packed)).toBeDefined();

    cpSync(join(ROOT, 'test', 'fixtures', 'consumer'), consumer, { recursive: true });
    cpSync(join(consumer, 'types.ts.txt'), join(consumer, 'types.ts'));
    // jose at the version this project was installed with: it is in the npm cache.
    const jose = JSON.parse(
      readFileSync(join(ROOT, 'node_modules', 'jose', 'package.json'), 'utf8'),
    ).version as string;
    const install = (mode: string) =>
      run(
        NPM,
        ['install', join(work, tarball as string), `jose@${jose}`, mode, '--no-audit', '--no-fund'],
        consumer,
        240_000,
      );
    // Offline: the dependencies are in the npm cache of the machine that installed this project.
    installed = await install('--offline');
    if (installed.code !== 0) installed = await install('--prefer-offline');
    expect(installed.code, explain(installed)).toBe(0);
  }, 400_000);

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
  });

  it('installs with the CLI on the path and the library entries in place', () => {
    const pkg = join(consumer, 'node_modules', 'oidc-gw');
    expect(existsSync(join(pkg, 'dist', 'api', 'testing.js'))).toBe(true);
    expect(existsSync(join(pkg, 'dist', 'bundle', 'cli.js'))).toBe(true);
    expect(existsSync(join(consumer, 'node_modules', '.bin', 'oidc-gw'))).toBe(true);
    // The JSON Schema of the oidc-gw gateway format, for editors ($schema in a file).
    expect(existsSync(join(pkg, 'schema', 'gateway-config.schema.json'))).toBe(true);
    // nothing of the repository's tests, benchmarks or sources
    for (const absent of ['test', 'bench', 'src', 'scripts', join('dist', 'cli')]) {
      expect(existsSync(join(pkg, absent)), absent).toBe(false);
    }
  });

  it('runs the consumer test suite against startIdp and its own API', async () => {
    const r = await run(process.execPath, ['--test', 'api.test.mjs'], consumer, 120_000);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout).toMatch(/^# pass 1[0-9]$/m);
    expect(r.stdout).toMatch(/^# fail 0$/m);
  }, 150_000);

  it('runs the consumer suite of an app behind startGateway (flag-like options and a YAML file)', async () => {
    const r = await run(process.execPath, ['--test', 'gateway.test.mjs'], consumer, 120_000);
    expect(r.code, explain(r)).toBe(0);
    expect(r.stdout).toMatch(/^# pass 12$/m);
    expect(r.stdout).toMatch(/^# fail 0$/m);
  }, 150_000);

  it('`import "oidc-gw"` loads no gateway, no network client, no IdP until one is started', async () => {
    const trace = join(work, 'imports.txt');
    const r = await run(
      process.execPath,
      [
        '--import',
        join(ROOT, 'test', 'helpers', 'trace-imports.mjs'),
        '--input-type=module',
        '-e',
        "const api = await import('oidc-gw'); if (typeof api.startGateway !== 'function') process.exit(1);",
      ],
      consumer,
      30_000,
      { OIDC_GW_TRACE_IMPORTS: trace },
    );
    expect(r.code, explain(r)).toBe(0);
    const loaded = readFileSync(trace, 'utf8').split('\n');
    // The trace works: it saw the entry.
    expect(loaded.some((u) => u.includes('/node_modules/oidc-gw/dist/api/index.js'))).toBe(true);
    const heavy = loaded.filter((u) =>
      /\/oidc-gw\/dist\/(gateway|services|http)\/|\/node_modules\/(undici|yaml|redis|@redis|oidc-provider|openid-client|fast-xml-parser|chalk|commander)\//.test(
        u,
      ),
    );
    expect(heavy).toEqual([]);
  });

  it('leaves no mark on the process: no handlers, no output, nothing running after stop()', async () => {
    const r = await run(process.execPath, ['side-effects.mjs'], consumer, 60_000);
    expect(r, explain(r)).toEqual({ code: 0, stdout: '', stderr: '' });
  }, 90_000);

  it('type-checks a consumer file against the published declarations', async () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = await run(process.execPath, [tsc, '-p', 'tsconfig.json'], consumer, 120_000);
    expect(r.code, explain(r)).toBe(0);
  }, 150_000);

  it('the CLI from the installed package still runs', async () => {
    const r = await run(
      process.execPath,
      [join(consumer, 'node_modules', 'oidc-gw', 'bin', 'oidc-gw.js'), '--version'],
      consumer,
      30_000,
    );
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
