/**
 * A real OpenID provider for tests (oidc-provider through src/idp), on
 * 127.0.0.1 at an ephemeral port, with one client per authentication method.
 *
 * - native: public, authorization code + PKCE (required), refresh, device
 *   grant, any loopback redirect port with path /callback (RFC 8252).
 * - basic / post: confidential, client_secret_basic / client_secret_post (the
 *   IdP accepts either from both); the basic secret contains `:%+` to catch
 *   encoding bugs. Client credentials, authorization code and refresh.
 * - privateKeyJwt: private_key_jwt with an RS256 key (PEM and JWK given).
 *   Client credentials, authorization code and refresh.
 *
 * Users: alice:alice. The API (`audience`, https://api.example.test/) has
 * scopes `read` and `write`; a client-credentials request for it without
 * `scope` gets both. Requests with `resource=<audience>` or Auth0-style
 * `audience=<audience>` get RS256 JWT access tokens (`typ: at+jwt`) with
 * `aud`, `iss`, `client_id`, `scope` (when any API scope was granted), `sub`.
 * Sign-in page: `input[name="username"]`, `input[name="password"]`, one
 * `button[type="submit"]`; consent is granted without a page.
 */
import { randomBytes } from 'node:crypto';

export interface TestIdpOptions {
  /** Access token lifetime in seconds (default 3600). */
  accessTokenTtl?: number;
  /** New refresh token on each refresh (default true). */
  refreshTokenRotation?: boolean;
}

export interface TestIdp {
  /** http://127.0.0.1:PORT */
  issuer: string;
  /** 'https://api.example.test/' */
  audience: string;
  jwksUri: string;
  clients: {
    native: { clientId: string };
    basic: { clientId: string; clientSecret: string };
    post: { clientId: string; clientSecret: string };
    privateKeyJwt: { clientId: string; privateKeyPem: string; privateJwk: Record<string, unknown> };
  };
  users: Array<{ username: string; password: string }>;
  /** Requests per endpoint path, e.g. count('/token'). */
  requests: { count(pathSuffix: string): number; reset(): void };
  rotateKeys(): Promise<void>;
  close(): Promise<void>;
}

export const TEST_AUDIENCE = 'https://api.example.test/';

export async function startTestIdp(options: TestIdpOptions = {}): Promise<TestIdp> {
  const jose = await import('jose');
  const idp = await import('../../src/idp/index.js');

  const { privateKey, publicKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const clientPublicJwk = await jose.exportJWK(publicKey);
  const clientKid = await jose.calculateJwkThumbprint(clientPublicJwk);
  const privateJwk = { ...(await jose.exportJWK(privateKey)), kid: clientKid, alg: 'RS256' };
  const privateKeyPem = await jose.exportPKCS8(privateKey);

  const grants: Array<'client_credentials' | 'authorization_code' | 'refresh_token'> = [
    'client_credentials',
    'authorization_code',
    'refresh_token',
  ];
  const clients: TestIdp['clients'] = {
    native: { clientId: 'test-native' },
    basic: {
      clientId: 'test-basic',
      clientSecret: `s3cr:%+t/${randomBytes(9).toString('base64url')}`,
    },
    post: { clientId: 'test-post', clientSecret: randomBytes(24).toString('base64url') },
    privateKeyJwt: { clientId: 'test-private-key-jwt', privateKeyPem, privateJwk },
  };
  const users = [{ username: 'alice', password: 'alice' }];

  const server = await idp.startDevIdp({
    host: '127.0.0.1',
    port: 0,
    audience: TEST_AUDIENCE,
    users,
    accessTokenTtl: options.accessTokenTtl,
    refreshTokenRotation: options.refreshTokenRotation,
    clients: [
      idp.publicClient(clients.native.clientId),
      idp.secretClient(
        clients.basic.clientId,
        clients.basic.clientSecret,
        'client_secret_basic',
        grants,
      ),
      idp.secretClient(
        clients.post.clientId,
        clients.post.clientSecret,
        'client_secret_post',
        grants,
      ),
      idp.privateKeyJwtClient(
        clients.privateKeyJwt.clientId,
        { ...clientPublicJwk, kid: clientKid, alg: 'RS256', use: 'sig' },
        grants,
      ),
    ],
  });

  return {
    issuer: server.issuer,
    audience: server.audience,
    jwksUri: server.jwksUri,
    clients,
    users,
    requests: {
      count: (suffix) => server.requests.count(suffix),
      reset: () => server.requests.reset(),
    },
    rotateKeys: async () => {
      await server.rotateKeys();
    },
    close: () => server.close(),
  };
}

export interface SignInResult {
  /** The last response that did not redirect within the IdP (e.g. the sign-in page again after a wrong password). */
  status: number;
  /** The page's HTML when the flow stopped at the IdP. */
  body: string;
  /** The redirect to the client's redirect_uri (with `code` or `error`), when the flow got there. */
  redirect: URL | undefined;
}

/**
 * Drives the dev IdP's sign-in without a browser: follows the redirects of
 * `authorizationUrl` (keeping cookies), posts the sign-in form with
 * `username` / `password`, and stops at the redirect that leaves the IdP.
 * Bounded: at most 20 hops.
 */
export async function signInWithoutBrowser(
  authorizationUrl: string | URL,
  username: string,
  password: string,
): Promise<SignInResult> {
  const start = new URL(authorizationUrl);
  const jar = new Map<string, string>();
  const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const remember = (res: Response) => {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = (pair ?? '').indexOf('=');
      if (eq > 0) jar.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  };
  let url = start;
  let init: RequestInit = { method: 'GET' };
  for (let hop = 0; hop < 20; hop++) {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), cookie: cookieHeader() },
    });
    remember(res);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.arrayBuffer();
      const next = new URL(location, url);
      if (next.origin !== start.origin) return { status: res.status, body: '', redirect: next };
      url = next;
      init = { method: 'GET' };
      continue;
    }
    const body = await res.text();
    const action = /<form method="post" action="([^"]+\/login)"/.exec(body)?.[1];
    if (res.status === 200 && action && init.method === 'GET') {
      url = new URL(action.replace(/&#47;/g, '/'), url);
      init = {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ username, password }).toString(),
      };
      continue;
    }
    return { status: res.status, body, redirect: undefined };
  }
  throw new Error('signInWithoutBrowser: too many redirects');
}
