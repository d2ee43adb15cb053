/**
 * `oidc-gw call` end to end: the built CLI (`node bin/oidc-gw.js call ...`)
 * against real servers on 127.0.0.1 (port 0), each test with a fresh
 * OIDC_GW_CACHE_DIR and OIDC_GW_CONFIG.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { callEnv, runCli, type CallEnv } from '../helpers/call-cli.js';
import { GATEWAY_REPLIES, json, startServer, type TestServer } from '../helpers/call-servers.js';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const nowS = () => Math.floor(Date.now() / 1000);
/** A JWT-shaped token (not verified by `call`; the servers here do not verify either). */
const token = (
  payload: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'RS256', typ: 'at+jwt', kid: 'k1' },
) => `${b64(header)}.${b64(payload)}.${randomBytes(32).toString('base64url')}`;
const goodToken = () =>
  token({
    iss: 'https://idp.example/',
    aud: 'https://api.example/',
    sub: 'alice',
    scope: 'read',
    exp: nowS() + 3600,
  });

const BINARY = Buffer.concat([
  Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  randomBytes(300 * 1024),
]);

let a: TestServer;
let b: TestServer;
let e: CallEnv;

beforeAll(async () => {
  a = await startServer((req, res) => json(res, 200, { ok: true }));
  b = await startServer((req, res) => json(res, 200, { ok: true }));
});
afterAll(async () => {
  await a?.close();
  await b?.close();
});
beforeEach(() => {
  e = callEnv();
  a.requests.length = 0;
  b.requests.length = 0;
});
afterEach(() => e.cleanup());

const call = (args: string[], input?: string | Buffer, env: Record<string, string> = {}) =>
  runCli(['call', ...args], {
    env: { ...e.env, ...env },
    ...(input !== undefined ? { input } : {}),
  });

describe('the request', () => {
  test('a binary body comes out byte for byte, and the token went in the Authorization header', async () => {
    a.handler = (req, res) => {
      res.writeHead(200, {
        'content-type': 'application/octet-stream',
        'content-length': BINARY.length,
      });
      res.end(BINARY);
    };
    const t = goodToken();
    const r = await call(['--token', t, `${a.origin}/file.bin`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.equals(BINARY)).toBe(true);
    expect(a.requests[0]?.headers['authorization']).toEqual([`Bearer ${t}`]);
    expect(a.requests[0]?.method).toBe('GET');
  });

  test('-d @- reads stdin (CR/LF removed, as curl), POSTs it form-encoded', async () => {
    a.handler = (req, res, rec) => json(res, 200, { got: rec.body.toString() });
    const r = await call(['--no-auth', '-d', '@-', `${a.origin}/form`], 'a=1\r\nb=2\n');
    expect(r.code, r.stderr).toBe(0);
    const rec = a.requests[0];
    expect(rec?.method).toBe('POST');
    expect(rec?.body.toString()).toBe('a=1b=2');
    expect(rec?.headers['content-type']).toEqual(['application/x-www-form-urlencoded']);
    expect(JSON.parse(r.stdout.toString())).toEqual({ got: 'a=1b=2' });
  });

  test('--data-binary @- keeps every byte of stdin', async () => {
    const payload = Buffer.concat([Buffer.from('line1\r\nline2\n'), randomBytes(1000)]);
    const r = await call(
      [
        '--no-auth',
        '--data-binary',
        '@-',
        '-H',
        'Content-Type: application/octet-stream',
        `${a.origin}/up`,
      ],
      payload,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(a.requests[0]?.body.equals(payload)).toBe(true);
    expect(a.requests[0]?.headers['content-type']).toEqual(['application/octet-stream']);
  });

  test('-d @file and -d joined with &; --json @file sets JSON headers and POST', async () => {
    const file = join(e.dir, 'form.txt');
    writeFileSync(file, 'x=1\n');
    await call(['--no-auth', '-d', 'a=1', '-d', `@${file}`, `${a.origin}/f`]);
    expect(a.requests[0]?.body.toString()).toBe('a=1&x=1');
    const jfile = join(e.dir, 'body.json');
    writeFileSync(jfile, '{\n  "qty": 1\n}\n');
    await call(['--no-auth', '--json', `@${jfile}`, `${a.origin}/j`]);
    const rec = a.requests[1];
    expect(rec?.method).toBe('POST');
    expect(rec?.body.toString()).toBe('{\n  "qty": 1\n}\n');
    expect(rec?.headers['content-type']).toEqual(['application/json']);
    expect(rec?.headers['accept']).toEqual(['application/json']);
  });

  test('a missing @file is an input error (exit 2)', async () => {
    const r = await call(['--no-auth', '-d', `@${join(e.dir, 'nope')}`, `${a.origin}/f`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/oidc-gw: error: cannot read .*nope.*ENOENT/);
    expect(a.requests).toHaveLength(0);
  });

  test('-X and -H as curl: repeated headers, "Name:" removes a default, "Name;" sends it empty', async () => {
    await call([
      '--no-auth',
      '-X',
      'PATCH',
      '-H',
      'X-A: 1',
      '-H',
      'X-A: 2',
      '-H',
      'Accept:',
      '-H',
      'X-Empty;',
      `${a.origin}/h?q=1`,
    ]);
    const rec = a.requests[0];
    expect(rec?.method).toBe('PATCH');
    expect(rec?.url).toBe('/h?q=1');
    expect(rec?.headers['x-a']).toEqual(['1', '2']);
    expect(rec?.headers['accept']).toBeUndefined();
    expect(rec?.headers['x-empty']).toEqual(['']);
    expect(rec?.headers['user-agent']).toEqual(['oidc-gw']);
  });
});

describe('the token', () => {
  test('OIDC_GW_TOKEN is used; --token comes before it; -H Authorization is sent as is', async () => {
    await call([`${a.origin}/1`], undefined, { OIDC_GW_TOKEN: 'env-token' });
    await call(['--token', 'flag-token', `${a.origin}/2`], undefined, {
      OIDC_GW_TOKEN: 'env-token',
    });
    const r = await call([
      '-H',
      'authorization: Basic dXNlcjpwYXNz',
      '--token',
      'flag-token',
      `${a.origin}/3`,
    ]);
    expect(a.requests.map((q) => q.headers['authorization'])).toEqual([
      ['Bearer env-token'],
      ['Bearer flag-token'],
      ['Basic dXNlcjpwYXNz'],
    ]);
    expect(r.stderr).toContain('an Authorization header given with -H is sent as is');
  });

  test('--no-auth sends none; without any token there is a clear error (exit 1)', async () => {
    await call(['--no-auth', `${a.origin}/x`]);
    expect(a.requests[0]?.headers['authorization']).toBeUndefined();
    const r = await call([`${a.origin}/x`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('oidc-gw: error: no cached token for profile "default"');
    expect(r.stderr).toContain('hint: run `oidc-gw login`');
    expect(a.requests).toHaveLength(1);
  });

  test('usage errors exit 2 and send nothing', async () => {
    for (const args of [
      ['--token', 't', '--no-auth', `${a.origin}/x`],
      ['--no-auth', '-H', 'Bad Header: x', `${a.origin}/x`],
      ['--no-auth', 'ftp://127.0.0.1/x'],
      ['--token', 'two words', `${a.origin}/x`],
      ['--no-auth', '--max-time', 'soon', `${a.origin}/x`],
      ['--no-auth', '-X', 'GE T', `${a.origin}/x`],
    ]) {
      const r = await call(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^oidc-gw: error: /);
    }
    expect(a.requests).toHaveLength(0);
  });
});

describe('the response', () => {
  test('-i puts the status line and the headers first', async () => {
    a.handler = (req, res) => {
      res.writeHead(201, 'Created', {
        'X-Trace': 'abc',
        'content-type': 'text/plain',
        'content-length': '5',
      });
      res.end('hello');
    };
    const r = await call(['--no-auth', '-i', `${a.origin}/x`]);
    const text = r.stdout.toString();
    expect(text).toMatch(/^HTTP\/1\.1 201 Created\r\n/);
    expect(text).toContain('\r\nX-Trace: abc\r\n');
    expect(text.endsWith('\r\n\r\nhello')).toBe(true);
  });

  test('-o writes the body to a file, nothing on stdout', async () => {
    a.handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(BINARY);
    };
    const out = join(e.dir, 'out.bin');
    const r = await call(['--no-auth', '-o', out, `${a.origin}/x`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(readFileSync(out).equals(BINARY)).toBe(true);
  });

  test('an HTTP error is exit 0 without --fail; --fail exits 22 without the body; --fail-with-body writes it', async () => {
    a.handler = (req, res) => json(res, 404, { error: 'not_found' });
    const plain = await call(['--no-auth', `${a.origin}/x`]);
    expect(plain.code).toBe(0);
    expect(plain.stdout.toString()).toBe('{"error":"not_found"}');
    const fail = await call(['--no-auth', '-f', `${a.origin}/x`]);
    expect(fail.code).toBe(22);
    expect(fail.stdout.length).toBe(0);
    expect(fail.stderr).toContain(`oidc-gw: error: HTTP 404 Not Found from ${a.origin}/x`);
    const withBody = await call(['--no-auth', '--fail-with-body', `${a.origin}/x`]);
    expect(withBody.code).toBe(22);
    expect(withBody.stdout.toString()).toBe('{"error":"not_found"}');
    a.handler = (req, res) => json(res, 200, {});
    expect((await call(['--no-auth', '-f', `${a.origin}/x`])).code).toBe(0);
  });

  test('--max-time: a server that never answers ends in exit 3', async () => {
    a.handler = () => {
      /* never answers; closed by afterAll */
    };
    const r = await call(['--no-auth', '--max-time', '0.5', `${a.origin}/slow`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('did not finish within --max-time 0.5 s');
    a.handler = (req, res) => json(res, 200, { ok: true });
  });

  test('connection refused is exit 3', async () => {
    const closed = await startServer(() => {});
    const port = closed.port;
    await closed.close();
    const r = await call(['--no-auth', `http://127.0.0.1:${port}/x`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      `oidc-gw: error: cannot reach http://127.0.0.1:${port}/x: connection refused`,
    );
  });

  test('-v shows request and response headers on stderr; the token never appears whole', async () => {
    a.handler = (req, res) =>
      json(res, 401, { error: 'Key not authorised' }, { 'www-authenticate': 'Bearer realm="api"' });
    const t = goodToken();
    const r = await call([
      '-v',
      '--token',
      t,
      '-H',
      'Cookie: session=secretcookievalue',
      `${a.origin}/v?access_token=querysecretvalue`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/> GET \/v\?access_token=\S+… HTTP\/1\.1/);
    expect(r.stderr).toContain(`> Authorization: Bearer ${t.slice(0, 6)}…`);
    expect(r.stderr).toContain('< HTTP/1.1 401 Unauthorized');
    expect(r.stderr).toContain('< www-authenticate: Bearer realm="api"');
    expect(r.stderr).not.toContain(t);
    for (const part of t.split('.')) expect(r.stderr).not.toContain(part);
    expect(r.stderr).not.toContain('secretcookievalue');
    expect(r.stderr).not.toContain('querysecretvalue');
  });
});

describe('redirects', () => {
  test('-L to another origin (another port): the token and a -H Cookie stay behind', async () => {
    a.handler = (req, res) => {
      res.writeHead(302, { location: `${b.origin}/landing` });
      res.end();
    };
    b.handler = (req, res, rec) =>
      json(res, rec.headers['authorization'] ? 500 : 200, {
        authorization: rec.headers['authorization'] ?? null,
      });
    const t = goodToken();
    const r = await call([
      '-L',
      '--token',
      t,
      '-H',
      'Cookie: s=1',
      '-H',
      'X-Keep: yes',
      `${a.origin}/start`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(a.requests[0]?.headers['authorization']).toEqual([`Bearer ${t}`]);
    expect(b.requests).toHaveLength(1);
    expect(b.requests[0]?.headers['authorization']).toBeUndefined();
    expect(b.requests[0]?.headers['cookie']).toBeUndefined();
    expect(b.requests[0]?.headers['x-keep']).toEqual(['yes']);
    expect(JSON.parse(r.stdout.toString())).toEqual({ authorization: null });
  });

  test('once the chain has left the origin, coming back does not bring the token back', async () => {
    a.handler = (req, res) => {
      if (req.url === '/start') res.writeHead(307, { location: `${b.origin}/bounce` });
      else res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(req.url === '/start' ? '' : 'back');
    };
    b.handler = (req, res) => {
      res.writeHead(302, { location: `${a.origin}/final` });
      res.end();
    };
    const r = await call(['-L', '--token', 'tok', `${a.origin}/start`]);
    expect(r.stdout.toString()).toBe('back');
    expect(a.requests.map((q) => [q.url, q.headers['authorization']?.[0] ?? null])).toEqual([
      ['/start', 'Bearer tok'],
      ['/final', null],
    ]);
  });

  test('-L within the origin keeps the token; 303 after POST becomes GET without the body', async () => {
    a.handler = (req, res) => {
      if (req.url === '/post') {
        res.writeHead(303, { location: '/result' });
        res.end();
      } else json(res, 200, { url: req.url });
    };
    const r = await call(['-L', '--token', 'tok', '-d', 'a=1', `${a.origin}/post`]);
    expect(r.code, r.stderr).toBe(0);
    expect(
      a.requests.map((q) => [q.method, q.url, q.headers['authorization']?.[0], q.body.length]),
    ).toEqual([
      ['POST', '/post', 'Bearer tok', 3],
      ['GET', '/result', 'Bearer tok', 0],
    ]);
    expect(a.requests[1]?.headers['content-type']).toBeUndefined();
  });

  test('without -L the redirect itself is the answer; a loop is cut at --max-redirs (exit 1)', async () => {
    a.handler = (req, res) => {
      res.writeHead(302, { location: `${a.origin}/again` });
      res.end('moved');
    };
    const once = await call(['--no-auth', `${a.origin}/x`]);
    expect(once.code).toBe(0);
    expect(once.stdout.toString()).toBe('moved');
    expect(a.requests).toHaveLength(1);
    const loop = await call(['--no-auth', '-L', '--max-redirs', '3', `${a.origin}/x`]);
    expect(loop.code).toBe(1);
    expect(loop.stderr).toContain('oidc-gw: error: more than 3 redirects');
    expect(a.requests).toHaveLength(1 + 4);
  });
});

describe('diagnosis of gateway refusals', () => {
  test('Tyk: "Key not authorised" with an expired token', async () => {
    a.handler = (req, res) => GATEWAY_REPLIES.tykKeyNotAuthorised(res);
    const t = token({ iss: 'https://idp.example/', aud: 'api', exp: nowS() - 2 * 3600 - 60 });
    const r = await call(['--token', t, `${a.origin}/tyk`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe('{"error":"Key not authorised"}');
    expect(r.stderr).toContain(`403 Forbidden from ${a.origin}/tyk: why`);
    expect(r.stderr).toMatch(/gateway +Tyk: Key not authorised: Tyk did not accept the token/);
    expect(r.stderr).toMatch(/likely cause: the token expired 2h 1m ago/);
    expect(r.stderr).not.toContain(t);
  });

  test('Tyk: unexpected signing method names the token alg; Authorization field missing', async () => {
    a.handler = (req, res) => GATEWAY_REPLIES.tykSigningMethod(res);
    const hs = token({ iss: 'i', aud: 'api', exp: nowS() + 600 }, { alg: 'HS256', typ: 'JWT' });
    const r = await call(['--token', hs, `${a.origin}/tyk`]);
    expect(r.stderr).toContain('Key not authorized: Unexpected signing method');
    expect(r.stderr).toContain('likely cause: the token is signed with "HS256", a shared secret');
    a.handler = (req, res) => GATEWAY_REPLIES.tykFieldMissing(res);
    const m = await call(['--token', goodToken(), `${a.origin}/tyk`]);
    expect(m.stderr).toContain(
      'likely cause: a token was sent in the Authorization header, but the gateway says none arrived',
    );
  });

  test('Kong: {"message": "Unauthorized"} and the iss credential', async () => {
    a.handler = (req, res) => GATEWAY_REPLIES.kongUnauthorized(res);
    const r = await call(['--token', goodToken(), `${a.origin}/kong`]);
    expect(r.stderr).toMatch(/gateway +Kong: Unauthorized: Kong found no credential it accepts/);
    a.handler = (req, res) => GATEWAY_REPLIES.kongNoIss(res);
    const s = await call(['--token', goodToken(), `${a.origin}/kong`]);
    expect(s.stderr).toContain(
      `likely cause: the gateway does not trust the token's issuer: iss = "https://idp.example/"`,
    );
  });

  test('Azure APIM: "Invalid JWT." with an ID token; missing subscription key', async () => {
    a.handler = (req, res) => GATEWAY_REPLIES.apimInvalidJwt(res);
    const id = token(
      {
        iss: 'https://idp.example/',
        aud: 'my-client',
        nonce: 'n1',
        at_hash: 'h',
        exp: nowS() + 600,
      },
      { alg: 'RS256', typ: 'JWT' },
    );
    const r = await call(['--token', id, `${a.origin}/apim`]);
    expect(r.stderr).toMatch(/gateway +Azure API Management: Invalid JWT\.: the validate-jwt/);
    expect(r.stderr).toContain('likely cause: this looks like an ID token (it has nonce, at_hash)');
    a.handler = (req, res) => GATEWAY_REPLIES.apimSubscription(res);
    const s = await call(['--token', goodToken(), `${a.origin}/apim`]);
    expect(s.stderr).toContain('hint: add -H "Ocp-Apim-Subscription-Key: KEY"');
  });

  test('insufficient_scope: the scopes the token lacks; -s hides the diagnosis', async () => {
    a.handler = (req, res) =>
      json(
        res,
        403,
        { error: 'insufficient_scope' },
        {
          'www-authenticate':
            'Bearer realm="api", error="insufficient_scope", scope="read orders:write"',
        },
      );
    const r = await call(['--token', goodToken(), `${a.origin}/s`]);
    expect(r.stderr).toContain(
      'likely cause: the token lacks the scope "orders:write" (it has: "read")',
    );
    const quiet = await call(['-s', '--token', goodToken(), `${a.origin}/s`]);
    expect(quiet.stderr).toBe('');
    expect(quiet.stdout.toString()).toBe('{"error":"insufficient_scope"}');
  });

  test('a 401 after a cross-origin redirect says the token was held back', async () => {
    a.handler = (req, res) => {
      res.writeHead(302, { location: `${b.origin}/api` });
      res.end();
    };
    b.handler = (req, res) => json(res, 401, { message: 'Unauthorized' });
    const r = await call(['-L', '--token', goodToken(), `${a.origin}/x`]);
    expect(r.stderr).toContain(
      `no token reached "${b.origin}": a redirect led there from another origin`,
    );
  });
});

describe('-k', () => {
  let server: https.Server | undefined;
  let url = '';
  beforeAll(async () => {
    const dir = callEnv();
    const key = join(dir.dir, 'key.pem');
    const cert = join(dir.dir, 'cert.pem');
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-keyout',
          key,
          '-out',
          cert,
          '-days',
          '1',
          '-subj',
          '/CN=127.0.0.1',
          '-addext',
          'subjectAltName=IP:127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
    } catch (error) {
      throw new Error(
        `the -k tests need openssl to make a self-signed certificate: ${(error as Error).message}`,
      );
    }
    server = https.createServer(
      { key: readFileSync(key), cert: readFileSync(cert) },
      (req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`tls ok ${req.headers['authorization'] ?? ''}`);
      },
    );
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    dir.cleanup();
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  test('a self-signed certificate fails (exit 3) unless -k, which warns', async () => {
    const refused = await call(['--token', 'tok', url]);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('is not trusted (DEPTH_ZERO_SELF_SIGNED_CERT)');
    const ok = await call(['-k', '--token', 'tok', url]);
    expect(ok.code).toBe(0);
    expect(ok.stdout.toString()).toBe('tls ok Bearer tok');
    expect(ok.stderr).toContain(
      "warning: -k/--insecure: the server's TLS certificate is not checked",
    );
  });
});

describe('more edges', () => {
  test('-o into a directory that does not exist: exit 1, a clear message', async () => {
    const r = await call([
      '--no-auth',
      '-o',
      join(e.dir, 'no', 'such', 'dir', 'out'),
      `${a.origin}/x`,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^oidc-gw: error: cannot write .*out \(ENOENT\)\n$/);
  });

  test('a URL without a scheme is taken as http://, as curl does', async () => {
    const r = await call(['--no-auth', `127.0.0.1:${a.port}/bare`]);
    expect(r.code, r.stderr).toBe(0);
    expect(a.requests[0]?.url).toBe('/bare');
  });

  test('--help names the curl flags, the token order and the exit codes', async () => {
    const r = await runCli(['call', '--help'], { env: e.env });
    expect(r.code, r.stderr).toBe(0);
    const help = r.stdout.toString();
    for (const flag of [
      '-X, --request',
      '-H, --header',
      '-d, --data',
      '--json <body>',
      '-i, --include',
      '-o, --output',
      '-s, --silent',
      '-f, --fail',
      '-L, --location',
      '--max-time',
      '-k, --insecure',
      '--token',
      '--client-credentials',
      '--id-token',
      '--no-auth',
    ]) {
      expect(help).toContain(flag);
    }
    expect(help).toContain('The token, first that applies');
    expect(help).not.toMatch(/--json +print one JSON document/);
  });
});
