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
  let finished: number | undefined;
  // A closed stdout (`oidc-gw token | head -c 10`) is not an error: the reader
  // took what it wanted. A closed stderr is: a gateway whose log reader went
  // away stops with 1, so that a supervisor notices and restarts it.
  const closed = (fd: 1 | 2) => () => {
    // eslint-disable-next-line n/no-process-exit
    process.exit(finished ?? (fd === 1 ? 0 : 1));
  };
  // The streams are created only when a command needs them (cli/stdio.ts);
  // stdin only when a command reads it. Each costs start-up time.
  const stdout = new Stdio(1, () => process.stdout, closed(1));
  const stderr = new Stdio(2, () => process.stderr, closed(2));
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
  // Until main settles: a run that ends without settling (nothing left to wait
  // for) is a failure, not a success.
  process.exitCode = 1;
  void main(process.argv.slice(2), io, process.env).then((code) => {
    finished = code;
    process.exitCode = code;
  });
}
