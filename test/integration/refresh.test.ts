/**
 * Refresh of the cached login (src/services/session.ts refreshUserTokens),
 * through the real CLI against the real test IdP, after a real browser
 * login: rotation stored atomically, automatic refresh by `token`, two
 * concurrent refreshes, and invalid_grant clearing the cache.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import {
  assertBuilt,
  launchBrowser,
  loginWithCli,
  makeSandbox,
  runCliToEnd,
  userCacheFile,
  type Sandbox,
} from '../helpers/browser.js';

let idp: TestIdp;
let browser: Browser;
let sandbox: Sandbox;

beforeAll(async () => {
  await assertBuilt();
  idp = await startTestIdp({ refreshTokenRotation: true });
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await idp?.close();
});

beforeEach(async () => {
  sandbox = await makeSandbox();
});

afterEach(async () => {
  await sandbox.cleanup();
});

type Tokens = Record<string, unknown>;

async function cached(): Promise<Tokens | undefined> {
  try {
    return (JSON.parse(await readFile(userCacheFile(sandbox.env), 'utf8')) as { tokens: Tokens })
      .tokens;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Makes the cached access token look like it expires in `seconds` (so `token` refreshes it). */
async function expireIn(seconds: number): Promise<void> {
  const file = userCacheFile(sandbox.env);
  const entry = JSON.parse(await readFile(file, 'utf8')) as { tokens: Tokens };
  entry.tokens['expires_at'] = Math.floor(Date.now() / 1000) + seconds;
  await writeFile(file, JSON.stringify(entry));
}

async function login(): Promise<Tokens> {
  return loginWithCli(browser, idp.issuer, idp.clients.native.clientId, sandbox.env);
}

/** Asks the IdP directly whether it still takes a refresh token. */
async function idpAcceptsRefresh(
  refreshToken: string,
): Promise<{ status: number; error?: string }> {
  const response = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: idp.clients.native.clientId,
    }),
  });
  const body = (await response.json()) as { error?: string };
  return { status: response.status, ...(body.error ? { error: body.error } : {}) };
}

describe('refresh of the cached login', () => {
  test('`token --refresh` stores the rotated refresh token (0600, whole file); the old one is spent', async () => {
    const first = await login();
    const before = idp.requests.count('/token');
    const result = await runCliToEnd(['token', '--refresh', '--json'], sandbox.env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(idp.requests.count('/token')).toBe(before + 1);
    const printed = JSON.parse(result.stdout) as Tokens;
    const now = await cached();
    expect(now?.['refresh_token']).toBe(printed['refresh_token']);
    expect(now?.['refresh_token']).not.toBe(first['refresh_token']);
    expect(now?.['access_token']).toBe(printed['access_token']);
    expect(now?.['access_token']).not.toBe(first['access_token']);
    expect(now?.['id_token']).toBeTypeOf('string');
    expect(now?.['grant']).toBe('authorization_code');
    expect((await stat(userCacheFile(sandbox.env))).mode & 0o777).toBe(0o600);
    // Rotation: the first refresh token no longer works.
    expect(await idpAcceptsRefresh(first['refresh_token'] as string)).toMatchObject({
      status: 400,
      error: 'invalid_grant',
    });
  });

  test('`token` refreshes by itself when the access token expires within 60 s, then serves the cache', async () => {
    const first = await login();
    await expireIn(30);
    const before = idp.requests.count('/token');
    const a = await runCliToEnd(['token'], sandbox.env);
    expect(a.code).toBe(0);
    expect(idp.requests.count('/token')).toBe(before + 1);
    const refreshed = await cached();
    expect(a.stdout).toBe(`${refreshed?.['access_token'] as string}\n`);
    expect(refreshed?.['access_token']).not.toBe(first['access_token']);
    const b = await runCliToEnd(['token'], sandbox.env);
    expect(b.stdout).toBe(a.stdout);
    expect(idp.requests.count('/token')).toBe(before + 1);
  });

  test('two concurrent `token` refreshes: both succeed with the same token, one request reaches the IdP', async () => {
    await login();
    await expireIn(10);
    const before = idp.requests.count('/token');
    const [a, b] = await Promise.all([
      runCliToEnd(['token'], sandbox.env),
      runCliToEnd(['token'], sandbox.env),
    ]);
    expect([a.code, b.code, a.stderr, b.stderr]).toEqual([0, 0, '', '']);
    expect(a.stdout).toBe(b.stdout);
    expect(idp.requests.count('/token')).toBe(before + 1);
    expect(a.stdout).toBe(`${(await cached())?.['access_token'] as string}\n`);
  });

  test('two concurrent `token --refresh`: both succeed, no invalid_grant, the last rotation is kept', async () => {
    await login();
    const before = idp.requests.count('/token');
    const [a, b] = await Promise.all([
      runCliToEnd(['token', '--refresh', '--json'], sandbox.env),
      runCliToEnd(['token', '--refresh', '--json'], sandbox.env),
    ]);
    expect([a.code, b.code]).toEqual([0, 0]);
    expect(a.stderr + b.stderr).not.toContain('invalid_grant');
    expect(idp.requests.count('/token')).toBe(before + 2);
    const outputs = [JSON.parse(a.stdout) as Tokens, JSON.parse(b.stdout) as Tokens];
    expect(outputs[0]?.['refresh_token']).not.toBe(outputs[1]?.['refresh_token']);
    const kept = (await cached())?.['refresh_token'];
    expect(outputs.map((o) => o['refresh_token'])).toContain(kept);
    expect(await idpAcceptsRefresh(kept as string)).toMatchObject({ status: 200 });
  });

  test('invalid_grant (refresh token revoked at the IdP) clears the cached login and says to log in again', async () => {
    const first = await login();
    const revoked = await fetch(`${idp.issuer}/token/revocation`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: first['refresh_token'] as string,
        token_type_hint: 'refresh_token',
        client_id: idp.clients.native.clientId,
      }),
    });
    expect(revoked.status).toBe(200);
    const result = await runCliToEnd(['token', '--refresh'], sandbox.env);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('invalid_grant');
    expect(result.stderr).toContain('oidc-gw login');
    expect(await cached()).toBeUndefined();
    const after = await runCliToEnd(['token'], sandbox.env);
    expect(after.code).toBe(1);
    expect(after.stderr).toContain('no cached token');
  });
});
