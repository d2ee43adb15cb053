/** Runs the built CLI (bin/oidc-gw.js) as a user would, and collects what it printed. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'oidc-gw.js');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  timeoutMs?: number;
  cwd?: string;
}

/** A clean environment: no inherited OIDC_GW_* settings, no colour, isolated HOME/XDG dirs. */
export function baseEnv(home: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('OIDC_GW_') || k === 'FORCE_COLOR' || k === 'NO_COLOR')
      continue;
    if (/^(HTTPS?|ALL|NO)_PROXY$/i.test(k)) continue;
    env[k] = v;
  }
  env['HOME'] = home;
  env['XDG_CONFIG_HOME'] = join(home, '.config');
  env['XDG_CACHE_HOME'] = join(home, '.cache');
  return env;
}

/** Like runCli, but stdout is kept as bytes (binary bodies). */
export interface RunBytesResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export async function runCli(
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const r = await runCliBytes(args, options);
  return { ...r, stdout: r.stdout.toString() };
}

export function runCliBytes(
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunBytesResult> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? ROOT,
      env: options.env as NodeJS.ProcessEnv,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `oidc-gw ${args.join(' ')} did not finish within ${timeoutMs} ms; stderr: ${Buffer.concat(err).toString()}`,
        ),
      );
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        code,
        signal,
        stdout: Buffer.concat(out),
        stderr: Buffer.concat(err).toString(),
      });
    });
    child.stdin.on('error', () => {}); // a CLI that exits before reading its input
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** A temporary home for one test file; call the returned cleanup in afterAll. */
export function tempHome(prefix = 'oidc-gw-test-'): {
  dir: string;
  env: Record<string, string>;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, env: baseEnv(dir), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
