/**
 * What `cli/` gives each command module: a way to attach the shared flags and
 * to run an action with a fully built Context. Command modules import only
 * this, commander and types at load time; everything heavy is imported inside
 * the action (docs/architecture.md, "Start-up time": `--help` stays fast).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Context } from '../context.js';

export type Action = (
  ctx: Context,
  args: readonly unknown[],
  opts: Readonly<Record<string, unknown>>,
) => Promise<number | void>;

export interface CommandHost {
  /** Runs `action` for `cmd` with a Context; its return value is the exit code (default 0). */
  action(cmd: Command, action: Action): void;
}

export interface CommonOptionsConfig {
  /** Add `--json` (default true). `call` sets false: its `--json BODY` is curl's. */
  json?: boolean;
  /** --timeout's default and description where it means a wait (login: 300 s). */
  timeout?: { default: number; description: string };
}

/** The flags every command takes (docs/configuration.md). */
export function addCommonOptions(cmd: Command, config: CommonOptionsConfig = {}): Command {
  if (config.json !== false) cmd.option('--json', 'print one JSON document on stdout');
  return cmd
    .option('-v, --verbose', 'show HTTP exchanges and details on stderr (secrets redacted)')
    .option('--no-color', 'disable colour (also NO_COLOR)')
    .option(
      '-p, --profile <name>',
      'profile in the config file (env OIDC_GW_PROFILE; default "default")',
    )
    .option('--config <file>', 'config file (env OIDC_GW_CONFIG)')
    .option('--insecure-http', 'allow http:// issuers on hosts that are not loopback (warns)')
    .addOption(
      new Option('--timeout <seconds>', config.timeout?.description ?? 'network timeout in seconds')
        .default(config.timeout?.default ?? 30)
        .argParser(positiveNumber('--timeout')),
    );
}

/** The flags that say which IdP and client to talk to (docs/configuration.md, the settings table). */
export function addClientOptions(cmd: Command): Command {
  return cmd
    .option(
      '--issuer <url>',
      'issuer URL, or its /.well-known/openid-configuration URL (env OIDC_GW_ISSUER)',
    )
    .option('--client-id <id>', 'client id (env OIDC_GW_CLIENT_ID)')
    .option('--client-secret <secret>', 'client secret (env OIDC_GW_CLIENT_SECRET)')
    .addOption(
      new Option('--auth-method <method>', 'client authentication at the token endpoint').choices([
        'basic',
        'post',
        'private_key_jwt',
        'none',
      ]),
    )
    .option('--private-key <file>', 'private key for private_key_jwt (PEM or JWK file)')
    .option('--scope <scopes>', 'scopes, space or comma separated (env OIDC_GW_SCOPE)')
    .option('--audience <aud>', 'Auth0-style audience parameter (env OIDC_GW_AUDIENCE)')
    .option('--resource <uri>', 'RFC 8707 resource indicator (repeatable)', collect, [])
    .option('--param <k=v>', 'extra request parameter (repeatable)', collect, []);
}

export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function positiveNumber(flag: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError(`${flag} takes a positive number of seconds, not "${value}"`);
    }
    return n;
  };
}

export function nonNegativeInteger(flag: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`${flag} takes a whole number, not "${value}"`);
    return n;
  };
}
