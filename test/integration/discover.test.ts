/** `oidc-gw discover` against the real test IdP and small local metadata servers. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempHome } from '../helpers/cli.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';

let idp: TestIdp;
const home = tempHome();
const servers: Server[] = [];

/** A metadata server: `routes` maps a path to a JSON body built from the server's origin. */
async function metadataServer(
  routes: Record<string, (origin: string) => unknown>,
): Promise<string> {
  const server = createServer((req, res) => {
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const route = routes[req.url ?? ''];
    if (!route) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(route(origin)));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  idp = await startTestIdp();
});
afterAll(async () => {
  await idp?.close();
  for (const s of servers) s.close();
  home.cleanup();
});

describe('discover', () => {
  it('summarises endpoints, grants, PKCE, algorithms and keys', async () => {
    const r = await runCli(['discover', idp.issuer], { env: home.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`issuer                   ${idp.issuer}`);
    expect(r.stdout).toMatch(/token_endpoint\s+http:\/\/127\.0\.0\.1:\d+\/token/);
    expect(r.stdout).toMatch(/grant types\s+.*client_credentials/);
    expect(r.stdout).toMatch(/PKCE methods\s+S256/);
    expect(r.stdout).toMatch(/Keys \(1\)\n\s+kid=\S+\s+RSA\s+RS256\s+use=sig\s+2048 bits/);
    expect(r.stdout).toContain(`JWKS URI                 ${idp.jwksUri}`);
    expect(r.stderr).toMatch(/warning: the issuer uses http/);
  });

  it('accepts the full .well-known URL, as APIM and Kong configs name issuers', async () => {
    const r = await runCli(
      ['discover', `${idp.issuer}/.well-known/openid-configuration`, '--json'],
      { env: home.env },
    );
    expect(r.code, r.stderr).toBe(0);
    const metadata = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(metadata['issuer']).toBe(idp.issuer);
    expect(metadata['jwks_uri']).toBe(idp.jwksUri);
  });

  it('falls back to RFC 8414 metadata', async () => {
    const origin = await metadataServer({
      '/.well-known/oauth-authorization-server': (o) => ({
        issuer: o,
        token_endpoint: `${o}/token`,
        response_types_supported: ['code'],
      }),
    });
    const r = await runCli(['discover', origin, '--no-keys'], { env: home.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${origin}/.well-known/oauth-authorization-server (RFC 8414)`);
    expect(r.stderr).toMatch(/warning: no jwks_uri/);
  });

  it('accepts an issuer given without its trailing slash, with a note, and uses the IdP spelling', async () => {
    const origin = await metadataServer({
      '/tenant/.well-known/openid-configuration': (o) => ({
        issuer: `${o}/tenant/`,
        jwks_uri: `${o}/jwks`,
        token_endpoint: `${o}/t`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      }),
      '/tenant//.well-known/openid-configuration': (o) => ({
        issuer: `${o}/tenant/`,
        jwks_uri: `${o}/jwks`,
        token_endpoint: `${o}/t`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      }),
      '/.well-known/openid-configuration/tenant/': (o) => ({ issuer: `${o}/tenant/` }),
    });
    const r = await runCli(['discover', `${origin}/tenant`, '--no-keys', '--json'], {
      env: home.env,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).issuer).toBe(`${origin}/tenant/`);
    expect(r.stderr).toContain(
      `the IdP names its issuer "${origin}/tenant/" (you gave "${origin}/tenant")`,
    );
  });

  it('refuses an issuer mismatch beyond a trailing slash: exit 1', async () => {
    const origin = await metadataServer({
      '/.well-known/openid-configuration': () => ({ issuer: 'https://someone-else.example/' }),
    });
    const r = await runCli(['discover', origin], { env: home.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/names issuer "https:\/\/someone-else\.example\/", not/);
  });

  it('no metadata at all: exit 1 naming both URLs tried', async () => {
    const origin = await metadataServer({});
    const r = await runCli(['discover', origin], { env: home.env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${origin}/.well-known/openid-configuration`);
    expect(r.stderr).toContain(`${origin}/.well-known/oauth-authorization-server`);
  });

  it('a JWKS that fails is a problem: exit 1, the metadata summary still printed', async () => {
    const origin = await metadataServer({
      '/.well-known/openid-configuration': (o) => ({
        issuer: o,
        jwks_uri: `${o}/jwks`,
        token_endpoint: `${o}/t`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      }),
    });
    const r = await runCli(['discover', origin], { env: home.env });
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`JWKS URI                 ${origin}/jwks`);
    expect(r.stderr).toContain(`problem: the JWKS at ${origin}/jwks answered HTTP 404`);
  });

  it('exit 3 when unreachable, 2 for http off loopback or a non-URL', async () => {
    expect((await runCli(['discover', 'http://127.0.0.1:9'], { env: home.env })).code).toBe(3);
    const http = await runCli(['discover', 'http://idp.example.test'], { env: home.env });
    expect(http.code).toBe(2);
    expect(http.stderr).toMatch(/--insecure-http/);
    expect((await runCli(['discover', 'not a url'], { env: home.env })).code).toBe(2);
    const none = await runCli(['discover'], { env: home.env });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--issuer or OIDC_GW_ISSUER/);
  });
});
