/**
 * `oidc-gw login --manual` and `oidc-gw token --code-url` end to end (issue
 * 16, item 13): the built CLI against the real test IdP. The sign-in pages
 * are driven with HTTP (signInWithoutBrowser) and the redirect URI is a
 * loopback URL nobody listens on: the address the sign-in ends at is what a
 * user would copy from the browser's failed page.
 */
import { spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { signInWithoutBrowser, startTestIdp, type TestIdp } from '../helpers/idp.js';
import {
  AUTH_URL,
  assertBuilt,
  BIN,
  makeSandbox,
  REPO,
  runCli,
  runCliToEnd,
  type CliRun,
  type Sandbox,
} from '../helpers/browser.js';

let idp: TestIdp;
let sandbox: Sandbox;
/** A loopback redirect URI on a port nobody listens on. */
let redirectUri: string;
const runs: CliRun[] = [];

async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  await assertBuilt();
  idp = await startTestIdp();
  redirectUri = `http://127.0.0.1:${await unusedPort()}/callback`;
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

const client = () => ['--issuer', idp.issuer, '--client-id', idp.clients.native.clientId];

/** `login --manual` with stdin at its end: prints the URL, keeps the attempt, exits 0. */
async function startDetached(): Promise<{ url: string; stderr: string }> {
  const result = await runCliToEnd(
    ['login', '--manual', '--no-open', '--redirect-uri', redirectUri, ...client()],
    sandbox.env,
  );
  expect(result.code, result.stderr).toBe(0);
  const url = AUTH_URL.exec(result.stderr)?.[1] as string;
  expect(url).toBeDefined();
  return { url, stderr: result.stderr };
}

async function pendingFiles(): Promise<string[]> {
  const dir = sandbox.env['OIDC_GW_CACHE_DIR'] as string;
  return (await readdir(dir)).filter((n) => n.startsWith('pending-'));
}

/** Signs in as alice and returns the address the browser would land on. */
async function signInAt(url: string): Promise<URL> {
  const result = await signInWithoutBrowser(url, 'alice', 'alice');
  expect(result.redirect, result.body).toBeDefined();
  return result.redirect as URL;
}

describe('oidc-gw login --manual', () => {
  test('the URL has PKCE S256, state and nonce; the pasted address is exchanged and cached', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'login', '--manual', '--no-open', '--redirect-uri', redirectUri, ...client()],
      { cwd: REPO, env: sandbox.env, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stderr = '';
    const exited = new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
    const shown = new Promise<string>((resolve, reject) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const m = AUTH_URL.exec(stderr);
        if (m && /paste it here/.test(stderr)) resolve(m[1] as string);
      });
      void exited.then(() => reject(new Error(`exited early:\n${stderr}`)));
    });
    try {
      const url = new URL(await shown);
      expect(url.searchParams.get('code_challenge_method')).toBe('S256');
      expect(url.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(url.searchParams.get('state')).toBeTruthy();
      expect(url.searchParams.get('nonce')).toBeTruthy();
      expect(url.searchParams.get('redirect_uri')).toBe(redirectUri);
      expect(stderr).toContain("oidc-gw token --code-url 'URL'");
      // The attempt is on disk, private, while the CLI waits.
      const [file] = await pendingFiles();
      expect(file).toBeDefined();
      const mode = (await stat(join(sandbox.env['OIDC_GW_CACHE_DIR'] as string, file!))).mode;
      expect(mode & 0o777).toBe(0o600);

      const landed = await signInAt(url.href);
      expect(`${landed.origin}${landed.pathname}`).toBe(redirectUri);
      child.stdin.end(`${landed.href}\n`);
      expect(await exited, stderr).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    expect(stderr).toMatch(/Signed in as alice/);
    expect(await pendingFiles()).toEqual([]);
    const token = await runCliToEnd(['token'], sandbox.env);
    expect(token.code, token.stderr).toBe(0);
    expect(token.stdout.trim()).toMatch(/^[\w.-]{20,}$/);
  });

  test('token --code-url finishes it later, from another process', async () => {
    const { url, stderr } = await startDetached();
    expect(stderr).toMatch(/the sign-in is kept/);
    expect(await pendingFiles()).toHaveLength(1);
    const landed = await signInAt(url);
    // Another shell: no --issuer or --client-id needed, the attempt has them.
    const finished = await runCliToEnd(['token', '--code-url', landed.href], sandbox.env);
    expect(finished.code, finished.stderr).toBe(0);
    expect(finished.stdout.trim()).toMatch(/^[\w.-]{20,}$/);
    expect(await pendingFiles()).toEqual([]);
    // It is cached for the profile.
    const again = await runCliToEnd(['token'], sandbox.env);
    expect(again.stdout).toBe(finished.stdout);
    // The same URL twice: the attempt is gone.
    const twice = await runCliToEnd(['token', '--code-url', landed.href], sandbox.env);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toMatch(/no pending `login --manual` matches/);
  });

  test('a URL with another state is refused and nothing is exchanged', async () => {
    const { url } = await startDetached();
    const landed = await signInAt(url);
    const forged = new URL(landed.href);
    forged.searchParams.set('state', 'not-the-state-that-was-sent');
    const before = idp.requests.count('/token');
    const child = spawn(
      process.execPath,
      [BIN, 'login', '--manual', '--no-open', '--redirect-uri', redirectUri, ...client()],
      { cwd: REPO, env: sandbox.env, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
    child.stdin.end(`${forged.href}\n`);
    expect(await exited).toBe(1);
    expect(stderr).toMatch(/another state than this sign-in sent/);
    expect(idp.requests.count('/token')).toBe(before);
  });

  test('token --code without the verifier and no pending attempt: the hint names the verifier', async () => {
    const { url } = await startDetached();
    const landed = await signInAt(url);
    const code = landed.searchParams.get('code') as string;

    // Another cache (no pending attempt there): the IdP refuses, the hint is about PKCE.
    const other = await makeSandbox();
    try {
      const refused = await runCliToEnd(
        ['token', '--code', code, '--redirect-uri', redirectUri, ...client()],
        other.env,
      );
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/invalid_grant/);
      expect(refused.stderr).toMatch(/hint: no --code-verifier was given/);
      expect(refused.stderr).toMatch(/--code-url/);
    } finally {
      await other.cleanup();
    }
  });

  test('token --code with only the code uses the pending attempt verifier', async () => {
    const { url } = await startDetached();
    const landed = await signInAt(url);
    const code = landed.searchParams.get('code') as string;
    const done = await runCliToEnd(
      ['token', '--code', code, '--redirect-uri', redirectUri, ...client()],
      sandbox.env,
    );
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toMatch(/using the code verifier of the pending `login --manual`/);
    expect(done.stdout.trim()).toMatch(/^[\w.-]{20,}$/);
    expect(await pendingFiles()).toEqual([]);
  });

  test('--manual needs --redirect-uri, and cannot go with --device', async () => {
    const missing = await runCliToEnd(['login', '--manual', '--no-open', ...client()], sandbox.env);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/login --manual needs --redirect-uri/);
    const run = runCli(['login', '--manual', '--device', ...client()], sandbox.env);
    runs.push(run);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toMatch(/--manual cannot be combined with --device/);
  });
});
