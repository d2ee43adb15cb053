/**
 * Application services shared by several commands (token, call, login,
 * logout, decode): settings, the token cache, the HTTP client and the
 * acquisition and refresh of tokens. Commands stay thin; no command imports
 * another. Heavy modules (openid-client, undici) are imported only when a
 * network exchange is really needed, so that a cached token is served fast.
 */
import type { Context } from '../context.js';
import type { Client } from '../core/client.js';
import { GwError } from '../core/errors/index.js';
import type { DiscoveredIssuer, FetchLike } from '../core/issuer.js';
import { secondsLeft, type TokenSet } from '../core/token-set.js';
import {
  describeSource,
  requireSetting,
  resolveSettings,
  type Settings,
} from '../config/resolve.js';
import { clientCredentialsKey, TokenStore } from '../config/token-store.js';
import { readFile } from 'node:fs/promises';

/** A token that expires within this many seconds is refreshed or replaced first (docs/commands/token.md). */
export const MIN_VALIDITY_SECONDS = 60;

export interface Session {
  readonly ctx: Context;
  readonly settings: Settings;
  readonly store: TokenStore;
  nowSeconds(): number;
  /** The HTTP client for IdP requests (created on first use; loads undici). */
  http(): Promise<FetchLike>;
}

export async function openSession(
  ctx: Context,
  opts: Readonly<Record<string, unknown>>,
): Promise<Session> {
  const settings = await resolveSettings({
    opts,
    env: ctx.env,
    globals: ctx.globals,
    onWarning: (m) => ctx.out.warn(m),
  });
  const store = new TokenStore(settings.cacheDir, { onWarning: (m) => ctx.out.warn(m) });
  let fetchPromise: Promise<FetchLike> | undefined;
  return {
    ctx,
    settings,
    store,
    nowSeconds: () => Math.floor(ctx.now() / 1000),
    http() {
      fetchPromise ??= import('../http/client.js').then(({ createHttpClient }) =>
        createHttpClient({
          timeoutSeconds: settings.timeoutSeconds,
          ...(settings.verbose ? { log: (line: string) => ctx.out.debug(line) } : {}),
        }),
      );
      return fetchPromise;
    },
  };
}

/** Discovers the session's issuer (asking for it when a terminal is there), printing any notes. */
export async function discover(session: Session, issuerInput?: string): Promise<DiscoveredIssuer> {
  const issuer =
    issuerInput ?? (await requireSetting(session.ctx, session.settings, 'issuer', 'issuer URL'));
  const [{ discoverIssuer }, fetch] = await Promise.all([
    import('../core/issuer.js'),
    session.http(),
  ]);
  const discovered = await discoverIssuer(issuer, {
    fetch,
    timeoutSeconds: session.settings.timeoutSeconds,
    insecureHttp: session.settings.insecureHttp,
  });
  for (const note of discovered.notes) session.ctx.out.warn(note);
  const spelling = spellingNote(issuer, discovered.issuer);
  if (
    spelling &&
    !discovered.notes.some((n) => n.includes(`names its issuer "${discovered.issuer}"`))
  )
    session.ctx.out.warn(spelling);
  return discovered;
}

/**
 * The note for an issuer used in the IdP's spelling, which differs from the
 * one given by a trailing slash only (docs/configuration.md, Issuers): for an
 * issuer that is an origin (Auth0's `https://TENANT.auth0.com/`), discovery
 * accepts either spelling silently, so the note is made here. Undefined when
 * the spellings are the same, or `given` is a metadata URL.
 */
export function spellingNote(given: string, used: string): string | undefined {
  const typed = given.trim();
  if (typed === used || typed.includes('/.well-known/')) return undefined;
  const strip = (s: string) => s.replace(/\/+$/, '');
  if (strip(typed) !== strip(used)) return undefined;
  return `the IdP names its issuer "${used}" (you gave "${typed}"): using the IdP's spelling, which tokens carry in iss and gateways compare exactly`;
}

export interface ClientNeeds {
  /** Ask for a secret when none is given and the method needs one (default: only when authMethod says so). */
  readonly secretRequired?: boolean;
}

/** The session's client at a discovered issuer: client id, secret or private key, auth method. */
export async function makeClient(
  session: Session,
  discovered: DiscoveredIssuer,
  needs: ClientNeeds = {},
): Promise<Client> {
  const { ctx, settings } = session;
  const clientId = await requireSetting(ctx, settings, 'clientId', 'client id');
  let clientSecret = settings.clientSecret;
  const method = settings.authMethod;
  if (
    !clientSecret &&
    (method === 'basic' ||
      method === 'post' ||
      (needs.secretRequired && !method && !settings.privateKey))
  ) {
    clientSecret = await requireSetting(ctx, settings, 'clientSecret', 'client secret');
  }
  let privateKey;
  if (settings.privateKey || method === 'private_key_jwt') {
    const file = settings.privateKey;
    if (!file) {
      throw new GwError(
        'ERR_MISSING_SETTING',
        '--auth-method private_key_jwt needs a private key',
        {
          hint: `give ${describeSource('privateKey')}`,
        },
      );
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new GwError(
        'ERR_INPUT_INVALID',
        `cannot read the private key ${file} (${(error as NodeJS.ErrnoException).code})`,
        { cause: error },
      );
    }
    const { importClientKey } = await import('../core/private-key.js');
    privateKey = await importClientKey(text, file);
  }
  const { buildClient } = await import('../core/client.js');
  return buildClient(discovered, {
    clientId,
    clientSecret,
    authMethod: method ?? (privateKey ? 'private_key_jwt' : undefined),
    privateKey,
  });
}

function grantParams(settings: Settings) {
  return {
    scope: settings.scope,
    audience: settings.audience,
    resource: settings.resource,
    params: settings.params,
  };
}

export interface Obtained {
  readonly tokens: TokenSet;
  readonly fromCache: boolean;
}

/**
 * A client-credentials token: from the cache while it is valid for more than
 * 60 s (no network request at all), else from the IdP, then cached.
 */
export async function clientCredentialsToken(
  session: Session,
  options: { force?: boolean } = {},
): Promise<Obtained> {
  const { settings, ctx, store } = session;
  const issuer = await requireSetting(ctx, settings, 'issuer', 'issuer URL');
  const clientId = await requireSetting(ctx, settings, 'clientId', 'client id');
  const key = clientCredentialsKey({
    issuer,
    clientId,
    authMethod: settings.authMethod,
    scope: settings.scope,
    audience: settings.audience,
    resource: settings.resource,
    params: settings.params,
  });
  if (!options.force) {
    const cached = await store.readClientCredentials(key);
    if (cached && secondsLeft(cached, session.nowSeconds()) > MIN_VALIDITY_SECONDS) {
      // No discovery for a cached token: the spelling note comes from the cached issuer.
      const spelling = spellingNote(issuer, cached.issuer);
      if (spelling) ctx.out.warn(spelling);
      ctx.out.debug(
        `using the cached client-credentials token (valid for ${secondsLeft(cached, session.nowSeconds())} s more)`,
      );
      return { tokens: cached, fromCache: true };
    }
  }
  const discovered = await discover(session, issuer);
  const client = await makeClient(session, discovered, { secretRequired: true });
  const { clientCredentials } = await import('../core/flows/token-grants.js');
  const tokens = await clientCredentials(client, grantParams(settings), session.nowSeconds);
  await store.writeClientCredentials(key, settings.profile, tokens);
  return { tokens, fromCache: false };
}

function sameIssuer(a: string, b: string): boolean {
  const strip = (s: string) => s.replace(/\/\.well-known\/.*$/, '').replace(/\/+$/, '');
  return strip(a) === strip(b);
}

/** The profile's user token set, when it belongs to the configured issuer and client (if any are configured). */
export async function readUserTokens(session: Session): Promise<TokenSet | undefined> {
  const { settings, store } = session;
  const set = await store.readUser(settings.profile);
  if (!set) return undefined;
  if (settings.issuer && !sameIssuer(settings.issuer, set.issuer)) return undefined;
  if (settings.clientId && settings.clientId !== set.client_id) return undefined;
  return set;
}

/**
 * Refreshes the profile's user token set under a lock, so that two processes
 * never spend one rotated refresh token twice: the second one waits, then
 * finds the new tokens and uses them. `invalid_grant` clears the cached set.
 */
export async function refreshUserTokens(
  session: Session,
  options: { force?: boolean } = {},
): Promise<TokenSet> {
  const { settings, store, ctx } = session;
  return store.withLock(`refresh-${settings.profile}`, async () => {
    const current = await readUserTokens(session);
    if (!current) {
      throw new GwError('ERR_NO_TOKEN', `no cached login for profile "${settings.profile}"`, {
        hint: 'run `oidc-gw login` first',
      });
    }
    if (!options.force && secondsLeft(current, session.nowSeconds()) > MIN_VALIDITY_SECONDS) {
      ctx.out.debug('another oidc-gw refreshed the tokens meanwhile: using its result');
      return current;
    }
    if (!current.refresh_token) {
      throw new GwError(
        'ERR_NO_TOKEN',
        `the cached login of profile "${settings.profile}" has no refresh token`,
        {
          hint: 'run `oidc-gw login` again (with the offline_access scope to get a refresh token)',
        },
      );
    }
    const discovered = await discover(session, settings.issuer ?? current.issuer);
    const client = await makeClientFor(session, discovered, current.client_id);
    const { refresh } = await import('../core/flows/token-grants.js');
    try {
      const next = await refresh(client, current, { params: settings.params }, session.nowSeconds);
      await store.writeUser(settings.profile, next);
      return next;
    } catch (error) {
      if (error instanceof GwError && error.details?.['error'] === 'invalid_grant') {
        await store.removeProfileUser(settings.profile);
        throw new GwError(
          'ERR_IDP',
          `the IdP no longer accepts the cached refresh token (invalid_grant); the cached login was removed`,
          {
            cause: error,
            hint: 'run `oidc-gw login` again',
          },
        );
      }
      throw error;
    }
  });
}

/** The client of a cached token set: the configured one, or the one that obtained the tokens. */
export async function makeClientFor(
  session: Session,
  discovered: DiscoveredIssuer,
  cachedClientId: string,
): Promise<Client> {
  if (session.settings.clientId) return makeClient(session, discovered);
  const { buildClient } = await import('../core/client.js');
  return buildClient(discovered, {
    clientId: cachedClientId,
    clientSecret: session.settings.clientSecret,
    authMethod: session.settings.authMethod,
  });
}

export type Which = 'access_token' | 'id_token';

/**
 * The profile's usable token (`token` without a grant flag, docs/commands/token.md): the user
 * token set, refreshed first when it expires within 60 s and can be
 * refreshed; else the last client-credentials token while valid; else
 * ERR_NO_TOKEN with a hint.
 */
export async function currentTokens(session: Session): Promise<TokenSet> {
  const now = session.nowSeconds();
  const user = await readUserTokens(session);
  // A cached token is used without discovery: the spelling note comes from its issuer.
  const noteSpelling = (tokens: TokenSet) => {
    const note = session.settings.issuer && spellingNote(session.settings.issuer, tokens.issuer);
    if (note) session.ctx.out.warn(note);
    return tokens;
  };
  if (user) {
    if (secondsLeft(user, now) > MIN_VALIDITY_SECONDS) return noteSpelling(user);
    if (user.refresh_token) return refreshUserTokens(session);
  }
  const client = await session.store.readClient(session.settings.profile);
  if (client && secondsLeft(client, now) > MIN_VALIDITY_SECONDS) {
    const { settings } = session;
    if (
      (!settings.issuer || sameIssuer(settings.issuer, client.issuer)) &&
      (!settings.clientId || settings.clientId === client.client_id)
    ) {
      return noteSpelling(client);
    }
  }
  const profile = session.settings.profile;
  throw new GwError(
    'ERR_NO_TOKEN',
    user
      ? `the cached token of profile "${profile}" has expired and cannot be refreshed`
      : `no cached token for profile "${profile}"`,
    { hint: 'run `oidc-gw login`, or `oidc-gw token --client-credentials`' },
  );
}
