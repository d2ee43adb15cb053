/** Requests to IdPs: HTTP_PROXY / NO_PROXY honoured, --timeout enforced (exit 3). */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempHome } from '../helpers/cli.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';

let idp: TestIdp;
const home = tempHome();
const servers: Server[] = [];
let proxyUrl: string;
const proxied: string[] = [];

async function listen(server: Server): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  idp = await startTestIdp();
  // A minimal forward proxy for http:// URLs (absolute-form request targets).
  proxyUrl = await listen(
    createServer((req, res) => {
      proxied.push(req.url ?? '');
      const target = new URL(req.url ?? '');
      const upstream = request(target, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => res.writeHead(502).end());
      req.pipe(upstream);
    }),
  );
});
afterAll(async () => {
  await idp?.close();
  for (const s of servers) s.close();
  home.cleanup();
});

describe('network settings', () => {
  it('sends IdP requests through HTTP_PROXY', async () => {
    proxied.length = 0;
    const r = await runCli(['discover', idp.issuer, '--no-keys'], {
      env: { ...home.env, HTTP_PROXY: proxyUrl, http_proxy: proxyUrl },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(proxied).toContain(`${idp.issuer}/.well-known/openid-configuration`);
  });

  it('bypasses the proxy for hosts in NO_PROXY', async () => {
    proxied.length = 0;
    const r = await runCli(['discover', idp.issuer, '--no-keys'], {
      env: {
        ...home.env,
        HTTP_PROXY: proxyUrl,
        http_proxy: proxyUrl,
        NO_PROXY: '127.0.0.1',
        no_proxy: '127.0.0.1',
      },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(proxied).toEqual([]);
  });

  it('`call` goes through HTTP_PROXY too, as curl does', async () => {
    proxied.length = 0;
    const r = await runCli(
      ['call', `${idp.issuer}/.well-known/openid-configuration`, '--no-auth', '-s'],
      {
        env: { ...home.env, HTTP_PROXY: proxyUrl, http_proxy: proxyUrl },
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).issuer).toBe(idp.issuer);
    expect(proxied).toEqual([`${idp.issuer}/.well-known/openid-configuration`]);
  });

  it('gives up after --timeout seconds with exit 3, naming the URL', async () => {
    const silent = await listen(createServer(() => {})); // accepts, never answers
    const started = Date.now();
    const r = await runCli(['discover', silent, '--timeout', '1'], { env: home.env });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/oidc-gw: error: .*(timed out|no answer).*/);
    expect(r.stderr).toContain(silent);
    expect(Date.now() - started).toBeLessThan(15_000); // bounded: no hang
  });
});
