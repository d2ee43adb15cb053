/**
 * A real browser (Debian's chromium driven by playwright-core) and a spawned
 * `node bin/oidc-gw.js` for the login tests. When chromium is missing the
 * tests that need it fail with a message saying so: they never skip.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = process.env['OIDC_GW_TEST_CHROMIUM'] ?? '/usr/bin/chromium';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Launches chromium, or throws (the test fails) when it is not installed. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `chromium is not installed at ${CHROMIUM_PATH}: the browser tests need it (apt-get install chromium, as .ci/run does; or set OIDC_GW_TEST_CHROMIUM)`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: ARGS, timeout: 30_000 });
}

/** Fills the test IdP's sign-in form and submits it; approves a consent page if one is shown. */
export async function signIn(page: Page, username: string, password: string): Promise<void> {
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  await page.locator('button[type="submit"]').click();
}

export const REPO = resolve(import.meta.dirname, '../..');
export const BIN = join(REPO, 'bin/oidc-gw.js');

/** A fresh config file path and cache directory, never the real home. */
export interface Sandbox {
  readonly dir: string;
  readonly env: Record<string, string>;
  cleanup(): Promise<void>;
}

export async function makeSandbox(): Promise<Sandbox> {
  const dir = await mkdtemp(join(tmpdir(), 'oidc-gw-login-'));
  const env: Record<string, string> = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_CACHE_HOME: join(dir, 'xdg-cache'),
    OIDC_GW_CACHE_DIR: join(dir, 'cache'),
    OIDC_GW_CONFIG: join(dir, 'config.json'),
    NO_COLOR: '1',
  };
  return { dir, env, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A spawned `node bin/oidc-gw.js ...`, with its output collected. */
export interface CliRun {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stderr (rejects after `timeoutMs` or when the process ends). */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or 128 + signal number style: null code gives -1). */
  exited: Promise<number>;
  kill(signal?: NodeJS.Signals): void;
}

export function runCli(args: readonly string[], env: Record<string, string>): CliRun {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    err += d;
    for (const l of listeners) l();
  });
  let ended = false;
  const exited = new Promise<number>((resolveExit) => {
    child.on('close', (code) => {
      ended = true;
      for (const l of listeners) l();
      resolveExit(code ?? -1);
    });
  });
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    kill: (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.pid !== undefined) child.kill(signal);
    },
    waitForStderr(pattern, timeoutMs = 15_000) {
      return new Promise((resolveMatch, reject) => {
        const check = () => {
          const m = pattern.exec(err);
          if (m) {
            done();
            resolveMatch(m);
          } else if (ended) {
            done();
            reject(new Error(`oidc-gw ended before printing ${pattern}; stderr:\n${err}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no ${pattern} on stderr within ${timeoutMs} ms; stderr:\n${err}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** Runs the CLI to the end and returns its exit code and output. */
export async function runCliToEnd(
  args: readonly string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = runCli(args, env);
  const code = await run.exited;
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** Fails with a clear message when the CLI has not been built (`npm run build`). */
export async function assertBuilt(): Promise<void> {
  const { code, stderr } = await runCliToEnd(['--version'], { PATH: process.env['PATH'] ?? '' });
  if (code !== 0) {
    throw new Error(`node bin/oidc-gw.js does not run: run \`npm run build\` first\n${stderr}`);
  }
}

/** The authorization URL: the stderr line that is a URL with a `state` parameter. */
export const AUTH_URL = /^(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m;

/** A plain listener on 127.0.0.1 that records the queries of redirects to /callback. */
export interface CaptureServer {
  readonly redirectUri: string;
  /** The query of the next redirect (rejects after `timeoutMs`). */
  next(timeoutMs?: number): Promise<URLSearchParams>;
  close(): Promise<void>;
}

export async function startCaptureServer(): Promise<CaptureServer> {
  const { createServer } = await import('node:http');
  const queue: URLSearchParams[] = [];
  const waiting: Array<(q: URLSearchParams) => void> = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname === '/callback') {
      const waiter = waiting.shift();
      if (waiter) waiter(url.searchParams);
      else queue.push(url.searchParams);
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('captured');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    next(timeoutMs = 15_000) {
      const ready = queue.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no redirect came back')), timeoutMs);
        waiting.push((q) => {
          clearTimeout(timer);
          resolve(q);
        });
      });
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Follows an authorization URL in the browser (signing in when the IdP asks)
 * and returns the query of the redirect that `capture` received.
 */
export async function authorizeInBrowser(
  page: Page,
  url: string,
  capture: CaptureServer,
  user = { username: 'alice', password: 'alice' },
): Promise<URLSearchParams> {
  // Every step is bounded well under the test's own timeout, and a failure
  // says where the browser stopped instead of a silent test timeout.
  const STEP_MS = 12_000;
  page.setDefaultTimeout(STEP_MS);
  const where = async (what: string) => {
    const text = await page.innerText('body', { timeout: 1_000 }).catch(() => '(no page text)');
    return `${what}; the browser is at ${page.url()}: ${text.replace(/\s+/g, ' ').slice(0, 300)}`;
  };
  const next = capture.next();
  try {
    await page.goto(url);
    if (page.url().includes('/interaction/')) await signIn(page, user.username, user.password);
  } catch (error) {
    throw new Error(await where(`sign-in failed (${(error as Error).message.split('\n')[0]})`));
  }
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      void where(`no redirect to the capture server after ${STEP_MS / 1000} s`).then((m) =>
        reject(new Error(m)),
      );
    }, STEP_MS);
  });
  let query: URLSearchParams;
  try {
    query = await Promise.race([next, stuck]);
  } finally {
    clearTimeout(timer);
  }
  // Let the redirect's page finish loading: closing a page in the middle of
  // that navigation can stall page.close() for about 30 s in chromium.
  await page
    .waitForURL((u) => u.href.startsWith(capture.redirectUri), {
      waitUntil: 'load',
      timeout: STEP_MS,
    })
    .catch(() => {});
  return query;
}

/** Path of the profile's cached login in a sandbox. */
export function userCacheFile(env: Record<string, string>, profile = 'default'): string {
  return join(env['OIDC_GW_CACHE_DIR'] as string, `user-${profile}.json`);
}

/**
 * Runs `oidc-gw login --no-open` and signs in with the browser; returns the
 * cached token set. Fails the test when the login does not succeed.
 */
export async function loginWithCli(
  browser: Browser,
  issuer: string,
  clientId: string,
  env: Record<string, string>,
  extra: readonly string[] = [],
): Promise<Record<string, unknown>> {
  const run = runCli(
    ['login', '--no-open', '--issuer', issuer, '--client-id', clientId, ...extra],
    env,
  );
  try {
    const [, url] = await run.waitForStderr(AUTH_URL);
    const page = await browser.newPage();
    try {
      await page.goto(url as string);
      if (page.url().includes('/interaction/')) await signIn(page, 'alice', 'alice');
      const code = await run.exited;
      if (code !== 0) throw new Error(`oidc-gw login exited ${code}:\n${run.stderr()}`);
    } finally {
      await page.close();
    }
  } finally {
    run.kill('SIGKILL');
  }
  const { readFile } = await import('node:fs/promises');
  const entry = JSON.parse(await readFile(userCacheFile(env), 'utf8')) as {
    tokens: Record<string, unknown>;
  };
  return entry.tokens;
}
