import type { Command } from 'commander';
import { addCommonOptions, type CommandHost } from './host.js';

export function register(program: Command, host: CommandHost): void {
  const cmd = addCommonOptions(
    program.command('logout').description('revoke and forget the cached tokens of the profile'),
  );
  host.action(cmd, async () => {
    const { GwError } = await import('../core/errors/index.js');
    throw new GwError('ERR_USAGE', '`oidc-gw logout` is not available yet');
  });
}
