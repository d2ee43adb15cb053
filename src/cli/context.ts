import process from 'node:process';
import type { Context, GlobalOptions, Io, Prompter } from '../context.js';
import { createOutput, loadColors, wantsColor } from '../output/output.js';
import { GwError } from '../core/errors/index.js';

export interface Signals {
  /** Aborted on SIGINT/SIGTERM when no shutdown handler is registered. */
  readonly controller: AbortController;
  readonly handlers: Set<(signal: 'SIGINT' | 'SIGTERM') => void>;
}

/** A prompter over Inquirer, loaded only when a prompt is really shown. */
export function createPrompter(io: Io): Prompter {
  // Asked only when a prompt is needed: touching stdin costs start-up time.
  let canPromptValue: boolean | undefined;
  const canPromptNow = () => (canPromptValue ??= Boolean(io.stdin.isTTY && io.text.stderr.isTTY));
  const ensure = () => {
    if (!canPromptNow())
      throw new GwError('ERR_MISSING_SETTING', 'cannot prompt: stdin is not a terminal');
  };
  const opts = () => ({ output: io.stderr, input: io.stdin });
  return {
    get canPrompt() {
      return canPromptNow();
    },
    async input(message, options = {}) {
      ensure();
      const { input } = await import('@inquirer/prompts');
      return input(
        {
          message,
          ...(options.default === undefined ? {} : { default: options.default }),
          ...(options.validate ? { validate: options.validate } : {}),
        },
        opts(),
      );
    },
    async password(message) {
      ensure();
      const { password } = await import('@inquirer/prompts');
      return password({ message, mask: '*' }, opts());
    },
    async confirm(message, defaultValue = false) {
      ensure();
      const { confirm } = await import('@inquirer/prompts');
      return confirm({ message, default: defaultValue }, opts());
    },
    async select(message, choices) {
      ensure();
      const { select } = await import('@inquirer/prompts');
      return select(
        { message, choices: choices.map((c) => ({ value: c.value, name: c.name ?? c.value })) },
        opts(),
      );
    },
  };
}

export async function createContext(
  io: Io,
  env: Readonly<Record<string, string | undefined>>,
  globals: GlobalOptions,
  signals: Signals,
): Promise<Context> {
  if (wantsColor(io, { noColor: globals.noColor, env })) await loadColors();
  return {
    io,
    env,
    globals,
    out: createOutput(io, {
      json: globals.json,
      verbose: globals.verbose,
      noColor: globals.noColor,
      env,
    }),
    now: () => Date.now(),
    prompter: createPrompter(io),
    async openUrl(url) {
      const { default: open } = await import('open');
      const child = await open(url, { wait: false });
      child.on('error', () => {});
      child.unref();
    },
    onShutdown(handler) {
      signals.handlers.add(handler);
      return () => signals.handlers.delete(handler);
    },
    onReload(handler) {
      const listener = () => handler();
      process.on('SIGHUP', listener);
      return () => process.off('SIGHUP', listener);
    },
    signal: signals.controller.signal,
    self: { execPath: process.execPath, script: process.argv[1] ?? 'oidc-gw' },
  };
}
