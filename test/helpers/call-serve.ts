/** Starts `oidc-gw serve` (the built CLI) for the `call` tests and stops it by its PID. */
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN, ROOT } from './call-cli.js';

export interface RunningServe {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  stderr(): string;
  stop(): Promise<void>;
}

export async function startServe(
  args: readonly string[],
  env: Record<string, string>,
  timeoutMs = 15_000,
): Promise<RunningServe> {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'serve', '--port', '0', ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`oidc-gw serve did not start within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (http:\/\/[A-Za-z0-9.:[\]-]+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`oidc-gw serve exited (${code}) before listening: ${err}`));
    });
  });
  return {
    url,
    stderr: () => err,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) {
          resolve();
          return;
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
