/**
 * `oidc-gw logout` through the real CLI: revocation at the real test IdP
 * (which then refuses the tokens), local removal always, and the failure
 * paths (IdP unreachable, no revocation endpoint, revocation refused).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import type { Browser } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { TokenStore } from '../../src/config/token-store.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import {
  assertBuilt,
  launchBrowser,
  loginWithCli,
  makeSandbox,
  runCliToEnd,
  userCacheFile,
  type Sandbox,
} from '../helpers/browser.js';

let idp: TestIdp;
let browser: Browser;
let sandbox: Sandbox;

beforeAll(async () => {
  await assertBuilt();
  idp = await startTestIdp();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await idp?.close();
});

beforeEach(async () => {
  sandbox = await makeSandbox();
});

afterEach(async () => {
  await sandbox.cleanup();
});

async function cacheExists(): Promise<boolean> {
  try {
    await readFile(userCacheFile(sandbox.env));
    return true;
  } catch {
    return false;
  }
}

async function refreshAtIdp(refreshToken: string): Promise<{ status: number; error?: string }> {
  const response = await fetch(`${idp.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      client_id: idp.clients.native.clientId,
    }),
  });
  const body = (await response.json()) as { error?: string };
  return { status: response.status, ...(body.error ? { error: body.error } : {}) };
}

async function introspect(token: string): Promise<boolean> {
  const response = await fetch(`${idp.issuer}/token/introspection`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, client_id: idp.clients.native.clientId }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { active: boolean }).active;
}

/** A cached login written straight into the sandbox's cache (no IdP needed). */
async function seedCache(issuer: string): Promise<void> {
  const store = new TokenStore(sandbox.env['OIDC_GW_CACHE_DIR'] as string);
  await store.writeUser('default', {
    access_token: 'seeded-access-token',
    refresh_token: 'seeded-refresh-token',
    issuer,
    client_id: 'cli-app',
    grant: 'authorization_code',
    obtained_at: Math.floor(Date.now() / 1000),
    expires_at: Math.floor(Date.now() / 1000) + 3600,
  });
}

/** A minimal IdP metadata server whose revocation endpoint answers as told. */
async function fakeIdp(options: {
  revocation: boolean;
  status?: number;
}): Promise<{ issuer: string; revocations: URLSearchParams[]; close(): Promise<void> }> {
  const revocations: URLSearchParams[] = [];
  let issuer = '';
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      if (req.url === '/.well-known/openid-configuration') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            issuer,
            authorization_endpoint: `${issuer}/auth`,
            token_endpoint: `${issuer}/token`,
            jwks_uri: `${issuer}/jwks`,
            response_types_supported: ['code'],
            ...(options.revocation ? { revocation_endpoint: `${issuer}/revoke` } : {}),
          }),
        );
        return;
      }
      if (req.url === '/revoke') {
        revocations.push(new URLSearchParams(body));
        const status = options.status ?? 200;
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(
          status === 200
            ? ''
            : JSON.stringify({ error: 'invalid_client', error_description: 'nope' }),
        );
        return;
      }
      res.writeHead(404);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    revocations,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('oidc-gw logout', () => {
  test('revokes the refresh token then the access token at the IdP, which then refuses them; the cache is cleared', async () => {
    const tokens = await loginWithCli(
      browser,
      idp.issuer,
      idp.clients.native.clientId,
      sandbox.env,
    );
    expect(await introspect(tokens['access_token'] as string)).toBe(true);
    const before = idp.requests.count('/token/revocation');
    const result = await runCliToEnd(['logout'], sandbox.env);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`Revoked the refresh token and access token at ${idp.issuer}.`);
    expect(result.stderr).toContain('Logged out: removed the cached login of profile "default".');
    expect(idp.requests.count('/token/revocation')).toBe(before + 2);
    expect(await cacheExists()).toBe(false);
    expect(await refreshAtIdp(tokens['refresh_token'] as string)).toMatchObject({
      status: 400,
      error: 'invalid_grant',
    });
    expect(await introspect(tokens['access_token'] as string)).toBe(false);
    const token = await runCliToEnd(['token'], sandbox.env);
    expect(token.code).toBe(1);
  });

  test('--no-revoke removes the tokens locally only; --json reports it', async () => {
    const tokens = await loginWithCli(
      browser,
      idp.issuer,
      idp.clients.native.clientId,
      sandbox.env,
    );
    const before = idp.requests.count('/token/revocation');
    const result = await runCliToEnd(['logout', '--no-revoke', '--json'], sandbox.env);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      profile: 'default',
      logged_out: true,
      issuer: idp.issuer,
      revoked: [],
      revocation_endpoint: null,
      warnings: [],
    });
    expect(idp.requests.count('/token/revocation')).toBe(before);
    expect(await cacheExists()).toBe(false);
    expect(await refreshAtIdp(tokens['refresh_token'] as string)).toMatchObject({ status: 200 });
  });

  test('nothing cached: says so, exit 0', async () => {
    const result = await runCliToEnd(['logout'], sandbox.env);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain('No cached login for profile "default": nothing to log out.');
  });

  test('IdP unreachable: a warning, and the local logout still happens (exit 0)', async () => {
    const gone = await fakeIdp({ revocation: true });
    await gone.close();
    await seedCache(gone.issuer);
    const result = await runCliToEnd(['logout'], sandbox.env);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/warning: cannot revoke the tokens: .*(refused|reach)/);
    expect(result.stderr).toContain('Logged out');
    expect(await cacheExists()).toBe(false);
  });

  test('revocation refused by the IdP: a warning per token, the local logout still happens', async () => {
    const fake = await fakeIdp({ revocation: true, status: 401 });
    try {
      await seedCache(fake.issuer);
      const result = await runCliToEnd(['logout', '--json'], sandbox.env);
      expect(result.code).toBe(0);
      expect(
        fake.revocations.map((f) => [f.get('token'), f.get('token_type_hint'), f.get('client_id')]),
      ).toEqual([
        ['seeded-refresh-token', 'refresh_token', 'cli-app'],
        ['seeded-access-token', 'access_token', 'cli-app'],
      ]);
      expect(result.stderr).toContain('warning: could not revoke the refresh token');
      expect(result.stderr).toContain('invalid_client');
      expect(result.stderr).not.toContain('seeded-refresh-token');
      const report = JSON.parse(result.stdout) as Record<string, unknown>;
      expect(report['logged_out']).toBe(true);
      expect(report['revoked']).toEqual([]);
      expect((report['warnings'] as string[]).length).toBe(2);
      expect(await cacheExists()).toBe(false);
    } finally {
      await fake.close();
    }
  });

  test('an IdP without a revocation endpoint: says the tokens stay valid until they expire, removes them', async () => {
    const fake = await fakeIdp({ revocation: false });
    try {
      await seedCache(fake.issuer);
      const result = await runCliToEnd(['logout'], sandbox.env);
      expect(result.code).toBe(0);
      expect(result.stderr).toContain('has no revocation endpoint');
      expect(result.stderr).toContain('valid at the IdP until they expire');
      expect(fake.revocations).toEqual([]);
      expect(await cacheExists()).toBe(false);
    } finally {
      await fake.close();
    }
  });
});
