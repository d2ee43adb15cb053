/**
 * `serve --workers N` as a user runs it (the built CLI, `npm run build`
 * first): two workers on one port share a limit through a real
 * redis-server; the admin port reports the whole gateway (metrics summed
 * over workers, readiness of all); limits without --redis are exit 2 with
 * a hint; SIGTERM stops every worker and exits 0; a worker killed by PID is
 * replaced and the replacement logged.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startIdp, type Idp } from '../../src/api/idp.js';
import { mergeMetrics } from '../../src/services/workers.js';
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Workers {
  proc: ServeProcess;
  url: string;
  admin: string;
  pids: number[];
}

async function serveWorkers(extra: string[]): Promise<Workers> {
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
      '--workers',
      '2',
      ...extra,
    ],
    home.env,
  );
  running.push(proc);
  const m = await waitForLog(
    proc,
    /2 workers \(pids (\d+), (\d+)\) listening on (http:\/\/127\.0\.0\.1:\d+) \(admin: (http:\/\/127\.0\.0\.1:\d+)\/metrics\)/,
  );
  return {
    proc,
    url: m[3] as string,
    admin: m[4] as string,
    pids: [Number(m[1]), Number(m[2])],
  };
}

/** A request on a new connection each time, so cluster's round-robin spreads them over workers. */
async function get(url: string, token: string): Promise<number> {
  const res = await fetch(`${url}/orders`, {
    headers: { authorization: `Bearer ${token}`, connection: 'close' },
  });
  await res.arrayBuffer();
  return res.status;
}

describe('serve --workers 2', () => {
  it('limits need --redis: exit 2 with a hint', async () => {
    const result = await runOnce(
      [
        'serve',
        '--upstream',
        upstream.url,
        '--issuer',
        idp.issuer,
        '--rate-limit',
        '10/1m',
        '--workers',
        '2',
        '--port',
        '0',
      ],
      home.env,
    );
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--workers 2');
    expect(result.stderr).toMatch(/hint: .*--redis/);
  }, 30_000);

  it('with Redis the workers share one limit; the admin port reports the whole gateway', async () => {
    const gw = await serveWorkers(['--rate-limit', '10/1m', '--redis', redis.url]);
    expect(gw.pids[0]).not.toBe(gw.pids[1]);
    const token = await idp.token({ user: 'worker-user' });
    const statuses: number[] = [];
    for (let i = 0; i < 15; i++) statuses.push(await get(gw.url, token));
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.slice(10)).toEqual([429, 429, 429, 429, 429]);
    expect(upstream.requests).toHaveLength(10);

    const ready = await fetch(`${gw.admin}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', workers: 2, workers_ready: 2 });
    const text = await (await fetch(`${gw.admin}/metrics`)).text();
    // Summed over both workers (each served some of the requests).
    expect(text).toMatch(/^oidc_gw_limited_requests_total\{[^}]*\} 5$/m);
    expect(text).toMatch(/^oidc_gw_requests_total\{status="200",reason="",api="default"\} 10$/m);
    expect(text).toMatch(/^oidc_gw_workers 2$/m);
    expect(text).toMatch(/^oidc_gw_ready 1$/m);
    expect(text).toMatch(/^oidc_gw_limit_store_up 1$/m);
    // HELP/TYPE once per metric.
    expect(text.match(/^# TYPE oidc_gw_requests_total /gm)).toHaveLength(1);
  }, 60_000);

  it('SIGTERM stops every worker and exits 0', async () => {
    const gw = await serveWorkers([]);
    expect(await get(gw.url, await idp.token({ user: 'a' }))).toBe(200);
    const code = await gw.proc.stop('SIGTERM');
    expect(code).toBe(0);
    for (const pid of gw.pids) expect(alive(pid)).toBe(false);
    expect(gw.proc.stderr()).toContain('SIGTERM: stopping 2 workers');
  }, 60_000);

  it('a worker killed by PID is replaced and the replacement logged', async () => {
    const gw = await serveWorkers([]);
    const [victim, survivor] = gw.pids as [number, number];
    process.kill(victim, 'SIGKILL');
    const m = await waitForLog(
      gw.proc,
      new RegExp(`worker ${victim} exited \\(signal SIGKILL\\): replaced by worker (\\d+)`),
    );
    const replacement = Number(m[1]);
    expect(replacement).not.toBe(victim);
    expect(alive(replacement)).toBe(true);
    expect(alive(survivor)).toBe(true);
    // Bounded wait for the new worker to be serving: readiness of all two.
    let ready = false;
    for (let i = 0; i < 100 && !ready; i++) {
      const res = await fetch(`${gw.admin}/readyz`);
      ready = res.status === 200 && ((await res.json()) as { workers: number }).workers === 2;
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    expect(ready).toBe(true);
    const token = await idp.token({ user: 'b' });
    for (let i = 0; i < 4; i++) expect(await get(gw.url, token)).toBe(200);
    expect(await gw.proc.stop('SIGTERM')).toBe(0);
    for (const pid of [survivor, replacement]) expect(alive(pid)).toBe(false);
  }, 60_000);
});

describe('mergeMetrics', () => {
  it('sums samples, keeps the minimum of readiness gauges, writes HELP/TYPE once', () => {
    const worker = (requests: number, ready: number, up: number, seconds: number) =>
      [
        '# HELP oidc_gw_requests_total Requests.',
        '# TYPE oidc_gw_requests_total counter',
        `oidc_gw_requests_total{status="200",reason=""} ${requests}`,
        '# TYPE oidc_gw_ready gauge',
        `oidc_gw_ready ${ready}`,
        `oidc_gw_limit_store_up ${up}`,
        `oidc_gw_upstream_duration_seconds_sum ${seconds}`,
        '',
      ].join('\n');
    const merged = mergeMetrics([worker(3, 1, 1, 0.25), worker(4, 0, 1, 0.5)]);
    expect(merged).toBe(
      [
        '# HELP oidc_gw_requests_total Requests.',
        '# TYPE oidc_gw_requests_total counter',
        'oidc_gw_requests_total{status="200",reason=""} 7',
        '# TYPE oidc_gw_ready gauge',
        'oidc_gw_ready 0',
        'oidc_gw_limit_store_up 1',
        'oidc_gw_upstream_duration_seconds_sum 0.75',
        '',
      ].join('\n'),
    );
  });
});
