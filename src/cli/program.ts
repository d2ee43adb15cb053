import { Command, CommanderError } from 'commander';
import type { GlobalOptions, Io } from '../context.js';
import type { CommandHost } from '../commands/host.js';
import { register as registerLogin } from '../commands/login.js';
import { register as registerLogout } from '../commands/logout.js';
import { register as registerToken } from '../commands/token.js';
import { register as registerDecode } from '../commands/decode.js';
import { register as registerServe } from '../commands/serve.js';
import { register as registerCall } from '../commands/call.js';
import { register as registerDiscover } from '../commands/discover.js';
import { register as registerConfig } from '../commands/config.js';
import { register as registerIdp } from '../commands/idp.js';
import { register as registerDemo } from '../commands/demo.js';
import { createContext, type Signals } from './context.js';
import { renderError } from './render-error.js';

export const VERSION = '0.1.0';

export interface RunResult {
  exitCode: number;
}

function globalsFrom(opts: Record<string, unknown>): GlobalOptions {
  return Object.freeze({
    json: opts['json'] === true,
    verbose: opts['verbose'] === true,
    noColor: opts['color'] === false,
    profile: typeof opts['profile'] === 'string' ? opts['profile'] : undefined,
    config: typeof opts['config'] === 'string' ? opts['config'] : undefined,
    insecureHttp: opts['insecureHttp'] === true,
    timeout: typeof opts['timeout'] === 'number' ? opts['timeout'] : 30,
  });
}

/**
 * Builds the commander program. Command modules are small (flags only); each
 * action imports what it needs when it runs.
 */
export function buildProgram(
  io: Io,
  env: Readonly<Record<string, string | undefined>>,
  signals: Signals,
  result: RunResult,
): Command {
  const program = new Command('oidc-gw');
  program
    .description(
      'OAuth 2.0 / OpenID Connect from the terminal: log in, get tokens, read them as a gateway does,\nrun a local verifying gateway, and call APIs with the token attached.',
    )
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (str) => io.stdout.write(str),
      writeErr: (str) => io.stderr.write(str),
      // Usage errors are rendered by main as `oidc-gw: error: ...`.
      outputError: () => {},
    })
    .exitOverride()
    .addHelpText(
      'after',
      '\nStart here: `oidc-gw demo` runs the whole chain on this machine (local IdP, gateway, calls).\nDocs: docs/ in the repository. Exit codes: 0 ok, 1 failed, 2 usage, 3 network, 22 call --fail, 130 interrupted.',
    );

  const host: CommandHost = {
    action(cmd, action) {
      cmd.exitOverride();
      cmd.action(async (...raw: unknown[]) => {
        // commander passes (...args, opts, command)
        const command = raw[raw.length - 1] as Command;
        const opts = command.opts();
        const args = raw.slice(0, -2);
        const globals = globalsFrom(opts);
        const ctx = createContext(io, env, globals, signals);
        try {
          const code = await action(ctx, args, opts);
          result.exitCode = typeof code === 'number' ? code : 0;
        } catch (error) {
          result.exitCode = renderError(io, error, {
            json: globals.json,
            debug: globals.verbose || env['OIDC_GW_DEBUG'] === '1',
            noColor: globals.noColor,
            env,
          });
        }
      });
    },
  };

  for (const register of [
    registerLogin,
    registerLogout,
    registerToken,
    registerDecode,
    registerServe,
    registerCall,
    registerDiscover,
    registerConfig,
    registerIdp,
    registerDemo,
  ]) {
    register(program, host);
  }
  return program;
}

export { CommanderError };
