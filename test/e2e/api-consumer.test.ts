/**
 * The library as a user gets it: `npm pack` this project, install the
 * tarball into a fresh consumer project (test/fixtures/consumer, copied to a
 * temporary folder) from the npm cache, offline, and run there:
 *
 * - its own node:test suite (api.test.mjs): startIdp + a node:http API that
 *   verifies tokens with jose, its refusals asserted, through the public
 *   exports only;
 * - side-effects.mjs: no signal or exit handlers, no output, nothing left
 *   running after stop();
 * - `tsc --noEmit` on a consumer .ts file (types.ts.txt): the exports and
 *   their declarations type-check strictly, without @types/node.
 *
 * TODO(startGateway): when `startGateway` is exported, the consumer suite puts
 * the gateway in front of its API (see the TODO in api.test.mjs) and
 * types.ts.txt uses it.
 *
 * Needs the build (`npm run build`): the tarball is packed from dist/ with
 * --ignore-scripts, so this test does not rebuild.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
/** Output kept per stream: enough for a failure report, bounded. */
const OUTPUT_LIMIT = 256 * 1024;

/** Runs a command to its end (killed after timeoutMs), with npm/vitest variables of this run removed. */
function run(cmd: string, args: readonly string[], cwd: string, timeoutMs: number): Promise<Run> {
  const env: Record<string, string> = {};
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
