import { Option, type Command } from 'commander';
import { addCommonOptions, type CommandHost } from './host.js';

export function register(program: Command, host: CommandHost): void {
  const cmd = program
    .command('logout')
    .description('revoke and forget the cached tokens of the profile')
    .option('--no-revoke', 'only remove the tokens from the cache; do not revoke them at the IdP')
    .option(
      '--client-secret <secret>',
      'client secret, for a confidential client (env OIDC_GW_CLIENT_SECRET)',
    )
    .addOption(
      new Option(
        '--auth-method <method>',
        'client authentication at the revocation endpoint',
      ).choices(['basic', 'post', 'private_key_jwt', 'none']),
    )
    .option('--private-key <file>', 'private key for private_key_jwt (PEM or JWK file)');
  addCommonOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Revokes the refresh token, then the access token, at the IdP's revocation
endpoint (RFC 7009) when it has one, and removes them from the cache. The
local logout happens even when revocation fails (a warning says so).

Examples:
  oidc-gw logout
  oidc-gw logout --profile staging --no-revoke`,
  );
  host.action(cmd, async (ctx, _args, opts) => {
    const services = await import('../services/session.js');
    const { logout, logoutLines } = await import('../services/logout.js');
    const session = await services.openSession(ctx, opts);
    const report = await logout(session, { revoke: opts['revoke'] !== false });
    for (const line of logoutLines(report)) ctx.out.info(line);
    if (ctx.out.json) {
      ctx.out.printJson({
        profile: report.profile,
        logged_out: report.removed,
        issuer: report.issuer ?? null,
        revoked: report.revoked,
        revocation_endpoint: report.revocationEndpoint ?? null,
        warnings: report.problems,
      });
    }
    return 0;
  });
}
