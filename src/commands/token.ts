import { Option, type Command } from 'commander';
import { addClientOptions, addCommonOptions, type CommandHost } from './host.js';

const PRINTABLE = ['access_token', 'id_token', 'refresh_token'] as const;
type Printable = (typeof PRINTABLE)[number];

export function register(program: Command, host: CommandHost): void {
  const cmd = program
    .command('token')
    .description('get, refresh or print tokens (client credentials, code exchange, refresh, cache)')
    .option(
      '--client-credentials',
      'client credentials grant (cached while valid for more than 60 s)',
    )
    .option(
      '--code <code>',
      'exchange an authorization code obtained elsewhere (with --redirect-uri)',
    )
    .option('--redirect-uri <uri>', 'the redirect URI the code was issued for')
    .option('--code-verifier <verifier>', 'the PKCE code_verifier of the authorization request')
    .option(
      '--nonce <nonce>',
      'the nonce of the authorization request (the ID token must carry it)',
    )
    .option('--refresh', "refresh the profile's cached token set with its refresh token")
    .option('--force', 'ignore the cache and get a new token')
    .addOption(
      new Option('--print <which>', 'what to print').choices(PRINTABLE).default('access_token'),
    );
  addClientOptions(cmd);
  addCommonOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Without a grant flag, prints the profile's cached access token, refreshing it
first when it expires within 60 s.

Examples:
  oidc-gw token --client-credentials --issuer https://TENANT.auth0.com/ --client-id ID --audience https://api.example.com/
  curl -H "Authorization: Bearer $(oidc-gw token)" https://api.example.com/
  oidc-gw token --code CODE --redirect-uri http://127.0.0.1:8765/callback --code-verifier V
  oidc-gw token --refresh --json`,
  );
  host.action(cmd, async (ctx, _args, opts) => {
    const grants = ['clientCredentials', 'code', 'refresh'].filter(
      (k) => opts[k] !== undefined && opts[k] !== false,
    );
    const { GwError } = await import('../core/errors/index.js');
    if (grants.length > 1) {
      throw new GwError(
        'ERR_USAGE',
        'give at most one of --client-credentials, --code and --refresh',
      );
    }
    if (opts['code'] !== undefined && !opts['redirectUri']) {
      throw new GwError(
        'ERR_USAGE',
        '--code needs --redirect-uri (the one the code was issued for)',
      );
    }
    const services = await import('../services/session.js');
    const session = await services.openSession(ctx, opts);
    let tokens;
    if (opts['clientCredentials']) {
      ({ tokens } = await services.clientCredentialsToken(session, {
        force: opts['force'] === true,
      }));
    } else if (typeof opts['code'] === 'string') {
      const discovered = await services.discover(session);
      const client = await services.makeClient(session, discovered);
      const { exchangeCode } = await import('../core/flows/token-grants.js');
      tokens = await exchangeCode(
        client,
        {
          code: opts['code'],
          redirectUri: String(opts['redirectUri']),
          codeVerifier: opts['codeVerifier'] as string | undefined,
          nonce: opts['nonce'] as string | undefined,
        },
        { resource: session.settings.resource, params: session.settings.params },
        session.nowSeconds,
      );
      await session.store.writeUser(session.settings.profile, tokens);
    } else if (opts['refresh']) {
      tokens = await services.refreshUserTokens(session, { force: true });
    } else if (opts['force']) {
      tokens = await services.refreshUserTokens(session, { force: true });
    } else {
      tokens = await services.currentTokens(session);
    }
    if (ctx.out.json) {
      const { toJsonOutput } = await import('../core/token-set.js');
      ctx.out.printJson(toJsonOutput(tokens));
      return 0;
    }
    const which = opts['print'] as Printable;
    const value = tokens[which];
    if (!value) {
      throw new GwError('ERR_NO_TOKEN', `the token set has no ${which}`, {
        hint:
          which === 'id_token'
            ? 'ID tokens come from `oidc-gw login` with the openid scope'
            : 'refresh tokens come from `oidc-gw login` with the offline_access scope',
      });
    }
    ctx.out.data(`${value}\n`);
    return 0;
  });
}
