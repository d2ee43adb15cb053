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
    .option(
      '--code-url <url>',
      'finish a pending `login --manual`: the address the browser went to after the sign-in',
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
  oidc-gw token --code-url 'https://app.example.com/callback?code=...&state=...'
  oidc-gw token --refresh --json`,
  );
  host.action(cmd, async (ctx, _args, opts) => {
    const grants = ['clientCredentials', 'code', 'codeUrl', 'refresh'].filter(
      (k) => opts[k] !== undefined && opts[k] !== false,
    );
    const { GwError } = await import('../core/errors/index.js');
    if (grants.length > 1) {
      throw new GwError(
        'ERR_USAGE',
        'give at most one of --client-credentials, --code, --code-url and --refresh',
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
    } else if (typeof opts['codeUrl'] === 'string') {
      const { finishManualLogin } = await import('../services/login.js');
      ({ tokens } = await finishManualLogin(session, opts['codeUrl']));
    } else if (typeof opts['code'] === 'string') {
      tokens = await exchangeGivenCode(session, {
        code: opts['code'],
        redirectUri: String(opts['redirectUri']),
        codeVerifier: opts['codeVerifier'] as string | undefined,
        nonce: opts['nonce'] as string | undefined,
      });
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

/**
 * `token --code`: a code obtained elsewhere. Without --code-verifier, the
 * verifier (and nonce) of a pending `login --manual` for the same redirect
 * URI is used; with none, an `invalid_grant` says that the verifier may be
 * what is missing rather than only "expired or used".
 */
async function exchangeGivenCode(
  session: import('../services/session.js').Session,
  given: { code: string; redirectUri: string; codeVerifier?: string; nonce?: string },
): Promise<import('../core/token-set.js').TokenSet> {
  const services = await import('../services/session.js');
  const { pendingFor, forgetPending } = await import('../services/login.js');
  const { GwError, isGwError } = await import('../core/errors/index.js');
  let { codeVerifier, nonce } = given;
  let pendingState: string | undefined;
  if (codeVerifier === undefined) {
    const pending = await pendingFor(session, given.redirectUri);
    if (pending) {
      codeVerifier = pending.code_verifier;
      nonce ??= pending.id_token_expected ? pending.nonce : undefined;
      pendingState = pending.state;
      const { isoUtc } = await import('../core/jwt/time.js');
      session.ctx.out.info(
        `using the code verifier of the pending \`login --manual\` started ${isoUtc(pending.created_at) ?? 'at an unreadable time'}`,
      );
    }
  }
  const discovered = await services.discover(session);
  const client = await services.makeClient(session, discovered);
  const { exchangeCode } = await import('../core/flows/token-grants.js');
  let tokens;
  try {
    tokens = await exchangeCode(
      client,
      { code: given.code, redirectUri: given.redirectUri, codeVerifier, nonce },
      { resource: session.settings.resource, params: session.settings.params },
      session.nowSeconds,
    );
  } catch (error) {
    if (
      codeVerifier === undefined &&
      isGwError(error) &&
      error.details?.['error'] === 'invalid_grant'
    ) {
      throw new GwError(error.code, error.message, {
        cause: error,
        details: error.details,
        hint: 'no --code-verifier was given: a code requested with PKCE (as `oidc-gw login --manual`, SPAs and most native apps request it) is refused without its verifier. Give --code-verifier, or finish a `login --manual` with `oidc-gw token --code-url URL`; otherwise the code is expired or already used',
      });
    }
    throw error;
  }
  await session.store.writeUser(session.settings.profile, tokens);
  if (pendingState !== undefined) await forgetPending(session, pendingState);
  return tokens;
}
