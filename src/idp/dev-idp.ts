/**
 * A development OpenID provider: oidc-provider (the certified implementation)
 * configured for laptops and tests. It listens on loopback over http, with
 * the clients, users and API audience it is given, our own sign-in page,
 * consent granted automatically (every client here is first-party), JWT
 * access tokens for the audience (RS256, `typ: at+jwt`), refresh tokens with
 * rotation, device grant, client credentials, introspection, revocation, key
 * rotation while running and a per-path request counter.
 *
 * Requests whose Host names a domain other than the issuer's, the listening
 * host or localhost get 421: a web page whose domain was rebound to 127.0.0.1
 * (DNS rebinding) would otherwise be same-origin with an IdP whose password
 * (alice:alice) everybody knows, and would see its own domain in discovery.
 */
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type {
  Account,
  ClientMetadata,
  Configuration,
  KoaContextWithOIDC,
  Provider,
  ResourceServer,
} from 'oidc-provider';
import { GwError } from '../core/errors/index.js';
import { isLoopbackHost } from '../core/loopback.js';
import { createMemoryStore } from './adapter.js';
import { generateSigningKey, rotate, saveKeysFile, type PrivateJwks } from './keys.js';
import { loadOidcProvider, type OidcProviderModule } from './load.js';
import {
  PAGE_HEADERS,
  deviceConfirmPage,
  deviceInputPage,
  deviceSuccessPage,
  logoutPage,
  messagePage,
  signInPage,
} from './pages.js';

export interface DevUser {
  readonly username: string;
  readonly password: string;
}

export interface RequestLogLine {
  readonly method: string;
  /** The path, never the query string (it may carry codes). */
  readonly path: string;
  readonly status: number;
  readonly durationMs: number;
}

export type DevIdpEvent =
  | { readonly type: 'signed-in'; readonly username: string; readonly clientId: string }
  | { readonly type: 'sign-in-failed'; readonly username: string; readonly clientId: string }
  | { readonly type: 'keys-rotated'; readonly kid: string; readonly kids: readonly string[] }
  | { readonly type: 'server-error'; readonly message: string };

export interface DevIdpOptions {
  /** Interface to listen on (default 127.0.0.1). The caller decides whether non-loopback is allowed. */
  readonly host?: string;
  /** Port (default 0: an ephemeral port). */
  readonly port?: number;
  /**
   * The issuer URL clients use, when it is not `http://HOST:PORT` (e.g. a
   * compose service name). An origin, no path.
   */
  readonly issuer?: string;
  /** The API's identifier: `aud` of its access tokens, selected by `resource` or `audience`. */
  readonly audience: string;
  /** Scopes the API knows (default `read write`). */
  readonly resourceScopes?: readonly string[];
  readonly clients: readonly ClientMetadata[];
  readonly users: readonly DevUser[];
  /** Private signing keys, newest (signing) first; default: one fresh RSA key. */
  readonly keys?: PrivateJwks;
  /** Where rotated keys are saved (the file `keys` came from), if anywhere. */
  readonly keysFile?: string;
  /** Access token (and ID token) lifetime in seconds (default 3600). */
  readonly accessTokenTtl?: number;
  /** Refresh token, grant and session lifetime in seconds (default 86400). */
  readonly refreshTokenTtl?: number;
  /** A new refresh token on every refresh, the old one consumed (default true). */
  readonly refreshTokenRotation?: boolean;
  /** Serve `POST /admin/rotate-keys` (default true). */
  readonly adminEndpoint?: boolean;
  readonly onRequest?: (line: RequestLogLine) => void;
  readonly onEvent?: (event: DevIdpEvent) => void;
}

export interface RequestCounter {
  /** Requests so far whose path ends with `pathSuffix` (e.g. `/token`). */
  count(pathSuffix: string): number;
  /** Every path seen, with its count. */
  snapshot(): Record<string, number>;
  reset(): void;
}

export interface DevIdp {
  /** `http://HOST:PORT` (or the `issuer` option), no trailing slash. */
  readonly issuer: string;
  /** `http://HOST:PORT`: where it listens. */
  readonly listenUrl: string;
  readonly host: string;
  readonly port: number;
  readonly audience: string;
  readonly jwksUri: string;
  readonly resourceScopes: readonly string[];
  readonly requests: RequestCounter;
  /** The current private keys, signing key first. */
  keys(): PrivateJwks;
  /** Makes a new signing key, keeps the previous one for verification only, drops older ones. */
  rotateKeys(): Promise<{ kid: string; kids: string[] }>;
  /** Stops listening and drops every connection. */
  close(): Promise<void>;
}

export const DEFAULT_ACCESS_TOKEN_TTL = 3600;
export const DEFAULT_REFRESH_TOKEN_TTL = 86_400;
export const DEFAULT_RESOURCE_SCOPES: readonly string[] = ['read', 'write'];
export const ADMIN_ROTATE_PATH = '/admin/rotate-keys';

/** Endpoints whose form body may carry the Auth0-style `audience` parameter. */
const FORM_ENDPOINTS = new Set(['/auth', '/token', '/device/auth', '/request']);
/** Largest form body read for the `audience` translation (oidc-provider's own limit). */
const FORM_LIMIT = 56 * 1024;
/** Distinct paths the request counter keeps apart. */
const MAX_COUNTED_PATHS = 1000;
/** Largest sign-in form body. */
const SIGN_IN_LIMIT = 16 * 1024;

/** Auth0's key-set path, served as an alias of `/jwks` (configs copied from Auth0 name it). */
export const AUTH0_JWKS_PATH = '/.well-known/jwks.json';

const HOST_HEADER = /^(?:[A-Za-z0-9._~-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

const INTERACTION = /^\/interaction\/([A-Za-z0-9_-]{1,64})(?:\/(login|abort))?$/;

export async function startDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const op = await loadOidcProvider();
  const host = options.host ?? '127.0.0.1';
  const accessTtl = options.accessTokenTtl ?? DEFAULT_ACCESS_TOKEN_TTL;
  const refreshTtl = options.refreshTokenTtl ?? DEFAULT_REFRESH_TOKEN_TTL;
  const resourceScopes = [...(options.resourceScopes ?? DEFAULT_RESOURCE_SCOPES)];
  const users = new Map(options.users.map((u) => [u.username, u.password]));
  const store = createMemoryStore();
  const cookieKeys = [randomBytes(32).toString('base64url')];
  let keys: PrivateJwks = options.keys ?? { keys: [await generateSigningKey()] };

  const counts = new Map<string, number>();
  const requests: RequestCounter = {
    count(pathSuffix) {
      let n = 0;
      for (const [path, c] of counts) if (path.endsWith(pathSuffix)) n += c;
      return n;
    },
    snapshot: () => Object.fromEntries(counts),
    reset: () => counts.clear(),
  };

  /**
   * The Host header when it names a domain this IdP does not answer for;
   * undefined when it is fine: an IP address, localhost (RFC 6761), the
   * issuer's host or the listening host. The port is not compared: a rebound
   * domain is the attack, and IP literals cannot be rebound.
   */
  function foreignHost(header: string | undefined): string | undefined {
    if (header === undefined || header === '') return '(none)';
    // A host name or IP literal and an optional port, nothing else (no userinfo, path or '#').
    const url = HOST_HEADER.test(header) ? URL.parse(`http://${header}`) : null;
    if (!url) return header.slice(0, 100);
    const name = url.hostname;
    if (isIP(name.replace(/^\[|\]$/g, '')) !== 0) return undefined;
    if (name === 'localhost' || name.endsWith('.localhost')) return undefined;
    if (name === URL.parse(issuer)?.hostname) return undefined;
    if (name === host.toLowerCase()) return undefined;
    return header.slice(0, 100);
  }

  let provider: Provider | undefined;
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let issuer = '';

  const emit = (event: DevIdpEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // a listener's failure is not the IdP's
    }
  };

  const server = createServer((req, res) => {
    const started = performance.now();
    const path = pathOf(req.url);
    // bounded: paths beyond the first MAX_COUNTED_PATHS are counted together
    const counted = counts.has(path) || counts.size < MAX_COUNTED_PATHS ? path : '(other)';
    counts.set(counted, (counts.get(counted) ?? 0) + 1);
    res.on('finish', () => {
      options.onRequest?.({
        method: req.method ?? 'GET',
        path,
        status: res.statusCode,
        durationMs: Math.round(performance.now() - started),
      });
    });
    route(req, res, path).catch((err: unknown) => {
      emit({ type: 'server-error', message: err instanceof Error ? err.message : String(err) });
      if (!res.headersSent) {
        sendPage(res, 500, messagePage('Something went wrong', 'The dev IdP failed; see its log.'));
      } else {
        res.destroy();
      }
    });
  });

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const foreign = foreignHost(req.headers.host);
    if (foreign !== undefined) {
      // RFC 9110 §15.5.20: not a name this server answers for.
      sendJson(res, 421, {
        error: 'invalid_request',
        error_description: `this dev IdP answers for ${new URL(issuer).host}, localhost and IP addresses, not for Host "${foreign}"`,
      });
      return;
    }
    if (!provider || !handle) {
      sendJson(res, 503, { error: 'temporarily_unavailable', error_description: 'starting' });
      return;
    }
    if (path === ADMIN_ROTATE_PATH && options.adminEndpoint !== false) {
      await adminRotate(req, res);
      return;
    }
    const interaction = INTERACTION.exec(path);
    if (interaction) {
      await handleInteraction(provider, req, res, interaction[1] as string, interaction[2]);
      return;
    }
    if (path === AUTH0_JWKS_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
      req.url = `/jwks${(req.url ?? '').slice(path.length)}`;
      handle(req, res);
      return;
    }
    if (path === '/auth' && req.method === 'GET') {
      const url = new URL(req.url ?? '/', 'http://idp.invalid');
      if (translateAudience(url.searchParams)) req.url = `${url.pathname}?${url.searchParams}`;
      handle(req, res);
      return;
    }
    if (req.method === 'POST' && FORM_ENDPOINTS.has(path) && isForm(req.headers['content-type'])) {
      let body: Buffer;
      try {
        body = await readBody(req, FORM_LIMIT);
      } catch {
        sendJson(res, 400, {
          error: 'invalid_request',
          error_description: 'request body too large',
        });
        return;
      }
      const params = new URLSearchParams(body.toString('utf8'));
      const changed = translateAudience(params);
      handle(replay(req, changed ? Buffer.from(params.toString(), 'utf8') : body), res);
      return;
    }
    handle(req, res);
  }

  /**
   * The Auth0-style `audience` parameter becomes an RFC 8707 `resource`; a
   * client-credentials request for the API that names no scope gets every
   * scope of the API (as Auth0 does).
   */
  function translateAudience(params: URLSearchParams): boolean {
    let changed = false;
    const audiences = params.getAll('audience');
    if (audiences.length > 0) {
      params.delete('audience');
      const resources = params.getAll('resource');
      for (const a of audiences) if (!resources.includes(a)) params.append('resource', a);
      changed = true;
    }
    if (
      params.get('grant_type') === 'client_credentials' &&
      !params.has('scope') &&
      params.getAll('resource').includes(options.audience)
    ) {
      params.set('scope', resourceScopes.join(' '));
      changed = true;
    }
    return changed;
  }

  async function adminRotate(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      sendJson(res, 405, { error: 'method_not_allowed', error_description: 'use POST' });
      return;
    }
    const origin = req.headers.origin;
    if (
      (origin !== undefined && origin !== issuer) ||
      !isLoopbackHost(req.socket.remoteAddress ?? '')
    ) {
      sendJson(res, 403, {
        error: 'forbidden',
        error_description: 'key rotation is accepted only from loopback, not from a web page',
      });
      return;
    }
    sendJson(res, 200, await rotateKeys());
  }

  async function handleInteraction(
    p: Provider,
    req: IncomingMessage,
    res: ServerResponse,
    uid: string,
    action: string | undefined,
  ): Promise<void> {
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await p.interactionDetails(req, res);
    } catch {
      sendPage(
        res,
        400,
        messagePage(
          'Sign-in expired',
          'This sign-in request has expired, was already used, or was opened in another browser. Start again from the application.',
        ),
      );
      return;
    }
    if (details.uid !== uid) {
      sendPage(
        res,
        400,
        messagePage(
          'Sign-in mismatch',
          'This page belongs to another sign-in request. Start again from the application.',
        ),
      );
      return;
    }
    const clientId = String(details.params.client_id ?? '');
    const clientName = await clientNameOf(p, clientId);
    const page = (error?: string, username?: string) =>
      signInPage({
        action: `/interaction/${uid}/login`,
        abortAction: `/interaction/${uid}/abort`,
        clientName,
        issuer,
        error,
        username,
      });

    if (action === undefined) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        sendPage(res, 405, messagePage('Not allowed', 'This page is only read, not posted to.'));
        return;
      }
      if (details.prompt.name === 'login') {
        sendPage(res, 200, page());
        return;
      }
      if (details.prompt.name === 'consent') {
        await grantConsent(p, details, req, res);
        return;
      }
      sendPage(
        res,
        400,
        messagePage('Unsupported step', `The dev IdP has no page for "${details.prompt.name}".`),
      );
      return;
    }

    if (req.method !== 'POST') {
      sendPage(res, 405, messagePage('Not allowed', 'This address takes the sign-in form only.'));
      return;
    }
    if (action === 'abort') {
      await p.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    // action === 'login'
    if (details.prompt.name !== 'login') {
      sendPage(
        res,
        400,
        messagePage(
          'Already signed in',
          'This sign-in step is over. Start again from the application.',
        ),
      );
      return;
    }
    if (!isForm(req.headers['content-type'])) {
      sendPage(res, 400, page('The sign-in form was not sent as a form.'));
      return;
    }
    let form: URLSearchParams;
    try {
      form = new URLSearchParams((await readBody(req, SIGN_IN_LIMIT)).toString('utf8'));
    } catch {
      sendPage(res, 413, page('The sign-in form was too large.'));
      return;
    }
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    if (!checkPassword(users, username, password)) {
      emit({ type: 'sign-in-failed', username, clientId });
      sendPage(res, 401, page('Wrong username or password.', username));
      return;
    }
    emit({ type: 'signed-in', username, clientId });
    await p.interactionFinished(
      req,
      res,
      { login: { accountId: username } },
      { mergeWithLastSubmission: false },
    );
  }

  /** Grants what the client asked for: every client of the dev IdP is first-party. */
  async function grantConsent(
    p: Provider,
    details: Awaited<ReturnType<Provider['interactionDetails']>>,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const accountId = details.session?.accountId;
    const clientId = String(details.params.client_id ?? '');
    const missing = details.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const existing = details.grantId ? await p.Grant.find(details.grantId) : undefined;
    const grant = existing ?? new p.Grant({ accountId, clientId });
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await p.interactionFinished(
      req,
      res,
      { consent: existing ? {} : { grantId } },
      { mergeWithLastSubmission: true },
    );
  }

  async function clientNameOf(p: Provider, clientId: string): Promise<string> {
    const client = clientId ? await p.Client.find(clientId) : undefined;
    return client?.clientName ?? (clientId || 'an application');
  }

  let rotating: Promise<unknown> = Promise.resolve();
  async function rotateKeys(): Promise<{ kid: string; kids: string[] }> {
    const next = rotating.then(async () => {
      const rotated = await rotate(keys);
      if (options.keysFile) await saveKeysFile(options.keysFile, rotated);
      const built = buildProvider(op, rotated);
      keys = rotated;
      install(built);
      const result = { kid: signingKid(), kids: keys.keys.map((k) => k.kid) };
      emit({ type: 'keys-rotated', ...result });
      return result;
    });
    rotating = next.catch(() => {});
    return next;
  }

  const signingKid = () => (keys.keys[0] as { kid: string }).kid;

  function install(p: Provider): void {
    provider = p;
    handle = p.callback() as (req: IncomingMessage, res: ServerResponse) => void;
  }

  function buildProvider(mod: OidcProviderModule, jwks: PrivateJwks): Provider {
    const { errors } = mod;
    const kid = (jwks.keys[0] as { kid: string }).kid;
    const rotation = options.refreshTokenRotation ?? true;
    const configuration: Configuration = {
      adapter: store.Adapter,
      clients: options.clients.map((c) => structuredClone(c)),
      jwks: { keys: jwks.keys.map((k) => ({ ...k })) },
      cookies: {
        keys: cookieKeys,
        names: {
          session: 'oidc_gw_session',
          interaction: 'oidc_gw_interaction',
          resume: 'oidc_gw_resume',
        },
      },
      claims: {
        openid: ['sub'],
        profile: ['name', 'preferred_username'],
        email: ['email', 'email_verified'],
      },
      scopes: ['openid', 'offline_access', 'profile', 'email'],
      conformIdTokenClaims: false,
      findAccount: (_ctx, sub) => findAccount(users, sub),
      clientBasedCORS: (_ctx, origin) => isLoopbackOrigin(origin),
      interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
      // Refresh tokens whenever the client may use them (with or without
      // offline_access, which oidc-provider would otherwise drop unless
      // prompt=consent), independent of the browser session.
      issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
      expiresWithSession: async () => false,
      rotateRefreshToken: () => rotation,
      pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
      renderError: async (ctx, out) => {
        renderInto(ctx, messagePage('Request refused', describeError(out)));
      },
      ttl: {
        AccessToken: accessTtl,
        ClientCredentials: accessTtl,
        IdToken: accessTtl,
        RefreshToken: refreshTtl,
        Grant: refreshTtl,
        Session: refreshTtl,
        AuthorizationCode: 60,
        DeviceCode: 600,
        Interaction: 3600,
        BackchannelAuthenticationRequest: 600,
      },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: {
          enabled: true,
          // Any authenticated client may introspect; a public one only its own tokens.
          allowedPolicy: async (ctx, client, token) =>
            client.clientAuthMethod !== 'none' || token.clientId === ctx.oidc.client?.clientId,
        },
        revocation: {
          enabled: true,
          // A client revokes only its own tokens.
          allowedPolicy: async (_ctx, client, token) => {
            if (token.clientId === client.clientId) return true;
            if (client.clientAuthMethod === 'none') return false;
            throw new errors.InvalidRequest(
              'client is not authorized to revoke the presented token',
            );
          },
        },
        deviceFlow: {
          enabled: true,
          charset: 'base-20',
          mask: '****-****',
          userCodeInputSource: async (ctx, form, _out, err) => {
            const [message, isError] = deviceInputMessage(err);
            renderInto(ctx, deviceInputPage(form, message, isError));
          },
          userCodeConfirmSource: async (ctx, form, client, _deviceInfo, userCode) => {
            renderInto(
              ctx,
              deviceConfirmPage(form, client.clientName ?? client.clientId, userCode),
            );
          },
          successSource: async (ctx) => {
            const client = ctx.oidc.client;
            renderInto(
              ctx,
              deviceSuccessPage(client?.clientName ?? client?.clientId ?? 'the device'),
            );
          },
        },
        rpInitiatedLogout: {
          enabled: true,
          logoutSource: async (ctx, form) => renderInto(ctx, logoutPage(form, issuer)),
          postLogoutSuccessSource: async (ctx) =>
            renderInto(ctx, messagePage('Signed out', 'You are signed out of the dev IdP.')),
        },
        resourceIndicators: {
          enabled: true,
          defaultResource: async (_ctx, _client, oneOf) => oneOf ?? undefined,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx, indicator) => {
            if (indicator !== options.audience) {
              throw new errors.InvalidTarget(
                `unknown resource or audience "${indicator}"; this IdP issues access tokens for "${options.audience}"`,
              );
            }
            const info: ResourceServer = {
              scope: resourceScopes.join(' '),
              audience: options.audience,
              accessTokenTTL: accessTtl,
              accessTokenFormat: 'jwt',
              jwt: { sign: { alg: 'RS256', kid } },
            };
            return info;
          },
        },
      },
    };
    const p = new mod.Provider(issuer, configuration);
    // Our own listener replaces Koa's default one, which prints to the console.
    (p as unknown as NodeJS.EventEmitter).on('error', (err: Error) =>
      emit({ type: 'server-error', message: err.message }),
    );
    p.on('server_error', (_ctx, err) => emit({ type: 'server-error', message: err.message }));
    return p;
  }

  await listen(server, host, options.port ?? 0);
  // after start, a socket-level failure is reported, never a crash
  server.on('error', (err) => emit({ type: 'server-error', message: err.message }));
  const port = (server.address() as AddressInfo).port;
  const listenUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  issuer = options.issuer?.replace(/\/$/, '') ?? listenUrl;
  try {
    install(buildProvider(op, keys));
  } catch (err) {
    await closeServer(server);
    throw err;
  }

  return {
    issuer,
    listenUrl,
    host,
    port,
    audience: options.audience,
    jwksUri: `${issuer}/jwks`,
    resourceScopes,
    requests,
    keys: () => structuredClone(keys),
    rotateKeys,
    close: () => closeServer(server),
  };
}

function findAccount(users: ReadonlyMap<string, string>, sub: string): Account | undefined {
  if (!users.has(sub)) return undefined;
  return {
    accountId: sub,
    claims: async () => ({
      sub,
      name: sub,
      preferred_username: sub,
      email: `${sub}@example.test`,
      email_verified: true,
    }),
  };
}

/** Constant-time on the password; the same work whether or not the user exists. */
function checkPassword(
  users: ReadonlyMap<string, string>,
  username: string,
  password: string,
): boolean {
  const expected = users.get(username);
  const a = createHash('sha256').update(password).digest();
  const b = createHash('sha256')
    .update(expected ?? randomBytes(16))
    .digest();
  return timingSafeEqual(a, b) && expected !== undefined;
}

function deviceInputMessage(err: unknown): [string, boolean] {
  if (!err) return ['Enter the code shown on your device.', false];
  const name = (err as { name?: string; userCode?: unknown }).name;
  if ((err as { userCode?: unknown }).userCode !== undefined || name === 'NoCodeError') {
    return ['That code is not valid or has expired. Try again.', true];
  }
  if (name === 'AbortedError') return ['The sign-in was cancelled.', true];
  return ['Something went wrong with that code. Try again.', true];
}

function describeError(out: { error: string; error_description?: string | undefined }): string {
  return out.error_description ? `${out.error}: ${out.error_description}` : out.error;
}

function renderInto(ctx: KoaContextWithOIDC, html: string): void {
  for (const [name, value] of Object.entries(PAGE_HEADERS)) ctx.set(name, value);
  ctx.body = html;
}

function sendPage(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { ...PAGE_HEADERS, 'Content-Length': Buffer.byteLength(html) });
  res.end(html);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(body),
  });
  res.end(body);
}

function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return q === -1 ? raw : raw.slice(0, q);
}

function isForm(contentType: string | undefined): boolean {
  return (
    (contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'application/x-www-form-urlencoded'
  );
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new Error('body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks, size);
}

/** A request that reads as `body`, with everything else of `req` (headers fixed for the new length). */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  const headers = { ...req.headers, 'content-length': String(body.length) };
  delete headers['transfer-encoding'];
  const copy = Readable.from([body], { objectMode: false });
  return Object.assign(copy, {
    method: req.method,
    url: req.url,
    headers,
    rawHeaders: [],
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    socket: req.socket,
    connection: req.socket,
    complete: true,
  }) as unknown as IncomingMessage;
}

function isLoopbackOrigin(origin: string): boolean {
  const url = URL.parse(origin);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) return false;
  return isLoopbackHost(url.hostname);
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(listenError(err, host, port));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ host, port, exclusive: true });
  });
}

function listenError(err: NodeJS.ErrnoException, host: string, port: number): GwError {
  switch (err.code) {
    case 'EADDRINUSE':
      return new GwError('ERR_IDP_LISTEN', `port ${port} on ${host} is already in use`, {
        hint: 'stop what uses it, or pick another port with --port (0 picks a free one)',
        cause: err,
      });
    case 'EACCES':
      return new GwError('ERR_IDP_LISTEN', `not allowed to listen on ${host} port ${port}`, {
        hint: 'use a port above 1023, or --port 0 for a free one',
        cause: err,
      });
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new GwError(
        'ERR_IDP_LISTEN',
        `cannot listen on ${host}: not an address of this machine`,
        {
          hint: 'use --host 127.0.0.1',
          cause: err,
        },
      );
    default:
      return new GwError(
        'ERR_IDP_LISTEN',
        `cannot listen on ${host} port ${port}: ${err.code ?? err.message}`,
        {
          cause: err,
        },
      );
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
