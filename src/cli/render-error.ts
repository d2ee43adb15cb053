import { CommanderError } from 'commander';
import { EXIT, GwError, isGwError, type ExitCode } from '../core/errors/index.js';
import { findCauseCode, isNetworkErrorCode } from '../core/errors/causes.js';
import type { Io } from '../context.js';
import { escapeControls } from '../core/terminal-text.js';
import { createOutput, loadColors, wantsColor } from '../output/output.js';

function findCode(error: unknown): string | undefined {
  return findCauseCode(error, isNetworkErrorCode);
}

/** One place that maps errors to exit codes (docs/errors.md; docs/architecture.md, "Errors"). */
export function exitCodeFor(error: unknown): ExitCode {
  if (isGwError(error)) return error.exitCode;
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
  if (findCode(error)) return EXIT.network;
  return EXIT.failed;
}

export interface RenderOptions {
  json: boolean;
  debug: boolean;
  noColor: boolean;
  env: Readonly<Record<string, string | undefined>>;
}

/** `oidc-gw: error: MESSAGE` (+ `hint: ...`) on stderr; with --json also `{"error": {...}}` on stdout. */
export async function renderError(
  io: Io,
  error: unknown,
  options: RenderOptions,
): Promise<ExitCode> {
  if (wantsColor(io, options)) await loadColors();
  const out = createOutput(io, {
    json: options.json,
    verbose: false,
    noColor: options.noColor,
    env: options.env,
  });
  const s = out.style;
  let code: string;
  let message: string;
  let hint: string | undefined;
  if (isGwError(error)) {
    code = error.code;
    message = error.message;
    hint = error.hint;
  } else if (error instanceof CommanderError) {
    code = 'ERR_USAGE';
    message = error.message.replace(/^error: /, '');
    hint = 'see --help';
  } else if (findCode(error)) {
    code = 'ERR_NETWORK';
    message = error instanceof Error ? error.message : String(error);
  } else {
    code = 'ERR_INTERNAL';
    const text = error instanceof Error ? error.message : String(error);
    message = `unexpected error (this is a bug in oidc-gw): ${text}`;
    hint = options.debug
      ? undefined
      : 'run again with --verbose or OIDC_GW_DEBUG=1 for details, and report it';
  }
  const oneLine = message.replace(/\s*\n\s*/g, ' ').trim();
  // A message may quote an IdP's or a server's words: escaped for the terminal.
  out.info(`${s.red('oidc-gw: error:')} ${escapeControls(oneLine)}`);
  if (hint) out.info(`${s.dim('hint:')} ${escapeControls(hint)}`);
  // Stacks: for unexpected errors with --verbose; for expected ones only with OIDC_GW_DEBUG=1.
  const showStack = options.env['OIDC_GW_DEBUG'] === '1' || (options.debug && !isGwError(error));
  if (showStack && error instanceof Error) {
    let cause: unknown = error;
    for (let i = 0; i < 6 && cause instanceof Error; i++) {
      out.info(s.dim(cause.stack ?? String(cause)));
      cause = cause.cause;
      if (cause instanceof Error) out.info(s.dim('caused by:'));
    }
  }
  if (options.json) out.printJson({ error: { code, message: oneLine, ...(hint ? { hint } : {}) } });
  return exitCodeFor(error);
}

export { GwError };
