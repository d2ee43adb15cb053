/**
 * `serve --rate-limit ... --redis URL` as a user runs it (the built CLI,
 * `npm run build` first): two gateway processes on one real redis-server
 * enforce one limit together; Redis unreachable at start is exit 3 with a
 * one-line error; Redis killed mid-run lets requests through uncounted with
 * `--redis-failure open` (one log line per outage, oidc_gw_limit_store_up
 * 0) or answers 503 with `closed`, and counting resumes once it is back.
 * Tokens come from the dev IdP, requests go to an echo upstream that counts
 * what reached it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startIdp, type Idp } from '../../src/api/idp.js';
import {
  cleanEnv,
  runOnce,
  startServe,
  waitForLog,
  type ServeProcess,
} from '../helpers/gateway-cli.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

let idp: Idp;
let upstream: Upstream;
let redis: RedisServer;
let home: ReturnType<typeof cleanEnv>;
const running: ServeProcess[] = [];

beforeAll(async () => {
  [idp, upstream, redis] = await Promise.all([startIdp(), startUpstream(), startRedis()]);
  home = cleanEnv();
});

afterAll(async () => {
  await Promise.all([upstream?.close(), idp?.stop(), redis?.stop()]);
  home?.cleanup();
});

afterEach(async () => {
  while (running.length > 0) await running.pop()?.stop('SIGKILL');
  upstream.requests.length = 0;
});

async function serve(extra: string[]): Promise<ServeProcess & { admin: string }> {
  const proc = await startServe(
    [
      '--upstream',
      upstream.url,
      '--issuer',
      idp.issuer,
      '--audience',
      idp.audience,
      '--port',
      '0',
      '--admin-port',
      '0',
      '--log-format',
      'json',
      ...extra,
    ],
    home.env,
  );
  running.push(proc);
  const admin = /admin: (http:\/\/127\.0\.0\.1:\d+)/.exec(proc.stderr())?.[1];
  if (!admin) throw new Error(`no admin URL in:\n${proc.stderr()}`);
  return Object.assign(proc, { admin });
}

async function get(url: string, token: string): Promise<Response> {
  const res = await fetch(`${url}/orders`, { headers: { authorization: `Bearer ${token}` } });
  await res.clone().arrayBuffer();
  return res;
}

async function metric(admin: string, name: string): Promise<string | undefined> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  return new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1];
}

describe('serve --redis: one limit for several gateway processes', () => {
  it('10 per minute: 5 through each of two processes, the 11th refused on either', async () => {
    const args = ['--rate-limit', '10/1m', '--redis', redis.url];
    const [a, b] = await Promise.all([serve(args), serve(args)]);
    const token = await idp.token({ user: 'shared-user' });
    for (let i = 0; i < 5; i++) {
      expect((await get(a.url, token)).status).toBe(200);
      expect((await get(b.url, token)).status).toBe(200);
    }
    const fromA = await get(a.url, token);
    const fromB = await get(b.url, token);
    expect(fromA.status).toBe(429);
    expect(fromB.status).toBe(429);
    expect(((await fromA.json()) as { error: string }).error).toBe('rate_limited');
    expect(Number(fromB.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(upstream.requests).toHaveLength(10);
    // Another identity still has its ten.
    expect((await get(b.url, await idp.token({ user: 'someone-else' }))).status).toBe(200);
    // Each process counts its own refusal.
    expect(await metric(a.admin, 'oidc_gw_limit_store_up')).toBe('1');
    const text = await (await fetch(`${b.admin}/metrics`)).text();
    expect(text).toMatch(/^oidc_gw_limited_requests_total\{[^}]*\} 1$/m);
  }, 60_000);
});

describe('Redis unreachable at start', () => {
  it('exits 3 with a one-line error naming the URL', async () => {
    const missing = `unix://${redis.socket}.missing`;
    const result = await runOnce(
      [
        'serve',
        '--upstream',
        upstream.url,
        '--issuer',
        idp.issuer,
        '--rate-limit',
        '10/1m',
        '--redis',
        missing,
        '--port',
        '0',
      ],
      home.env,
    );
    expect(result.code).toBe(3);
    const errors = result.stderr.split('\n').filter((l) => /error/i.test(l));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('--redis');
    expect(errors[0]).toContain(missing);
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
  }, 30_000);
});

describe('Redis killed while serving', () => {
  it('--redis-failure open: requests pass uncounted, one log line per outage, store_up 0; counting resumes', async () => {
    const gw = await serve(['--rate-limit', '3/1m', '--redis', redis.url]);
    const token = await idp.token({ user: 'open-user' });
    expect((await get(gw.url, token)).status).toBe(200);

    await redis.kill();
    await waitForLog(gw, /limit store \(Redis\) lost/);
    for (let i = 0; i < 6; i++) expect((await get(gw.url, token)).status).toBe(200);
    expect(upstream.requests).toHaveLength(7);
    expect(await metric(gw.admin, 'oidc_gw_limit_store_up')).toBe('0');
    expect(Number(await metric(gw.admin, 'oidc_gw_limit_store_errors_total'))).toBe(6);
    expect(gw.stderr().match(/limit store \(Redis\) lost/g)).toHaveLength(1);
    expect((await fetch(`${gw.admin}/readyz`)).status).toBe(200);

    await redis.restart();
    await waitForLog(gw, /limit store \(Redis\) is back/);
    expect(await metric(gw.admin, 'oidc_gw_limit_store_up')).toBe('1');
    // The restarted Redis (no persistence) starts from zero: three pass, then 429.
    for (let i = 0; i < 3; i++) expect((await get(gw.url, token)).status).toBe(200);
    expect((await get(gw.url, token)).status).toBe(429);
    expect(upstream.requests).toHaveLength(10);
  }, 60_000);

  it('--redis-failure closed: 503 while it is gone, then counting resumes', async () => {
    const gw = await serve([
      '--rate-limit',
      '2/1m',
      '--redis',
      redis.url,
      '--redis-failure',
      'closed',
    ]);
    const token = await idp.token({ user: 'closed-user' });
    expect((await get(gw.url, token)).status).toBe(200);

    await redis.kill();
    await waitForLog(gw, /limit store \(Redis\) lost: requests are refused with 503/);
    const refused = await get(gw.url, token);
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as { error: string }).error).toBe('temporarily_unavailable');
    expect(upstream.requests).toHaveLength(1);
    expect(await metric(gw.admin, 'oidc_gw_limit_store_up')).toBe('0');
    expect((await fetch(`${gw.admin}/readyz`)).status).toBe(503);

    await redis.restart();
    await waitForLog(gw, /limit store \(Redis\) is back/);
    for (let i = 0; i < 2; i++) expect((await get(gw.url, token)).status).toBe(200);
    expect((await get(gw.url, token)).status).toBe(429);
    expect(upstream.requests).toHaveLength(3);
    expect((await fetch(`${gw.admin}/readyz`)).status).toBe(200);
  }, 60_000);
});
