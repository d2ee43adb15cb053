import type { Command } from 'commander';
import { addCommonOptions, type CommandHost } from './host.js';

export function register(program: Command, host: CommandHost): void {
  const cmd = program
    .command('demo')
    .description('run the whole chain on this machine: IdP, gateway, token, calls')
    .option(
      '--keep',
      'leave the IdP, upstream and gateway running (until Ctrl-C) and print what to try',
    );
  addCommonOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Starts the dev IdP (oidc-gw idp), an echo upstream and oidc-gw serve in front of
it, all on 127.0.0.1 at free ports, then runs the real commands one by one:
a client-credentials token, its decode, a call through the gateway (200), a
call with a tampered token (401) and one without a token (401). Exit 0 when
every step behaved as expected, 1 otherwise; everything it started is stopped.`,
  );
  host.action(cmd, async (ctx, _args, opts) => {
    const { runDemo } = await import('../services/demo.js');
    return runDemo(ctx, { keep: opts['keep'] === true });
  });
}
