/**
 * `oidc-gw login --device` end to end: the real CLI polling the real test
 * IdP while chromium approves (or denies) the code on the verification page.
 * The IdP names no interval, so each test waits about 5 s (RFC 8628 default).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import {
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

function deviceLogin(extra: string[] = []): CliRun {
  const run = runCli(
    [
      'login',
      '--device',
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

/** Reads the user code and the URLs from stderr. */
async function shown(run: CliRun): Promise<{ code: string; uri: string; complete: string }> {
  await run.waitForStderr(/Waiting for approval/);
  const err = run.stderr();
  const spaced = /^\s+((?:[A-Z0-9-] )+[A-Z0-9-])\s*$/m.exec(err)?.[1] as string;
  const uri = /open this URL on any device:\n\s+(\S+)/.exec(err)?.[1] as string;
  const complete = /has the code filled in:\n\s+(\S+)/.exec(err)?.[1] as string;
  return { code: spaced.replace(/ /g, ''), uri, complete };
}

describe('oidc-gw login --device', () => {
  test('shows the URI and the code, the user approves in the browser, tokens are cached', async () => {
    const run = deviceLogin(['--json']);
    const { code, uri, complete } = await shown(run);
    expect(code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    expect(uri).toBe(`${idp.issuer}/device`);
    expect(complete).toBe(`${idp.issuer}/device?user_code=${code}`);
    expect(run.stderr()).toContain(code.split('').join(' '));

    const page = await browser.newPage();
    try {
      // Type the code by hand, as on another device.
      await page.goto(uri);
      await page.locator('input[name="user_code"]').fill(code);
      await page.locator('button[type="submit"]').click();
      await page.waitForLoadState('load');
      expect(await page.locator('body').innerText()).toContain(code);
      await page.locator('button[type="submit"]').click();
      await page.waitForLoadState('load');
      await signIn(page, 'alice', 'alice');
      await page.waitForLoadState('load');
      expect(await page.locator('h1').innerText()).toContain('Signed in');
    } finally {
      await page.close();
    }
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toContain('Signed in as alice <alice@example.test> (sub alice)');
    const printed = JSON.parse(run.stdout()) as Record<string, unknown>;
    const entry = JSON.parse(
      await readFile(join(sandbox.env['OIDC_GW_CACHE_DIR'] as string, 'user-default.json'), 'utf8'),
    ) as { tokens: Record<string, unknown> };
    expect(entry.tokens['grant']).toBe('device_code');
    expect(entry.tokens['access_token']).toBe(printed['access_token']);
    expect(typeof entry.tokens['id_token']).toBe('string');

    const token = await runCliToEnd(['token'], sandbox.env);
    expect(token.code).toBe(0);
    expect(token.stdout).toBe(`${printed['access_token'] as string}\n`);
  });

  test('denied on the verification page: exit 1 with a clear message', async () => {
    const run = deviceLogin();
    const { complete } = await shown(run);
    const page = await browser.newPage();
    try {
      await page.goto(complete);
      await page.locator('input[name="abort"]').click();
      await page.waitForLoadState('load');
    } finally {
      await page.close();
    }
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain(
      'oidc-gw: error: the sign-in was denied on the verification page',
    );
  });

  test('Ctrl-C while polling: exit 130', async () => {
    const run = deviceLogin();
    await shown(run);
    run.kill('SIGINT');
    expect(await run.exited).toBe(130);
  });
});
