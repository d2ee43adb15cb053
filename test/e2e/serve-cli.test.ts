/**
 * `oidc-gw serve` end to end: the built CLI, spawned with a clean
 * environment, in front of a real upstream, with keys from a real JWKS /
 * discovery server, all on 127.0.0.1 at ephemeral ports. Start-up lines,
 * the request log, refusals, start-up failures and their exit codes, and
 * SIGTERM/SIGINT draining with a slow request in flight.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { request } from 'undici';
import {
  closedPort,
  startJwksServer,
  startUpstream,
  type JwksServer,
  type Upstream,
} from '../helpers/gateway-servers.js';
import { claims, hmacToken, makeKey, sign, type TestKey } from '../helpers/gateway-tokens.js';
import { cleanEnv, runOnce, startServe, type ServeProcess } from '../helpers/gateway-cli.js';

let upstream: Upstream;
let jwks: JwksServer;
let key: TestKey;
let env: Record<string, string>;
let cleanup: () => void;
const running: ServeProcess[] = [];

beforeAll(async () => {
  key = await makeKey('RS256', 'k1');
  upstream = await startUpstream();
  jwks = await startJwksServer({ keys: [key.publicJwk] });
  ({ env, cleanup } = cleanEnv());
});

afterAll(async () => {
  for (const p of running) await p.stop('SIGKILL', 1000);
  await upstream?.close();
  await jwks?.close();
  cleanup?.();
});

async function serve(args: string[]): Promise<ServeProcess> {
  const p = await startServe(['--upstream', upstream.url, '--port', '0', ...args], env);
  running.push(p);
  return p;
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('running', () => {
  test('starts, verifies, forwards, logs one JSON line per request without the token, stops on SIGTERM with exit 0', async () => {
    const gw = await serve([
      '--issuer',
      jwks.issuer,
      '--audience',
      'api',
      '--forward-claim',
      'X-User=sub',
      '--admin-port',
      '0',
      '--json',
    ]);
    expect(gw.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (let i = 0; i < 100 && !gw.stdout().endsWith('}\n'); i++)
      await new Promise((r) => setTimeout(r, 10));
    const startup = JSON.parse(gw.stdout()) as Record<string, unknown>;
    expect(startup).toMatchObject({
      url: gw.url,
      upstream: `${upstream.url}/`,
      issuers: [jwks.issuer],
      audiences: ['api'],
      algorithms: ['RS256'],
    });
    expect(startup['admin_url']).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const token = await sign(key, claims({ iss: jwks.issuer, aud: 'api', sub: 'bob' }));
    const ok = await request(`${gw.url}/hello?q=${token}`, {
      headers: { authorization: `Bearer ${token}`, 'x-user': 'mallory' },
    });
    expect(ok.statusCode).toBe(200);
    const echoed = (await ok.body.json()) as { headers: Record<string, string[]> };
    expect(echoed.headers['x-user']).toEqual(['bob']);
    const no = await request(`${gw.url}/hello`);
    expect(no.statusCode).toBe(401);
    expect(no.headers['www-authenticate']).toBe('Bearer realm="oidc-gw"');
    expect(await no.body.json()).toEqual({
      error: 'unauthorized',
      error_description: 'missing bearer token',
    });
    const metrics = await request(`${startup['admin_url'] as string}/metrics`);
    expect(await metrics.body.text()).toMatch(
      /oidc_gw_requests_total\{status="401",reason="missing_token",api="default"\} 1/,
    );

    expect(await gw.stop('SIGTERM')).toBe(0);
    const lines = jsonLines(gw.stderr());
    const requests = lines.filter((l) => 'status' in l);
    expect(requests).toHaveLength(2);
    expect(requests[0]).toMatchObject({
      method: 'GET',
      path: '/hello',
      status: 200,
      sub: 'bob',
      iss: jwks.issuer,
    });
    expect(requests[1]).toMatchObject({ status: 401, reason: 'missing_token' });
    expect(gw.stderr()).not.toContain(token.split('.')[2]);
    expect(gw.stderr()).not.toContain(token.split('.')[1]);
    expect(lines.some((l) => l['message'] === 'stopped')).toBe(true);
  });

  test('SIGTERM with a slow request in flight: it completes, then exit 0', async () => {
    const gw = await serve(['--jwks-uri', jwks.jwksUri, '--audience', 'api']);
    const token = await sign(key, claims({ aud: 'api' }));
    upstream.delayMs = 1200;
    try {
      const slow = request(`${gw.url}/slow-e2e`, {
        headers: { authorization: `Bearer ${token}` },
      }).then(async (r) => ({
        status: r.statusCode,
        body: (await r.body.json()) as { url: string },
      }));
      for (let i = 0; i < 200 && !upstream.requests.some((r) => r.url === '/slow-e2e'); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const t0 = Date.now();
      const code = gw.stop('SIGTERM');
      const done = await slow;
      expect(done.status).toBe(200);
      expect(done.body.url).toBe('/slow-e2e');
      expect(await code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(gw.stderr()).toMatch(/SIGTERM: stopping/);
    } finally {
      upstream.delayMs = 0;
    }
  });

  test('SIGINT also stops cleanly with exit 0; pretty log lines with --log-format pretty', async () => {
    const gw = await serve(['--jwks-uri', jwks.jwksUri, '--log-format', 'pretty', '--no-color']);
    const r = await request(`${gw.url}/p`, { headers: { authorization: 'Basic eA==' } });
    await r.body.text();
    expect(await gw.stop('SIGINT')).toBe(0);
    expect(gw.stderr()).toMatch(/warning: no --audience/);
    expect(gw.stderr()).toMatch(
      /^\d\d:\d\d:\d\d\.\d{3} GET \/p 401 [\d.]+ms api=default reason=not_bearer$/m,
    );
  });

  test('--public-key (PEM) and --secret-file', async () => {
    const { env: e2, cleanup: c2 } = cleanEnv();
    try {
      const pem = join(e2['HOME'] as string, 'key.pem');
      writeFileSync(pem, key.publicPem);
      const secretFile = join(e2['HOME'] as string, 'secret.txt');
      writeFileSync(secretFile, 'a-secret-of-at-least-thirty-two-bytes!!\n');
      const gw = await serve([
        '--public-key',
        pem,
        '--secret-file',
        secretFile,
        '--audience',
        'api',
      ]);
      const rs = await request(`${gw.url}/k`, {
        headers: {
          authorization: `Bearer ${await sign(key, claims({ aud: 'api' }), { kid: 'any' })}`,
        },
      });
      expect(rs.statusCode).toBe(200);
      await rs.body.text();
      const hs = await request(`${gw.url}/k`, {
        headers: {
          authorization: `Bearer ${hmacToken({ alg: 'HS256' }, claims({ aud: 'api' }), 'a-secret-of-at-least-thirty-two-bytes!!')}`,
        },
      });
      expect(hs.statusCode).toBe(200);
      await hs.body.text();
      const confusion = await request(`${gw.url}/k`, {
        headers: {
          authorization: `Bearer ${hmacToken({ alg: 'HS256' }, claims({ aud: 'api' }), key.publicPem)}`,
        },
      });
      expect(confusion.statusCode).toBe(401);
      await confusion.body.text();
      expect(await gw.stop()).toBe(0);
    } finally {
      c2();
    }
  });
});

describe('memory', () => {
  /** V8's new space, from the gateway's own /metrics. */
  async function newSpaceBytes(adminUrl: string): Promise<number> {
    const text = await (await request(`${adminUrl}/metrics`)).body.text();
    const m = /^nodejs_heap_space_size_total_bytes\{space="new"\} (\d+)$/m.exec(text);
    expect(m, 'new space in /metrics').not.toBeNull();
    return Number(m![1]);
  }

  /** 4,000 requests, 50 at a time, each with a large JSON body to verify-and-forward. */
  async function load(url: string, token: string): Promise<void> {
    let next = 0;
    const body = JSON.stringify({
      items: Array.from({ length: 400 }, (_, i) => ({ i, s: 'x'.repeat(40) })),
    });
    const worker = async () => {
      while (next++ < 4000) {
        const r = await request(`${url}/items`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body,
        });
        expect(r.statusCode).toBe(200);
        await r.body.text();
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
  }

  async function newSpaceAfterLoad(extraEnv: Record<string, string>): Promise<number> {
    const gw = await startServe(
      [
        '--upstream',
        upstream.url,
        '--port',
        '0',
        '--issuer',
        jwks.issuer,
        '--audience',
        'api',
        '--admin-port',
        '0',
        '--json',
      ],
      { ...env, ...extraEnv },
    );
    running.push(gw);
    for (let i = 0; i < 100 && !gw.stdout().endsWith('}\n'); i++)
      await new Promise((r) => setTimeout(r, 10));
    const adminUrl = (JSON.parse(gw.stdout()) as { admin_url: string }).admin_url;
    const token = await sign(key, claims({ iss: jwks.issuer, aud: 'api', sub: 'bob' }));
    await load(gw.url, token);
    const bytes = await newSpaceBytes(adminUrl);
    expect(await gw.stop('SIGTERM')).toBe(0);
    return bytes;
  }

  test('under load the young generation stops at 4 MiB; an operator-sized one grows as V8 decides', async () => {
    const capped = await newSpaceAfterLoad({});
    expect(capped).toBeLessThanOrEqual(4 * 1024 * 1024);
    // The same load with V8's default growth (the operator's NODE_OPTIONS is kept).
    const uncapped = await newSpaceAfterLoad({ NODE_OPTIONS: '--max-semi-space-size=16' });
    expect(uncapped).toBeGreaterThan(4 * 1024 * 1024);
  }, 60_000);
});

describe('settings from the environment', () => {
  test('OIDC_GW_ISSUER and OIDC_GW_AUDIENCE apply when no trust or audience flag is given', async () => {
    const p = await startServe(['--upstream', upstream.url, '--port', '0'], {
      ...env,
      OIDC_GW_ISSUER: jwks.issuer,
      OIDC_GW_AUDIENCE: 'env-api',
    });
    running.push(p);
    expect(p.stderr()).toContain(`issuer ${jwks.issuer} (from OIDC_GW_ISSUER)`);
    expect(p.stderr()).toContain('audience env-api (from OIDC_GW_AUDIENCE)');
    const ok = await request(`${p.url}/e`, {
      headers: {
        authorization: `Bearer ${await sign(key, claims({ iss: jwks.issuer, aud: 'env-api' }))}`,
      },
    });
    await ok.body.text();
    expect(ok.statusCode).toBe(200);
    const other = await request(`${p.url}/e`, {
      headers: {
        authorization: `Bearer ${await sign(key, claims({ iss: jwks.issuer, aud: 'api' }))}`,
      },
    });
    expect(await other.body.json()).toEqual({
      error: 'invalid_token',
      error_description: 'audience not allowed',
    });
    expect(await p.stop()).toBe(0);
  });
});

describe('start-up failures', () => {
  const base = () => ['serve', '--upstream', upstream.url, '--port', '0'];

  test('an unreachable JWKS: exit 3 with a clear message, no stack', async () => {
    const port = await closedPort();
    const r = await runOnce([...base(), '--jwks-uri', `http://127.0.0.1:${port}/jwks.json`], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      new RegExp(
        `^oidc-gw: error: cannot load the JWKS at http://127\\.0\\.0\\.1:${port}/jwks\\.json: .*connection refused`,
        'm',
      ),
    );
    expect(r.stderr).toMatch(/^hint: /m);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test('an unreachable issuer: exit 3', async () => {
    const port = await closedPort();
    const r = await runOnce([...base(), '--issuer', `http://127.0.0.1:${port}`], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^oidc-gw: error: .*127\.0\.0\.1/m);
  });

  test('a JWKS URL that is not a JWKS: exit 3 with the reason', async () => {
    const r = await runOnce([...base(), '--jwks-uri', `${jwks.issuer}/nothing-here`], env);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/answered HTTP 404/);
  });

  test('nothing to verify with: exit 2 and a hint', async () => {
    const r = await runOnce(base(), env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^oidc-gw: error: nothing to verify tokens with$/m);
    expect(r.stderr).toMatch(/^hint: give --issuer/m);
  });

  test('usage errors: exit 2', async () => {
    // The parse step is unit-tested case by case (test/unit/gateway-options.test.ts);
    // here, that each kind of usage error reaches the process as exit 2.
    const cases: string[][] = [
      ['serve', '--jwks-uri', jwks.jwksUri],
      [...base(), '--jwks-uri', jwks.jwksUri, '--algs', 'none'],
      [...base(), '--jwks-uri', jwks.jwksUri, '--port', '70000'],
      [...base(), '--public-key', '/nonexistent/key.pem'],
    ];
    for (const args of cases) {
      const r = await runOnce(args, env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^oidc-gw: error: /m);
    }
  });

  test('the port in use: exit 1', async () => {
    const first = await serve(['--jwks-uri', jwks.jwksUri]);
    const port = new URL(first.url).port;
    const r = await runOnce(
      ['serve', '--upstream', upstream.url, '--port', port, '--jwks-uri', jwks.jwksUri],
      env,
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot listen on 127\.0\.0\.1:\d+ \(gateway\): the port is in use/);
    expect(await first.stop()).toBe(0);
  });

  test('the alias `proxy` and --help', async () => {
    const r = await runOnce(['proxy', '--help'], env);
    expect(r.code).toBe(0);
    for (const flag of [
      '--upstream',
      '--host',
      '--port',
      '--issuer',
      '--jwks-uri',
      '--public-key',
      '--secret',
      '--audience',
      '--algs',
      '--clock-skew',
      '--require-claim',
      '--require-scope',
      '--max-token-size',
      '--forward-claim',
      '--strip-authorization',
      '--upstream-timeout',
      '--admin-port',
      '--log-format',
    ]) {
      expect(r.stdout, flag).toContain(flag);
    }
  });
});
