/**
 * Issue 16, item 1: every IdP answer is bounded while it is read (key sets,
 * discovery documents, token answers, the --verbose log of any of them), and
 * redirects of key-set and discovery fetches obey the rules of the first URL.
 *
 * One real server on 127.0.0.1 plays the IdP. Endless answers are streamed
 * with backpressure, so what the server managed to send before the client
 * closed the connection is the measure of what the client read (memory is
 * not). The "evil" hop of a redirect is never contacted: the fetch used
 * records every URL asked for and refuses any host but 127.0.0.1 without
 * opening a connection.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildClient } from '../../src/core/client.js';
import { GwError } from '../../src/core/errors/index.js';
import { clientCredentials } from '../../src/core/flows/token-grants.js';
import { RemoteKeySet, type JwksFetchError } from '../../src/core/gateway/jwks.js';
import { BodyTooLargeError } from '../../src/core/http-body.js';
import { discoverIssuer, type FetchLike } from '../../src/core/issuer.js';
import { createHttpClient } from '../../src/http/client.js';

const MiB = 1024 * 1024;
/** What an endless answer would send if nobody stopped it. */
const PLANNED = 64 * MiB;
const FILLER = new Uint8Array(64 * 1024).fill(0x20); // spaces: valid JSON white space

interface Sent {
  bytes: number;
  cutShort: boolean;
}

let server: Server;
let base: string;
const endless = new Map<string, Promise<Sent>>();

async function streamEndless(res: ServerResponse): Promise<Sent> {
  let bytes = 0;
  let closed = false;
  const closedEvent = new Promise<void>((resolve) =>
    res.on('close', () => {
      closed = true;
      resolve();
    }),
  );
  res.write('{"keys":[');
  while (!closed && bytes < PLANNED) {
    bytes += FILLER.byteLength;
    if (!res.write(FILLER)) {
      await Promise.race([new Promise((r) => res.once('drain', r)), closedEvent]);
    }
  }
  const cutShort = closed && bytes < PLANNED;
  if (!closed) res.end(']}');
  await closedEvent;
  return { bytes, cutShort };
}

function metadata(issuer: string) {
  return {
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${new URL(issuer).origin}/endless/token`,
    jwks_uri: `${issuer}/jwks`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
  };
}

const GOOD_JWKS = {
  keys: [
    {
      kty: 'EC',
      crv: 'P-256',
      kid: 'k1',
      x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
      y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
    },
  ],
};

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', base);
    const path = url.pathname;
    if (path.startsWith('/endless')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      endless.set(path, streamEndless(res));
      return;
    }
    if (path === '/jwks') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(GOOD_JWKS));
      return;
    }
    if (path.startsWith('/to/')) {
      // /to/<percent-encoded absolute or relative URL>
      res.writeHead(302, { location: decodeURIComponent(path.slice('/to/'.length)) });
      res.end();
      return;
    }
    if (path === '/loop') {
      res.writeHead(302, { location: '/loop' });
      res.end();
      return;
    }
    const issuerMatch = /^\/(i-[a-z-]+)\/\.well-known\/openid-configuration$/.exec(path);
    if (issuerMatch) {
      const name = issuerMatch[1];
      const issuer = `${base}/${name}`;
      if (name === 'i-endless') {
        res.writeHead(200, { 'content-type': 'application/json' });
        endless.set(path, streamEndless(res));
      } else if (name === 'i-moved') {
        res.writeHead(301, { location: `${base}/i-moved/real-configuration` });
        res.end();
      } else if (name === 'i-evil') {
        res.writeHead(302, { location: 'http://evil.example/.well-known/openid-configuration' });
        res.end();
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(metadata(issuer)));
      }
      return;
    }
    if (path === '/i-moved/real-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(metadata(`${base}/i-moved`)));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function sentFor(path: string): Promise<Sent> {
  const result = endless.get(path);
  if (!result) throw new Error(`no endless answer was started for ${path}`);
  return result;
}

/**
 * A fetch that records every URL asked for, refuses hosts other than
 * 127.0.0.1 without a connection, and follows redirects itself (recording
 * each hop) when the caller does not ask for `redirect: 'manual'`, as
 * fetch's default following would.
 */
function recordingFetch(): { fetch: FetchLike; urls: string[] } {
  const urls: string[] = [];
  const one = async (url: string, init: RequestInit): Promise<Response> => {
    urls.push(url);
    if (new URL(url).hostname !== '127.0.0.1') throw new TypeError('fetch failed');
    return fetch(url, { ...init, redirect: 'manual' });
  };
  const fetchLike: FetchLike = async (url, init) => {
    let current = url;
    for (let hop = 0; hop < 10; hop++) {
      const response = await one(current, init);
      const location = response.headers.get('location');
      if (init.redirect === 'manual' || response.status < 300 || response.status > 399 || !location)
        return response;
      await response.body?.cancel();
      current = new URL(location, current).href;
    }
    throw new TypeError('fetch failed: too many redirects');
  };
  return { fetch: fetchLike, urls };
}

function keySet(uri: string, fetch: FetchLike): RemoteKeySet {
  return new RemoteKeySet({
    uri,
    fetch,
    timeoutMs: 10_000,
    maxAgeMs: 600_000,
    cooldownMs: 30_000,
    now: () => 0,
    log: () => {},
  });
}

describe('key sets are bounded while read', () => {
  test('an endless JWKS: the read stops past 1 MiB and the connection is closed', async () => {
    const set = keySet(`${base}/endless/jwks-plain`, (u, i) => fetch(u, i));
    const error = (await set.load().catch((e: unknown) => e)) as JwksFetchError;
    expect(error.kind).toBe('invalid');
    expect(error.message).toContain('more than 1048576 bytes');
    const sent = await sentFor('/endless/jwks-plain');
    expect(sent.cutShort).toBe(true);
    expect(sent.bytes).toBeLessThan(16 * MiB);
  });

  test('with --verbose the client reads the body once, bounded', async () => {
    const lines: string[] = [];
    const http = createHttpClient({ timeoutSeconds: 10, log: (l) => lines.push(l) });
    const set = keySet(`${base}/endless/jwks-verbose`, http);
    const error = (await set.load().catch((e: unknown) => e)) as JwksFetchError;
    expect(error.kind).toBe('invalid');
    expect(error.message).toMatch(/larger than 1 MiB/);
    const sent = await sentFor('/endless/jwks-verbose');
    expect(sent.cutShort).toBe(true);
    expect(sent.bytes).toBeLessThan(16 * MiB);
    expect(lines.some((l) => l.startsWith('< HTTP 200'))).toBe(true);
  });
});

describe('discovery documents and token answers are bounded while read', () => {
  test('an endless discovery document stops at 1 MiB with an error that says so', async () => {
    const error = await discoverIssuer(`${base}/i-endless`, {
      fetch: createHttpClient({ timeoutSeconds: 10 }),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BodyTooLargeError);
    expect((error as Error).message).toMatch(/larger than 1 MiB/);
    const sent = await sentFor('/i-endless/.well-known/openid-configuration');
    expect(sent.cutShort).toBe(true);
    expect(sent.bytes).toBeLessThan(16 * MiB);
  });

  test('an endless token answer (through openid-client) stops at 1 MiB', async () => {
    const http = createHttpClient({ timeoutSeconds: 10 });
    const issuer = await discoverIssuer(`${base}/i-token`, { fetch: http });
    const client = buildClient(issuer, { clientId: 'svc', clientSecret: 's3cret-value' });
    const error = await clientCredentials(client, {}, () => 0).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GwError);
    expect((error as Error).message).toMatch(/larger than 1 MiB/);
    expect((error as Error).message).not.toContain('s3cret-value');
    const sent = await sentFor('/endless/token');
    expect(sent.cutShort).toBe(true);
    expect(sent.bytes).toBeLessThan(16 * MiB);
  });
});

describe('redirects of key-set and discovery fetches obey the first URL rules', () => {
  test('a JWKS redirected to plain http on another host is refused before it is fetched', async () => {
    const { fetch, urls } = recordingFetch();
    const target = encodeURIComponent('http://evil.example/jwks');
    const set = keySet(`${base}/to/${target}`, fetch);
    const error = (await set.load().catch((e: unknown) => e)) as JwksFetchError;
    expect(error.message).toMatch(/redirects to http:\/\/evil\.example uses http on a host/);
    expect(urls.some((u) => new URL(u).hostname === 'evil.example')).toBe(false);
  });

  test('a JWKS redirected to a non-http scheme is refused', async () => {
    const { fetch, urls } = recordingFetch();
    const set = keySet(`${base}/to/${encodeURIComponent('file:///etc/passwd')}`, fetch);
    const error = (await set.load().catch((e: unknown) => e)) as JwksFetchError;
    expect(error.message).toMatch(/must be an https URL/);
    expect(urls).toHaveLength(1);
  });

  test('a JWKS redirected on loopback is followed; a redirect loop stops after 5 hops', async () => {
    const { fetch, urls } = recordingFetch();
    const set = keySet(`${base}/to/${encodeURIComponent('/jwks')}`, fetch);
    await set.load();
    expect([...set.kids]).toEqual(['k1']);
    expect(urls).toEqual([`${base}/to/%2Fjwks`, `${base}/jwks`]);

    const looping = recordingFetch();
    const loop = keySet(`${base}/loop`, looping.fetch);
    const error = (await loop.load().catch((e: unknown) => e)) as JwksFetchError;
    expect(error.message).toMatch(/more than 5 redirects/);
    expect(looping.urls).toHaveLength(6);
  });

  test('discovery redirected off limits is refused (ERR_INSECURE_ISSUER), never fetched', async () => {
    const { fetch, urls } = recordingFetch();
    const error = await discoverIssuer(`${base}/i-evil`, { fetch }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GwError);
    expect((error as GwError).code).toBe('ERR_INSECURE_ISSUER');
    expect(urls.some((u) => new URL(u).hostname === 'evil.example')).toBe(false);
  });

  test('discovery redirected on loopback is followed, and the issuer still checked', async () => {
    const { fetch } = recordingFetch();
    const found = await discoverIssuer(`${base}/i-moved`, { fetch });
    expect(found.issuer).toBe(`${base}/i-moved`);
  });
});
