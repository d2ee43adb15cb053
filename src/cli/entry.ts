import process from 'node:process';
import type { Io } from '../context.js';
import { main } from './main.js';
import { Stdio } from './stdio.js';

export { main };

/**
 * Runs the CLI on this process's arguments, streams and environment.
 * Called by bin/oidc-gw.js; the bundle is CommonJS (scripts/bundle.mjs), so
 * there is no top-level await.
 */
export function run(): void {
  // `oidc-gw token | head -c 10` closes the pipe early: that is not an error.
  const closed = () => {
    // eslint-disable-next-line n/no-process-exit
    process.exit(process.exitCode ?? 0);
  };
  // The streams are created only when a command needs them (cli/stdio.ts);
  // stdin only when a command reads it. Each costs start-up time.
  const stdout = new Stdio(1, () => process.stdout, closed);
  const stderr = new Stdio(2, () => process.stderr, closed);
  const io: Io = {
    get stdout() {
      return stdout.stream();
    },
    get stderr() {
      return stderr.stream();
    },
    get stdin() {
      return process.stdin;
    },
    text: { stdout, stderr },
  };
  void main(process.argv.slice(2), io, process.env).then((code) => {
    process.exitCode = code;
  });
}
