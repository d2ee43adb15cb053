/**
 * Runs the built CLI (`node bin/oidc-gw.js call ...`) with a clean
 * environment: a fresh temporary OIDC_GW_CACHE_DIR and OIDC_GW_CONFIG, no
 * inherited OIDC_GW_* or proxy variables. stdout is kept as bytes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseEnv, runCliBytes } from './cli.js';

export { BIN, ROOT } from './cli.js';

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
  const env = baseEnv(dir);
  const cacheDir = join(dir, 'cache');
  const configPath = join(dir, 'config.json');
  Object.assign(env, {
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

export async function runCli(
  args: readonly string[],
  options: { env: Record<string, string>; input?: string | Buffer; timeoutMs?: number },
): Promise<CliResult> {
  const r = await runCliBytes(args, options);
  return { code: r.code, stdout: r.stdout, stderr: r.stderr };
}
