import process from 'node:process';
import type { Io } from '../context.js';
import { main } from './main.js';

export { main };

/**
 * Runs the CLI on this process's arguments, streams and environment.
 * Called by bin/oidc-gw.js; the bundle is CommonJS (scripts/bundle.mjs), so
 * there is no top-level await.
 */
export function run(): void {
  // `oidc-gw token | head -c 10` closes the pipe early: that is not an error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') {
        // eslint-disable-next-line n/no-process-exit
        process.exit(process.exitCode ?? 0);
      }
      throw error;
    });
  }

  // stdin is opened only when a command reads it (opening it costs start-up time).
  const io: Io = {
    stdout: process.stdout,
    stderr: process.stderr,
    get stdin() {
      return process.stdin;
    },
  };
  void main(process.argv.slice(2), io, process.env).then((code) => {
    process.exitCode = code;
  });
}
