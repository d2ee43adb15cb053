/**
 * startIdp: the dev IdP of `oidc-gw idp` (src/idp/dev-idp.ts, oidc-provider
 * underneath) started inside a test suite, on 127.0.0.1 at a free port, with
 * the same two clients, plus `token()` to sign any test token with its keys.
 *
 * As a library it has no process-wide effects: no signal handlers, no exit,
 * nothing written to stdout or stderr (the IdP's events go to `onEvent` if
 * the caller wants them); `stop()` closes the server and every connection.
 */
import { randomBytes } from 'node:crypto';
import { GwError } from '../core/errors/index.js';
import { isLoopbackHost } from '../core/loopback.js';
import {
  DEFAULT_ACCESS_TOKEN_TTL,
  DEFAULT_REFRESH_TOKEN_TTL,
  DEFAULT_RESOURCE_SCOPES,
  startDevIdp,
} from '../idp/dev-idp.js';
import { DEVICE_CODE_GRANT, publicClient, secretClient } from '../idp/clients.js';
import { parsePrivateJwks, type PrivateJwks } from '../idp/keys.js';
import { publicJwks, type Jwks, type PrivateJwk } from './keys.js';
import { mintToken } from './mint.js';

/** The client ids `oidc-gw idp` registers (docs/commands/idp.md). */
export const CLI_CLIENT_ID = 'oidc-gw-cli';
export const SERVICE_CLIENT_ID = 'oidc-gw-service';
/** The API audience of `oidc-gw idp` when none is given. */
export const DEFAULT_AUDIENCE = 'https://api.local.test/';

/** Largest token endpoint answer read by `requestToken()`. */
const TOKEN_RESPONSE_LIMIT = 64 * 1024;

export interface IdpUser {
  readonly username: string;
  readonly password: string;
}

export interface StartIdpOptions {
  /** The API: `aud` of its access tokens (default https://api.local.test/). */
  readonly audience?: string;
  /** Scopes the API knows (default `read write`). */
  readonly scopes?: readonly string[];
  /** Users who can sign in (default alice / alice). */
  readonly users?: readonly IdpUser[];
  /** Secret of the `oidc-gw-service` client (default: random). */
  readonly clientSecret?: string;
  /** Private signing keys, signing key first (default: one fresh RS256 key). */
  readonly keys?: Jwks<PrivateJwk>;
  /** Access and ID token lifetime in seconds (default 3600). */
  readonly accessTokenTtl?: number;
  /** Refresh token lifetime in seconds (default 86400). */
  readonly refreshTokenTtl?: number;
  /** Loopback interface to listen on (default 127.0.0.1). */
  readonly host?: string;
  /** Port (default 0: a free one). */
  readonly port?: number;
  /** The issuer URL clients use, when not http://HOST:PORT (an origin, e.g. http://idp:9000). */
  readonly issuer?: string;
  /** The IdP's events (sign-ins, refused sign-ins, key rotations, server errors). */
  readonly onEvent?: (event: IdpEvent) => void;
}

/** What the IdP tells while it runs (the events `oidc-gw idp` prints). */
export type IdpEvent =
  | { readonly type: 'signed-in'; readonly username: string; readonly clientId: string }
  | { readonly type: 'sign-in-failed'; readonly username: string; readonly clientId: string }
  | { readonly type: 'keys-rotated'; readonly kid: string; readonly kids: readonly string[] }
  | { readonly type: 'server-error'; readonly message: string };

export interface IdpClients {
  /** Public client: authorization code + PKCE, refresh, device grant; redirect http://127.0.0.1:ANY/callback. */
  readonly cli: { readonly clientId: string };
  /** Confidential client (client_secret_basic or client_secret_post): client credentials. */
  readonly service: { readonly clientId: string; readonly clientSecret: string };
}

export interface IdpTokenOptions {
  /**
   * A machine token, as the client-credentials grant gives: `sub` and
   * `client_id` are the client's (`true`: oidc-gw-service). The default
   * when `user` is not given.
   */
  readonly clientCredentials?: true | { readonly clientId: string };
  /** A user's token, as the authorization code grant gives: `sub` is the name, `client_id` oidc-gw-cli. */
  readonly user?: string;
  /** `aud` (default: the IdP's audience). */
  readonly audience?: string | readonly string[];
  /** `scope` (default: every scope of the API). */
  readonly scope?: string | readonly string[];
  /** Claims added last; `undefined` leaves a claim out. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Seconds until `exp` (default: the IdP's access token lifetime). Negative: already expired. */
  readonly expiresIn?: number;
  /** Header members added over `{ alg, typ, kid }`; `undefined` leaves one out. */
  readonly header?: Readonly<Record<string, unknown>>;
  /** The moment taken as now (default: the clock). */
  readonly now?: Date | number;
}

/** The token endpoint's answer (RFC 6749 §5.1). */
export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: string;
  readonly expires_in?: number;
  readonly scope?: string;
  readonly [member: string]: unknown;
}

export interface Idp {
  /** http://127.0.0.1:PORT (or the `issuer` option), no trailing slash. */
  readonly issuer: string;
  /** Where discovery is: `${issuer}/.well-known/openid-configuration`. */
  readonly discoveryUrl: string;
  readonly tokenEndpoint: string;
  readonly jwksUri: string;
  /** The API's audience. */
  readonly audience: string;
  readonly scopes: readonly string[];
  readonly users: readonly IdpUser[];
  readonly clients: IdpClients;
  /** The public signing keys now (what jwksUri serves), signing key first. */
  readonly jwks: Jwks;
  /** The private signing keys now, signing key first (for mintToken). */
  keys(): Jwks<PrivateJwk>;
  /**
   * Signs an access token with the IdP's current key, shaped as the IdP's own
   * JWT access tokens; every part can be changed to make the tokens an API
   * must refuse. Makes no request.
   */
  token(options?: IdpTokenOptions): Promise<string>;
  /** A real client-credentials grant at the IdP's token endpoint, as the service client. */
  requestToken(options?: { scope?: string | readonly string[] }): Promise<TokenResponse>;
  /** A new signing key; the previous one still verifies; older ones are dropped. */
  rotateKeys(): Promise<{ kid: string; kids: string[] }>;
  /** Stops listening and closes every connection. Safe to call twice. */
  stop(): Promise<void>;
}

/** Starts the dev IdP of `oidc-gw idp` for a test suite (port 0 unless told). */
export async function startIdp(options: StartIdpOptions = {}): Promise<Idp> {
  const host = (options.host ?? '127.0.0.1').replace(/^\[(.*)\]$/, '$1');
  if (!isLoopbackHost(host)) {
    throw new GwError('ERR_IDP_NOT_LOOPBACK', `host ${host} is not a loopback address`, {
      hint: 'the dev IdP has known passwords and speaks plain http: keep it on 127.0.0.1',
    });
  }
  const audience = options.audience ?? DEFAULT_AUDIENCE;
  if (!URL.canParse(audience) || audience.includes('#')) {
    throw new GwError('ERR_USAGE', `audience must be an absolute URI without a fragment`);
  }
  const users = (options.users ?? [{ username: 'alice', password: 'alice' }]).map((u) => ({
    username: u.username,
    password: u.password,
  }));
  const accessTokenTtl = options.accessTokenTtl ?? DEFAULT_ACCESS_TOKEN_TTL;
  const keys: PrivateJwks | undefined = options.keys
    ? await parsePrivateJwks(JSON.stringify(options.keys), 'the keys option')
    : undefined;
  const clients: IdpClients = {
    cli: { clientId: CLI_CLIENT_ID },
    service: {
      clientId: SERVICE_CLIENT_ID,
      clientSecret: options.clientSecret ?? randomBytes(24).toString('base64url'),
    },
  };

  const server = await startDevIdp({
    host,
    port: options.port ?? 0,
    issuer: options.issuer,
    audience,
    resourceScopes: options.scopes ?? DEFAULT_RESOURCE_SCOPES,
    users,
    keys,
    accessTokenTtl,
    refreshTokenTtl: options.refreshTokenTtl ?? DEFAULT_REFRESH_TOKEN_TTL,
    clients: [
      publicClient(CLI_CLIENT_ID, ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT]),
      secretClient(SERVICE_CLIENT_ID, clients.service.clientSecret, 'client_secret_basic', [
        'client_credentials',
      ]),
    ],
    ...(options.onEvent ? { onEvent: options.onEvent } : {}),
  });

  const scopes = [...server.resourceScopes];
  const privateKeys = (): Jwks<PrivateJwk> => server.keys() as unknown as Jwks<PrivateJwk>;
  let stopped: Promise<void> | undefined;

  return {
    issuer: server.issuer,
    discoveryUrl: `${server.issuer}/.well-known/openid-configuration`,
    tokenEndpoint: `${server.issuer}/token`,
    jwksUri: server.jwksUri,
    audience,
    scopes,
    users,
    clients,
    get jwks() {
      return publicJwks(privateKeys());
    },
    keys: privateKeys,
    async token(tokenOptions: IdpTokenOptions = {}) {
      if (tokenOptions.user !== undefined && tokenOptions.clientCredentials !== undefined) {
        throw new GwError('ERR_USAGE', 'give either `user` or `clientCredentials`, not both');
      }
      const clientId =
        tokenOptions.user !== undefined
          ? CLI_CLIENT_ID
          : typeof tokenOptions.clientCredentials === 'object'
            ? tokenOptions.clientCredentials.clientId
            : SERVICE_CLIENT_ID;
      return mintToken({
        key: privateKeys(),
        issuer: server.issuer,
        audience: tokenOptions.audience ?? audience,
        subject: tokenOptions.user ?? clientId,
        clientId,
        scope: tokenOptions.scope ?? scopes,
        expiresIn: tokenOptions.expiresIn ?? accessTokenTtl,
        ...(tokenOptions.claims ? { claims: tokenOptions.claims } : {}),
        ...(tokenOptions.header ? { header: tokenOptions.header } : {}),
        ...(tokenOptions.now !== undefined ? { now: tokenOptions.now } : {}),
      });
    },
    async requestToken(grant = {}) {
      const form = new URLSearchParams({ grant_type: 'client_credentials', resource: audience });
      if (grant.scope !== undefined) {
        form.set('scope', typeof grant.scope === 'string' ? grant.scope : grant.scope.join(' '));
      }
      const basic = Buffer.from(
        `${encodeURIComponent(clients.service.clientId)}:${encodeURIComponent(clients.service.clientSecret)}`,
      ).toString('base64');
      // The token endpoint is on loopback: reached as listenUrl, whatever `issuer` says.
      const res = await fetch(`${server.listenUrl}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
        signal: AbortSignal.timeout(10_000),
      });
      const text = await readBounded(res, TOKEN_RESPONSE_LIMIT);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // described below
      }
      if (!res.ok || typeof body['access_token'] !== 'string') {
        const error = typeof body['error'] === 'string' ? body['error'] : `HTTP ${res.status}`;
        const description =
          typeof body['error_description'] === 'string' ? `: ${body['error_description']}` : '';
        throw res.ok
          ? new GwError(
              'ERR_IDP_RESPONSE',
              'the dev IdP answered the token request without a token',
            )
          : new GwError('ERR_IDP', `the dev IdP refused the token request: ${error}${description}`);
      }
      return body as TokenResponse;
    },
    rotateKeys: () => server.rotateKeys(),
    stop() {
      stopped ??= server.close();
      return stopped;
    },
  };
}

/** The body as text, at most `limit` bytes (the rest is refused, not read). */
async function readBounded(res: Response, limit: number): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) {
      await res.body.cancel().catch(() => {});
      throw new GwError('ERR_IDP_RESPONSE', `the dev IdP's token answer is over ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
