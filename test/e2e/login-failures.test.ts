/**
 * `oidc-gw login` failing or stopped, with the real CLI and the real test
 * IdP: timeout, Ctrl-C, a pinned port, bad flags, no display.
 */
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import {
  AUTH_URL,
  assertBuilt,
  makeSandbox,
  runCli,
  runCliToEnd,
  type CliRun,
  type Sandbox,
} from '../helpers/browser.js';

let idp: TestIdp;
let sandbox: Sandbox;
const runs: CliRun[] = [];

beforeAll(async () => {
  await assertBuilt();
  idp = await startTestIdp();
});

afterAll(async () => {
  await idp?.close();
});

beforeEach(async () => {
  sandbox = await makeSandbox();
});

afterEach(async () => {
  for (const run of runs.splice(0)) run.kill('SIGKILL');
  await sandbox.cleanup();
});

function login(extra: string[], env: Record<string, string> = sandbox.env): CliRun {
  const run = runCli(
    ['login', '--issuer', idp.issuer, '--client-id', idp.clients.native.clientId, ...extra],
    env,
  );
  runs.push(run);
  return run;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function reachable(url: string): Promise<boolean> {
  try {
    await fetch(url);
    return true;
  } catch {
    return false;
  }
}

describe('oidc-gw login stops cleanly', () => {
  test('no callback within --timeout: exit 1 with a hint, listener closed', async () => {
    const run = login(['--no-open', '--timeout', '1']);
    const [, url] = await run.waitForStderr(AUTH_URL);
    const redirect = new URL(url as string).searchParams.get('redirect_uri') as string;
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain(
      'oidc-gw: error: no sign-in came back from the browser within 1 s',
    );
    expect(run.stderr()).toContain('hint: ');
    expect(run.stderr()).not.toMatch(/\n\s+at /);
    expect(await reachable(redirect)).toBe(false);
  });

  test('Ctrl-C (SIGINT) while waiting: exit 130, listener closed; --port pins the port', async () => {
    const port = await freePort();
    const run = login(['--no-open', '--port', String(port)]);
    const [, url] = await run.waitForStderr(AUTH_URL);
    const redirect = new URL(url as string).searchParams.get('redirect_uri') as string;
    expect(redirect).toBe(`http://127.0.0.1:${port}/callback`);
    expect(await reachable(`http://127.0.0.1:${port}/`)).toBe(true);
    run.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(run.stderr()).toContain('interrupted');
    expect(await reachable(`http://127.0.0.1:${port}/`)).toBe(false);
  });

  test('the authorization URL is alone on its own stderr line, and stdout stays empty', async () => {
    const run = login(['--no-open', '--timeout', '1']);
    await run.exited;
    const lines = run.stderr().split('\n');
    const urlLines = lines.filter((l) => l.includes('/auth?'));
    expect(urlLines).toHaveLength(1);
    expect(urlLines[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/auth\?\S+$/);
    expect(run.stdout()).toBe('');
  });

  test.runIf(process.platform === 'linux')(
    'no display (Linux without DISPLAY/WAYLAND_DISPLAY): says so and suggests --device',
    async () => {
      const env = { ...sandbox.env };
      delete env['DISPLAY'];
      delete env['WAYLAND_DISPLAY'];
      const run = login(['--timeout', '1'], env);
      expect(await run.exited).toBe(1);
      expect(run.stderr()).toContain('No display found');
      expect(run.stderr()).toContain('oidc-gw login --device');
    },
  );
});

describe('oidc-gw login refuses bad input (exit 2)', () => {
  test.each([
    [['--redirect-uri', 'http://example.com:8765/callback'], 'must name a loopback host'],
    [['--redirect-uri', 'https://127.0.0.1:8765/callback'], 'must use http'],
    [['--port', '8765', '--redirect-uri', 'http://127.0.0.1:9999/callback'], 'different ports'],
    [['--param', 'state=fixed'], '--param cannot set "state"'],
    [['--param', 'code_challenge_method=plain'], '--param cannot set "code_challenge_method"'],
    [['--port', 'abc'], '--port'],
  ])('%j', async (args, message) => {
    const result = await runCliToEnd(
      [
        'login',
        '--no-open',
        '--issuer',
        idp.issuer,
        '--client-id',
        idp.clients.native.clientId,
        ...args,
      ],
      sandbox.env,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr).toMatch(/^oidc-gw: error: /m);
    expect(result.stdout).toBe('');
  });

  test('--device at an IdP without a device endpoint is refused (exit 1)', async () => {
    // A discovery document without device_authorization_endpoint, served on loopback.
    const { createServer: createHttp } = await import('node:http');
    const meta = createHttp((req, res) => {
      const issuer = `http://127.0.0.1:${(meta.address() as { port: number }).port}`;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          issuer,
          authorization_endpoint: `${issuer}/auth`,
          token_endpoint: `${issuer}/token`,
          jwks_uri: `${issuer}/jwks`,
          response_types_supported: ['code'],
        }),
      );
      void req;
    });
    await new Promise<void>((resolve) => meta.listen(0, '127.0.0.1', resolve));
    try {
      const issuer = `http://127.0.0.1:${(meta.address() as { port: number }).port}`;
      const result = await runCliToEnd(
        ['login', '--device', '--issuer', issuer, '--client-id', 'x'],
        sandbox.env,
      );
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('has no device authorization endpoint');
    } finally {
      await new Promise((resolve) => meta.close(resolve));
    }
  });
});
