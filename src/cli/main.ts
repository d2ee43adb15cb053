import process from 'node:process';
import { CommanderError } from 'commander';
import type { Io } from '../context.js';
import { buildProgram, type RunResult } from './program.js';
import type { Signals } from './context.js';

/**
 * The entry point: parse, run, and one top-level catch. Only this module
 * touches process.argv, process.exitCode and signals.
 */
export async function main(
  argv: readonly string[],
  io: Io,
  env: Readonly<Record<string, string | undefined>>,
): Promise<number> {
  const signals: Signals = { controller: new AbortController(), handlers: new Set() };
  const result: RunResult = { exitCode: 0 };
  let interrupts = 0;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
    interrupts++;
    if (signals.handlers.size > 0) {
      for (const handler of signals.handlers) handler(signal);
      return;
    }
    if (interrupts > 1) {
      // A second Ctrl-C while the command is still unwinding: stop now.
      // eslint-disable-next-line n/no-process-exit
      process.exit(130);
    }
    signals.controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const program = await buildProgram(argv, io, env, signals, result);
  // `call --json BODY` is curl's request body, not the output switch.
  const wantsJson = argv.includes('--json') && argv[0] !== 'call';
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
  } catch (error) {
    if (
      error instanceof CommanderError &&
      (error.exitCode === 0 ||
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version')
    ) {
      result.exitCode = 0;
    } else {
      const { renderError } = await import('./render-error.js');
      result.exitCode = await renderError(io, error, {
        json: wantsJson,
        debug: argv.includes('--verbose') || argv.includes('-v') || env['OIDC_GW_DEBUG'] === '1',
        noColor: argv.includes('--no-color'),
        env,
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  if (signals.controller.signal.aborted && result.exitCode !== 0) result.exitCode = 130;
  return result.exitCode;
}
