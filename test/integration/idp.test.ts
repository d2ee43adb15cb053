/**
 * `oidc-gw idp` end to end: the built CLI (run `npm run build` first) is
 * spawned on 127.0.0.1:0 and driven with openid-client and jose as any
 * client would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as client from 'openid-client';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInWithoutBrowser } from '../helpers/idp.js';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'oidc-gw.js');
const AUDIENCE = 'https://api.local.test/';

interface Started {
  child: ChildProcess;
  info: {
    issuer: string;
    audience: string;
    jwks_uri: string;
    listen_url: string;
    clients: Array<{ client_id: string; client_secret?: string; grant_types: string[] }>;
    users: string[];
  };
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
}

const running = new Set<ChildProcess>();
const tmpDirs: string[] = [];

afterAll(async () => {
  for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of tmpDirs) await rm(dir, { recursive: true, force: true });
});

function spawnCli(args: string[]): {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', OIDC_GW_DEBUG: '' },
  });
  running.add(child);
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Starts `oidc-gw idp --port 0 --json ARGS` and waits (bounded) for its JSON line. */
async function startIdp(args: string[] = []): Promise<Started> {
  const proc = spawnCli(['idp', '--port', '0', '--json', ...args]);
  const deadline = Date.now() + 20_000;
  while (!proc.stdout().includes('\n')) {
    if (proc.child.exitCode !== null) {
      throw new Error(`idp exited with ${proc.child.exitCode}: ${proc.stderr()}`);
    }
    if (Date.now() > deadline) throw new Error(`idp did not start: ${proc.stderr()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  const info = JSON.parse(proc.stdout().split('\n')[0]!) as Started['info'];
  return { ...proc, info };
}

async function stop(started: { child: ChildProcess; exited: Promise<number | null> }) {
  started.child.kill('SIGTERM');
  return started.exited;
}

function service(info: Started['info']) {
  const entry = info.clients.find((c) => c.client_id === 'oidc-gw-service')!;
  return { clientId: entry.client_id, clientSecret: entry.client_secret! };
}

function discover(issuer: string, clientId: string, auth: client.ClientAuth) {
  return client.discovery(new URL(issuer), clientId, {}, auth, {
    execute: [client.allowInsecureRequests],
  });
}

async function verify(info: Started['info'], token: string) {
  return jose.jwtVerify(token, jose.createRemoteJWKSet(new URL(info.jwks_uri)), {
    issuer: info.issuer,
    audience: info.audience,
    typ: 'at+jwt',
    algorithms: ['RS256'],
  });
}

async function jwksKids(info: Started['info']): Promise<string[]> {
  const res = await fetch(info.jwks_uri);
  const jwks = (await res.json()) as { keys: Array<{ kid: string; d?: string }> };
  expect(jwks.keys.every((k) => k.d === undefined)).toBe(true);
  return jwks.keys.map((k) => k.kid);
}

describe('oidc-gw idp (spawned CLI)', () => {
  let idp: Started;

  beforeAll(async () => {
    idp = await startIdp([
      '--access-token-ttl',
      '15m',
      '--user',
      'alice:wonder-land',
      '--user',
      'bob:b',
    ]);
  });

  afterAll(async () => {
    if (!idp) return;
    expect(await stop(idp)).toBe(0);
    // after every flow above: still the one JSON line on stdout, and no
    // oidc-provider notice or warning anywhere
    expect(idp.stdout().split('\n').filter(Boolean)).toHaveLength(1);
    expect(idp.stderr()).not.toMatch(/oidc-provider|NOTICE|WARNING/i);
  });

  it('prints the documented JSON object (docs/commands/idp.md), and only it, on stdout', () => {
    const lines = idp.stdout().split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    expect(idp.info.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(idp.info.audience).toBe(AUDIENCE);
    expect(idp.info.users).toEqual(['alice', 'bob']);
    const cli = idp.info.clients.find((c) => c.client_id === 'oidc-gw-cli');
    expect(cli).toBeDefined();
    expect(cli!.client_secret).toBeUndefined();
    expect(cli!.grant_types).toEqual(
      expect.arrayContaining([
        'authorization_code',
        'refresh_token',
        'urn:ietf:params:oauth:grant-type:device_code',
      ]),
    );
    const svc = idp.info.clients.find((c) => c.client_id === 'oidc-gw-service');
    expect(svc!.client_secret).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(svc!.grant_types).toContain('client_credentials');
  });

  it('serves discovery', async () => {
    const config = await discover(idp.info.issuer, 'oidc-gw-cli', client.None());
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(idp.info.issuer);
    expect(meta.jwks_uri).toBe(idp.info.jwks_uri);
    expect(meta.introspection_endpoint).toBeTruthy();
    expect(meta.revocation_endpoint).toBeTruthy();
    expect(meta.device_authorization_endpoint).toBeTruthy();
  });

  it('client credentials with audience (basic) and with resource (post) give a verified JWT for the API', async () => {
    const { clientId, clientSecret } = service(idp.info);
    const basic = await discover(idp.info.issuer, clientId, client.ClientSecretBasic(clientSecret));
    const viaAudience = await client.clientCredentialsGrant(basic, { audience: AUDIENCE });
    const post = await discover(idp.info.issuer, clientId, client.ClientSecretPost(clientSecret));
    const viaResource = await client.clientCredentialsGrant(post, { resource: AUDIENCE });
    for (const tokens of [viaAudience, viaResource]) {
      expect(tokens.expires_in).toBe(900);
      const { payload, protectedHeader } = await verify(idp.info, tokens.access_token);
      expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
      expect(payload).toMatchObject({
        aud: AUDIENCE,
        iss: idp.info.issuer,
        client_id: clientId,
        sub: clientId,
        scope: 'read write',
      });
      expect(payload.exp! - payload.iat!).toBe(900);
    }
  });

  it('code flow + PKCE, refresh (rotated), introspection and revocation', async () => {
    const config = await discover(idp.info.issuer, 'oidc-gw-cli', client.None());
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: 'http://127.0.0.1:61234/callback',
      scope: 'openid profile email offline_access',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      resource: AUDIENCE,
    });
    const result = await signInWithoutBrowser(url, 'alice', 'wonder-land');
    expect(result.redirect?.origin).toBe('http://127.0.0.1:61234');
    const tokens = await client.authorizationCodeGrant(config, result.redirect!, {
      pkceCodeVerifier: verifier,
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(tokens.claims()).toMatchObject({
      sub: 'alice',
      iss: idp.info.issuer,
      aud: 'oidc-gw-cli',
    });
    expect((await verify(idp.info, tokens.access_token)).payload.sub).toBe('alice');
    expect(idp.stderr()).toContain('signed in alice');

    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect((await verify(idp.info, refreshed.access_token)).payload.aud).toBe(AUDIENCE);

    const { clientId, clientSecret } = service(idp.info);
    const svc = await discover(idp.info.issuer, clientId, client.ClientSecretBasic(clientSecret));
    const introspected = await client.tokenIntrospection(svc, refreshed.refresh_token!);
    expect(introspected).toMatchObject({ active: true, sub: 'alice', client_id: 'oidc-gw-cli' });
    // the first refresh token was consumed by the rotation
    expect((await client.tokenIntrospection(svc, tokens.refresh_token!)).active).toBe(false);

    await client.tokenRevocation(config, refreshed.refresh_token!);
    expect((await client.tokenIntrospection(svc, refreshed.refresh_token!)).active).toBe(false);
    await expect(client.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({
      error: 'invalid_grant',
    });
  });

  it('a wrong password shows an error and signs nobody in', async () => {
    const config = await discover(idp.info.issuer, 'oidc-gw-cli', client.None());
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: 'http://127.0.0.1:61235/callback',
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
      code_challenge_method: 'S256',
    });
    const result = await signInWithoutBrowser(url, 'bob', 'not-b');
    expect(result.redirect).toBeUndefined();
    expect(result.status).toBe(401);
    expect(result.body).toContain('Wrong username or password.');
    expect(result.body).toContain('name="username"');
    expect(result.body).toContain('value="bob"');
    expect(result.body).not.toContain('not-b');
    // self-contained page: no external resource
    expect(result.body).not.toMatch(/(src|href)="https?:/);
    expect(idp.stderr()).toContain('refused sign-in as "bob"');
    expect(idp.stderr()).not.toContain('signed in bob');
  });

  it('device grant: the user enters the code and signs in, the device gets tokens', async () => {
    const config = await discover(idp.info.issuer, 'oidc-gw-cli', client.None());
    const device = await client.initiateDeviceAuthorization(config, {
      scope: 'openid offline_access',
      audience: AUDIENCE,
    });
    expect(device.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    await approveDevice(device.verification_uri, device.user_code, 'bob', 'b');
    const tokens = await client.pollDeviceAuthorizationGrant(config, device);
    expect(tokens.claims()?.sub).toBe('bob');
    expect(tokens.refresh_token).toBeTruthy();
    expect((await verify(idp.info, tokens.access_token)).payload.sub).toBe('bob');
  });

  it('rotates keys through the loopback admin endpoint; the JWKS shows it', async () => {
    const before = await jwksKids(idp.info);
    expect(before).toHaveLength(1);
    const refused = await fetch(`${idp.info.issuer}/admin/rotate-keys`, {
      method: 'POST',
      headers: { origin: 'http://evil.example.test' },
    });
    expect(refused.status).toBe(403);
    expect(await jwksKids(idp.info)).toEqual(before);

    const res = await fetch(`${idp.info.issuer}/admin/rotate-keys`, { method: 'POST' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { kid: string; kids: string[] };
    expect(body.kids).toEqual([body.kid, before[0]]);
    expect(await jwksKids(idp.info)).toEqual([body.kid, before[0]]);

    const { clientId, clientSecret } = service(idp.info);
    const svc = await discover(idp.info.issuer, clientId, client.ClientSecretBasic(clientSecret));
    const tokens = await client.clientCredentialsGrant(svc, { audience: AUDIENCE });
    expect(jose.decodeProtectedHeader(tokens.access_token).kid).toBe(body.kid);
    await verify(idp.info, tokens.access_token);
    expect(idp.stderr()).toContain(`now signing with ${body.kid}`);
  });
});

/** Drives the device verification pages with fetch: code, confirm, sign-in (bounded). */
async function approveDevice(
  verificationUri: string,
  userCode: string,
  user: string,
  password: string,
) {
  const jar = new Map<string, string>();
  const send = async (url: URL, init: RequestInit = {}) => {
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      headers: {
        ...(init.headers as Record<string, string>),
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
      },
    });
    for (const line of res.headers.getSetCookie()) {
      const pair = line.split(';')[0]!;
      const eq = pair.indexOf('=');
      jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    return res;
  };
  const form = (fields: Record<string, string>): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  const hidden = (html: string, name: string) =>
    new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';

  const start = new URL(verificationUri);
  const input = await (await send(start)).text();
  const confirm = await send(start, form({ xsrf: hidden(input, 'xsrf'), user_code: userCode }));
  const confirmHtml = await confirm.text();
  expect(confirmHtml).toContain('Confirm device');
  let res = await send(
    start,
    form({ xsrf: hidden(confirmHtml, 'xsrf'), user_code: userCode, confirm: 'yes' }),
  );
  for (let hop = 0; hop < 15; hop++) {
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      await res.arrayBuffer();
      res = await send(new URL(location, start));
      continue;
    }
    const html = await res.text();
    const action = /action="([^"]+\/login)"/.exec(html)?.[1];
    if (!action) {
      expect(html).toContain('Signed in');
      return;
    }
    res = await send(new URL(action, start), form({ username: user, password }));
  }
  throw new Error('device approval did not finish');
}

describe('oidc-gw idp --keys', () => {
  it('creates the file 0600, keeps the key across restarts, and saves rotations', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oidc-gw-idp-'));
    tmpDirs.push(dir);
    const file = join(dir, 'nested', 'keys.json');

    const first = await startIdp(['--keys', file]);
    const mode = (await stat(file)).mode & 0o777;
    expect(mode).toBe(0o600);
    const kids1 = await jwksKids(first.info);
    expect(kids1).toHaveLength(1);
    const saved = JSON.parse(await readFile(file, 'utf8')) as {
      keys: Array<{ kid: string; d: string }>;
    };
    expect(saved.keys.map((k) => k.kid)).toEqual(kids1);
    expect(saved.keys[0]!.d).toBeTruthy();
    const { clientId, clientSecret } = service(first.info);
    const svc = await discover(first.info.issuer, clientId, client.ClientSecretBasic(clientSecret));
    const token = (await client.clientCredentialsGrant(svc, { resource: AUDIENCE })).access_token;
    expect(await stop(first)).toBe(0);

    const second = await startIdp(['--keys', file]);
    expect(await jwksKids(second.info)).toEqual(kids1);
    // a token from before the restart still verifies against the new process's JWKS
    // (the issuer differs with the port, so check the signature only)
    await jose.jwtVerify(token, jose.createRemoteJWKSet(new URL(second.info.jwks_uri)));
    const rotated = (await (
      await fetch(`${second.info.issuer}/admin/rotate-keys`, { method: 'POST' })
    ).json()) as { kid: string };
    const afterRotation = JSON.parse(await readFile(file, 'utf8')) as {
      keys: Array<{ kid: string }>;
    };
    expect(afterRotation.keys.map((k) => k.kid)).toEqual([rotated.kid, kids1[0]]);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await stop(second)).toBe(0);

    const { chmod } = await import('node:fs/promises');
    await chmod(file, 0o644);
    const third = await startIdp(['--keys', file]);
    expect(await jwksKids(third.info)).toEqual([rotated.kid, kids1[0]]);
    expect(third.stderr()).toContain('others can read it (mode 0644); chmod 600 it');
    expect(await stop(third)).toBe(0);
  });

  it('refuses a keys file that is not a private JWKS (exit 2, one line, no stack)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'oidc-gw-idp-'));
    tmpDirs.push(dir);
    const file = join(dir, 'keys.json');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, '{"keys":[{"kty":"RSA","n":"x","e":"AQAB"}]}', { mode: 0o600 });
    const proc = spawnCli(['idp', '--port', '0', '--keys', file]);
    expect(await proc.exited).toBe(2);
    expect(proc.stderr()).toMatch(
      /^oidc-gw: error: the keys file .* is not usable: keys\[0\] has no "d"/,
    );
    expect(proc.stderr()).not.toMatch(/\n\s+at /);
    expect(proc.stdout()).toBe('');
  });
});

describe('oidc-gw idp: start, stop, refusals', () => {
  it('prints a banner on stderr (issuer line, clients, secret, users, examples) and stops on SIGINT with 0', async () => {
    const proc = spawnCli(['idp', '--port', '0', '--client-secret', 'dev-secret']);
    const deadline = Date.now() + 20_000;
    while (!proc.stderr().includes('Ctrl-C')) {
      if (Date.now() > deadline || proc.child.exitCode !== null) throw new Error(proc.stderr());
      await new Promise((r) => setTimeout(r, 25));
    }
    const text = proc.stderr();
    const issuer = /issuer: (http:\/\/127\.0\.0\.1:\d+)/.exec(text)?.[1];
    expect(issuer).toBeTruthy();
    expect(text).toContain('oidc-gw-cli');
    expect(text).toContain('oidc-gw-service');
    expect(text).toContain('secret: dev-secret');
    expect(text).toContain('users: alice (password: alice)');
    expect(text).toContain(
      `oidc-gw token --client-credentials --issuer ${issuer} --client-id oidc-gw-service --client-secret dev-secret --audience ${AUDIENCE}`,
    );
    expect(proc.stdout()).toBe('');
    const svc = await discover(issuer!, 'oidc-gw-service', client.ClientSecretPost('dev-secret'));
    await client.clientCredentialsGrant(svc, { audience: AUDIENCE });
    proc.child.kill('SIGINT');
    expect(await proc.exited).toBe(0);
  });

  it('--public-url sets the issuer that discovery and tokens carry', async () => {
    const idp = await startIdp(['--public-url', 'http://idp.example.test:9000/']);
    expect(idp.info.issuer).toBe('http://idp.example.test:9000');
    expect(idp.info.jwks_uri).toBe('http://idp.example.test:9000/jwks');
    expect(idp.info.listen_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const meta = (await (
      await fetch(`${idp.info.listen_url}/.well-known/openid-configuration`)
    ).json()) as { issuer: string; token_endpoint: string };
    expect(meta.issuer).toBe('http://idp.example.test:9000');
    // endpoints follow the host the client used (here the listen address)
    expect(meta.token_endpoint).toBe(`${idp.info.listen_url}/token`);
    const { clientId, clientSecret } = service(idp.info);
    const res = await fetch(meta.token_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: clientSecret,
        audience: AUDIENCE,
      }).toString(),
    });
    expect(res.status).toBe(200);
    const { access_token } = (await res.json()) as { access_token: string };
    expect(jose.decodeJwt(access_token).iss).toBe('http://idp.example.test:9000');
    expect(await stop(idp)).toBe(0);
  });

  it('a port in use is a one-line error, exit 1', async () => {
    const idp = await startIdp();
    const port = new URL(idp.info.issuer).port;
    const proc = spawnCli(['idp', '--port', port]);
    expect(await proc.exited).toBe(1);
    expect(proc.stderr()).toBe(
      `oidc-gw: error: port ${port} on 127.0.0.1 is already in use\nhint: stop what uses it, or pick another port with --port (0 picks a free one)\n`,
    );
    expect(await stop(idp)).toBe(0);
  });

  it('refuses a non-loopback host without --allow-non-loopback (exit 2), and bad --user values without echoing passwords', async () => {
    const host = spawnCli(['idp', '--port', '0', '--host', '0.0.0.0']);
    expect(await host.exited).toBe(2);
    expect(host.stderr()).toContain('oidc-gw: error: --host 0.0.0.0 is not a loopback address');

    const user = spawnCli(['idp', '--port', '0', '--user', 'carol:pw1', '--user', 'carol:pw2']);
    expect(await user.exited).toBe(2);
    expect(user.stderr()).toContain('--user carol is given twice');
    expect(user.stderr()).not.toMatch(/pw[12]/);

    const json = spawnCli(['idp', '--port', '0', '--json', '--user', 'dave']);
    expect(await json.exited).toBe(2);
    expect(JSON.parse(json.stdout())).toMatchObject({ error: { code: 'ERR_USAGE' } });
  });
});
