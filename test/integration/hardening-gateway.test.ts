/**
 * Gateway robustness from the hardening review (issue 16, items 2 to 7),
 * through a real gateway in front of a real upstream on 127.0.0.1, most of
 * it over raw sockets so that nothing between the test and the gateway
 * normalizes the bytes under test (dot segments, duplicate headers,
 * pipelining, `Expect`).
 */
import net from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { request } from 'undici';
import { loadPlan } from '../../src/gateway/load/index.js';
import {
  parseRawResponse,
  rawExchange,
  startJwksServer,
  startUpstream,
  type JwksServer,
  type Upstream,
} from '../helpers/gateway-servers.js';
import { claims, makeKey, sign, type TestKey } from '../helpers/gateway-tokens.js';
import {
  startPlanGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway-harness.js';

let upstream: Upstream;
let jwks: JwksServer;
let key: TestKey;
let token: string;
/** Flags: one API at `/` in front of `UPSTREAM/public`. */
let flagGw: TestGateway;
/** A file: `/files` with strip_path in front of `UPSTREAM/public`. */
let fileGw: TestGateway;
let dir: string;

beforeAll(async () => {
  key = await makeKey('ES256', 'k1');
  upstream = await startUpstream();
  jwks = await startJwksServer({ keys: [key.publicJwk] });
  token = await sign(key, claims({ aud: 'api' }));
  flagGw = await startTestGateway({
    upstream: `${upstream.url}/public`,
    jwksUris: [jwks.jwksUri],
    audiences: ['api'],
    adminPort: 0,
  });
  dir = await mkdtemp(join(tmpdir(), 'oidc-gw-hardening-'));
  const file = join(dir, 'gateway.yaml');
  await writeFile(
    file,
    [
      'apis:',
      '  - name: files',
      '    path: /files',
      '    strip_path: true',
      `    upstream: ${upstream.url}/public`,
      `    jwks_uris: [${jwks.jwksUri}]`,
      '    audiences: [api]',
      '',
    ].join('\n'),
  );
  const plan = await loadPlan({
    files: [file],
    env: {},
    namedValues: {},
    strict: false,
    defaults: { upstreamTimeoutMs: 30_000, maxTokenBytes: 8192 },
  });
  fileGw = await startPlanGateway(plan);
});

afterAll(async () => {
  await flagGw?.close();
  await fileGw?.close();
  await upstream?.close();
  await jwks?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Waits for `condition`, checking every 10 ms, at most `ms`. */
async function until(condition: () => boolean, ms = 3000): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited >= ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** One raw request with the good token and `Connection: close`; the parsed answer. */
async function rawGet(
  gw: TestGateway,
  target: string,
  extra = '',
): Promise<ReturnType<typeof parseRawResponse>> {
  const text = await rawExchange(
    gw.port,
    `GET ${target} HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer ${token}\r\n${extra}Connection: close\r\n\r\n`,
  );
  return parseRawResponse(text);
}

/** A raw connection whose received bytes can be awaited. */
function connect(port: number): {
  socket: net.Socket;
  text: () => string;
  waitFor: (what: string | RegExp, ms?: number) => Promise<string>;
  closed: Promise<void>;
} {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  const waiters = new Set<() => void>();
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1');
    for (const w of waiters) w();
  });
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const waitFor = (what: string | RegExp, ms = 3000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (typeof what === 'string' ? received.includes(what) : what.test(received)) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(received);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`not received: ${String(what)}; got ${JSON.stringify(received)}`));
      }, ms);
      waiters.add(check);
      check();
    });
  return { socket, text: () => received, waitFor, closed };
}

describe('item 2: dot segments never leave the upstream base path', () => {
  const climbs = [
    '/../secret',
    '/%2e%2e/secret',
    '/%2E%2e/secret',
    '/.%2e/secret',
    '/a/../../secret',
    '/a/..%2f..%2fsecret',
    '/a/%2e%2e%2f%2e%2e%2fsecret',
    '/a/..%5c..%5csecret',
  ];

  test.each(climbs)('flag API, GET %s: 400 path_invalid, nothing upstream', async (target) => {
    const before = upstream.requests.length;
    const r = await rawGet(flagGw, target);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ error: 'invalid_request' });
    expect(upstream.requests.length).toBe(before);
    expect(flagGw.logs().at(-1)).toMatchObject({ status: 400, reason: 'path_invalid' });
  });

  test.each([
    '/files/../../secret',
    '/files/%2e%2e/%2e%2e/secret',
    '/files/.%2E/%2e./secret',
    '/files/a/../../../secret',
  ])('file API with strip_path, GET %s: 400 path_invalid, nothing upstream', async (target) => {
    const before = upstream.requests.length;
    const r = await rawGet(fileGw, target);
    expect(r.status).toBe(400);
    expect(upstream.requests.length).toBe(before);
    expect(fileGw.logs().at(-1)).toMatchObject({ status: 400, reason: 'path_invalid' });
  });

  test('file API: a climb that stays under the root but leaves the API is not forwarded', async () => {
    const before = upstream.requests.length;
    for (const target of ['/files/../secret', '/files/%2e%2e/secret', '/files/x/../../secret']) {
      const r = await rawGet(fileGw, target);
      // Resolved to `/secret`: no API there.
      expect(r.status, target).toBe(404);
    }
    expect(upstream.requests.length).toBe(before);
  });

  test('file API: a segment hiding a separator next to a dot segment is 400', async () => {
    const before = upstream.requests.length;
    for (const target of ['/files/a/..%2f..%2fsecret', '/files/a/..%2F..%2Fsecret']) {
      const r = await rawGet(fileGw, target);
      expect(r.status, target).toBe(400);
    }
    expect(upstream.requests.length).toBe(before);
  });

  test('paths inside the base are served, dot segments resolved first', async () => {
    const cases: Array<[TestGateway, string, string]> = [
      [flagGw, '/a/./b/../inside?q=..%2f', '/public/a/inside?q=..%2f'],
      [flagGw, '/inside/', '/public/inside/'],
      [fileGw, '/files/a/%2e%2e/inside', '/public/inside'],
      [fileGw, '/files/doc.v1..json', '/public/doc.v1..json'],
      [fileGw, '/files', '/public/'],
    ];
    for (const [gw, target, seen] of cases) {
      const r = await rawGet(gw, target);
      expect(r.status, target).toBe(200);
      expect(upstream.requests.at(-1)?.url, target).toBe(seen);
    }
  });
});

describe('item 3: pipelined requests of a client that leaves are finished', () => {
  test('in-flight back to 0, 499 client_closed logged for each, /readyz fine, SIGTERM drain does not wait', async () => {
    const held: ServerResponse[] = [];
    const gw = await startTestGateway({
      upstream: upstream.url,
      jwksUris: [jwks.jwksUri],
      audiences: ['api'],
      adminPort: 0,
      drainMs: 10_000,
    });
    upstream.handler = (_req, res) => void held.push(res);
    try {
      const before = upstream.requests.length;
      const client = connect(gw.port);
      const one = (n: number) =>
        `GET /pipelined/${n} HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer ${token}\r\n\r\n`;
      client.socket.write(one(1) + one(2) + one(3));
      // All three are forwarded at once (Node emits each pipelined request).
      await until(() => upstream.requests.length - before === 3);
      expect(gw.metrics.inflight).toBe(3);
      client.socket.destroy();
      await until(() => gw.metrics.inflight === 0);
      const lines = gw.logs().filter((l) => String(l['path']).startsWith('/pipelined/'));
      expect(lines).toHaveLength(3);
      for (const line of lines)
        expect(line).toMatchObject({ status: 499, reason: 'client_closed' });
      // The upstream calls are cancelled.
      await until(() => held.every((res) => res.destroyed));
      const readyz = await request(`${gw.adminUrl}/readyz`);
      expect(readyz.statusCode).toBe(200);
      await readyz.body.dump();
      const t0 = performance.now();
      expect(await gw.gateway.shutdown()).toEqual({ drained: true });
      expect(performance.now() - t0).toBeLessThan(2000);
    } finally {
      upstream.handler = undefined;
      for (const res of held) res.destroy();
      await gw.close();
    }
  });
});

describe('item 4: a malformed request behind a streaming response', () => {
  test('no raw 400 inside the body: the socket is closed', async () => {
    let streaming: ServerResponse | undefined;
    upstream.handler = (_req, res) => {
      streaming = res;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: first\n\n');
    };
    try {
      const before = upstream.requests.length;
      const client = connect(flagGw.port);
      client.socket.write(
        `GET /stream HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      );
      await client.waitFor('data: first');
      // The answer is under way; now a request Node's parser refuses.
      client.socket.write('GET /next HTTP/1.1\r\nHost: gw.test\r\nBad Header\r\n\r\n');
      await client.closed;
      const received = client.text();
      expect(received.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
      expect(received).not.toContain('malformed HTTP request');
      expect(upstream.requests.length - before).toBe(1);
    } finally {
      upstream.handler = undefined;
      streaming?.destroy();
    }
  });

  test('with no response under way, the malformed request still gets its 400', async () => {
    const r = parseRawResponse(
      await rawExchange(flagGw.port, 'GET /x HTTP/1.1\r\nHost: gw.test\r\nBad Header\r\n\r\n'),
    );
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ error_description: 'malformed HTTP request' });
  });
});

describe('item 5: forwarding headers a client can plant', () => {
  test('Forwarded, X-Real-IP, X-Forwarded-Port/-Prefix never reach the upstream', async () => {
    const r = await rawGet(
      flagGw,
      '/planted',
      [
        'Forwarded: for=6.6.6.6;host=evil.example;proto=https',
        'X-Real-IP: 6.6.6.6',
        'X-Forwarded-Port: 443',
        'X-Forwarded-Prefix: /admin',
        'X_Forwarded_Prefix: /admin',
        'X-Forwarded-Ssl: on',
        'X-Forwarded-Host: evil.example',
        'X-Forwarded-Proto: https',
        '',
      ].join('\r\n'),
    );
    expect(r.status).toBe(200);
    const seen = upstream.requests.at(-1)!;
    expect(seen.url).toBe('/public/planted');
    for (const name of [
      'forwarded',
      'x-real-ip',
      'x-forwarded-port',
      'x-forwarded-prefix',
      'x_forwarded_prefix',
      'x-forwarded-ssl',
    ]) {
      expect(seen.headers[name], name).toBeUndefined();
    }
    // The gateway's own word.
    expect(seen.headers['x-forwarded-host']).toEqual(['gw.test']);
    expect(seen.headers['x-forwarded-proto']).toEqual(['http']);
    expect(seen.headers['x-forwarded-for']).toEqual(['127.0.0.1']);
  });
});

describe('item 6: Host, Expect and Transfer-Encoding', () => {
  test('two Host headers: 400 duplicate_host, nothing upstream', async () => {
    const before = upstream.requests.length;
    const r = parseRawResponse(
      await rawExchange(
        flagGw.port,
        `GET /two-hosts HTTP/1.1\r\nHost: gw.test\r\nHost: other.test\r\nAuthorization: Bearer ${token}\r\n\r\n`,
      ),
    );
    expect(r.status).toBe(400);
    expect(r.headers['connection']).toBe('close');
    expect(JSON.parse(r.body)).toEqual({
      error: 'invalid_request',
      error_description: 'more than one Host header',
    });
    expect(upstream.requests.length).toBe(before);
    expect(flagGw.logs().at(-1)).toMatchObject({ status: 400, reason: 'duplicate_host' });
  });

  test('Expect: 100-continue without a good token: 401 and no 100 Continue', async () => {
    const before = upstream.requests.length;
    const client = connect(flagGw.port);
    client.socket.write(
      'POST /expect HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer nope\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
    );
    await client.closed;
    const received = client.text();
    expect(received).not.toContain('100 Continue');
    expect(received.startsWith('HTTP/1.1 401 ')).toBe(true);
    expect(parseRawResponse(received).headers['connection']).toBe('close');
    expect(upstream.requests.length).toBe(before);
  });

  test('Expect: 100-continue with a good token: 100, then the body is forwarded', async () => {
    const client = connect(flagGw.port);
    client.socket.write(
      `POST /expect HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer ${token}\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    );
    await client.waitFor('HTTP/1.1 100 Continue\r\n\r\n');
    client.socket.write('hello');
    await client.closed;
    const text = client.text();
    expect(text.indexOf('HTTP/1.1 100 Continue')).toBe(0);
    expect(parseRawResponse(text.slice(text.indexOf('\r\n\r\n') + 4)).status).toBe(200);
    const seen = upstream.requests.at(-1)!;
    expect(seen.url).toBe('/public/expect');
    expect(seen.body).toBe('hello');
    expect(seen.headers['expect']).toBeUndefined();
  });

  test.each([
    ['Transfer-Encoding: gzip, chunked', 501, 'transfer_coding_unsupported'],
    ['Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked', 501, 'transfer_coding_unsupported'],
    // Refused by Node's parser already (bad_http); the gateway's own check is the fallback.
    ['Transfer-Encoding: chunked, chunked', 400, /^(bad_http|bad_transfer_encoding)$/],
  ] as const)('%s: %d before the upstream', async (te, status, reason) => {
    const before = upstream.requests.length;
    const r = parseRawResponse(
      await rawExchange(
        flagGw.port,
        `POST /coded HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer ${token}\r\n${te}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
      ),
    );
    expect(r.status).toBe(status);
    expect(r.headers['connection']).toBe('close');
    expect(upstream.requests.length).toBe(before);
    expect(flagGw.logs().at(-1)).toMatchObject({
      status,
      reason: typeof reason === 'string' ? reason : expect.stringMatching(reason),
    });
  });

  test('Transfer-Encoding: chunked alone is forwarded', async () => {
    const r = parseRawResponse(
      await rawExchange(
        flagGw.port,
        `POST /chunked HTTP/1.1\r\nHost: gw.test\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
      ),
    );
    expect(r.status).toBe(200);
    expect(upstream.requests.at(-1)?.body).toBe('hello');
  });
});

describe('item 7: --upstream-timeout also bounds the gap between body chunks', () => {
  test('a stream quiet for longer is cut; one that keeps talking is not', async () => {
    const gw = await startTestGateway({
      upstream: upstream.url,
      jwksUris: [jwks.jwksUri],
      audiences: ['api'],
      upstreamTimeoutMs: 600,
    });
    const timers: NodeJS.Timeout[] = [];
    upstream.handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: 0\n\n');
      if (req.url === '/quiet') {
        // Quiet for 10 s: far past the timeout.
        timers.push(setTimeout(() => res.end('data: late\n\n'), 10_000));
        return;
      }
      // Twelve chunks 100 ms apart: 1.2 s in all, twice the timeout, no gap near it.
      let n = 0;
      const tick = () => {
        n++;
        if (n === 12) return res.end(`data: ${n}\n\n`);
        res.write(`data: ${n}\n\n`);
        timers.push(setTimeout(tick, 100));
      };
      timers.push(setTimeout(tick, 100));
    };
    try {
      const talking = await request(`${gw.url}/talking`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(talking.statusCode).toBe(200);
      expect(await talking.body.text()).toContain('data: 12');

      const t0 = performance.now();
      const quiet = await request(`${gw.url}/quiet`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(quiet.statusCode).toBe(200);
      const cut = await quiet.body.text().then(
        () => 'ended',
        (e: unknown) => (e as Error).message,
      );
      expect(cut).not.toBe('ended');
      const elapsed = performance.now() - t0;
      // undici's timers are coarse (they may fire a tick early): not cut at once, cut well before 10 s.
      expect(elapsed).toBeGreaterThanOrEqual(300);
      expect(elapsed).toBeLessThan(5000);
      await until(() => gw.logs().some((l) => l['path'] === '/quiet'));
      expect(gw.logs().find((l) => l['path'] === '/quiet')).toMatchObject({
        reason: 'upstream_timeout',
      });
    } finally {
      upstream.handler = undefined;
      for (const t of timers) clearTimeout(t);
      await gw.close();
    }
  });
});
