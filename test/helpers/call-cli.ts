/**
 * Runs the built CLI (`node bin/oidc-gw.js call ...`) with a clean
 * environment: a fresh temporary OIDC_GW_CACHE_DIR and OIDC_GW_CONFIG, no
 * inherited OIDC_GW_* or proxy variables. stdout is kept as bytes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = join(ROOT, 'bin', 'oidc-gw.js');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

export interface CallEnv {
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly cacheDir: string;
  readonly configPath: string;
  cleanup(): void;
}

/** A fresh home, cache directory and config path for one test. */
export function callEnv(extra: Record<string, string> = {}): CallEnv {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-call-'));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith('OIDC_GW_') || k === 'FORCE_COLOR' || k === 'NO_COLOR')
      continue;
    if (/^(https?|all|no)_proxy$/i.test(k)) continue;
    env[k] = v;
  }
  const cacheDir = join(dir, 'cache');
  const configPath = join(dir, 'config.json');
  Object.assign(env, {
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, '.config'),
    XDG_CACHE_HOME: join(dir, '.cache'),
    OIDC_GW_CACHE_DIR: cacheDir,
    OIDC_GW_CONFIG: configPath,
    ...extra,
  });
  return {
    dir,
    env,
    cacheDir,
    configPath,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function runCli(
  args: readonly string[],
  options: { env: Record<string, string>; input?: string | Buffer; timeoutMs?: number },
): Promise<CliResult> {
  const timeoutMs = options.timeoutMs ?? 20_000;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: ROOT,
      env: options.env,
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
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString() });
    });
    child.stdin.on('error', () => {});
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}
