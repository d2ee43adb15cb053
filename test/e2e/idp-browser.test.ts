/**
 * The sign-in page of `oidc-gw idp` in a real browser (chromium through
 * playwright-core): the spawned CLI, a code flow with PKCE, a wrong password
 * that signs nobody in, then the right one, and the code exchanged with
 * openid-client. (`oidc-gw login` against the IdP is covered by the login
 * tests.)
 */
import type { Browser } from 'playwright-core';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  assertBuilt,
  launchBrowser,
  runCli,
  signIn,
  startCaptureServer,
  type CaptureServer,
  type CliRun,
} from '../helpers/browser.js';

let idp: CliRun;
let issuer: string;
let browser: Browser;
let capture: CaptureServer;

beforeAll(async () => {
  await assertBuilt();
  idp = runCli(['idp', '--port', '0', '--user', 'alice:s3cret!'], {
    PATH: process.env['PATH'] ?? '',
    NO_COLOR: '1',
  });
  issuer = (await idp.waitForStderr(/issuer: (http:\/\/127\.0\.0\.1:\d+)/))[1] as string;
  browser = await launchBrowser();
  capture = await startCaptureServer();
});

afterAll(async () => {
  await browser?.close();
  await capture?.close();
  if (idp) {
    idp.kill('SIGTERM');
    expect(await idp.exited).toBe(0);
  }
});

describe('oidc-gw idp sign-in page in chromium', () => {
  it('a wrong password shows the error and goes nowhere; the right one completes the flow', async () => {
    const config = await client.discovery(new URL(issuer), 'oidc-gw-cli', {}, client.None(), {
      execute: [client.allowInsecureRequests],
    });
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: capture.redirectUri,
      scope: 'openid profile',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      audience: 'https://api.local.test/',
    });

    const page = await browser.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      // the page after a wrong password is answered with 401, which chromium notes
      if (m.type() === 'error' && !/status of 401/.test(m.text())) consoleErrors.push(m.text());
    });
    const externalRequests: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(issuer) && !r.url().startsWith(capture.redirectUri)) {
        externalRequests.push(r.url());
      }
    });
    try {
      const redirected = capture.next(20_000);
      await page.goto(url.href);
      expect(page.url()).toContain('/interaction/');
      await expect(page.locator('h1').textContent()).resolves.toBe('Sign in');

      await signIn(page, 'alice', 'wrong');
      await expect(page.locator('#error').textContent()).resolves.toBe(
        'Wrong username or password.',
      );
      expect(page.url()).toContain('/interaction/');
      await expect(page.locator('input[name="username"]').inputValue()).resolves.toBe('alice');
      await idp.waitForStderr(/refused sign-in as "alice"/);
      expect(idp.stderr()).not.toContain('signed in alice');

      await signIn(page, 'alice', 's3cret!');
      const query = await redirected;
      expect(query.get('state')).toBe(state);
      const callback = new URL(capture.redirectUri);
      callback.search = query.toString();
      const tokens = await client.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: verifier,
        expectedState: state,
      });
      expect(tokens.claims()?.sub).toBe('alice');
      expect(tokens.claims()?.name).toBe('alice');
      await idp.waitForStderr(/signed in alice/);

      // self-contained pages under a strict CSP: nothing blocked, nothing fetched elsewhere
      expect(consoleErrors.join('\n')).toBe('');
      expect(externalRequests).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
