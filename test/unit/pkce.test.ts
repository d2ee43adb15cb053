/** PKCE (RFC 7636) and the authorization request of `oidc-gw login`. */
import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { buildClient, type Client } from '../../src/core/client.js';
import {
  checkExtraParams,
  defaultScope,
  newCodeVerifier,
  pkceChallenge,
  readCallback,
  startAuthorization,
} from '../../src/core/flows/auth-code.js';
import type { DiscoveredIssuer } from '../../src/core/issuer.js';

function clientFor(metadata: Record<string, unknown>): Client {
  const issuer = 'https://idp.example.test';
  const discovered: DiscoveredIssuer = {
    issuer,
    metadata: {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      ...metadata,
    },
    discoveryUrl: `${issuer}/.well-known/openid-configuration`,
    source: 'openid-configuration',
    notes: [],
    options: {},
  };
  return buildClient(discovered, { clientId: 'cli-app' });
}

describe('PKCE', () => {
  test('S256 matches the RFC 7636 Appendix B example', async () => {
    expect(await pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk')).toBe(
      'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
    );
  });

  test('a verifier is 32 random bytes in base64url (43 characters), new every time', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const v = newCodeVerifier();
      expect(v).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(v, 'base64url').length).toBe(32);
      seen.add(v);
    }
    expect(seen.size).toBe(50);
  });
});

describe('the authorization request', () => {
  const client = clientFor({ scopes_supported: ['openid', 'profile', 'email', 'offline_access'] });
  const redirectUri = 'http://127.0.0.1:49152/callback';

  test('carries S256 PKCE, state, nonce, the redirect URI and the pass-through parameters', async () => {
    const pending = await startAuthorization(client, {
      redirectUri,
      scope: 'openid profile',
      audience: 'https://api.example.test/',
      resource: ['https://a.example/', 'https://b.example/'],
      params: { connection: 'github' },
      prompt: 'login',
    });
    const url = new URL(pending.url);
    expect(url.origin + url.pathname).toBe('https://idp.example.test/authorize');
    const q = url.searchParams;
    expect(q.get('response_type')).toBe('code');
    expect(q.get('client_id')).toBe('cli-app');
    expect(q.get('redirect_uri')).toBe(redirectUri);
    expect(q.get('scope')).toBe('openid profile');
    expect(q.get('code_challenge_method')).toBe('S256');
    const expected = createHash('sha256').update(pending.codeVerifier).digest('base64url');
    expect(q.get('code_challenge')).toBe(expected);
    expect(q.get('state')).toBe(pending.state);
    expect(q.get('nonce')).toBe(pending.nonce);
    expect(q.get('audience')).toBe('https://api.example.test/');
    expect(q.getAll('resource')).toEqual(['https://a.example/', 'https://b.example/']);
    expect(q.get('prompt')).toBe('login');
    expect(q.get('connection')).toBe('github');
    expect(q.has('code_verifier')).toBe(false);
    expect(pending.idTokenExpected).toBe(true);
  });

  test('every attempt gets a new verifier, state and nonce', async () => {
    const a = await startAuthorization(client, { redirectUri, scope: 'openid' });
    const b = await startAuthorization(client, { redirectUri, scope: 'openid' });
    expect(a.codeVerifier).not.toBe(b.codeVerifier);
    expect(a.state).not.toBe(b.state);
    expect(a.nonce).not.toBe(b.nonce);
    expect(a.state).not.toBe(a.nonce);
    for (const v of [a.state, a.nonce])
      expect(Buffer.from(v, 'base64url').length).toBeGreaterThanOrEqual(32);
  });

  test('without openid no ID token is expected (state and nonce are still sent)', async () => {
    const p = await startAuthorization(client, { redirectUri, scope: 'read write' });
    expect(p.idTokenExpected).toBe(false);
    expect(new URL(p.url).searchParams.get('nonce')).toBe(p.nonce);
  });

  test.each([
    'state',
    'nonce',
    'code_challenge',
    'code_challenge_method',
    'redirect_uri',
    'client_id',
    'response_type',
    'scope',
  ])('--param %s is refused (exit 2)', async (name) => {
    const attempt = startAuthorization(client, {
      redirectUri,
      scope: 'openid',
      params: { [name]: 'x' },
    });
    await expect(attempt).rejects.toMatchObject({ code: 'ERR_USAGE', exitCode: 2 });
    expect(() => checkExtraParams({ [name]: 'x' })).toThrow(`--param cannot set "${name}"`);
  });

  test('an IdP without authorization_endpoint is refused with a hint', async () => {
    const noAuth = clientFor({ authorization_endpoint: undefined });
    await expect(
      startAuthorization(noAuth, { redirectUri, scope: 'openid' }),
    ).rejects.toMatchObject({
      code: 'ERR_DISCOVERY',
    });
  });
});

describe('default scope', () => {
  test('openid profile email offline_access when the IdP lists them all', () => {
    expect(
      defaultScope({
        scopes_supported: ['openid', 'email', 'profile', 'offline_access', 'address'],
      }),
    ).toBe('openid profile email offline_access');
  });
  test('offline_access only when the IdP supports it', () => {
    expect(defaultScope({ scopes_supported: ['openid', 'profile', 'email'] })).toBe(
      'openid profile email',
    );
    expect(defaultScope({})).toBe('openid profile email');
  });
  test('scopes the IdP does not list are left out; openid stays', () => {
    expect(defaultScope({ scopes_supported: ['email'] })).toBe('openid email');
  });
});

describe('reading the callback', () => {
  test('error with description, or a code', () => {
    expect(
      readCallback(new URLSearchParams('error=access_denied&error_description=no&state=s')),
    ).toEqual({
      kind: 'error',
      error: 'access_denied',
      description: 'no',
    });
    expect(readCallback(new URLSearchParams('code=abc&state=s'))).toEqual({ kind: 'code' });
  });
});
