/**
 * `oidc-gw token` through the real CLI against a real OpenID provider
 * (oidc-provider) on 127.0.0.1.
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as client from 'openid-client';
import * as jose from 'jose';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempHome } from '../helpers/cli.js';
import { signInWithoutBrowser, startTestIdp, type TestIdp } from '../helpers/idp.js';

let idp: TestIdp;
const home = tempHome();
let env: Record<string, string>;
let cacheCounter = 0;

beforeAll(async () => {
  idp = await startTestIdp();
});
afterAll(async () => {
  await idp?.close();
  home.cleanup();
});
beforeEach(() => {
  // A fresh cache per test: no test sees another's tokens.
  env = { ...home.env, OIDC_GW_CACHE_DIR: join(home.dir, `cache-${++cacheCounter}`) };
  idp.requests.reset();
});

const cc = (extra: string[] = []) => [
  'token',
  '--client-credentials',
  '--issuer',
  idp.issuer,
  '--client-id',
  idp.clients.basic.clientId,
  '--client-secret',
  idp.clients.basic.clientSecret,
  ...extra,
];

async function verifyAccessToken(token: string) {
  const jwks = jose.createRemoteJWKSet(new URL(idp.jwksUri));
  return jose.jwtVerify(token, jwks, { issuer: idp.issuer, audience: idp.audience });
}

describe('token --client-credentials', () => {
  it('prints one JWT access token line for the audience (client_secret_basic, a secret with :%+)', async () => {
    expect(idp.clients.basic.clientSecret).toMatch(/[:%+]/);
    const r = await runCli(cc(['--audience', idp.audience]), { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    const { payload, protectedHeader } = await verifyAccessToken(lines[0]!);
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.aud).toBe(idp.audience);
    expect(payload['client_id']).toBe(idp.clients.basic.clientId);
  });

  it('selects the API with an RFC 8707 --resource too', async () => {
    const r = await runCli(cc(['--resource', idp.audience, '--scope', 'api:read']), { env });
    expect(r.code).toBe(0);
    const { payload } = await verifyAccessToken(r.stdout.trim());
    expect(payload.aud).toBe(idp.audience);
  });

  it('authenticates with client_secret_post', async () => {
    const r = await runCli(
      [
        'token',
        '--client-credentials',
        '--issuer',
        idp.issuer,
        '--client-id',
        idp.clients.post.clientId,
        '--client-secret',
        idp.clients.post.clientSecret,
        '--auth-method',
        'post',
        '--audience',
        idp.audience,
      ],
      { env },
    );
    expect(r.code, r.stderr).toBe(0);
    expect((await verifyAccessToken(r.stdout.trim())).payload['client_id']).toBe(
      idp.clients.post.clientId,
    );
  });

  it('authenticates with private_key_jwt from a PEM file and from a JWK file', async () => {
    const pem = join(home.dir, 'client.pem');
    const jwk = join(home.dir, 'client.jwk.json');
    writeFileSync(pem, idp.clients.privateKeyJwt.privateKeyPem);
    writeFileSync(jwk, JSON.stringify(idp.clients.privateKeyJwt.privateJwk));
    for (const file of [pem, jwk]) {
      const r = await runCli(
        [
          'token',
          '--client-credentials',
          '--issuer',
          idp.issuer,
          '--client-id',
          idp.clients.privateKeyJwt.clientId,
          '--auth-method',
          'private_key_jwt',
          '--private-key',
          file,
          '--audience',
          idp.audience,
          '--force',
        ],
        { env },
      );
      expect(r.code, r.stderr).toBe(0);
      expect((await verifyAccessToken(r.stdout.trim())).payload['client_id']).toBe(
        idp.clients.privateKeyJwt.clientId,
      );
    }
  });

  it('prints the token response plus expires_at with --json', async () => {
    const before = Math.floor(Date.now() / 1000);
    const r = await runCli(cc(['--audience', idp.audience, '--json']), { env });
    expect(r.code).toBe(0);
    const body = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(body['token_type']).toMatch(/^bearer$/i);
    expect(typeof body['access_token']).toBe('string');
    expect(body['expires_at']).toBeGreaterThanOrEqual(before + (body['expires_in'] as number));
    expect(body['expires_at']).toBeLessThanOrEqual(
      Math.floor(Date.now() / 1000) + (body['expires_in'] as number),
    );
  });

  it('reuses a cached token without any request to the IdP, and --force gets a new one', async () => {
    const first = await runCli(cc(['--audience', idp.audience]), { env });
    expect(first.code).toBe(0);
    expect(idp.requests.count('/token')).toBe(1);
    const requestsBefore = idp.requests.count('');
    const second = await runCli(cc(['--audience', idp.audience]), { env });
    expect(second.stdout).toBe(first.stdout);
    expect(idp.requests.count('')).toBe(requestsBefore); // not even discovery
    // Another audience is another cache entry.
    const other = await runCli(cc(['--audience', idp.audience, '--scope', 'api:read']), { env });
    expect(other.stdout).not.toBe(first.stdout);
    expect(idp.requests.count('/token')).toBe(2);
    const forced = await runCli(cc(['--audience', idp.audience, '--force']), { env });
    expect(forced.code).toBe(0);
    expect(forced.stdout).not.toBe(first.stdout);
    expect(idp.requests.count('/token')).toBe(3);
    // The cache is 0600 files in a 0700 directory.
    const dir = env['OIDC_GW_CACHE_DIR']!;
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
  });

  it('then serves the profile token without a grant flag', async () => {
    const first = await runCli(cc(['--audience', idp.audience]), { env });
    const plain = await runCli(['token'], { env });
    expect(plain.code).toBe(0);
    expect(plain.stdout).toBe(first.stdout);
  });

  it('a corrupt cache file is reported and ignored, never fatal', async () => {
    const first = await runCli(cc(['--audience', idp.audience]), { env });
    expect(first.code).toBe(0);
    const dir = env['OIDC_GW_CACHE_DIR']!;
    for (const f of readdirSync(dir)) writeFileSync(join(dir, f), '{ not json');
    const again = await runCli(cc(['--audience', idp.audience]), { env });
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/warning: ignoring corrupt token cache file/);
    expect(again.stdout).toMatch(/^ey[\w-]+\.[\w-]+\.[\w-]+\n$/);
  });
});

describe('token failures', () => {
  it('wrong secret: exit 1 with the IdP error, the secret never shown', async () => {
    const secret = 'wrong-secret-value-1234567890';
    const r = await runCli(
      [
        'token',
        '--client-credentials',
        '--issuer',
        idp.issuer,
        '--client-id',
        idp.clients.basic.clientId,
        '--client-secret',
        secret,
        '--verbose',
      ],
      { env },
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /oidc-gw: error: the IdP refused the client credentials request \(HTTP 401\): invalid_client/,
    );
    expect(r.stderr).toMatch(/hint: /);
    expect(r.stdout).toBe('');
    expect(r.stderr + r.stdout).not.toContain(secret);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('--verbose shows the exchange with every secret redacted', async () => {
    const r = await runCli(cc(['--audience', idp.audience, '--verbose']), { env });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/> POST .*\/token/);
    expect(r.stderr).toMatch(/< HTTP 200/);
    expect(r.stderr).toMatch(/authorization: Basic \S{1,6}…/);
    const token = r.stdout.trim();
    expect(r.stderr).not.toContain(token);
    expect(r.stderr).not.toContain(idp.clients.basic.clientSecret);
    expect(r.stderr).not.toContain(encodeURIComponent(idp.clients.basic.clientSecret));
    const basic = Buffer.from(
      `${encodeURIComponent(idp.clients.basic.clientId)}:${encodeURIComponent(idp.clients.basic.clientSecret)}`,
    ).toString('base64');
    expect(r.stderr).not.toContain(basic);
    expect(r.stderr).toMatch(/"access_token":"\S{1,6}…"/);
  });

  it('unreachable issuer: exit 3 naming the URL', async () => {
    const dead = 'http://127.0.0.1:9'; // discard port: nothing listens in tests
    const r = await runCli(
      [
        'token',
        '--client-credentials',
        '--issuer',
        dead,
        '--client-id',
        'x',
        '--client-secret',
        'y',
      ],
      { env },
    );
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /cannot reach http:\/\/127\.0\.0\.1:9\/\.well-known\/openid-configuration/,
    );
  });

  it('missing setting without a terminal: exit 2 naming the flag and variable', async () => {
    const r = await runCli(['token', '--client-credentials', '--issuer', idp.issuer], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no client id given\nhint: give --client-id or OIDC_GW_CLIENT_ID/);
    const noSecret = await runCli(
      ['token', '--client-credentials', '--issuer', idp.issuer, '--client-id', 'c'],
      { env },
    );
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toMatch(/--client-secret or OIDC_GW_CLIENT_SECRET/);
  });

  it('http on a non-loopback host needs --insecure-http', async () => {
    const r = await runCli(
      [
        'token',
        '--client-credentials',
        '--issuer',
        'http://idp.example.test',
        '--client-id',
        'c',
        '--client-secret',
        's',
      ],
      { env },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--insecure-http/);
  });

  it('an unusable --private-key: exit 2 naming the file, no request to the token endpoint', async () => {
    const garbage = join(home.dir, 'garbage.pem');
    writeFileSync(garbage, 'not a key');
    for (const [file, why] of [
      [garbage, /cannot use the private key .*garbage\.pem: neither PEM nor JSON/],
      [join(home.dir, 'missing.pem'), /cannot read the private key .*missing\.pem \(ENOENT\)/],
    ] as const) {
      const r = await runCli(
        [
          'token',
          '--client-credentials',
          '--issuer',
          idp.issuer,
          '--client-id',
          idp.clients.privateKeyJwt.clientId,
          '--auth-method',
          'private_key_jwt',
          '--private-key',
          file,
        ],
        { env },
      );
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(why);
    }
    expect(idp.requests.count('/token')).toBe(0);
  });

  it('nothing cached: exit 1 with a hint', async () => {
    const r = await runCli(['token'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'oidc-gw: error: no cached token for profile "default"\nhint: run `oidc-gw login`, or `oidc-gw token --client-credentials`\n',
    );
  });

  it('--json errors are also one JSON document on stdout', async () => {
    const r = await runCli(['token', '--json'], { env });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      error: {
        code: 'ERR_NO_TOKEN',
        message: 'no cached token for profile "default"',
        hint: expect.any(String),
      },
    });
  });

  it('settings come from the environment and the config profile', async () => {
    const config = join(home.dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        profiles: {
          svc: { issuer: idp.issuer, clientId: idp.clients.basic.clientId, audience: idp.audience },
        },
      }),
    );
    const r = await runCli(['token', '--client-credentials', '--profile', 'svc'], {
      env: {
        ...env,
        OIDC_GW_CONFIG: config,
        OIDC_GW_CLIENT_SECRET: idp.clients.basic.clientSecret,
      },
    });
    expect(r.code, r.stderr).toBe(0);
    expect((await verifyAccessToken(r.stdout.trim())).payload.aud).toBe(idp.audience);
  });
});

describe('token --code and --refresh', () => {
  async function authorize(): Promise<{
    code: string;
    verifier: string;
    redirectUri: string;
    nonce: string;
  }> {
    const config = await client.discovery(
      new URL(idp.issuer),
      idp.clients.native.clientId,
      undefined,
      client.None(),
      {
        execute: [client.allowInsecureRequests],
      },
    );
    const verifier = client.randomPKCECodeVerifier();
    const nonce = client.randomNonce();
    const redirectUri = 'http://127.0.0.1:53682/callback';
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: 'openid profile offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      nonce,
      prompt: 'consent',
      resource: idp.audience,
    });
    const result = await signInWithoutBrowser(url, 'alice', 'alice');
    const code = result.redirect?.searchParams.get('code');
    if (!code) throw new Error(`no code: ${result.status} ${result.body.slice(0, 200)}`);
    return { code, verifier, redirectUri, nonce };
  }

  it('exchanges a code obtained elsewhere, caches the set, refreshes with rotation', async () => {
    const a = await authorize();
    const r = await runCli(
      [
        'token',
        '--code',
        a.code,
        '--redirect-uri',
        a.redirectUri,
        '--code-verifier',
        a.verifier,
        '--nonce',
        a.nonce,
        '--issuer',
        idp.issuer,
        '--client-id',
        idp.clients.native.clientId,
        '--resource',
        idp.audience,
        '--json',
      ],
      { env },
    );
    expect(r.code, r.stderr).toBe(0);
    const set = JSON.parse(r.stdout) as Record<string, string>;
    expect(set['refresh_token']).toBeTruthy();
    expect(set['id_token']).toBeTruthy();
    // The cached access token is served without a grant flag.
    const cached = await runCli(['token'], { env });
    expect(cached.stdout.trim()).toBe(set['access_token']);
    const id = await runCli(['token', '--print', 'id_token'], { env });
    expect(id.stdout.trim()).toBe(set['id_token']);
    // --refresh gets a new access token and stores the rotated refresh token.
    idp.requests.reset();
    const refreshed = await runCli(['token', '--refresh', '--json'], { env });
    expect(refreshed.code, refreshed.stderr).toBe(0);
    const next = JSON.parse(refreshed.stdout) as Record<string, string>;
    expect(next['access_token']).not.toBe(set['access_token']);
    expect(idp.requests.count('/token')).toBe(1);
    const after = await runCli(['token', '--print', 'refresh_token'], { env });
    expect(after.stdout.trim()).toBe(next['refresh_token']);
  });

  it('a code exchanged twice is refused: exit 1 with invalid_grant', async () => {
    const a = await authorize();
    const args = [
      'token',
      '--code',
      a.code,
      '--redirect-uri',
      a.redirectUri,
      '--code-verifier',
      a.verifier,
      '--issuer',
      idp.issuer,
      '--client-id',
      idp.clients.native.clientId,
    ];
    expect((await runCli(args, { env })).code).toBe(0);
    const again = await runCli(args, { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/invalid_grant/);
    expect(again.stderr).not.toContain(a.code);
  });

  it('--code without --redirect-uri is a usage error', async () => {
    const r = await runCli(['token', '--code', 'x', '--issuer', idp.issuer, '--client-id', 'c'], {
      env,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--code needs --redirect-uri/);
  });
});
