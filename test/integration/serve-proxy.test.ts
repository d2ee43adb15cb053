/**
 * Forwarding (docs/commands/serve.md: forwarding, upstream failures, log, admin,
 * shutdown): a real gateway in front of a real upstream, on port 0.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { Pool, request } from 'undici';
import {
  closedPort,
  parseRawResponse,
  rawExchange,
  startJwksServer,
  startUpstream,
  type JwksServer,
  type Upstream,
} from '../helpers/gateway-servers.js';
import { claims, makeKey, nowSeconds, sign, type TestKey } from '../helpers/gateway-tokens.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway-harness.js';

let upstream: Upstream;
let jwks: JwksServer;
let key: TestKey;
let gw: TestGateway;
let token: string;

beforeAll(async () => {
  key = await makeKey('ES256', 'k1');
  upstream = await startUpstream();
  jwks = await startJwksServer({ keys: [key.publicJwk] });
  gw = await startTestGateway({
    upstream: upstream.url,
    jwksUris: [jwks.jwksUri],
    audiences: ['api'],
    adminPort: 0,
  });
  token = await sign(key, claims({ aud: 'api' }));
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await jwks?.close();
});

const auth = () => ({ authorization: `Bearer ${token}` });
const last = () => upstream.requests[upstream.requests.length - 1]!;

describe('forwarding', () => {
  test('method, path, query and body go through; status, headers and body come back', async () => {
    upstream.handler = (_req, res, seen) => {
      res.writeHead(201, {
        'content-type': 'text/plain',
        'x-custom': 'yes',
        'set-cookie': ['a=1', 'b=2'],
      });
      res.end(`got ${seen.method} ${seen.url} ${seen.body}`);
    };
    try {
      const r = await request(`${gw.url}/a/b%20c?x=1&y=%2F&access_token=not-used`, {
        method: 'PATCH',
        headers: { ...auth(), 'content-type': 'application/json' },
        body: '{"hello":"world"}',
      });
      expect(r.statusCode).toBe(201);
      expect(r.headers['x-custom']).toBe('yes');
      expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
      expect(await r.body.text()).toBe(
        'got PATCH /a/b%20c?x=1&y=%2F&access_token=not-used {"hello":"world"}',
      );
      expect(last().headers['content-length']).toEqual(['17']);
      expect(last().headers['transfer-encoding']).toBeUndefined();
    } finally {
      upstream.handler = undefined;
    }
  });

  test('an upstream base path is prefixed', async () => {
    const based = await startTestGateway({
      upstream: `${upstream.url}/base/`,
      jwksUris: [jwks.jwksUri],
      audiences: ['api'],
    });
    try {
      const r = await request(`${based.url}/items?q=1`, { headers: auth() });
      await r.body.text();
      expect(r.statusCode).toBe(200);
      expect(last().url).toBe('/base/items?q=1');
    } finally {
      await based.close();
    }
  });

  test('a chunked request body is streamed as it arrives, never with Content-Length as well', async () => {
    const delays: number[] = [];
    async function* slowBody() {
      for (const part of ['part1-', 'part2-', 'part3']) {
        await new Promise((r) => setTimeout(r, 40));
        delays.push(upstream.requests.length);
        yield part;
      }
    }
    const before = upstream.requests.length;
    const r = await request(`${gw.url}/upload`, {
      method: 'POST',
      headers: auth(),
      body: Readable.from(slowBody()),
    });
    const echoed = (await r.body.json()) as { body: string };
    expect(r.statusCode).toBe(200);
    expect(echoed.body).toBe('part1-part2-part3');
    expect(upstream.requests.length).toBe(before + 1);
    expect(last().headers['transfer-encoding']).toEqual(['chunked']);
    expect(last().headers['content-length']).toBeUndefined();
    // A body that had fully arrived may instead go with its Content-Length: still never both.
    const small = await request(`${gw.url}/upload`, {
      method: 'POST',
      headers: auth(),
      body: Readable.from(['a', 'b']),
    });
    expect(((await small.body.json()) as { body: string }).body).toBe('ab');
    const h = last().headers;
    expect(h['transfer-encoding'] !== undefined && h['content-length'] !== undefined).toBe(false);
  });

  test('a request with both Content-Length and Transfer-Encoding is refused before the upstream', async () => {
    const before = upstream.requests.length;
    const res = parseRawResponse(
      await rawExchange(
        gw.port,
        `POST /smuggle HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /evil HTTP/1.1\r\nHost: a\r\n\r\n`,
      ),
    );
    expect(res.status).toBe(400);
    expect(upstream.requests.length).toBe(before);
    expect(
      gw
        .logs()
        .filter((l) => 'status' in l)
        .pop(),
    ).toMatchObject({ status: 400, reason: 'bad_http' });
  });

  test('large bodies stream both ways', async () => {
    const size = 3 * 1024 * 1024;
    upstream.handler = (_req, res, seen) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(size / 2, 'y'));
      res.end(Buffer.from(`${seen.body.length}`.padEnd(size / 2, '.')));
    };
    try {
      const r = await request(`${gw.url}/big`, {
        method: 'PUT',
        headers: auth(),
        body: Buffer.alloc(size, 'x'),
      });
      const got = Buffer.from(await r.body.arrayBuffer());
      expect(got.length).toBe(size);
      expect(
        got
          .subarray(size / 2)
          .toString()
          .startsWith(String(size)),
      ).toBe(true);
    } finally {
      upstream.handler = undefined;
    }
  });

  test('hop-by-hop headers and those named in Connection are dropped, both ways', async () => {
    const res = parseRawResponse(
      await rawExchange(
        gw.port,
        [
          'GET /hop HTTP/1.1',
          'Host: 127.0.0.1',
          `Authorization: Bearer ${token}`,
          'Connection: keep-alive, X-Drop-Me',
          'X-Drop-Me: secret',
          'X_Drop_Me: secret2',
          'Keep-Alive: timeout=5',
          'TE: trailers',
          'Proxy-Authorization: Basic Zm9vOmJhcg==',
          'Proxy-Connection: keep-alive',
          'Trailer: X-Foo',
          'X-Kept: kept',
          '',
          '',
        ].join('\r\n'),
        500,
      ),
    );
    expect(res.status).toBe(200);
    const h = last().headers;
    for (const name of [
      'x-drop-me',
      'x_drop_me',
      'keep-alive',
      'te',
      'proxy-authorization',
      'proxy-connection',
      'trailer',
    ]) {
      expect(h[name], name).toBeUndefined();
    }
    expect(h['x-kept']).toEqual(['kept']);
    // The upstream answered with `Connection: keep-alive, x-upstream-private`.
    expect(res.headers['x-upstream']).toBe('echo');
    expect(res.headers['x-upstream-private']).toBeUndefined();
  });

  test('X-Forwarded-For is appended to, -Proto and -Host are set from the request', async () => {
    const r = await request(`${gw.url}/xff`, {
      headers: {
        ...auth(),
        'x-forwarded-for': '203.0.113.7',
        'x-forwarded-proto': 'https',
        host: 'api.example.test:8443',
      },
    });
    await r.body.text();
    const h = last().headers;
    expect(h['x-forwarded-for']).toEqual(['203.0.113.7, 127.0.0.1']);
    expect(h['x-forwarded-proto']).toEqual(['http']);
    expect(h['x-forwarded-host']).toEqual(['api.example.test:8443']);
    expect(h['host']).toEqual([`127.0.0.1:${upstream.port}`]);
  });

  test('Authorization passes through by default, and not with --strip-authorization', async () => {
    let r = await request(`${gw.url}/a`, { headers: auth() });
    await r.body.text();
    expect(last().headers['authorization']).toEqual([`Bearer ${token}`]);
    const stripping = await startTestGateway({
      upstream: upstream.url,
      jwksUris: [jwks.jwksUri],
      audiences: ['api'],
      stripAuthorization: true,
    });
    try {
      r = await request(`${stripping.url}/a`, { headers: auth() });
      await r.body.text();
      expect(r.statusCode).toBe(200);
      expect(last().headers['authorization']).toBeUndefined();
    } finally {
      await stripping.close();
    }
  });
});

describe('upstream failures', () => {
  test('upstream down: 502 bad_gateway, and the gateway keeps serving', async () => {
    const down = await startTestGateway({
      upstream: `http://127.0.0.1:${await closedPort()}`,
      jwksUris: [jwks.jwksUri],
      audiences: ['api'],
    });
    try {
      for (const method of ['GET', 'POST']) {
        const r = await request(`${down.url}/x`, {
          method: method as 'GET',
          headers: auth(),
          ...(method === 'POST' ? { body: 'payload' } : {}),
        });
        expect(r.statusCode).toBe(502);
        expect(r.headers['content-type']).toBe('application/json');
        expect(await r.body.json()).toEqual({ error: 'bad_gateway' });
      }
      // A verified WebSocket upgrade takes the same dispatch: the same 502, then close.
      const ws = parseRawResponse(
        await rawExchange(
          down.port,
          `GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer ${token}\r\n\r\n`,
        ),
      );
      expect(ws.status).toBe(502);
      expect(ws.headers['connection']).toBe('close');
      expect(JSON.parse(ws.body)).toEqual({ error: 'bad_gateway' });
      const logs = down.logs().filter((l) => 'status' in l);
      expect(logs.map((l) => l['reason'])).toEqual([
        'upstream_unreachable',
        'upstream_unreachable',
        'upstream_unreachable',
      ]);
    } finally {
      await down.close();
    }
  });

  test('slow upstream: 504 gateway_timeout after --upstream-timeout', async () => {
    const slow = await startTestGateway({
      upstream: upstream.url,
      jwksUris: [jwks.jwksUri],
      audiences: ['api'],
      upstreamTimeoutMs: 300,
    });
    upstream.delayMs = 1500;
    try {
      const r = await request(`${slow.url}/slow`, { headers: auth() });
      expect(r.statusCode).toBe(504);
      expect(await r.body.json()).toEqual({ error: 'gateway_timeout' });
      expect(
        slow
          .logs()
          .filter((l) => 'status' in l)
          .pop()?.['reason'],
      ).toBe('upstream_timeout');
      upstream.delayMs = 0;
      const after = await request(`${slow.url}/fast`, { headers: auth() });
      await after.body.text();
      expect(after.statusCode).toBe(200);
    } finally {
      upstream.delayMs = 0;
      await slow.close();
    }
  });

  test('an upstream answer that cannot be relayed (bad status line, invalid header byte): 502, no crash', async () => {
    const net = await import('node:net');
    const answers = [
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Bad: a\x7fb\r\n\r\nok',
      'HTTP/1.1 2000 Nope\r\nContent-Length: 0\r\n\r\n',
      'garbage\r\n\r\n',
    ];
    let next = 0;
    const raw = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () =>
        socket.end(Buffer.from(answers[next++ % answers.length]!, 'latin1')),
      );
    });
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
    const bad = await startTestGateway({
      upstream: `http://127.0.0.1:${(raw.address() as { port: number }).port}`,
      jwksUris: [jwks.jwksUri],
      audiences: ['api'],
    });
    try {
      for (let i = 0; i < answers.length; i++) {
        const r = await request(`${bad.url}/x`, { headers: auth() });
        expect(r.statusCode).toBe(502);
        expect(await r.body.json()).toEqual({ error: 'bad_gateway' });
      }
      expect(
        bad
          .logs()
          .filter((l) => 'status' in l)
          .map((l) => l['reason']),
      ).toEqual(['upstream_bad_response', 'upstream_bad_response', 'upstream_bad_response']);
      const health = await request(`${gw.url}/still-up`, { headers: auth() });
      await health.body.text();
      expect(health.statusCode).toBe(200);
    } finally {
      await bad.close();
      await new Promise<void>((r) => raw.close(() => r()));
    }
  });

  test('a client that goes away cancels the upstream request', async () => {
    upstream.delayMs = 1500;
    const aborted = upstream.aborted;
    const controller = new AbortController();
    try {
      const pending = request(`${gw.url}/cancel-me`, {
        headers: auth(),
        signal: controller.signal,
      }).catch((e: unknown) => e);
      // Wait until the request reached the upstream.
      for (let i = 0; i < 100 && !upstream.requests.some((r) => r.url === '/cancel-me'); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      controller.abort();
      await pending;
      for (let i = 0; i < 100 && upstream.aborted === aborted; i++)
        await new Promise((r) => setTimeout(r, 10));
      expect(upstream.aborted).toBe(aborted + 1);
    } finally {
      upstream.delayMs = 0;
    }
  });
});

describe('load, cache, log, admin', () => {
  test('2,000 requests at concurrency 50: no errors, every answer its own', async () => {
    const pool = new Pool(gw.url, { connections: 50 });
    let next = 0;
    const failures: string[] = [];
    const worker = async () => {
      while (next < 2000) {
        const i = next++;
        try {
          const r = await pool.request({ path: `/n/${i}`, method: 'GET', headers: auth() });
          const body = (await r.body.json()) as { url: string };
          if (r.statusCode !== 200 || body.url !== `/n/${i}`)
            failures.push(`${i}: ${r.statusCode} ${body.url}`);
        } catch (error) {
          failures.push(`${i}: ${String(error)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 50 }, worker));
    await pool.close();
    expect(failures).toEqual([]);
    expect(next).toBe(2000);
  });

  test('the verified-token cache: hits counted, bounded, never past exp', async () => {
    const clock = { offsetMs: 0 };
    const cached = await startTestGateway({
      upstream: upstream.url,
      jwksUris: [jwks.jwksUri],
      audiences: ['api'],
      cacheSize: 3,
      now: () => Date.now() + clock.offsetMs,
    });
    try {
      const exp = nowSeconds() + 60;
      const t = await sign(key, claims({ aud: 'api', exp }));
      const send = async (tok: string) => {
        const r = await request(`${cached.url}/c`, { headers: { authorization: `Bearer ${tok}` } });
        await r.body.text();
        return r.statusCode;
      };
      expect(await send(t)).toBe(200);
      expect(await send(t)).toBe(200);
      expect(cached.verifier.cache.hits).toBe(1);
      // Past exp (but within the 30 s skew): the cache entry is gone, the token is checked again.
      clock.offsetMs = 61_000;
      const misses = cached.verifier.cache.misses;
      expect(await send(t)).toBe(200);
      expect(cached.verifier.cache.misses).toBe(misses + 1);
      // Past exp + skew: refused, cache or not.
      clock.offsetMs = 95_000;
      expect(await send(t)).toBe(401);
      clock.offsetMs = 0;
      for (let i = 0; i < 6; i++)
        expect(await send(await sign(key, claims({ aud: 'api', n: i })))).toBe(200);
      expect(cached.verifier.cache.size).toBe(3);
    } finally {
      await cached.close();
    }
  });

  test('one log line per request, with reason codes, and never a token', async () => {
    const quiet = await startTestGateway({
      upstream: upstream.url,
      jwksUris: [jwks.jwksUri],
      audiences: ['api'],
    });
    try {
      const tampered = `${token.slice(0, -4)}AAAA`;
      for (const headers of [auth(), {}, { authorization: `Bearer ${tampered}` }]) {
        const r = await request(`${quiet.url}/log/${token}?access_token=${token}`, { headers });
        await r.body.text();
      }
      const lines = quiet.logs().filter((l) => 'status' in l);
      expect(lines).toHaveLength(3);
      expect(lines.map((l) => [l['status'], l['reason']])).toEqual([
        [200, undefined],
        [401, 'missing_token'],
        [401, 'signature_invalid'],
      ]);
      expect(lines[0]).toMatchObject({ method: 'GET', sub: 'alice' });
      expect(typeof lines[0]!['duration_ms']).toBe('number');
      const text = quiet.logText();
      for (const part of token.split('.')) expect(text).not.toContain(part);
    } finally {
      await quiet.close();
    }
  });

  test('admin port: /healthz, /readyz, /metrics', async () => {
    const admin = gw.adminUrl!;
    expect(admin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const health = await request(`${admin}/healthz`);
    expect(health.statusCode).toBe(200);
    expect(await health.body.json()).toEqual({ status: 'ok' });
    const ready = await request(`${admin}/readyz`);
    expect(ready.statusCode).toBe(200);
    expect(await ready.body.json()).toEqual({ status: 'ready' });
    const r = await request(`${gw.url}/m`, { headers: { authorization: 'Bearer nope' } });
    await r.body.text();
    const metrics = await request(`${admin}/metrics`);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.body.text();
    expect(text).toMatch(/^oidc_gw_requests_total\{status="200",reason="",api="default"\} \d+$/m);
    expect(text).toMatch(
      /^oidc_gw_requests_total\{status="401",reason="token_malformed",api="default"\} 1$/m,
    );
    expect(text).toMatch(/^oidc_gw_verification_duration_seconds_bucket\{le="\+Inf"\} \d+$/m);
    expect(text).toMatch(/^oidc_gw_upstream_duration_seconds_count \d+$/m);
    expect(text).toContain(`oidc_gw_jwks_fetches_total{uri="${jwks.jwksUri}",result="ok"} 1`);
    expect(text).toMatch(/^oidc_gw_token_cache_hits_total [1-9]\d*$/m);
    expect(text).toMatch(/^oidc_gw_token_cache_misses_total \d+$/m);
    expect((await request(`${admin}/nope`)).statusCode).toBe(404);
  });
});

describe('shutdown', () => {
  test('stop accepting, let the slow request finish, readyz says draining', async () => {
    const g = await startTestGateway({
      upstream: upstream.url,
      jwksUris: [jwks.jwksUri],
      audiences: ['api'],
      adminPort: 0,
    });
    upstream.delayMs = 600;
    try {
      const slow = request(`${g.url}/drain-slow`, { headers: auth() }).then(async (r) => ({
        status: r.statusCode,
        connection: r.headers['connection'],
        body: await r.body.text(),
      }));
      for (let i = 0; i < 100 && !upstream.requests.some((r) => r.url === '/drain-slow'); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      const stopping = g.gateway.shutdown();
      const readyz = await request(`${g.adminUrl}/readyz`).catch(() => undefined);
      if (readyz) {
        expect(readyz.statusCode).toBe(503);
        expect(await readyz.body.json()).toEqual({ status: 'draining' });
      }
      const refused = await request(`${g.url}/new`, { headers: auth(), reset: true }).catch(
        (e: unknown) => e,
      );
      expect((refused as { code?: string }).code).toMatch(/ECONNREFUSED|UND_ERR_SOCKET|ECONNRESET/);
      const done = await slow;
      expect(done.status).toBe(200);
      expect(JSON.parse(done.body).url).toBe('/drain-slow');
      expect(await stopping).toEqual({ drained: true });
    } finally {
      upstream.delayMs = 0;
    }
  });
});
