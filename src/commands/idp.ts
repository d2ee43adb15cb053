import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Context } from '../context.js';
import { addCommonOptions, collect, nonNegativeInteger, type CommandHost } from './host.js';

/** `idp` (docs/commands/idp.md): the two clients registered at start. */
export const CLI_CLIENT_ID = 'oidc-gw-cli';
export const SERVICE_CLIENT_ID = 'oidc-gw-service';
export const DEFAULT_AUDIENCE = 'https://api.local.test/';
export const DEFAULT_PORT = 9000;

export interface IdpOptions {
  readonly host: string;
  readonly port: number;
  /** Issuer URL when it is not http://HOST:PORT. */
  readonly publicUrl: string | undefined;
  readonly users: ReadonlyArray<{ username: string; password: string }>;
  /** No --user given: alice:alice. */
  readonly defaultUsers: boolean;
  readonly audience: string;
  readonly clientSecret: string | undefined;
  readonly keysFile: string | undefined;
  readonly accessTokenTtl: number;
  readonly refreshTokenTtl: number;
  readonly adminEndpoint: boolean;
}

export function register(program: Command, host: CommandHost): void {
  const cmd = addCommonOptions(
    program
      .command('idp')
      .description('run a local OpenID provider for development and offline tests')
      .option(
        '--host <host>',
        'interface to listen on (loopback only, see --allow-non-loopback)',
        '127.0.0.1',
      )
      .addOption(
        new Option('--port <port>', 'port to listen on (0 = any free port)')
          .default(DEFAULT_PORT)
          .argParser(portNumber),
      )
      .option(
        '--allow-non-loopback',
        'allow a --host that is not loopback (known passwords over plain http: trusted networks only)',
      )
      .option('--public-url <url>', 'issuer URL clients use, when not http://HOST:PORT')
      .addOption(
        new Option('--user <name:password>', 'a user who can sign in (repeatable)')
          .argParser(collect)
          .default([], 'alice:alice'),
      )
      .option('--audience <url>', 'the API: aud of its access tokens', DEFAULT_AUDIENCE)
      .option('--client-secret <secret>', `secret of ${SERVICE_CLIENT_ID} (default: random)`)
      .option(
        '--keys <file>',
        'keep the signing keys in this private JWKS file (created 0600 if missing)',
      )
      .addOption(
        new Option(
          '--access-token-ttl <duration>',
          'access and ID token lifetime (e.g. 90s, 5m, 1h)',
        )
          .default(3600, '1h')
          .argParser(durationSeconds('--access-token-ttl')),
      )
      .addOption(
        new Option('--refresh-token-ttl <duration>', 'refresh token lifetime (e.g. 10m, 1d)')
          .default(86_400, '1d')
          .argParser(durationSeconds('--refresh-token-ttl')),
      )
      .option('--no-admin', `do not serve POST /admin/rotate-keys`),
  );
  host.action(cmd, async (ctx, _args, opts) => run(ctx, await parseOptions(opts)));
}

function portNumber(value: string): number {
  const n = nonNegativeInteger('--port')(value);
  if (n > 65_535) throw new InvalidArgumentError(`--port takes 0 to 65535, not "${value}"`);
  return n;
}

/** "90", "90s", "5m", "1h", "1d" → seconds. */
function durationSeconds(flag: string): (value: string) => number {
  return (value: string) => {
    const m = /^(\d{1,9})([smhd]?)$/.exec(value.trim());
    const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[m?.[2] ?? ''] ?? 1;
    const n = m ? Number(m[1]) * unit : NaN;
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new InvalidArgumentError(
        `${flag} takes a duration such as 90, 90s, 5m, 1h or 1d, not "${value}"`,
      );
    }
    return n;
  };
}

/** Validates the flags into IdpOptions (no side effects). */
export async function parseOptions(opts: Readonly<Record<string, unknown>>): Promise<IdpOptions> {
  const { GwError } = await import('../core/errors/index.js');
  const { isLoopbackHost } = await import('../core/loopback.js');
  const usage = (message: string, hint?: string) =>
    new GwError('ERR_USAGE', message, hint === undefined ? {} : { hint });

  const host = String(opts.host ?? '127.0.0.1');
  if (!isLoopbackHost(host) && opts.allowNonLoopback !== true) {
    throw new GwError('ERR_IDP_NOT_LOOPBACK', `--host ${host} is not a loopback address`, {
      hint: 'the dev IdP has known passwords and speaks plain http: keep it on 127.0.0.1, or add --allow-non-loopback on a trusted network',
    });
  }

  let publicUrl: string | undefined;
  if (typeof opts.publicUrl === 'string') {
    const url = URL.parse(opts.publicUrl);
    if (
      !url ||
      (url.protocol !== 'http:' && url.protocol !== 'https:') ||
      url.pathname !== '/' ||
      url.search !== '' ||
      url.hash !== '' ||
      url.username !== '' ||
      url.password !== ''
    ) {
      throw usage(
        `--public-url must be an http(s) origin such as http://idp:9000, not "${opts.publicUrl}"`,
      );
    }
    publicUrl = url.origin;
  }

  const rawUsers = (opts.user as string[] | undefined) ?? [];
  const defaultUsers = rawUsers.length === 0;
  const users: Array<{ username: string; password: string }> = [];
  for (const [i, raw] of (defaultUsers ? ['alice:alice'] : rawUsers).entries()) {
    const colon = raw.indexOf(':');
    const username = colon === -1 ? raw : raw.slice(0, colon);
    const password = colon === -1 ? '' : raw.slice(colon + 1);
    if (username === '' || /[\s:]/.test(username) || username.length > 100) {
      throw usage(
        `--user number ${i + 1} has no usable name (expected NAME:PASSWORD; the name has no spaces)`,
      );
    }
    if (password === '') throw usage(`--user ${username} has no password (expected NAME:PASSWORD)`);
    if (users.some((u) => u.username === username))
      throw usage(`--user ${username} is given twice`);
    users.push({ username, password });
  }

  const audience = String(opts.audience ?? DEFAULT_AUDIENCE);
  const audienceUrl = URL.parse(audience);
  if (!audienceUrl || audience.includes('#')) {
    throw usage(`--audience must be an absolute URI without a fragment, not "${audience}"`);
  }

  const clientSecret = typeof opts.clientSecret === 'string' ? opts.clientSecret : undefined;
  if (
    clientSecret !== undefined &&
    (clientSecret === '' ||
      [...clientSecret].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f))
  ) {
    throw usage('--client-secret must be non-empty, without control characters');
  }

  return {
    host,
    port: typeof opts.port === 'number' ? opts.port : DEFAULT_PORT,
    publicUrl,
    users,
    defaultUsers,
    audience,
    clientSecret,
    keysFile: typeof opts.keys === 'string' && opts.keys !== '' ? opts.keys : undefined,
    accessTokenTtl: typeof opts.accessTokenTtl === 'number' ? opts.accessTokenTtl : 3600,
    refreshTokenTtl: typeof opts.refreshTokenTtl === 'number' ? opts.refreshTokenTtl : 86_400,
    adminEndpoint: opts.admin !== false,
  };
}

/** Starts the IdP, tells the user how to use it, and runs until SIGINT/SIGTERM. */
async function run(ctx: Context, options: IdpOptions): Promise<number> {
  const { randomBytes } = await import('node:crypto');
  const idp = await import('../idp/index.js');
  const { isLoopbackHost } = await import('../core/loopback.js');
  const { out } = ctx;
  const s = out.style;

  if (!isLoopbackHost(options.host)) {
    out.warn(
      `listening on ${options.host}: anyone who reaches it can sign in with the configured passwords, over plain http`,
    );
  }

  let keys: import('../idp/index.js').PrivateJwks | undefined;
  if (options.keysFile) {
    const loaded = await idp.loadOrCreateKeysFile(options.keysFile);
    keys = loaded.jwks;
    if (loaded.created) out.info(s.dim(`created signing keys in ${options.keysFile} (mode 0600)`));
    if (loaded.looseMode !== undefined) {
      out.warn(
        `${options.keysFile} holds private keys but others can read it (mode ${loaded.looseMode.toString(8).padStart(4, '0')}); chmod 600 it`,
      );
    }
  }

  const serviceSecret = options.clientSecret ?? randomBytes(24).toString('base64url');
  const cliGrants = ['authorization_code', 'refresh_token', idp.DEVICE_CODE_GRANT] as const;
  const serviceGrants = ['client_credentials'] as const;

  const server = await idp.startDevIdp({
    host: options.host.replace(/^\[(.*)\]$/, '$1'),
    port: options.port,
    issuer: options.publicUrl,
    audience: options.audience,
    users: options.users,
    keys,
    keysFile: options.keysFile,
    accessTokenTtl: options.accessTokenTtl,
    refreshTokenTtl: options.refreshTokenTtl,
    adminEndpoint: options.adminEndpoint,
    clients: [
      idp.publicClient(CLI_CLIENT_ID, cliGrants),
      idp.secretClient(SERVICE_CLIENT_ID, serviceSecret, 'client_secret_basic', serviceGrants),
    ],
    onRequest: (line) =>
      out.debug(`${line.method} ${line.path} ${line.status} ${line.durationMs}ms`),
    onEvent: (event) => {
      switch (event.type) {
        case 'signed-in':
          out.info(`signed in ${event.username} ${s.dim(`(client ${event.clientId})`)}`);
          break;
        case 'sign-in-failed':
          out.info(
            `refused sign-in as "${event.username}": wrong username or password ${s.dim(`(client ${event.clientId})`)}`,
          );
          break;
        case 'keys-rotated':
          out.info(
            `rotated signing keys: now signing with ${event.kid}; JWKS: ${event.kids.join(', ')}`,
          );
          break;
        case 'server-error':
          out.warn(`IdP error: ${event.message}`);
          break;
      }
    },
  });

  const info: import('../idp/index.js').BannerInfo = {
    issuer: server.issuer,
    listenUrl: server.listenUrl,
    audience: server.audience,
    jwksUri: server.jwksUri,
    resourceScopes: server.resourceScopes,
    clients: [
      {
        clientId: CLI_CLIENT_ID,
        grantTypes: cliGrants,
        summary:
          'public: authorization code + PKCE, refresh, device grant; redirect http://127.0.0.1:ANY-PORT/callback',
      },
      {
        clientId: SERVICE_CLIENT_ID,
        clientSecret: serviceSecret,
        grantTypes: serviceGrants,
        summary: 'confidential (client_secret_basic or client_secret_post): client credentials',
      },
    ],
    users: options.users.map((u) => u.username),
    defaultPassword: options.defaultUsers ? options.users[0]?.password : undefined,
    signingKid: server.keys().keys[0]?.kid ?? '',
    keysFile: options.keysFile,
    rotateUrl: options.adminEndpoint ? `${server.issuer}${idp.ADMIN_ROTATE_PATH}` : undefined,
    accessTokenTtl: options.accessTokenTtl,
    refreshTokenTtl: options.refreshTokenTtl,
  };
  if (out.json) out.data(`${JSON.stringify(idp.bannerJson(info))}\n`);
  else out.info(idp.bannerText(info, s));

  await new Promise<void>((resolve) => {
    const off = ctx.onShutdown(() => {
      off();
      resolve();
    });
  });
  await server.close();
  out.info(s.dim('dev IdP stopped'));
  return 0;
}
