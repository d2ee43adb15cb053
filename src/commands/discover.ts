import type { Command } from 'commander';
import { addCommonOptions, type CommandHost } from './host.js';

export function register(program: Command, host: CommandHost): void {
  const cmd = program
    .command('discover')
    .argument(
      '[issuer]',
      'issuer URL, or its /.well-known/openid-configuration URL (default: the profile issuer)',
    )
    .description(
      'fetch and summarise the metadata of an issuer (OpenID Connect discovery, RFC 8414 fallback)',
    )
    .option('--issuer <url>', 'issuer URL (env OIDC_GW_ISSUER), when not given as the argument')
    .option('--no-keys', 'do not fetch the JWKS');
  addCommonOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  oidc-gw discover https://TENANT.auth0.com/
  oidc-gw discover https://login.microsoftonline.com/TENANT/v2.0/.well-known/openid-configuration
  oidc-gw discover http://127.0.0.1:9000 --json | jq .jwks_uri`,
  );
  host.action(cmd, async (ctx, args, opts) => {
    const { runDiscover } = await import('../services/discover-report.js');
    return runDiscover(ctx, (args[0] as string | undefined) ?? undefined, opts);
  });
}
