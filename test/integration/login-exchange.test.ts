/**
 * The code exchange of `oidc-gw login` (core/flows/auth-code) against the
 * real test IdP, with chromium doing the sign-in: every check openid-client
 * does for us is shown to be on (RFC 9207 iss, state, PKCE, ID token
 * signature, nonce).
 */
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildClient, type Client } from '../../src/core/client.js';
import {
  completeAuthorization,
  startAuthorization,
  type PendingAuthorization,
} from '../../src/core/flows/auth-code.js';
import { discoverIssuer, type DiscoveredIssuer, type FetchLike } from '../../src/core/issuer.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import {
  authorizeInBrowser,
  launchBrowser,
  startCaptureServer,
  type CaptureServer,
} from '../helpers/browser.js';

let idp: TestIdp;
let browser: Browser;
let context: BrowserContext;
let discovered: DiscoveredIssuer;
let capture: CaptureServer;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  idp = await startTestIdp();
  browser = await launchBrowser();
  context = await browser.newContext();
  discovered = await discoverIssuer(idp.issuer);
  capture = await startCaptureServer();
});

afterAll(async () => {
  await capture?.close();
  await browser?.close();
  await idp?.close();
});

function client(fetch?: FetchLike, metadata: Record<string, unknown> = {}): Client {
  return buildClient(
    {
      ...discovered,
      metadata: { ...discovered.metadata, ...metadata } as DiscoveredIssuer['metadata'],
      options: { ...discovered.options, ...(fetch ? { fetch } : {}) },
    },
    { clientId: idp.clients.native.clientId },
  );
}

async function authorize(
  c: Client,
  scope = 'openid profile email',
): Promise<{ pending: PendingAuthorization; query: URLSearchParams }> {
  const pending = await startAuthorization(c, { redirectUri: capture.redirectUri, scope });
  const page = await context.newPage();
  try {
    const query = await authorizeInBrowser(page, pending.url, capture);
    return { pending, query };
  } finally {
    await page.close();
  }
}

describe('the code exchange', () => {
  test('the IdP advertises RFC 9207 and sends iss; the exchange validates and returns the claims', async () => {
    expect(discovered.metadata.authorization_response_iss_parameter_supported).toBe(true);
    const c = client();
    const { pending, query } = await authorize(c);
    expect(query.get('iss')).toBe(idp.issuer);
    expect(query.get('state')).toBe(pending.state);
    const result = await completeAuthorization(c, pending, query, {}, now);
    expect(result.claims).toMatchObject({
      sub: 'alice',
      nonce: pending.nonce,
      aud: idp.clients.native.clientId,
      iss: idp.issuer,
    });
    expect(result.tokens).toMatchObject({
      grant: 'authorization_code',
      issuer: idp.issuer,
      client_id: idp.clients.native.clientId,
    });
    expect(typeof result.tokens.refresh_token).toBe('string');
  });

  test('an ID token with another nonce is refused', async () => {
    const c = client();
    const { pending, query } = await authorize(c);
    const other = { ...pending, nonce: 'another-nonce-value' };
    await expect(completeAuthorization(c, other, query, {}, now)).rejects.toMatchObject({
      code: 'ERR_IDP_RESPONSE',
      message: expect.stringContaining('nonce'),
    });
  });

  test('an ID token whose signature was tampered with is refused (signatures are verified, not only claims)', async () => {
    const tampering: FetchLike = async (url, init) => {
      const response = await fetch(url, init);
      if (!url.endsWith('/token')) return response;
      const body = (await response.json()) as Record<string, string>;
      const [h, p, s] = (body['id_token'] as string).split('.') as [string, string, string];
      const sig = Buffer.from(s, 'base64url');
      sig[0] = (sig[0] as number) ^ 0xff;
      body['id_token'] = `${h}.${p}.${sig.toString('base64url')}`;
      return new Response(JSON.stringify(body), {
        status: response.status,
        headers: response.headers,
      });
    };
    const c = client(tampering);
    const { pending, query } = await authorize(c);
    await expect(completeAuthorization(c, pending, query, {}, now)).rejects.toMatchObject({
      code: 'ERR_IDP_RESPONSE',
      message: expect.stringMatching(/signature/i),
    });
  });

  test('a wrong PKCE verifier is refused by the IdP (invalid_grant)', async () => {
    const c = client();
    const { pending, query } = await authorize(c);
    const wrong = { ...pending, codeVerifier: 'x'.repeat(43) };
    await expect(completeAuthorization(c, wrong, query, {}, now)).rejects.toMatchObject({
      code: 'ERR_IDP',
      details: { error: 'invalid_grant' },
    });
  });

  test('a response without iss, or with another iss, is refused before any token request (RFC 9207)', async () => {
    const c = client();
    const { pending, query } = await authorize(c);
    const before = idp.requests.count('/token');
    const missing = new URLSearchParams(query);
    missing.delete('iss');
    await expect(completeAuthorization(c, pending, missing, {}, now)).rejects.toMatchObject({
      code: 'ERR_IDP_RESPONSE',
      message: expect.stringContaining('has no "iss" parameter'),
    });
    const other = new URLSearchParams(query);
    other.set('iss', 'https://evil.example.test');
    await expect(completeAuthorization(c, pending, other, {}, now)).rejects.toMatchObject({
      code: 'ERR_IDP_RESPONSE',
      message: expect.stringContaining('mix-up'),
    });
    expect(idp.requests.count('/token')).toBe(before);
    // The untouched response still works: the code was not spent.
    await expect(completeAuthorization(c, pending, query, {}, now)).resolves.toMatchObject({
      claims: { sub: 'alice' },
    });
  });

  test('without RFC 9207 in the metadata, a response without iss goes on to the exchange', async () => {
    const c = client(undefined, { authorization_response_iss_parameter_supported: false });
    const { pending, query } = await authorize(c);
    query.delete('iss');
    await expect(completeAuthorization(c, pending, query, {}, now)).resolves.toMatchObject({
      claims: { sub: 'alice' },
    });
  });

  test('a state other than the pending one is refused', async () => {
    const c = client();
    const { pending, query } = await authorize(c);
    await expect(
      completeAuthorization(c, { ...pending, state: 'other-state' }, query, {}, now),
    ).rejects.toMatchObject({ code: 'ERR_IDP_RESPONSE' });
  });
});
