/**
 * `oidc-gw call` with real tokens: client credentials from the test IdP, the
 * cached login refreshed and retried exactly once on a 401, --id-token, and
 * calls through `oidc-gw serve`. Everything on 127.0.0.1, ports chosen by the
 * system; the built CLI is spawned as a user would.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import { callEnv, runCli, type CallEnv } from '../helpers/call-cli.js';
import { headlessLogin } from '../helpers/call-login.js';
import { startServe, type RunningServe } from '../helpers/call-serve.js';
import { json, startServer, type TestServer } from '../helpers/call-servers.js';

const payloadOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as Record<
    string,
    unknown
  >;
const bearer = (auth: string[] | undefined) => (auth?.[0] ?? '').replace(/^Bearer /, '');

let idp: TestIdp;
let upstream: TestServer;
let e: CallEnv;

beforeAll(async () => {
  idp = await startTestIdp();
  upstream = await startServer((req, res) => json(res, 200, { ok: true }));
});
afterAll(async () => {
  await upstream?.close();
  await idp?.close();
});
beforeEach(() => {
  e = callEnv();
  upstream.requests.length = 0;
  upstream.handler = (req, res) => json(res, 200, { ok: true });
});
afterEach(() => e.cleanup());

const call = (args: string[]) => runCli(['call', ...args], { env: e.env });
const ccFlags = () => [
  '--client-credentials',
  '--issuer',
  idp.issuer,
  '--client-id',
  idp.clients.basic.clientId,
  '--client-secret',
  idp.clients.basic.clientSecret,
  '--audience',
  idp.audience,
];
function cachedUser(): {
  access_token: string;
  id_token: string;
  refresh_token: string;
  client_id: string;
} {
  const file = readdirSync(e.cacheDir).find((f) => f.startsWith('user-')) as string;
  return JSON.parse(readFileSync(join(e.cacheDir, file), 'utf8')).tokens;
}

describe('--client-credentials', () => {
  test('gets a token for the audience from the IdP, then reuses the cached one', async () => {
    idp.requests.reset();
    const first = await call([...ccFlags(), `${upstream.origin}/api`]);
    expect(first.code, first.stderr).toBe(0);
    const sent = bearer(upstream.requests[0]?.headers['authorization']);
    expect(payloadOf(sent)).toMatchObject({
      aud: idp.audience,
      iss: idp.issuer,
      client_id: idp.clients.basic.clientId,
    });
    expect(idp.requests.count('/token')).toBe(1);
    const second = await call([...ccFlags(), `${upstream.origin}/api`]);
    expect(second.code).toBe(0);
    expect(bearer(upstream.requests[1]?.headers['authorization'])).toBe(sent);
    expect(idp.requests.count('/token')).toBe(1);
  });

  test('a cached client-credentials token refused with 401 is replaced once', async () => {
    await call([...ccFlags(), `${upstream.origin}/warm`]);
    const old = bearer(upstream.requests[0]?.headers['authorization']);
    upstream.handler = (req, res, rec) =>
      bearer(rec.headers['authorization']) === old
        ? json(
            res,
            401,
            { error: 'invalid_token' },
            { 'www-authenticate': 'Bearer error="invalid_token"' },
          )
        : json(res, 200, { ok: true });
    idp.requests.reset();
    const r = await call([...ccFlags(), `${upstream.origin}/api`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('{"ok":true}');
    expect(upstream.requests).toHaveLength(3);
    expect(bearer(upstream.requests[2]?.headers['authorization'])).not.toBe(old);
    expect(idp.requests.count('/token')).toBe(1);
  });
});

describe('the cached login', () => {
  test('refreshed and retried exactly once when the upstream refuses the first token it sees', async () => {
    await headlessLogin(idp, e.env);
    const before = cachedUser();
    upstream.handler = (req, res, rec) =>
      bearer(rec.headers['authorization']) === before.access_token
        ? json(
            res,
            401,
            { error: 'invalid_token', error_description: 'revoked' },
            { 'www-authenticate': 'Bearer realm="api", error="invalid_token"' },
          )
        : json(res, 200, { hello: 'alice' });
    idp.requests.reset();
    const r = await call([`${upstream.origin}/me`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('{"hello":"alice"}');
    expect(r.stderr).toContain(
      'the server refused the cached token (401): refreshing it and retrying once',
    );
    expect(upstream.requests).toHaveLength(2);
    const after = cachedUser();
    expect(after.access_token).not.toBe(before.access_token);
    expect(bearer(upstream.requests[0]?.headers['authorization'])).toBe(before.access_token);
    expect(bearer(upstream.requests[1]?.headers['authorization'])).toBe(after.access_token);
    expect(idp.requests.count('/token')).toBe(1);
  });

  test('never more than one retry: a second 401 is diagnosed, exit 0 (22 with --fail)', async () => {
    await headlessLogin(idp, e.env);
    // A reason a new token can fix (an unknown key after a rotation): one refresh, one retry.
    upstream.handler = (req, res) =>
      json(
        res,
        401,
        { error: 'invalid_token', error_description: 'kid not found in the JWKS' },
        {
          'www-authenticate':
            'Bearer error="invalid_token", error_description="kid not found in the JWKS"',
        },
      );
    idp.requests.reset();
    const r = await call([`${upstream.origin}/me`]);
    expect(r.code, r.stderr).toBe(0);
    expect(upstream.requests).toHaveLength(2);
    expect(idp.requests.count('/token')).toBe(1);
    expect(r.stderr).toContain(
      'likely cause: the token was refreshed once and the new one was refused too',
    );
    expect(r.stderr).toContain('likely cause: the gateway could not verify the signature');
    upstream.requests.length = 0;
    const f = await call(['--fail', `${upstream.origin}/me`]);
    expect(f.code).toBe(22);
    expect(upstream.requests).toHaveLength(2);
  });

  test('a refresh the IdP refuses (invalid_grant): no retry, the first answer and its diagnosis stand', async () => {
    await headlessLogin(idp, e.env);
    const file = join(
      e.cacheDir,
      readdirSync(e.cacheDir).find((f) => f.startsWith('user-')) as string,
    );
    const entry = JSON.parse(readFileSync(file, 'utf8'));
    entry.tokens.refresh_token = 'not-a-refresh-token-the-idp-knows';
    writeFileSync(file, JSON.stringify(entry));
    upstream.handler = (req, res) =>
      json(
        res,
        401,
        { message: 'Unauthorized' },
        { 'www-authenticate': 'Bearer error="invalid_token"' },
      );
    const r = await call([`${upstream.origin}/me`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('{"message":"Unauthorized"}');
    expect(upstream.requests).toHaveLength(1);
    expect(r.stderr).toContain(
      'warning: could not refresh the token, so no retry: the IdP no longer accepts the cached refresh token (invalid_grant)',
    );
    expect(r.stderr).toContain('401 Unauthorized from');
    expect(existsSync(file)).toBe(false);
  });

  test('no retry when the refusal is not about the token (403 insufficient_scope, 401 invalid_request)', async () => {
    await headlessLogin(idp, e.env);
    upstream.handler = (req, res) =>
      json(
        res,
        403,
        { error: 'insufficient_scope' },
        { 'www-authenticate': 'Bearer error="insufficient_scope", scope="read admin"' },
      );
    idp.requests.reset();
    const r = await call([`${upstream.origin}/admin`]);
    expect(upstream.requests).toHaveLength(1);
    expect(idp.requests.count('/token')).toBe(0);
    expect(r.stderr).toContain('likely cause: the token lacks the scope "admin" (it has: "read")');
    upstream.handler = (req, res) =>
      json(
        res,
        401,
        { error: 'invalid_request' },
        { 'www-authenticate': 'Bearer error="invalid_request"' },
      );
    await call([`${upstream.origin}/x`]);
    expect(upstream.requests).toHaveLength(2);
    expect(idp.requests.count('/token')).toBe(0);
  });

  test('--id-token sends the ID token of the login; refused, the diagnosis says so', async () => {
    await headlessLogin(idp, e.env);
    const user = cachedUser();
    const ok = await call(['--id-token', `${upstream.origin}/tyk`]);
    expect(ok.code).toBe(0);
    const sent = bearer(upstream.requests[0]?.headers['authorization']);
    expect(sent).toBe(user.id_token);
    expect(payloadOf(sent)).toMatchObject({
      aud: idp.clients.native.clientId,
      nonce: expect.any(String),
    });
    upstream.handler = (req, res) => json(res, 403, { error: 'Key not authorised' });
    const r = await call(['--id-token', `${upstream.origin}/tyk`]);
    expect(r.stderr).toContain('likely cause: an ID token was sent (--id-token; it has nonce');
    expect(r.stderr).toContain(`aud = the client id ${idp.clients.native.clientId}`);
  });
});

describe('through oidc-gw serve', () => {
  let serve: RunningServe;
  let scoped: RunningServe;
  let serveEnv: CallEnv;
  beforeAll(async () => {
    serveEnv = callEnv();
    const trust = [
      '--upstream',
      upstream.origin,
      '--issuer',
      idp.issuer,
      '--audience',
      idp.audience,
    ];
    [serve, scoped] = await Promise.all([
      startServe(trust, serveEnv.env),
      startServe([...trust, '--require-scope', 'admin'], serveEnv.env),
    ]);
  });
  afterAll(async () => {
    await Promise.all([serve?.stop(), scoped?.stop()]);
    serveEnv?.cleanup();
  });

  test('a client-credentials token for the audience passes; the upstream answers', async () => {
    const r = await call([...ccFlags(), `${serve.url}/orders?id=1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('{"ok":true}');
    expect(upstream.requests[0]?.url).toBe('/orders?id=1');
  });

  test("no token: serve's 401 is recognised", async () => {
    const r = await call(['--no-auth', `${serve.url}/orders`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe(
      '{"error":"unauthorized","error_description":"missing bearer token"}',
    );
    expect(r.stderr).toMatch(/gateway +oidc-gw serve: unauthorized: missing bearer token/);
    expect(r.stderr).toContain('likely cause: no token was sent (--no-auth)');
    expect(upstream.requests).toHaveLength(0);
  });

  test('a tampered token: the signature check is named, exit 22 with --fail', async () => {
    await call([...ccFlags(), `${upstream.origin}/warm`]);
    const good = bearer(upstream.requests[0]?.headers['authorization']);
    const [h, p] = good.split('.');
    const payload = { ...payloadOf(good), sub: 'mallory' };
    const tampered = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${good.split('.')[2]}`;
    expect(p).not.toBe(tampered.split('.')[1]);
    const r = await call(['--fail', '--token', tampered, `${serve.url}/orders`]);
    expect(r.code).toBe(22);
    expect(r.stderr).toMatch(/error +invalid_token: signature verification failed/);
    expect(r.stderr).toContain(
      'likely cause: the gateway could not verify the signature with its keys',
    );
    expect(r.stderr).not.toContain(tampered);
    expect(upstream.requests).toHaveLength(1);
  });

  test('a token without the required scope: 403 insufficient_scope names it', async () => {
    const r = await call([...ccFlags(), `${scoped.url}/orders`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('403 Forbidden');
    expect(r.stderr).toContain(
      'likely cause: the token lacks the scope "admin" (it has: "read", "write")',
    );
    expect(upstream.requests).toHaveLength(0);
  });
});
