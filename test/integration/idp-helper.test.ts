import * as client from 'openid-client';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInWithoutBrowser, startTestIdp, type TestIdp } from '../helpers/idp.js';

let idp: TestIdp;

beforeAll(async () => {
  idp = await startTestIdp();
});

afterAll(async () => {
  await idp?.close();
});

async function configFor(
  clientId: string,
  auth: client.ClientAuth,
  metadata: Partial<client.ClientMetadata> = {},
): Promise<client.Configuration> {
  return client.discovery(new URL(idp.issuer), clientId, metadata, auth, {
    execute: [client.allowInsecureRequests],
  });
}

async function verifyAccessToken(token: string) {
  const jwks = jose.createRemoteJWKSet(new URL(idp.jwksUri));
  return jose.jwtVerify(token, jwks, {
    issuer: idp.issuer,
    audience: idp.audience,
    typ: 'at+jwt',
    algorithms: ['RS256'],
  });
}

describe('test IdP helper', () => {
  it('serves discovery with the endpoints the commands need', async () => {
    const config = await configFor(idp.clients.native.clientId, client.None());
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(idp.issuer);
    expect(meta.jwks_uri).toBe(idp.jwksUri);
    expect(meta.grant_types_supported).toEqual(
      expect.arrayContaining([
        'authorization_code',
        'refresh_token',
        'client_credentials',
        'urn:ietf:params:oauth:grant-type:device_code',
      ]),
    );
    expect(meta.code_challenge_methods_supported).toContain('S256');
    expect(meta.introspection_endpoint).toBe(`${idp.issuer}/token/introspection`);
    expect(meta.revocation_endpoint).toBe(`${idp.issuer}/token/revocation`);
    expect(meta.device_authorization_endpoint).toBe(`${idp.issuer}/device/auth`);
    expect(idp.requests.count('/.well-known/openid-configuration')).toBeGreaterThan(0);
  });

  it('client credentials with resource gives an RS256 at+jwt for the API', async () => {
    const { clientId, clientSecret } = idp.clients.basic;
    expect(clientSecret).toMatch(/[:%+]/);
    const config = await configFor(clientId, client.ClientSecretBasic(clientSecret));
    const tokens = await client.clientCredentialsGrant(config, { resource: idp.audience });
    const { payload, protectedHeader } = await verifyAccessToken(tokens.access_token);
    expect(protectedHeader.alg).toBe('RS256');
    expect(protectedHeader.typ).toBe('at+jwt');
    expect(payload.aud).toBe(idp.audience);
    expect(payload.iss).toBe(idp.issuer);
    expect(payload.client_id).toBe(clientId);
    expect(payload.sub).toBe(clientId);
    expect(payload.scope).toBe('read write');
    expect(tokens.expires_in).toBe(3600);
  });

  it('client credentials with the Auth0-style audience parameter, over client_secret_post', async () => {
    const { clientId, clientSecret } = idp.clients.post;
    const config = await configFor(clientId, client.ClientSecretPost(clientSecret));
    const before = idp.requests.count('/token');
    const tokens = await client.clientCredentialsGrant(config, {
      audience: idp.audience,
      scope: 'read',
    });
    expect(idp.requests.count('/token')).toBe(before + 1);
    const { payload } = await verifyAccessToken(tokens.access_token);
    expect(payload.aud).toBe(idp.audience);
    expect(payload.scope).toBe('read');
  });

  it('refuses a wrong secret and an unknown audience', async () => {
    const wrong = await configFor(
      idp.clients.basic.clientId,
      client.ClientSecretBasic(`${idp.clients.basic.clientSecret}x`),
    );
    const refused = await client.clientCredentialsGrant(wrong, { resource: idp.audience }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toBeInstanceOf(client.WWWAuthenticateChallengeError);
    const challenge = (refused as client.WWWAuthenticateChallengeError).cause[0];
    expect(challenge?.parameters.error).toBe('invalid_client');
    const right = await configFor(
      idp.clients.basic.clientId,
      client.ClientSecretBasic(idp.clients.basic.clientSecret),
    );
    await expect(
      client.clientCredentialsGrant(right, { audience: 'https://other.example.test/' }),
    ).rejects.toMatchObject({ error: 'invalid_target' });
  });

  it('private_key_jwt with the PEM and with the JWK', async () => {
    const { clientId, privateKeyPem, privateJwk } = idp.clients.privateKeyJwt;
    const fromPem = await jose.importPKCS8(privateKeyPem, 'RS256');
    const fromJwk = (await jose.importJWK(privateJwk, 'RS256')) as jose.CryptoKey;
    for (const key of [fromPem, fromJwk]) {
      const config = await configFor(clientId, client.PrivateKeyJwt(key));
      const tokens = await client.clientCredentialsGrant(config, { resource: idp.audience });
      const { payload } = await verifyAccessToken(tokens.access_token);
      expect(payload.client_id).toBe(clientId);
    }
  });

  it('authorization code + PKCE without a browser, then refresh with rotation, introspection, revocation', async () => {
    const config = await configFor(idp.clients.native.clientId, client.None());
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const authUrl = client.buildAuthorizationUrl(config, {
      redirect_uri: 'http://127.0.0.1:49152/callback',
      scope: 'openid profile email offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      audience: idp.audience,
    });

    const wrong = await signInWithoutBrowser(authUrl, 'alice', 'not-alice');
    expect(wrong.redirect).toBeUndefined();
    expect(wrong.status).toBe(401);
    expect(wrong.body).toContain('Wrong username or password');

    const signedIn = await signInWithoutBrowser(authUrl, 'alice', 'alice');
    expect(signedIn.redirect?.searchParams.get('code')).toBeTruthy();
    const tokens = await client.authorizationCodeGrant(config, signedIn.redirect!, {
      pkceCodeVerifier: verifier,
      expectedState: state,
    });
    expect(tokens.claims()?.sub).toBe('alice');
    expect(tokens.claims()?.email).toBe('alice@example.test');
    const { payload } = await verifyAccessToken(tokens.access_token);
    expect(payload.sub).toBe('alice');
    expect(tokens.refresh_token).toBeTruthy();

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect((await verifyAccessToken(refreshed.access_token)).payload.aud).toBe(idp.audience);

    const service = await configFor(
      idp.clients.basic.clientId,
      client.ClientSecretBasic(idp.clients.basic.clientSecret),
    );
    const active = await client.tokenIntrospection(service, refreshed.refresh_token!);
    expect(active.active).toBe(true);
    expect(active.client_id).toBe(idp.clients.native.clientId);
    expect(active.sub).toBe('alice');

    await client.tokenRevocation(config, refreshed.refresh_token!);
    expect(idp.requests.count('/token/revocation')).toBeGreaterThan(0);
    const revoked = await client.tokenIntrospection(service, refreshed.refresh_token!);
    expect(revoked.active).toBe(false);
    await expect(client.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('Cancel on the sign-in page ends the request with access_denied', async () => {
    const config = await configFor(idp.clients.native.clientId, client.None());
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: 'http://127.0.0.1:50001/callback',
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    let cookies: string[] = [];
    const get = async (target: string) => {
      const res = await fetch(target, {
        redirect: 'manual',
        headers: { cookie: cookies.join('; ') },
      });
      cookies = [...cookies, ...res.headers.getSetCookie().map((c) => c.split(';')[0]!)];
      return res;
    };
    const toInteraction = await get(url.href);
    const page = await get(new URL(toInteraction.headers.get('location')!, idp.issuer).href);
    const html = await page.text();
    expect(html).toContain('<button type="submit">Sign in</button>');
    expect(html.match(/<button/g)).toHaveLength(1);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const abort = /action="([^"]+\/abort)"/.exec(html)![1]!;
    const aborted = await fetch(new URL(abort, idp.issuer), {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: cookies.join('; '), 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    expect(aborted.status).toBe(303);
    const resumed = await get(new URL(aborted.headers.get('location')!, idp.issuer).href);
    const back = new URL(resumed.headers.get('location')!);
    expect(back.origin).toBe('http://127.0.0.1:50001');
    expect(back.searchParams.get('error')).toBe('access_denied');
  });

  it('PKCE is required for the public client', async () => {
    const config = await configFor(idp.clients.native.clientId, client.None());
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: 'http://127.0.0.1:50000/callback',
      scope: 'openid',
    });
    const result = await signInWithoutBrowser(url, 'alice', 'alice');
    expect(result.redirect?.searchParams.get('error')).toBe('invalid_request');
    expect(result.redirect?.searchParams.get('error_description')).toMatch(/PKCE/);
  });

  it('introspects an opaque access token; a JWT one is self-contained', async () => {
    const service = await configFor(
      idp.clients.post.clientId,
      client.ClientSecretPost(idp.clients.post.clientSecret),
    );
    const opaque = await client.clientCredentialsGrant(service);
    expect(opaque.access_token.split('.')).toHaveLength(1);
    const info = await client.tokenIntrospection(service, opaque.access_token);
    expect(info.active).toBe(true);
    expect(info.client_id).toBe(idp.clients.post.clientId);
    await client.tokenRevocation(service, opaque.access_token);
    expect((await client.tokenIntrospection(service, opaque.access_token)).active).toBe(false);

    const jwt = await client.clientCredentialsGrant(service, { resource: idp.audience });
    await expect(client.tokenIntrospection(service, jwt.access_token)).rejects.toMatchObject({
      error: 'unsupported_token_type',
    });
  });

  it('rotation changes the signing key and keeps the previous one published', async () => {
    const service = await configFor(
      idp.clients.basic.clientId,
      client.ClientSecretBasic(idp.clients.basic.clientSecret),
    );
    const first = await client.clientCredentialsGrant(service, { resource: idp.audience });

    const kidBefore = jose.decodeProtectedHeader(first.access_token).kid;
    await idp.rotateKeys();
    const jwks = (await (await fetch(idp.jwksUri)).json()) as {
      keys: Array<{ kid: string; d?: string }>;
    };
    expect(jwks.keys).toHaveLength(2);
    expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
    const second = await client.clientCredentialsGrant(service, { resource: idp.audience });
    const kidAfter = jose.decodeProtectedHeader(second.access_token).kid;
    expect(kidAfter).not.toBe(kidBefore);
    expect(jwks.keys.map((k) => k.kid)).toEqual([kidAfter, kidBefore]);
    // the old token still verifies: its key is still published
    await verifyAccessToken(first.access_token);
    await verifyAccessToken(second.access_token);
  });
});
