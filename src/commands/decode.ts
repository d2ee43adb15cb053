import type { Command } from 'commander';
import { addCommonOptions, type CommandHost } from './host.js';

export function register(program: Command, host: CommandHost): void {
  const cmd = addCommonOptions(
    program
      .command('decode')
      .description('inspect a JWT: header, claims, and what a gateway will check'),
  );
  host.action(cmd, async () => {
    const { GwError } = await import('../core/errors/index.js');
    throw new GwError('ERR_USAGE', '`oidc-gw decode` is not available yet');
  });
}
