import type { Command } from 'commander';
import { addCommonOptions, type CommandHost } from './host.js';

export function register(program: Command, host: CommandHost): void {
  const cmd = addCommonOptions(
    program
      .command('token')
      .description(
        'get, refresh or print tokens (client credentials, code exchange, refresh, cache)',
      ),
  );
  host.action(cmd, async () => {
    const { GwError } = await import('../core/errors/index.js');
    throw new GwError('ERR_USAGE', '`oidc-gw token` is not available yet');
  });
}
