import type { Command } from 'commander';
import { addCommonOptions, type CommandHost } from './host.js';

export function register(program: Command, host: CommandHost): void {
  const cmd = addCommonOptions(
    program.command('discover').description('fetch and summarise the metadata of an issuer'),
  );
  host.action(cmd, async () => {
    const { GwError } = await import('../core/errors/index.js');
    throw new GwError('ERR_USAGE', '`oidc-gw discover` is not available yet');
  });
}
