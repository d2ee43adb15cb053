/**
 * The README's promise, in a real browser: `oidc-gw login --no-open` against
 * `oidc-gw idp` (both the real CLI), a wrong password that signs nobody in,
 * then the right one; the cached access token is then a JWT for the dev API.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

let idp: CliRun;
let issuer: string;
let browser: Browser;
let sandbox: Sandbox;
const AUDIENCE = 'https://api.local.test/';

beforeAll(async () => {
  await assertBuilt();
  sandbox = await makeSandbox();
  idp = runCli(['idp', '--port', '0'], sandbox.env);
  issuer = (await idp.waitForStderr(/issuer: (http:\/\/127\.0\.0\.1:\d+)/))[1] as string;
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (idp) {
    idp.kill('SIGTERM');
    expect(await idp.exited).toBe(0);
  }
  await sandbox?.cleanup();
});

describe('oidc-gw login against oidc-gw idp', () => {
  it('a wrong password signs nobody in; the right one completes the login', async () => {
    const login = runCli(
      [
        'login',
        '--no-open',
        '--issuer',
        issuer,
        '--client-id',
        'oidc-gw-cli',
        '--audience',
        AUDIENCE,
      ],
      sandbox.env,
    );
    const url = (await login.waitForStderr(AUTH_URL))[1] as string;
    const page = await browser.newPage();
    try {
      await page.goto(url);
      await signIn(page, 'alice', 'not-her-password');
      expect(await page.locator('body').innerText()).toContain('Wrong username or password.');
      expect(page.url()).not.toMatch(/\/callback/);
      await signIn(page, 'alice', 'alice');
      await page.waitForURL(/127\.0\.0\.1:\d+\/callback/, { timeout: 15_000 });
      const text = await page.locator('body').innerText();
      expect(text).toContain('You are signed in to oidc-gw.');
      expect(text).toContain('You can close this tab');
    } finally {
      await page.close();
    }
    expect(await login.exited).toBe(0);
    expect(login.stderr()).toMatch(/alice/);

    const token = await runCliToEnd(['token', '--issuer', issuer], sandbox.env);
    expect(token.code, token.stderr).toBe(0);
    const payload = JSON.parse(
      Buffer.from(token.stdout.trim().split('.')[1] ?? '', 'base64url').toString(),
    ) as Record<string, unknown>;
    expect(payload['aud']).toBe(AUDIENCE);
    expect(payload['iss']).toBe(issuer);
    expect(payload['sub']).toBe('alice');
  }, 60_000);
});
