import type { Command } from 'commander';
import { addCommonOptions, type CommandHost } from './host.js';

export function register(program: Command, host: CommandHost): void {
  const cmd = addCommonOptions(
    program
      .command('call')
      .description('curl with the bearer token attached, and a diagnosis on 401/403'),
  );
  host.action(cmd, async () => {
    const { GwError } = await import('../core/errors/index.js');
    throw new GwError('ERR_USAGE', '`oidc-gw call` is not available yet');
  });
}
