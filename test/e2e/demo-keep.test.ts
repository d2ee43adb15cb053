/**
 * `oidc-gw demo --keep` (issue 16, item 14): what it prints is enough to
 * continue, and every command it prints works as printed. The commands are
 * taken from its output and run, word for word, in another sandbox (another
 * terminal of the same user); chromium signs in where a login asks for it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  AUTH_URL,
  assertBuilt,
  BIN,
  launchBrowser,
  makeSandbox,
  REPO,
  runCli,
  runCliToEnd,
  signIn,
  type CliRun,
  type Sandbox,
} from '../helpers/browser.js';

let browser: Browser;
let demo: ChildProcess | undefined;
let demoHome: Sandbox;
let user: Sandbox;
let printed = '';
const runs: CliRun[] = [];

beforeAll(async () => {
  await assertBuilt();
  browser = await launchBrowser();
  demoHome = await makeSandbox();
  user = await makeSandbox();
  demo = spawn(process.execPath, [BIN, 'demo', '--keep'], {
    cwd: REPO,
    env: demoHome.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child = demo;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no commands printed within 90 s: ${printed}`)),
      90_000,
    );
    child.stderr?.on('data', (d: Buffer) => {
      printed += d.toString();
      if (/^ {2}oidc-gw call .*$/m.test(printed)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`demo --keep exited (${code}): ${printed}`));
    });
  });
}, 120_000);

afterAll(async () => {
  for (const run of runs) run.kill('SIGKILL');
  await browser?.close();
  if (demo && demo.exitCode === null) {
    const exited = new Promise((resolve) => demo?.once('exit', resolve));
    demo.kill('SIGTERM');
    await exited;
  }
  await demoHome?.cleanup();
  await user?.cleanup();
});

/** The printed command that starts with `oidc-gw PREFIX`, as argv (it has no quoting to undo). */
function command(prefix: string): string[] {
  const line = printed
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith(`oidc-gw ${prefix}`));
  if (!line) throw new Error(`no "oidc-gw ${prefix}" line in:\n${printed}`);
  expect(line).not.toMatch(/['"$`…]/);
  return line.split(/\s+/).slice(1);
}

function isJwt(text: string): boolean {
  return /^[\w-]+\.[\w-]+\.[\w-]+$/.test(text.trim());
}

/** Runs a printed login, signs in as alice in chromium at `url(stderr)`, and waits for its end. */
async function loginWith(args: string[], url: (stderr: string) => string | undefined) {
  const run = runCli(args, user.env);
  runs.push(run);
  await run.waitForStderr(/Waiting for/, 30_000);
  const target = url(run.stderr());
  expect(target, run.stderr()).toBeDefined();
  const page = await browser.newPage();
  try {
    await page.goto(target!);
    if (args.includes('--device')) {
      // The confirmation page of the code that is filled in.
      await page.locator('button[type="submit"]').click();
      await page.waitForLoadState('load');
    }
    await signIn(page, 'alice', 'alice');
    await page.waitForLoadState('load');
  } finally {
    await page.close();
  }
  expect(await run.exited, run.stderr()).toBe(0);
  expect(run.stderr()).toMatch(/Signed in as alice/);
}

describe('demo --keep', () => {
  test('prints the service client secret and where everything runs', () => {
    expect(printed).toMatch(/users alice:alice/);
    expect(printed).toMatch(/oidc-gw-service \(client credentials; secret [\w-]{20,}\)/);
    expect(printed).toMatch(/gateway {2}http:\/\/127\.0\.0\.1:\d+/);
  });

  test('every printed command works as printed, in order', async () => {
    const discover = await runCliToEnd(command('discover'), user.env);
    expect(discover.code, discover.stderr).toBe(0);

    const cc = await runCliToEnd(command('token --client-credentials'), user.env);
    expect(cc.code, cc.stderr).toBe(0);
    expect(isJwt(cc.stdout)).toBe(true);

    const browserLogin = command('login --issuer');
    await loginWith(browserLogin, (stderr) => AUTH_URL.exec(stderr)?.[1]);
    const afterBrowser = await runCliToEnd(['token', '--profile', 'demo'], user.env);
    expect(isJwt(afterBrowser.stdout), afterBrowser.stdout).toBe(true);

    const deviceLogin = command('login --device');
    await loginWith(deviceLogin, (stderr) => /has the code filled in:\n\s+(\S+)/.exec(stderr)?.[1]);
    // The --audience it carries is what makes the access token a JWT the gateway verifies.
    const afterDevice = await runCliToEnd(['token', '--profile', 'demo'], user.env);
    expect(isJwt(afterDevice.stdout), afterDevice.stdout).toBe(true);
    expect(afterDevice.stdout).not.toBe(afterBrowser.stdout);

    const decode = await runCliToEnd(command('decode'), user.env);
    expect(decode.code, decode.stderr + decode.stdout).toBe(0);

    const call = await runCliToEnd(command('call'), user.env);
    expect(call.code, call.stderr).toBe(0);
    expect(call.stdout).toMatch(/"x-user": "alice"/);
  }, 120_000);
});
