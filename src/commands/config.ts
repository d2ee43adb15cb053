import type { Command } from 'commander';
import { addCommonOptions, type CommandHost } from './host.js';

export function register(program: Command, host: CommandHost): void {
  const config = program.command('config').description('manage profiles in the config file');
  config.addHelpText(
    'after',
    `
The config file is JSON: {"profiles": {"NAME": {"issuer": ..., "clientId": ..., ...}}}.
Default: $XDG_CONFIG_HOME/oidc-gw/config.json (~/.config/oidc-gw/config.json).`,
  );

  const init = config
    .command('init')
    .description(
      'create or update a profile with a wizard (every question also answerable by a flag)',
    )
    .option('--issuer <url>', 'issuer URL (checked by discovery)')
    .option('--client-id <id>', 'client id')
    .option('--client-secret <secret>', 'client secret')
    .option('--store-secret', 'store the client secret in the config file (0600)')
    .option('--no-store-secret', 'do not store the client secret')
    .option('--scope <scopes>', 'default scopes')
    .option('--audience <aud>', 'default audience')
    .option('--name <profile>', 'profile name (default: --profile, OIDC_GW_PROFILE or "default")')
    .option('--skip-discovery', 'do not check the issuer by discovery')
    .option('-y, --yes', 'do not ask: use the flags and defaults');
  addCommonOptions(init);
  host.action(init, async (ctx, _args, opts) =>
    (await import('../services/config-ops.js')).configInit(ctx, opts),
  );

  const list = config.command('list').description('list the profiles');
  addCommonOptions(list);
  host.action(list, async (ctx, _args, opts) =>
    (await import('../services/config-ops.js')).configList(ctx, opts),
  );

  const show = config
    .command('show')
    .argument('[profile]', 'profile name (default: the selected profile)')
    .description('show a profile (secrets masked) and where each effective setting comes from');
  addCommonOptions(show);
  host.action(show, async (ctx, args, opts) =>
    (await import('../services/config-ops.js')).configShow(
      ctx,
      args[0] as string | undefined,
      opts,
    ),
  );

  const set = config
    .command('set')
    .argument(
      '<key>',
      'issuer, clientId, clientSecret, authMethod, privateKey, scope, audience, resource, params.NAME, redirectUri, insecureHttp',
    )
    .argument('<value>', 'the value ("" removes the key)')
    .description('set KEY in the selected profile (creating the file and the profile when needed)');
  addCommonOptions(set);
  host.action(set, async (ctx, args, opts) =>
    (await import('../services/config-ops.js')).configSet(
      ctx,
      String(args[0]),
      String(args[1]),
      opts,
    ),
  );

  const unset = config
    .command('unset')
    .argument('<key>')
    .description('remove KEY from the selected profile');
  addCommonOptions(unset);
  host.action(unset, async (ctx, args, opts) =>
    (await import('../services/config-ops.js')).configSet(ctx, String(args[0]), '', opts),
  );

  const path = config.command('path').description('print the path of the config file');
  addCommonOptions(path);
  host.action(path, async (ctx, _args, opts) =>
    (await import('../services/config-ops.js')).configPath(ctx, opts),
  );
}
