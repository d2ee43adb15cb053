/**
 * The loopback listener of `oidc-gw login`, over real HTTP on loopback:
 * where it binds, what it answers, what its pages contain, and how it ends.
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { GwError } from '../../src/core/errors/index.js';
import {
  parseRedirectUri,
  startLoopbackReceiver,
  type LoopbackReceiver,
} from '../../src/http/loopback-receiver.js';

const STATE = 'expected-state-value-1234567890abcdefghijklmn';
const receivers: LoopbackReceiver[] = [];

afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

async function start(redirect?: string, port?: number): Promise<LoopbackReceiver> {
  const r = await startLoopbackReceiver(parseRedirectUri(redirect, port));
  receivers.push(r);
  return r;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP GET (no fetch: we set the Host header and path exactly). */
function get(
  host: string,
  port: number,
  path: string,
  options: { method?: string; hostHeader?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host,
        port,
        path,
        method: options.method ?? 'GET',
        headers: { host: options.hostHeader ?? `127.0.0.1:${port}` },
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

function connectable(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

function pageText(html: string): string {
  return html
    .replace(/<style>[\s\S]*?<\/style>/, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ');
}

describe('redirect URI and port', () => {
  test('default: 127.0.0.1, ephemeral port, /callback', () => {
    expect(parseRedirectUri(undefined, undefined)).toEqual({
      bindHost: '127.0.0.1',
      urlHost: '127.0.0.1',
      port: 0,
      path: '/callback',
    });
    expect(parseRedirectUri(undefined, 8765).port).toBe(8765);
  });

  test('a loopback redirect URI pins host, port and path', () => {
    expect(parseRedirectUri('http://127.0.0.1:8765/cb', undefined)).toEqual({
      bindHost: '127.0.0.1',
      urlHost: '127.0.0.1',
      port: 8765,
      path: '/cb',
    });
    expect(parseRedirectUri('http://[::1]:9000/callback', undefined)).toMatchObject({
      bindHost: '::1',
      urlHost: '[::1]',
      port: 9000,
    });
    expect(parseRedirectUri('http://localhost:3000/callback', undefined)).toMatchObject({
      bindHost: '127.0.0.1',
      urlHost: 'localhost',
      port: 3000,
    });
    expect(parseRedirectUri('http://127.0.0.1/callback', 4000).port).toBe(4000);
    expect(parseRedirectUri('http://127.0.0.1/callback', undefined).port).toBe(0);
    expect(parseRedirectUri('http://127.0.0.1:80/callback', undefined).port).toBe(80);
  });

  test.each([
    ['https://127.0.0.1:8765/callback', 'must use http'],
    ['http://example.com:8765/callback', 'must name a loopback host'],
    ['http://0.0.0.0:8765/callback', 'must name a loopback host'],
    ['http://192.168.1.2:8765/callback', 'must name a loopback host'],
    ['http://127.0.0.1.nip.io:8765/callback', 'must name a loopback host'],
    ['http://127.0.0.1:8765/callback?x=1', 'query string'],
    ['http://127.0.0.1:8765/callback#f', 'fragment'],
    ['http://user:pw@127.0.0.1:8765/callback', 'user name'],
    ['not a url', 'is not a URL'],
  ])('refuses %s (exit 2)', (uri, why) => {
    let error: unknown;
    try {
      parseRedirectUri(uri, undefined);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(GwError);
    expect((error as GwError).exitCode).toBe(2);
    expect((error as GwError).message).toContain(why);
  });

  test('--port and a different port in --redirect-uri conflict', () => {
    expect(() => parseRedirectUri('http://127.0.0.1:8765/callback', 9999)).toThrow(
      'different ports',
    );
  });

  test('a port in use gives ERR_LOGIN_LISTEN', async () => {
    const first = await start();
    await expect(
      startLoopbackReceiver(parseRedirectUri(undefined, first.port)),
    ).rejects.toMatchObject({
      code: 'ERR_LOGIN_LISTEN',
      message: expect.stringContaining('already in use'),
    });
  });
});

describe('listening on loopback only', () => {
  test('bound to 127.0.0.1: not reachable on 127.0.0.2 nor [::1]', async () => {
    const r = await start();
    expect(r.redirectUri).toBe(`http://127.0.0.1:${r.port}/callback`);
    expect(await connectable('127.0.0.1', r.port)).toBe('connected');
    expect(await connectable('127.0.0.2', r.port)).toMatch(
      /ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH/,
    );
    expect(await connectable('::1', r.port)).toMatch(
      /ECONNREFUSED|EADDRNOTAVAIL|ENETUNREACH|EAFNOSUPPORT/,
    );
  });

  test('[::1] when the redirect URI says so (and not 127.0.0.1)', async () => {
    const r = await start('http://[::1]/callback');
    expect(r.redirectUri).toBe(`http://[::1]:${r.port}/callback`);
    expect(await connectable('::1', r.port)).toBe('connected');
    expect(await connectable('127.0.0.1', r.port)).toMatch(/ECONNREFUSED/);
  });
});

describe('answers', () => {
  test('other paths get 404; other methods on the callback 405; other Host headers 400', async () => {
    const r = await start();
    const waiting = r.waitForCallback({
      state: STATE,
      timeoutMs: 10_000,
      handle: async () => ({ ok: true, value: 1 }),
    });
    for (const path of [
      '/',
      '/favicon.ico',
      '/callback/',
      '/CALLBACK',
      '/callbackx?state=' + STATE,
    ]) {
      const reply = await get('127.0.0.1', r.port, path);
      expect(reply.status, path).toBe(404);
      expect(reply.headers['referrer-policy']).toBe('no-referrer');
    }
    const post = await get('127.0.0.1', r.port, `/callback?state=${STATE}&code=x`, {
      method: 'POST',
    });
    expect(post.status).toBe(405);
    const rebound = await get('127.0.0.1', r.port, `/callback?state=${STATE}&code=x`, {
      hostHeader: `attacker.example:${r.port}`,
    });
    expect(rebound.status).toBe(400);
    // Still waiting: the right callback completes it.
    const ok = await get('127.0.0.1', r.port, `/callback?state=${STATE}&code=x`);
    expect(ok.status).toBe(200);
    await expect(waiting).resolves.toBe(1);
  });

  test('a wrong state gets 400 and the wait goes on; the right one completes it; then the listener is closed', async () => {
    const r = await start();
    const ignored: string[] = [];
    const handled: string[] = [];
    const waiting = r.waitForCallback({
      state: STATE,
      timeoutMs: 10_000,
      onIgnored: (m) => ignored.push(m),
      handle: async (query) => {
        handled.push(query.get('code') ?? '');
        return { ok: true, value: 'tokens' };
      },
    });
    for (const query of [
      `state=wrong&code=forged`,
      `code=forged`,
      `state=${STATE}&state=${STATE}&code=dup`,
      `state=${STATE.slice(0, -1)}&code=x`,
    ]) {
      const reply = await get('127.0.0.1', r.port, `/callback?${query}`);
      expect(reply.status, query).toBe(400);
      expect(pageText(reply.body)).toContain('does not belong to the sign-in in progress');
    }
    expect(ignored.length).toBe(4);
    expect(ignored[0]).toContain('state does not match');
    expect(handled).toEqual([]);
    const reply = await get('127.0.0.1', r.port, `/callback?code=real&state=${STATE}`);
    expect(reply.status).toBe(200);
    const text = pageText(reply.body);
    expect(text).toContain('Signed in');
    expect(text).toContain('You can close this tab');
    await expect(waiting).resolves.toBe('tokens');
    expect(handled).toEqual(['real']);
    expect(await connectable('127.0.0.1', r.port)).toBe('ECONNREFUSED');
  });

  test('ignored requests are reported a few times only (no terminal flood)', async () => {
    const r = await start();
    const ignored: string[] = [];
    const waiting = r.waitForCallback({
      state: STATE,
      timeoutMs: 10_000,
      onIgnored: (m) => ignored.push(m),
      handle: async () => ({ ok: true, value: 1 }),
    });
    for (let i = 0; i < 12; i++) {
      expect((await get('127.0.0.1', r.port, `/callback?state=x${i}&code=y`)).status).toBe(400);
    }
    expect(ignored).toHaveLength(6);
    expect(ignored[5]).toBe('further ignored requests are not reported');
    await get('127.0.0.1', r.port, `/callback?state=${STATE}&code=z`);
    await expect(waiting).resolves.toBe(1);
  });

  test('pages are self-contained, send no-referrer and never echo a request parameter', async () => {
    const r = await start();
    const marker = 'SENTINEL<script>alert(1)</script>';
    const waiting = r.waitForCallback({
      state: STATE,
      timeoutMs: 10_000,
      handle: async (query) => ({
        ok: false,
        idpError: query.get('error') ?? undefined,
        error: new GwError('ERR_IDP', 'refused'),
      }),
    });
    waiting.catch(() => {});
    const wrong = await get(
      '127.0.0.1',
      r.port,
      `/callback?state=${encodeURIComponent(marker)}&code=${encodeURIComponent(marker)}`,
    );
    const refused = await get(
      '127.0.0.1',
      r.port,
      `/callback?state=${STATE}&error=${encodeURIComponent(marker)}&error_description=${encodeURIComponent(marker)}`,
    );
    for (const reply of [wrong, refused]) {
      expect(reply.body).not.toContain('SENTINEL');
      expect(reply.body).not.toContain(STATE);
      expect(reply.body).not.toMatch(/<script|src=|href=|@import|url\(/i);
      expect(reply.headers['referrer-policy']).toBe('no-referrer');
      expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(reply.headers['cache-control']).toBe('no-store');
      expect(reply.headers['content-security-policy']).toContain("default-src 'none'");
    }
    expect(refused.status).toBe(400);
    expect(pageText(refused.body)).toContain('Not signed in');
    expect(pageText(refused.body)).toContain('The identity provider refused the sign-in.');
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_IDP' });
  });

  test('error=access_denied: a fixed explanation on the page (403), the error to the caller', async () => {
    const r = await start();
    const waiting = r.waitForCallback({
      state: STATE,
      timeoutMs: 10_000,
      handle: async () => ({
        ok: false,
        idpError: 'access_denied',
        error: new GwError('ERR_ACCESS_DENIED', 'denied'),
      }),
    });
    waiting.catch(() => {});
    const reply = await get(
      '127.0.0.1',
      r.port,
      `/callback?state=${STATE}&error=access_denied&error_description=User+said+no`,
    );
    expect(reply.status).toBe(403);
    const text = pageText(reply.body);
    expect(text).toContain('Not signed in');
    expect(text).toContain('Access was denied');
    expect(text).not.toContain('User said no');
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_ACCESS_DENIED' });
  });

  test('a failed exchange shows "Not signed in"', async () => {
    const r = await start();
    const waiting = r.waitForCallback({
      state: STATE,
      timeoutMs: 10_000,
      handle: async () => {
        throw new GwError('ERR_IDP_RESPONSE', 'bad id token');
      },
    });
    waiting.catch(() => {});
    const reply = await get('127.0.0.1', r.port, `/callback?state=${STATE}&code=x`);
    expect(reply.status).toBe(400);
    expect(pageText(reply.body)).toContain('The sign-in could not be completed');
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_IDP_RESPONSE' });
  });
});

describe('ending', () => {
  test('no callback within the timeout: ERR_LOGIN_TIMEOUT (exit 1), listener closed', async () => {
    const r = await start();
    const started = Date.now();
    await expect(
      r.waitForCallback({
        state: STATE,
        timeoutMs: 200,
        handle: async () => ({ ok: true, value: 1 }),
      }),
    ).rejects.toMatchObject({
      code: 'ERR_LOGIN_TIMEOUT',
      exitCode: 1,
      hint: expect.stringContaining(`check that ${r.redirectUri} is an allowed callback URL`),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(await connectable('127.0.0.1', r.port)).toBe('ECONNREFUSED');
  });

  test('an abort (Ctrl-C) ends the wait with ERR_INTERRUPTED (exit 130) and closes the listener', async () => {
    const r = await start();
    const controller = new AbortController();
    const waiting = r.waitForCallback({
      state: STATE,
      timeoutMs: 10_000,
      signal: controller.signal,
      handle: async () => ({ ok: true, value: 1 }),
    });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_INTERRUPTED', exitCode: 130 });
    expect(await connectable('127.0.0.1', r.port)).toBe('ECONNREFUSED');
  });

  test('a second callback while the first is being exchanged gets 409 and is not handled', async () => {
    const r = await start();
    let release: () => void = () => {};
    let calls = 0;
    const waiting = r.waitForCallback({
      state: STATE,
      timeoutMs: 10_000,
      handle: async () => {
        calls++;
        await new Promise<void>((resolve) => (release = resolve));
        return { ok: true, value: 'done' };
      },
    });
    const first = get('127.0.0.1', r.port, `/callback?state=${STATE}&code=a`);
    for (let i = 0; i < 50 && calls === 0; i++) await new Promise((res) => setTimeout(res, 10));
    const second = await get('127.0.0.1', r.port, `/callback?state=${STATE}&code=b`);
    expect(second.status).toBe(409);
    release();
    expect((await first).status).toBe(200);
    await expect(waiting).resolves.toBe('done');
    expect(calls).toBe(1);
  });
});
