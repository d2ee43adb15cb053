/**
 * `serve --file` reloads (docs/gateway-config.md, "Reload"), with the built
 * CLI: 2,000 requests at concurrency 20 while the file is rewritten ten
 * times (each rewrite forwards another claim as X-Rule) give 0 errors and 0
 * 5xx, and the last rule is in force afterwards; keys are fetched again on
 * each reload; SIGHUP reloads; an invalid rewrite logs a line naming the
 * file and the path and the old plan keeps serving; a slow request in flight
 * during a reload finishes; `oidc_gw_reloads_total` counts by result.
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
import { cleanEnv, startServe, type ServeProcess } from '../helpers/gateway-cli.js';

let upstream: Upstream;
let jwks: JwksServer;
let key: TestKey;
let env: Record<string, string>;
let cleanup: () => void;
let dir: string;
let file: string;
let gw: ServeProcess;
let adminUrl: string;
let token: string;
/** Released by a test holding a request at the upstream. */
let releaseSlow: (() => void) | undefined;
let slowArrived: (() => void) | undefined;

const RULES = 11;

/** The file, version `i`: X-Rule carries claim r<i> (whose value is v<i>); more lines appended. */
function config(i: number, extra = ''): string {
  return `apis:
  - name: api
    upstream: ${upstream.url}
    issuers: [${jwks.issuer}]
    audiences: [api]
    forward_claims: {X-Rule: r${i}}
${extra}`;
}

beforeAll(async () => {
  key = await makeKey('ES256', 'k1');
  [upstream, jwks] = await Promise.all([
    startUpstream(),
    startJwksServer({ keys: [key.publicJwk] }),
  ]);
  upstream.handler = (_req, res, recorded) => {
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ url: recorded.url, headers: recorded.headers }));
    };
    if (recorded.url.startsWith('/slow')) {
      slowArrived?.();
      new Promise<void>((resolve) => (releaseSlow = resolve)).then(answer, () => {});
    } else {
      answer();
    }
  };
  ({ env, cleanup } = cleanEnv());
  dir = mkdtempSync(join(tmpdir(), 'oidc-gw-reload-'));
  file = join(dir, 'gateway.yaml');
  writeFileSync(file, config(0));
  const rules: Record<string, string> = {};
  for (let i = 0; i < RULES; i++) rules[`r${i}`] = `v${i}`;
  token = await sign(key, claims({ iss: jwks.issuer, aud: 'api', scope: 'read', ...rules }));
  gw = await startServe(
    ['--file', file, '--port', '0', '--admin-port', '0', '--log-format', 'json'],
    env,
  );
  const m = /\(admin: (http:\/\/[^\s/]+)\/metrics\)/.exec(gw.stderr());
  if (!m) throw new Error(`no admin URL in: ${gw.stderr()}`);
  adminUrl = m[1] as string;
});

afterAll(async () => {
  releaseSlow?.();
  await gw?.stop('SIGTERM', 5000);
  await Promise.all([upstream?.close(), jwks?.close()]);
  cleanup?.();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Resolves once `predicate` holds for the serve process's stderr, checked on each chunk it writes. */
function stderrMatches(predicate: (text: string) => boolean, ms = 10_000): Promise<void> {
  if (predicate(gw.stderr())) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const stream = gw.child.stderr;
    const onData = () => {
      if (predicate(gw.stderr())) {
        clearTimeout(timer);
        stream?.off('data', onData);
        resolve();
      }
    };
    const timer = setTimeout(() => {
      stream?.off('data', onData);
      reject(
        new Error(
          `stderr did not match within ${ms} ms; it ends with: ${gw.stderr().slice(-2000)}`,
        ),
      );
    }, ms);
    stream?.on('data', onData);
  });
}

const count = (text: string, needle: string) => text.split(needle).length - 1;
const reloadedLines = () => count(gw.stderr(), 'reloaded (');

async function reloads(): Promise<{ ok: number; error: number }> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const read = (result: string) =>
    Number(
      new RegExp(`^oidc_gw_reloads_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(text)?.[1] ??
        0,
    );
  return { ok: read('ok'), error: read('error') };
}

async function call(path = '/x', bearer = token): Promise<{ status: number; rule?: string }> {
  const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${bearer}` } });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status };
  const body = JSON.parse(text) as { headers: Record<string, string[]> };
  return { status: 200, ...(body.headers['x-rule'] ? { rule: body.headers['x-rule'][0] } : {}) };
}

describe('reload', () => {
  test('2,000 requests at concurrency 20 while the file is rewritten ten times: 0 errors, 0 5xx, the last rule in force', async () => {
    expect(await call()).toEqual({ status: 200, rule: 'v0' });
    const jwksBefore = jwks.jwksRequests;
    const before = await reloads();
    const TOTAL = 2000;
    const TAIL = 200;
    let started = 0;
    let done = 0;
    const statuses = new Map<number, number>();
    const errors: string[] = [];
    const tailRules = new Map<string, number>();
    const seenRules = new Set<string>();
    let allReloaded!: () => void;
    const reloaded = new Promise<void>((resolve) => (allReloaded = resolve));
    const progress: Array<() => void> = [];

    const worker = async () => {
      for (;;) {
        const k = started++;
        if (k >= TOTAL) return;
        // The last requests start only once the tenth reload is in place.
        if (k >= TOTAL - TAIL) await reloaded;
        try {
          const r = await call(`/load/${k}`);
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.rule) seenRules.add(r.rule);
          if (k >= TOTAL - TAIL)
            tailRules.set(r.rule ?? '-', (tailRules.get(r.rule ?? '-') ?? 0) + 1);
        } catch (error) {
          errors.push(String(error));
        }
        done++;
        for (const p of progress.splice(0)) p();
      }
    };
    const afterDone = (n: number) =>
      done >= n
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            const check = () => (done >= n ? resolve() : progress.push(check));
            progress.push(check);
          });

    const rewriter = async () => {
      for (let i = 1; i <= 10; i++) {
        // Spread the rewrites over the load: after 100, 250, ... 1,450 answered requests.
        await afterDone(100 + (i - 1) * 150);
        const lines = reloadedLines();
        writeFileSync(file, config(i));
        await stderrMatches(() => reloadedLines() > lines);
      }
      allReloaded();
    };

    await Promise.all([rewriter(), ...Array.from({ length: 20 }, worker)]);

    expect(errors).toEqual([]);
    expect(done).toBe(TOTAL);
    expect([...statuses.keys()].filter((s) => s >= 500)).toEqual([]);
    expect(Object.fromEntries(statuses)).toEqual({ 200: TOTAL });
    // Several rules were seen during the load, and only the last one at the end.
    expect(seenRules.size).toBeGreaterThan(2);
    expect(Object.fromEntries(tailRules)).toEqual({ v10: TAIL });
    expect(await call()).toEqual({ status: 200, rule: 'v10' });
    const after = await reloads();
    expect(after.error - before.error).toBe(0);
    expect(after.ok - before.ok).toBeGreaterThanOrEqual(10);
    // Keys are fetched again on each reload.
    expect(jwks.jwksRequests - jwksBefore).toBeGreaterThanOrEqual(10);
    expect(gw.stderr()).toContain('reloaded (file changed): 1 API');

    // A stricter rule: in force for new requests once reloaded.
    const lines = reloadedLines();
    writeFileSync(file, config(10, '    required_scopes: [admin]\n'));
    await stderrMatches(() => reloadedLines() > lines);
    expect(await call()).toEqual({ status: 403 });
    const admin = await sign(
      key,
      claims({ iss: jwks.issuer, aud: 'api', scope: 'read admin', r10: 'v10' }),
    );
    expect(await call('/x', admin)).toEqual({ status: 200, rule: 'v10' });
    writeFileSync(file, config(10));
    await stderrMatches(() => reloadedLines() > lines + 1);
    expect(await call()).toEqual({ status: 200, rule: 'v10' });
  }, 120_000);

  test('SIGHUP reloads the files', async () => {
    const before = await reloads();
    const lines = count(gw.stderr(), 'reloaded (SIGHUP)');
    gw.child.kill('SIGHUP');
    await stderrMatches((t) => count(t, 'reloaded (SIGHUP)') > lines);
    expect((await reloads()).ok).toBe(before.ok + 1);
    expect(await call()).toEqual({ status: 200, rule: 'v10' });
    expect(gw.child.exitCode).toBeNull();
  });

  test('an invalid rewrite: a log line naming the file and the path, the old plan keeps serving, counted as error', async () => {
    const before = await reloads();
    const failures = count(gw.stderr(), 'failed, the previous configuration keeps serving');
    writeFileSync(file, config(3).replace(upstream.url, 'not a url'));
    await stderrMatches(
      (t) => count(t, 'failed, the previous configuration keeps serving') > failures,
    );
    const line = gw
      .stderr()
      .split('\n')
      .filter((l) => l.includes('failed, the previous configuration keeps serving'))
      .at(-1);
    expect(line).toContain(`${file}: apis[0].upstream: not a URL`);
    expect(line).toContain('reload (file changed) failed');
    expect(await call()).toEqual({ status: 200, rule: 'v10' });
    const after = await reloads();
    expect(after.error).toBe(before.error + 1);
    expect(after.ok).toBe(before.ok);

    // A YAML syntax error: its line, and still the old plan.
    const failures2 = count(gw.stderr(), 'failed, the previous configuration keeps serving');
    writeFileSync(file, 'apis:\n  - name: [api\n');
    await stderrMatches(
      (t) => count(t, 'failed, the previous configuration keeps serving') > failures2,
    );
    expect(gw.stderr()).toMatch(
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line \\d+: not valid YAML`),
    );
    expect(await call()).toEqual({ status: 200, rule: 'v10' });
    expect((await reloads()).error).toBe(before.error + 2);

    // Fixed: the next valid version is taken.
    const lines = reloadedLines();
    writeFileSync(file, config(4));
    await stderrMatches(() => reloadedLines() > lines);
    expect(await call()).toEqual({ status: 200, rule: 'v4' });
    expect((await reloads()).ok).toBe(after.ok + 1);
  });

  test('a request in flight during a reload finishes; the next request gets the new plan', async () => {
    const arrived = new Promise<void>((resolve) => (slowArrived = resolve));
    const slow = call('/slow');
    await arrived;
    const lines = reloadedLines();
    writeFileSync(file, config(5, '    required_scopes: [admin]\n'));
    await stderrMatches(() => reloadedLines() > lines);
    expect(await call()).toEqual({ status: 403 });
    releaseSlow?.();
    // Accepted and forwarded under the old plan (rule v4, no scope rule): it completes as such.
    expect(await slow).toEqual({ status: 200, rule: 'v4' });
    slowArrived = undefined;
  });
});
