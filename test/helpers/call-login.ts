/**
 * A login without a browser, for the `call` tests that need a cached login
 * (refresh-and-retry, --id-token): the authorization code flow with PKCE
 * against the test IdP, its sign-in form posted over HTTP, and the code
 * exchanged (and cached) by the real CLI: `oidc-gw token --code ...`.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestIdp } from './idp.js';
import { runCli } from './call-cli.js';

async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

class Jar {
  private readonly cookies = new Map<string, string>();
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = (pair ?? '').indexOf('=');
      if (eq <= 0) continue;
      const name = (pair as string).slice(0, eq).trim();
      const value = (pair as string).slice(eq + 1).trim();
      const expired = attrs.some(
        (a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=Thu, 01 Jan 1970/i.test(a),
      );
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

export interface LoginOptions {
  /** Default `openid offline_access read`. */
  readonly scope?: string;
  /** Ask for a JWT access token for the IdP's audience (default true). */
  readonly resource?: boolean;
}

/** Signs alice in at the test IdP and caches the token set with `oidc-gw token --code`. */
export async function headlessLogin(
  idp: TestIdp,
  env: Record<string, string>,
  options: LoginOptions = {},
): Promise<void> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');
  const nonce = randomBytes(16).toString('base64url');
  const redirectUri = `http://127.0.0.1:${await freePort()}/callback`;
  const clientId = idp.clients.native.clientId;
  const auth = new URL(`${idp.issuer}/auth`);
  auth.search = new URLSearchParams({
    client_id: clientId,
    response_type: 'code',
    redirect_uri: redirectUri,
    scope: options.scope ?? 'openid offline_access read',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    ...(options.resource === false ? {} : { resource: idp.audience }),
  }).toString();
  const user = idp.users[0] as { username: string; password: string };
  const jar = new Jar();
  let next: { url: string; init: RequestInit } = { url: auth.href, init: {} };
  let code: string | undefined;
  for (let hop = 0; hop < 20 && code === undefined; hop++) {
    const res = await fetch(next.url, {
      ...next.init,
      redirect: 'manual',
      headers: {
        ...(next.init.headers as Record<string, string> | undefined),
        cookie: jar.header(),
      },
    });
    jar.take(res);
    const location = res.headers.get('location');
    if (location) {
      await res.arrayBuffer();
      const target = new URL(location, next.url);
      if (target.href.startsWith(redirectUri)) {
        const error = target.searchParams.get('error');
        if (error)
          throw new Error(
            `the IdP refused the sign-in: ${error} ${target.searchParams.get('error_description') ?? ''}`,
          );
        if (target.searchParams.get('state') !== state)
          throw new Error('state mismatch in the test login');
        code = target.searchParams.get('code') ?? undefined;
        break;
      }
      next = { url: target.href, init: {} };
      continue;
    }
    const html = await res.text();
    const action = /<form[^>]*action="([^"]*\/login)"/.exec(html)?.[1];
    if (res.status === 200 && action) {
      next = {
        url: new URL(action.replace(/&amp;/g, '&'), next.url).href,
        init: {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            username: user.username,
            password: user.password,
          }).toString(),
        },
      };
      continue;
    }
    throw new Error(
      `unexpected answer during the test login: HTTP ${res.status} ${html.slice(0, 300)}`,
    );
  }
  if (!code) throw new Error('the test login got no code');
  const result = await runCli(
    [
      'token',
      '--code',
      code,
      '--redirect-uri',
      redirectUri,
      '--code-verifier',
      verifier,
      '--nonce',
      nonce,
      '--issuer',
      idp.issuer,
      '--client-id',
      clientId,
      '--print',
      'access_token',
    ],
    { env },
  );
  if (result.code !== 0)
    throw new Error(`oidc-gw token --code failed (${result.code}): ${result.stderr}`);
}
