/**
 * Spawns the built `oidc-gw serve` (node bin/oidc-gw.js, after `npm run
 * build`) with a clean environment (fresh HOME/XDG dirs, no OIDC_GW_* or
 * proxy variables), waits for its `listening on` line, and stops it by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ROOT, runCli, tempHome } from './cli.js';

export { BIN, ROOT };

export function assertBuilt(): void {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'entry.js'))) {
    throw new Error(
      'dist/ is missing: run `npm run build` before the end-to-end tests (npm test does)',
    );
  }
}

export function cleanEnv(): { env: Record<string, string>; cleanup(): void } {
  const home = tempHome('oidc-gw-serve-');
  return { env: home.env, cleanup: home.cleanup };
}

export interface ServeProcess {
  readonly child: ChildProcess;
  /** http://127.0.0.1:PORT, from the `listening on` line. */
  readonly url: string;
  stdout(): string;
  stderr(): string;
  /** Sends `signal` and resolves with the exit code (SIGKILL after `ms`). */
  stop(signal?: NodeJS.Signals, ms?: number): Promise<number | null>;
  /** Resolves when the process has exited. */
  exited: Promise<number | null>;
}

export async function startServe(
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs = 15_000,
): Promise<ServeProcess> {
  assertBuilt();
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolvePromise) =>
    child.once('exit', (code) => resolvePromise(code)),
  );
  const url = await new Promise<string>((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`oidc-gw serve did not start within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    const onData = () => {
      const m = /listening on (http:\/\/[^\s"]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        child.stderr.off('data', onData);
        resolvePromise(m[1] as string);
      }
    };
    child.stderr.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`oidc-gw serve exited (${code}) before listening: ${err}`));
    });
  });
  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: (signal = 'SIGTERM', ms = 15_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      child.kill(signal);
      return exited.finally(() => clearTimeout(timer));
    },
  };
}

/** Resolves with the match once `proc`'s stderr matches `pattern` (event-driven, bounded by `ms`). */
export function waitForLog(
  proc: ServeProcess,
  pattern: RegExp,
  ms = 20_000,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(proc.stderr());
      if (!m) return false;
      clearTimeout(timer);
      proc.child.stderr?.off('data', check);
      resolve(m);
      return true;
    };
    const timer = setTimeout(() => {
      proc.child.stderr?.off('data', check);
      reject(new Error(`no ${String(pattern)} in the log within ${ms} ms:\n${proc.stderr()}`));
    }, ms);
    if (!check()) proc.child.stderr?.on('data', check);
  });
}

/** Runs `oidc-gw ARGS` to completion (for start-up failures and --help). */
export function runOnce(
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  assertBuilt();
  return runCli(args, { env, timeoutMs });
}
