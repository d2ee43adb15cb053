import { Command, CommanderError, Option } from 'commander';
import type { GlobalOptions, Io } from '../context.js';
import type { CommandHost } from '../commands/host.js';
import type { Signals } from './context.js';

export const VERSION = '0.1.0';

interface CommandEntry {
  readonly name: string;
  readonly aliases: readonly string[];
  readonly args?: string;
  readonly description: string;
  /** The command's module, imported only when the command is run. */
  readonly load: () => Promise<{ register: (program: Command, host: CommandHost) => void }>;
}

/**
 * Every command, in `--help` order. The description and arguments must match
 * what the command's module registers (test/e2e/help.test.ts checks it).
 */
export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'login',
    aliases: [],
    description: 'log in in the browser (authorization code + PKCE) or with --device',
    load: () => import('../commands/login.js'),
  },
  {
    name: 'logout',
    aliases: [],
    description: 'revoke and forget the cached tokens of the profile',
    load: () => import('../commands/logout.js'),
  },
  {
    name: 'token',
    aliases: [],
    description: 'get, refresh or print tokens (client credentials, code exchange, refresh, cache)',
    load: () => import('../commands/token.js'),
  },
  {
    name: 'decode',
    aliases: [],
    args: '[token]',
    description: 'inspect a JWT: header, claims, and what a gateway will check',
    load: () => import('../commands/decode.js'),
  },
  {
    name: 'serve',
    aliases: ['proxy'],
    description: 'run a local verifying gateway in front of an upstream (alias: proxy)',
    load: () => import('../commands/serve.js'),
  },
  {
    name: 'call',
    aliases: [],
    args: '<url>',
    description: 'curl with the bearer token attached, and a diagnosis on 401/403',
    load: () => import('../commands/call.js'),
  },
  {
    name: 'discover',
    aliases: [],
    args: '[issuer]',
    description:
      'fetch and summarise the metadata of an issuer (OpenID Connect discovery, RFC 8414 fallback)',
    load: () => import('../commands/discover.js'),
  },
  {
    name: 'config',
    aliases: [],
    description: 'manage profiles in the config file',
    load: () => import('../commands/config.js'),
  },
  {
    name: 'idp',
    aliases: [],
    description: 'run a local OpenID provider for development and offline tests',
    load: () => import('../commands/idp.js'),
  },
  {
    name: 'demo',
    aliases: [],
    description: 'run the whole chain on this machine: IdP, gateway, token, calls',
    load: () => import('../commands/demo.js'),
  },
  {
    name: 'completion',
    aliases: [],
    args: '<shell>',
    description: 'print a shell completion script (bash, zsh or fish)',
    load: () => import('../commands/completion.js'),
  },
];

/** The command named on the command line (`help NAME` names NAME), if any. */
export function commandInArgv(argv: readonly string[]): string | undefined {
  const words = argv.filter((a) => !a.startsWith('-'));
  const first = words[0];
  if (first === 'help') return words[1];
  if (first === undefined) return undefined;
  // Options of the program itself come before the command; anything after is the command's.
  return first;
}

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
export async function buildProgram(
  argv: readonly string[],
  io: Io,
  env: Readonly<Record<string, string | undefined>>,
  signals: Signals,
  result: RunResult,
): Promise<Command> {
  const program = new Command('oidc-gw');
  program
    .description(
      'OAuth 2.0 / OpenID Connect from the terminal: log in, get tokens, read them as a gateway does,\nrun a local verifying gateway, and call APIs with the token attached.',
    )
    .version(VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (str) => io.text.stdout.write(str),
      writeErr: (str) => io.text.stderr.write(str),
      // Usage errors are rendered by main as `oidc-gw: error: ...`.
      outputError: () => {},
      // As commander's defaults, but asked of io.text (which does not create
      // process.stdout just to learn it is a pipe); undefined means 80 columns,
      // as in commander's own default. Help text has no colour.
      getOutHelpWidth: () => (io.text.stdout.isTTY ? io.text.stdout.columns : undefined) as number,
      getErrHelpWidth: () => (io.text.stderr.isTTY ? io.text.stderr.columns : undefined) as number,
      getOutHasColors: () => false,
      getErrHasColors: () => false,
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
        // Loaded here, not at start-up: `--help` does not need it.
        const { createContext } = await import('./context.js');
        const ctx = await createContext(io, env, globals, signals);
        try {
          const code = await action(ctx, args, opts);
          result.exitCode = typeof code === 'number' ? code : 0;
        } catch (error) {
          const { renderError } = await import('./render-error.js');
          result.exitCode = await renderError(io, error, {
            json: globals.json,
            debug: globals.verbose || env['OIDC_GW_DEBUG'] === '1',
            noColor: globals.noColor,
            env,
          });
        }
      });
    },
  };

  // Registering every command's options costs more start-up time than the
  // rest of the CLI together (commander parses each flag spec), so only the
  // command being run is registered in full; the others are listed by name
  // and description for `--help`, suggestions and `help COMMAND`.
  const wanted = commandInArgv(argv);
  // `completion` describes every command, so it gets them all in full
  // (except when the script only asks it for the profile names).
  const all = wanted === 'completion' && !argv.includes('--list-profiles');
  for (const entry of COMMANDS) {
    if (all || wanted === entry.name || entry.aliases.includes(wanted ?? '')) {
      (await entry.load()).register(program, host);
    } else {
      const placeholder = program.command(entry.name).description(entry.description);
      if (entry.args) placeholder.arguments(entry.args);
      for (const alias of entry.aliases) placeholder.alias(alias);
      // Listed as "NAME [options]" like the real command.
      if (entry.name !== 'config') placeholder.addOption(new Option('--placeholder').hideHelp());
    }
  }
  return program;
}

export { CommanderError };
