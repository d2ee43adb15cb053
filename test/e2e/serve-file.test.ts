/**
 * `oidc-gw serve --file` with the oidc-gw format, as a user runs it (the
 * built CLI, a clean environment, real JWKS/discovery server and upstream on
 * 127.0.0.1): `--check` in words and `--json` for valid, warning-bearing and
 * invalid files and their exit codes (0, 0, 2); the messages of invalid
 * files (`FILE: apis[1].upstream: not a URL`, a missing ${VAR}, a YAML line);
 * flags that conflict with --file (exit 2); and a file actually served.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  startJwksServer,
  startUpstream,
  type JwksServer,
  type Upstream,
} from '../helpers/gateway-servers.js';
import { claims, makeKey, sign, type TestKey } from '../helpers/gateway-tokens.js';
import { cleanEnv, runOnce, startServe, type ServeProcess } from '../helpers/gateway-cli.js';

let upstream: Upstream;
let jwks: JwksServer;
let key: TestKey;
let env: Record<string, string>;
let cleanup: () => void;
let dir: string;
const running: ServeProcess[] = [];

beforeAll(async () => {
  key = await makeKey('RS256', 'k1');
  [upstream, jwks] = await Promise.all([
    startUpstream(),
    startJwksServer({ keys: [key.publicJwk] }),
  ]);
  ({ env, cleanup } = cleanEnv());
  dir = mkdtempSync(join(tmpdir(), 'oidc-gw-serve-file-'));
});

afterAll(async () => {
  for (const p of running) await p.stop('SIGKILL', 1000);
  await Promise.all([upstream?.close(), jwks?.close()]);
  cleanup?.();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let n = 0;
function write(text: string, ext = 'yaml'): string {
  const file = join(dir, `gateway-${++n}.${ext}`);
  writeFileSync(file, text);
  return file;
}

const valid = () => `apis:
  - name: orders
    path: /orders
    strip_path: true
    upstream: ${upstream.url}/svc
    issuers: [${jwks.issuer}]
    audiences: [orders-api]
    required_scopes: [read]
    forward_claims: {X-User: sub}
  - name: billing
    path: /billing
    upstream: ${upstream.url}
    jwks_uris: [${jwks.jwksUri}]
    audiences: [billing-api]
    secret: "\${BILLING_SECRET}"
    rate_limit: {requests: 100, per: 1m}
`;

describe('serve --check', () => {
  test('a valid file: the plan per API in words, no warnings, exit 0, no port opened', async () => {
    const file = write(valid());
    const r = await runOnce(['serve', '--file', file, '--check'], {
      ...env,
      BILLING_SECRET: 'b'.repeat(32),
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `orders: /orders (prefix stripped) -> ${upstream.url}/svc   [oidc-gw, ${file} apis[0]]`,
    );
    expect(r.stdout).toContain(
      `billing: /billing -> ${upstream.url}/   [oidc-gw, ${file} apis[1]]`,
    );
    expect(r.stdout).toContain(`  trusts: issuer ${jwks.issuer} (keys by discovery)`);
    expect(r.stdout).toContain('  aud: one of orders-api');
    expect(r.stdout).toContain('  requires scopes read (403 insufficient_scope)');
    expect(r.stdout).toContain('  forwards: X-User=sub');
    expect(r.stdout).toContain(
      '  limit: rate 100 per 1m, rolling window (sliding log), by claim sub',
    );
    expect(r.stdout).toContain('  answers: rfc6750 (oidc-gw)');
    expect(r.stdout).toMatch(/no warnings\n$/);
    // The secret itself is never printed.
    expect(r.stdout).not.toContain('b'.repeat(32));
    expect(r.stdout).toContain('shared secret apis[1].secret');
    expect(r.stdout).not.toContain('listening on');
    // --check fetched nothing: the JWKS server saw no request.
    expect(jwks.jwksRequests).toBe(0);
  });

  test('--json: the plan as one JSON document on stdout', async () => {
    const file = write(valid());
    const r = await runOnce(['serve', '-f', file, '--check', '--json'], {
      ...env,
      BILLING_SECRET: 's'.repeat(32),
    });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      valid: boolean;
      files: string[];
      apis: Array<Record<string, unknown>>;
      warnings: unknown[];
    };
    expect(doc.valid).toBe(true);
    expect(doc.files).toEqual([file]);
    expect(doc.warnings).toEqual([]);
    expect(doc.apis.map((a) => [a['name'], a['path'], a['upstream'], a['strip_path']])).toEqual([
      ['orders', '/orders', `${upstream.url}/svc`, true],
      ['billing', '/billing', `${upstream.url}/`, false],
    ]);
    expect(doc.apis[0]).toMatchObject({
      format: 'oidc-gw',
      file,
      source_path: 'apis[0]',
      errors: 'rfc6750',
      trust: { issuers: [jwks.issuer] },
      checks: { audiences: ['orders-api'] },
      forward_claims: [{ header: 'X-User', claim: 'sub' }],
    });
    expect(r.stdout).not.toContain('s'.repeat(32));
  });

  test('a file with warnings: listed with their paths, still exit 0; --json lists them too', async () => {
    const file = write(`apis:
  - upstream: ${upstream.url}
    issuers: [${jwks.issuer}]
    retries: 3
    rate_limit: {requests: 5, per: 1s, burst: 2}
`);
    const r = await runOnce(['serve', '--file', file, '--check'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('3 warnings:');
    expect(r.stdout).toContain(`  ignored: apis[0].retries — not supported (${file})`);
    expect(r.stdout).toContain(`  ignored: apis[0].rate_limit.burst — not supported (${file})`);
    expect(r.stdout).toMatch(
      new RegExp(
        `  not checked: apis\\[0\\] — no audiences: the audience \\(aud\\).*\\(${escape(file)}\\)`,
      ),
    );
    expect(r.stdout).toContain('  aud: NOT CHECKED');
    const j = await runOnce(['serve', '--file', file, '--check', '--json'], env);
    expect(j.code).toBe(0);
    const doc = JSON.parse(j.stdout) as { warnings: Array<Record<string, string>> };
    expect(doc.warnings).toEqual([
      { file, path: 'apis[0].retries', kind: 'ignored', message: 'not supported' },
      { file, path: 'apis[0].rate_limit.burst', kind: 'ignored', message: 'not supported' },
      expect.objectContaining({ file, path: 'apis[0]', kind: 'skipped_check' }),
    ]);
  });

  test('an invalid file: exit 2, FILE: PATH: what is wrong, nothing on stdout', async () => {
    const file = write(`apis:
  - name: a
    path: /a
    upstream: ${upstream.url}
    issuers: [${jwks.issuer}]
  - name: b
    path: /b
    upstream: "localhost:3000"
    issuers: [${jwks.issuer}]
`);
    const r = await runOnce(['serve', '--file', file, '--check'], env);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      `oidc-gw: error: ${file}: apis[1].upstream: must be http:// or https://`,
    );
    // The same without --check: exit 2 before any port is opened.
    const s = await runOnce(['serve', '--file', file, '--port', '0'], env);
    expect(s.code).toBe(2);
    expect(s.stderr).not.toContain('listening on');
    expect(s.stderr).toContain(`${file}: apis[1].upstream:`);
  });

  test('an upstream that is not a URL at all', async () => {
    const file = write(`apis:\n  - {upstream: "not a url", secret: s}\n`);
    const r = await runOnce(['serve', '--file', file, '--check'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`oidc-gw: error: ${file}: apis[0].upstream: not a URL`);
  });

  test('--json with an invalid file: exit 2 and the error as JSON', async () => {
    const file = write(`apis:\n  - {upstream: "not a url", secret: s}\n`);
    const r = await runOnce(['serve', '--file', file, '--check', '--json'], env);
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout) as { error: { code: string; message: string } };
    expect(doc.error.code).toBe('ERR_CONFIG_INVALID');
    expect(doc.error.message).toBe(`${file}: apis[0].upstream: not a URL`);
  });

  test('a missing ${VAR}: exit 2 naming the file, the path and the variable', async () => {
    const file = write(valid());
    const r = await runOnce(['serve', '--file', file, '--check'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `oidc-gw: error: ${file}: apis[1].secret: \${BILLING_SECRET}: environment variable BILLING_SECRET is not set`,
    );
  });

  test('a YAML syntax error: exit 2 with its line', async () => {
    const file = write(
      `apis:\n  - name: a\n    upstream: ${upstream.url}\n    issuers: [${jwks.issuer}\n`,
    );
    const r = await runOnce(['serve', '--file', file, '--check'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(`oidc-gw: error: ${escape(file)}: line \\d+: not valid YAML or JSON: `),
    );
  });

  test('a missing file: exit 2 naming it', async () => {
    const file = join(dir, 'nope.yaml');
    const r = await runOnce(['serve', '--file', file, '--check'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`oidc-gw: error: ${file}: no such file`);
  });
});

describe('flags that conflict with --file', () => {
  test('--issuer, --audience, --require-scope... with --file: exit 2 naming them', async () => {
    const file = write(valid());
    const r = await runOnce(
      ['serve', '--file', file, '--issuer', jwks.issuer, '--audience', 'x', '--check'],
      { ...env, BILLING_SECRET: 'x' },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'oidc-gw: error: --issuer, --audience cannot be combined with --file: the file says who is trusted and how',
    );
    for (const flag of [
      ['--require-scope', 'read'],
      ['--forward-claim', 'X-A=sub'],
      ['--strip-authorization'],
      ['--rate-limit', '5/1m'],
    ]) {
      const c = await runOnce(['serve', '--file', file, ...flag, '--check'], {
        ...env,
        BILLING_SECRET: 'x',
      });
      expect(c.code, flag[0]).toBe(2);
      expect(c.stderr).toContain(`${flag[0]} cannot be combined with --file`);
    }
  });

  test('--upstream with an oidc-gw file (not an APIM policy): exit 2', async () => {
    const file = write(valid());
    const r = await runOnce(['serve', '--file', file, '--upstream', upstream.url, '--check'], {
      ...env,
      BILLING_SECRET: 'x',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `oidc-gw: error: ${file}: --upstream applies to an APIM policy only; the file names its own upstreams (remove --upstream)`,
    );
  });

  test('--path and --named-value with an oidc-gw file (not an APIM policy): exit 2, each named', async () => {
    const file = write(valid());
    const e = { ...env, BILLING_SECRET: 'x' };
    const path = await runOnce(['serve', '--file', file, '--path', '/x', '--check'], e);
    expect(path.code).toBe(2);
    expect(path.stderr).toContain(
      `oidc-gw: error: ${file}: --path applies to an APIM policy only; the file gives its own paths (remove --path)`,
    );
    const named = await runOnce(['serve', '--file', file, '--named-value', 'a=b', '--check'], e);
    expect(named.code).toBe(2);
    expect(named.stderr).toContain('--named-value applies to an APIM policy only');
    expect(named.stderr).toContain('a would be used by nothing');
  });

  test('--check refuses what a start refuses: limits over several workers without --redis, a --redis that is no Redis URL', async () => {
    const file = write(valid());
    const e = { ...env, BILLING_SECRET: 'x' };
    const workers = await runOnce(['serve', '--file', file, '--workers', '2', '--check'], e);
    expect(workers.code).toBe(2);
    expect(workers.stderr).toContain('--workers 2 with rate limits or quotas needs --redis');
    expect(workers.stdout).toBe('');
    const redis = await runOnce(
      ['serve', '--file', file, '--redis', 'http://127.0.0.1:1', '--check'],
      e,
    );
    expect(redis.code).toBe(2);
    expect(redis.stderr).toContain('--redis: not a Redis URL');
    // A Redis URL is only read: --check connects to nothing (nothing listens on port 1).
    const fine = await runOnce(
      ['serve', '--file', file, '--redis', 'redis://127.0.0.1:1', '--workers', '2', '--check'],
      e,
    );
    expect(fine.code).toBe(0);
  });

  test('--path and --format without --file: exit 2', async () => {
    const r = await runOnce(['serve', '--upstream', upstream.url, '--path', '/x', '--check'], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--path goes with --file');
  });
});

describe('serving a file', () => {
  test('routes by prefix, refuses per API, 404 elsewhere; the banner describes each API', async () => {
    const file = write(valid());
    const gw = await startServe(['--file', file, '--port', '0', '--log-format', 'json'], {
      ...env,
      BILLING_SECRET: 'k'.repeat(32),
    });
    running.push(gw);
    expect(gw.stderr()).toContain(`orders: /orders (prefix stripped) -> ${upstream.url}/svc`);
    expect(gw.stderr()).not.toContain('k'.repeat(32));
    const token = await sign(
      key,
      claims({ iss: jwks.issuer, aud: 'orders-api', scope: 'read', sub: 'ann' }),
    );
    const ok = await fetch(`${gw.url}/orders/7`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    const echoed = (await ok.json()) as { url: string; headers: Record<string, string[]> };
    expect(echoed.url).toBe('/svc/7');
    expect(echoed.headers['x-user']).toEqual(['ann']);
    // The orders token at billing: wrong audience there.
    const refused = await fetch(`${gw.url}/billing/7`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({
      error: 'invalid_token',
      error_description: 'audience not allowed',
    });
    const missing = await fetch(`${gw.url}/nothing-here`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: 'not_found',
      error_description: 'no API at this path',
    });
    expect(await gw.stop('SIGTERM')).toBe(0);
    const lines = gw
      .stderr()
      .split('\n')
      .filter((l) => l.startsWith('{') && l.includes('"status"'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l['api'] ?? null, l['status']])).toEqual([
      ['orders', 200],
      ['billing', 401],
      [null, 404],
    ]);
    expect(gw.stderr()).not.toContain(token.split('.')[2]);
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
