/**
 * `oidc-gw login` end to end: the real CLI spawned, a real browser
 * (chromium) signing in at the real test IdP (oidc-provider), the tokens
 * cached, and `oidc-gw token` printing them.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import {
  AUTH_URL,
  assertBuilt,
  launchBrowser,
  makeSandbox,
  runCli,
  runCliToEnd,
  signIn,
  type CliRun,
  type Sandbox,
} from '../helpers/browser.js';

let idp: TestIdp;
let browser: Browser;
let sandbox: Sandbox;
const runs: CliRun[] = [];

beforeAll(async () => {
  await assertBuilt();
  idp = await startTestIdp();
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
  for (const run of runs.splice(0)) run.kill('SIGKILL');
  await sandbox.cleanup();
});

function login(extra: string[] = []): CliRun {
  const run = runCli(
    [
      'login',
      '--no-open',
      '--issuer',
      idp.issuer,
      '--client-id',
      idp.clients.native.clientId,
      ...extra,
    ],
    sandbox.env,
  );
  runs.push(run);
  return run;
}

async function cachedLogin(): Promise<Record<string, unknown>> {
  const file = join(sandbox.env['OIDC_GW_CACHE_DIR'] as string, 'user-default.json');
  const entry = JSON.parse(await readFile(file, 'utf8')) as { tokens: Record<string, unknown> };
  return entry.tokens;
}

describe('oidc-gw login in a browser', () => {
  test('signs in, caches the tokens (0600), shows the success page; `token` prints the cached access token', async () => {
    const run = login(['--audience', idp.audience]);
    const [, url] = await run.waitForStderr(AUTH_URL);
    const authUrl = new URL(url as string);
    expect(authUrl.searchParams.get('code_challenge_method')).toBe('S256');
    expect(authUrl.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(authUrl.searchParams.get('nonce')).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(authUrl.searchParams.get('scope')).toBe('openid profile email offline_access');
    expect(authUrl.searchParams.get('audience')).toBe(idp.audience);
    const redirect = new URL(authUrl.searchParams.get('redirect_uri') as string);
    expect(redirect.hostname).toBe('127.0.0.1');
    expect(redirect.pathname).toBe('/callback');

    const page = await browser.newPage();
    try {
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().startsWith(redirect.href)),
        page.goto(url as string).then(() => signIn(page, 'alice', 'alice')),
      ]);
      expect(response.status()).toBe(200);
      expect(response.headers()['referrer-policy']).toBe('no-referrer');
      await page.waitForLoadState('load');
      const text = await page.locator('body').innerText();
      expect(text).toContain('Signed in');
      expect(text).toContain('You can close this tab');
      const html = await page.content();
      const code = new URL(page.url()).searchParams.get('code') as string;
      expect(code.length).toBeGreaterThan(10);
      expect(html).not.toContain(code);
      expect(html).not.toContain(authUrl.searchParams.get('state') as string);
    } finally {
      await page.close();
    }
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toBe('');
    expect(run.stderr()).toContain('Signed in as alice <alice@example.test> (sub alice)');
    expect(run.stderr()).toContain(`issuer:        ${idp.issuer}`);

    const tokens = await cachedLogin();
    expect(tokens['issuer']).toBe(idp.issuer);
    expect(tokens['client_id']).toBe(idp.clients.native.clientId);
    expect(typeof tokens['refresh_token']).toBe('string');
    expect(typeof tokens['id_token']).toBe('string');
    const info = await stat(join(sandbox.env['OIDC_GW_CACHE_DIR'] as string, 'user-default.json'));
    expect(info.mode & 0o777).toBe(0o600);

    const printed = await runCliToEnd(['token'], sandbox.env);
    expect(printed.stderr).toBe('');
    expect(printed.code).toBe(0);
    expect(printed.stdout).toBe(`${tokens['access_token'] as string}\n`);
    // The access token is a JWT for the API (audience passed through).
    const payload = JSON.parse(
      Buffer.from(
        (tokens['access_token'] as string).split('.')[1] as string,
        'base64url',
      ).toString(),
    ) as Record<string, unknown>;
    expect(payload['aud']).toBe(idp.audience);
    expect(payload['sub']).toBe('alice');
  });

  test('a forged callback with a wrong state gets 400 and the real sign-in still completes', async () => {
    const run = login();
    const [, url] = await run.waitForStderr(AUTH_URL);
    const redirect = new URL(new URL(url as string).searchParams.get('redirect_uri') as string);
    const forged = await fetch(`${redirect.href}?code=forged-code&state=forged-state`);
    expect(forged.status).toBe(400);
    expect(forged.headers.get('referrer-policy')).toBe('no-referrer');
    const body = await forged.text();
    expect(body).toContain('does not belong to the sign-in in progress');
    expect(body).not.toContain('forged');
    await run.waitForStderr(/state does not match/);

    const page = await browser.newPage();
    try {
      await page.goto(url as string);
      await signIn(page, 'alice', 'alice');
      await page.waitForURL((u) => u.port === redirect.port);
      expect(await page.locator('h1').innerText()).toContain('Signed in');
    } finally {
      await page.close();
    }
    expect(await run.exited).toBe(0);
    expect((await cachedLogin())['issuer']).toBe(idp.issuer);
    // The listener is closed once the flow is over.
    await expect(fetch(redirect.href)).rejects.toThrow();
  });

  test('Cancel at the IdP (error=access_denied): the page says so, exit 1, nothing cached', async () => {
    const run = login();
    const [, url] = await run.waitForStderr(AUTH_URL);
    const page = await browser.newPage();
    try {
      const redirect = new URL(new URL(url as string).searchParams.get('redirect_uri') as string);
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url().startsWith(redirect.href)),
        page
          .goto(url as string)
          .then(() => page.locator('input[type="submit"][value="Cancel"]').click()),
      ]);
      expect(response.status()).toBe(403);
      await page.waitForLoadState('load');
      const text = await page.locator('body').innerText();
      expect(text).toContain('Not signed in');
      expect(text).toContain('Access was denied');
      expect(text).toContain('You can close this tab');
      expect(text).not.toContain('End-User aborted');
    } finally {
      await page.close();
    }
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toMatch(
      /oidc-gw: error: the sign-in was refused at the IdP: access_denied: End-User aborted interaction/,
    );
    await expect(cachedLogin()).rejects.toThrow(/ENOENT/);
  });

  test('--redirect-uri http://[::1]/callback: listens on IPv6 loopback and completes', async () => {
    const run = login(['--redirect-uri', 'http://[::1]/callback', '--json']);
    const [, url] = await run.waitForStderr(/^(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m);
    const redirect = new URL(new URL(url as string).searchParams.get('redirect_uri') as string);
    expect(redirect.hostname).toBe('[::1]');
    expect(redirect.port).not.toBe('');
    const page = await browser.newPage();
    try {
      await page.goto(url as string);
      await signIn(page, 'alice', 'alice');
      await page.waitForURL((u) => u.hostname === '[::1]');
      expect(await page.locator('h1').innerText()).toContain('Signed in');
    } finally {
      await page.close();
    }
    expect(await run.exited).toBe(0);
    const printed = JSON.parse(run.stdout()) as Record<string, unknown>;
    const cached = await cachedLogin();
    expect(printed['access_token']).toBe(cached['access_token']);
    expect(printed['refresh_token']).toBe(cached['refresh_token']);
    expect(printed['issuer']).toBe(idp.issuer);
    expect(typeof printed['expires_at']).toBe('number');
  });
});
