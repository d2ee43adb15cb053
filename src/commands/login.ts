import type { Command } from 'commander';
import {
  addClientOptions,
  addCommonOptions,
  nonNegativeInteger,
  type CommandHost,
} from './host.js';

/** Seconds `login` waits for the browser callback (docs/commands/login.md: --timeout, default 300). */
const WAIT_SECONDS = 300;
/** Network requests during login still time out after at most this many seconds. */
const NETWORK_SECONDS = 30;

export function register(program: Command, host: CommandHost): void {
  const cmd = program
    .command('login')
    .description('log in in the browser (authorization code + PKCE) or with --device')
    .option('--device', 'device authorization grant (RFC 8628): sign in from another device')
    .option(
      '--manual',
      'for a redirect URI that is not loopback: print the URL, then read the redirected URL (or the code) from stdin',
    )
    .option('--no-open', 'do not open a browser; print the URL only')
    .option(
      '--port <port>',
      'port of the loopback redirect URI (default: a free one)',
      nonNegativeInteger('--port'),
    )
    .option(
      '--redirect-uri <uri>',
      'loopback redirect URI to listen on, e.g. http://127.0.0.1:8765/callback (with --manual: any registered URI)',
    )
    .option('--prompt <prompt>', 'OpenID Connect prompt: login, consent, select_account, none');
  addClientOptions(cmd);
  // In login, --timeout is how long to wait for the sign-in (docs/commands/login.md: default 300 s).
  addCommonOptions(cmd, {
    timeout: {
      default: WAIT_SECONDS,
      description:
        "seconds to wait for the browser callback; with --device, given explicitly, stops polling before the code's expiry",
    },
  });
  cmd.addHelpText(
    'after',
    `
Prints the authorization URL on stderr and opens it in the browser; the
browser comes back to a listener on 127.0.0.1 only. The tokens are cached
for the profile; \`oidc-gw token\` then prints the access token and refreshes
it when needed.

Examples:
  oidc-gw login --issuer https://TENANT.auth0.com/ --client-id ID --audience https://api.example.com/
  oidc-gw login --port 8765          # for an IdP that needs http://127.0.0.1:8765/callback registered
  oidc-gw login --device             # on a machine without a browser
  oidc-gw login --manual --redirect-uri https://app.example.com/callback
                                     # paste the address the browser lands on; or later:
  oidc-gw token --code-url 'https://app.example.com/callback?code=...&state=...'
  oidc-gw login --json | jq .expires_at`,
  );
  host.action(cmd, async (ctx, _args, opts) => {
    const waitSeconds = typeof opts['timeout'] === 'number' ? opts['timeout'] : WAIT_SECONDS;
    // The common --timeout is the network timeout elsewhere; here it is the wait for the user.
    const netCtx = {
      ...ctx,
      globals: Object.freeze({ ...ctx.globals, timeout: Math.min(waitSeconds, NETWORK_SECONDS) }),
    };
    if (opts['manual'] === true && (opts['device'] === true || opts['port'] !== undefined)) {
      const { GwError } = await import('../core/errors/index.js');
      throw new GwError(
        'ERR_USAGE',
        `--manual cannot be combined with ${opts['device'] === true ? '--device' : '--port'}`,
      );
    }
    const services = await import('../services/session.js');
    const { hasDisplay, login, summaryLines } = await import('../services/login.js');
    const session = await services.openSession(netCtx, opts);
    const outcome = await login(session, {
      device: opts['device'] === true,
      manual: opts['manual'] === true,
      open: opts['open'] !== false,
      port: typeof opts['port'] === 'number' ? opts['port'] : undefined,
      prompt: typeof opts['prompt'] === 'string' ? opts['prompt'] : undefined,
      waitSeconds,
      deviceHonoursTimeout: cmd.getOptionValueSource('timeout') === 'cli',
      display: hasDisplay(ctx.env, process.platform),
    });
    // --manual with nothing on stdin: the attempt is kept for `token --code-url` (said on stderr).
    if (!outcome) return 0;
    for (const line of summaryLines(
      outcome,
      outcome.profile ?? session.settings.profile,
      session.nowSeconds(),
    )) {
      ctx.out.info(line);
    }
    if (ctx.out.json) {
      const { toJsonOutput } = await import('../core/token-set.js');
      ctx.out.printJson(toJsonOutput(outcome.tokens));
    }
    return 0;
  });
}
