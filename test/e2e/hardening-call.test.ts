/**
 * `oidc-gw call` (built CLI) against the test IdP and a small upstream on
 * 127.0.0.1 (issue 16, items 11 and 15): a cached login refused for a reason
 * a new token keeps (audience, algorithm) is not refreshed nor retried, the
 * diagnosis says why and the body is still written; an expired-looking
 * refusal still is; a Basic 401 does not say "no token was sent".
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import { callEnv, runCli, type CallEnv } from '../helpers/call-cli.js';
import { headlessLogin } from '../helpers/call-login.js';
import { json, startServer, type TestServer } from '../helpers/call-servers.js';

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
});
afterEach(() => e.cleanup());

const call = (args: string[]) => runCli(['call', ...args], { env: e.env });

describe('item 11: no refresh when a new token cannot help', () => {
  test('a wrong audience: one request, no token request, the diagnosis says why', async () => {
    await headlessLogin(idp, e.env);
    upstream.handler = (req, res) =>
      json(
        res,
        401,
        { error: 'invalid_token', error_description: 'audience not allowed' },
        {
          'www-authenticate':
            'Bearer error="invalid_token", error_description="audience not allowed"',
        },
      );
    idp.requests.reset();
    const r = await call([`${upstream.origin}/me`]);
    expect(r.code, r.stderr).toBe(0);
    expect(upstream.requests).toHaveLength(1);
    expect(idp.requests.count('/token')).toBe(0);
    expect(r.stdout.toString()).toBe(
      '{"error":"invalid_token","error_description":"audience not allowed"}',
    );
    expect(r.stderr).not.toContain('refreshing it and retrying once');
    expect(r.stderr).not.toContain('refreshed once');
    expect(r.stderr).toContain(
      "note: not refreshed and retried: the refusal is about the token's audience (aud)",
    );
    expect(r.stderr).toContain(
      `likely cause: the gateway does not accept the token's audience: aud = "${idp.audience}"`,
    );
  });

  test('a wrong algorithm told in a Tyk body: no retry', async () => {
    await headlessLogin(idp, e.env);
    const body = JSON.stringify({ error: 'Key not authorized: Unexpected signing method' });
    upstream.handler = (req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' }).end(body);
    };
    idp.requests.reset();
    const r = await call([`${upstream.origin}/tyk`]);
    expect(r.code, r.stderr).toBe(0);
    expect(upstream.requests).toHaveLength(1);
    expect(idp.requests.count('/token')).toBe(0);
    expect(r.stdout.toString()).toBe(body);
    expect(r.stderr).toContain("the refusal is about the token's signing algorithm (alg)");
  });

  test('a body larger than what is read to decide is still written whole', async () => {
    await headlessLogin(idp, e.env);
    const body = `${'0123456789abcdef'.repeat(20_000)}end`;
    upstream.handler = (req, res) => {
      res
        .writeHead(401, {
          'content-type': 'text/plain',
          'www-authenticate': 'Bearer error="invalid_token", error_description="bad audience"',
        })
        .end(body);
    };
    const r = await call([`${upstream.origin}/big`]);
    expect(r.code, r.stderr).toBe(0);
    expect(upstream.requests).toHaveLength(1);
    expect(r.stdout.toString()).toBe(body);
    expect(r.stderr).toContain('(cut)');
  });

  test('the gateway says the token expired: refreshed and retried once', async () => {
    await headlessLogin(idp, e.env);
    let first = true;
    upstream.handler = (req, res) => {
      if (first) {
        first = false;
        json(
          res,
          401,
          { message: 'Jwt is expired' },
          {
            'www-authenticate': 'Bearer error="invalid_token", error_description="Jwt is expired"',
          },
        );
      } else json(res, 200, { hello: 'alice' });
    };
    idp.requests.reset();
    const r = await call([`${upstream.origin}/me`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('{"hello":"alice"}');
    expect(upstream.requests).toHaveLength(2);
    expect(idp.requests.count('/token')).toBe(1);
  });
});

describe('item 15: a Basic 401', () => {
  test('says the scheme, never "no token was sent"', async () => {
    upstream.handler = (req, res) =>
      json(res, 401, { message: 'Unauthorized' }, { 'www-authenticate': 'Basic realm="api"' });
    const r = await call(['-H', 'Authorization: Basic dXNlcjpwYXNz', `${upstream.origin}/x`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('scheme "Basic"');
    expect(r.stderr).toContain('carries "Basic" credentials, not a bearer token');
    expect(r.stderr).not.toContain('no token was sent');
  });
});
