/**
 * `serve --workers N` (docs/commands/serve.md, "Workers"): N gateway
 * processes sharing one port through node:cluster.
 *
 * The design, chosen because it is the simplest one that is correct:
 *
 * - The primary process builds the plan once, only to refuse early what the
 *   workers would all refuse (an invalid file: exit 2; limits without
 *   `--redis`: exit 2, each worker would count on its own; Redis
 *   unreachable: exit 3, one line), then forks N workers. A worker is the
 *   same `oidc-gw serve` with the same argv (cluster re-runs this script);
 *   it runs the ordinary gateway (`runGateway` in services/serve.ts) without
 *   an admin port. The listening socket is the primary's, handed out by
 *   cluster (round-robin on Linux), so `--port 0` gives every worker the
 *   same port.
 * - The admin port belongs to the primary. On `/metrics` and `/readyz` it
 *   asks every worker over the cluster IPC channel for its own metrics text
 *   and readiness, and answers for the whole gateway: counters, histograms
 *   and most gauges summed over workers, `oidc_gw_ready` and
 *   `oidc_gw_limit_store_up` the minimum (1 only when every worker says 1),
 *   plus `oidc_gw_workers` (workers running). Ready only when all N workers
 *   answer ready within the time bound.
 * - SIGINT/SIGTERM to the primary: every worker is told (over IPC) to stop
 *   as on its own SIGTERM (drain up to 10 s, exit 0); the primary exits 0
 *   once all have exited, 1 if any failed or had to be killed. A second
 *   signal cuts the drains short. SIGHUP is passed on (each worker reloads).
 * - A worker that dies while running is replaced and the death logged; one
 *   that exits before it ever listened (a start-up failure) stops the whole
 *   gateway with its exit code, and more than 10 replacements within a
 *   minute stop it with 1, rather than fork forever.
 */
import cluster, { type Worker } from 'node:cluster';
import http from 'node:http';
import type { Context } from '../context.js';
import { GwError } from '../core/errors/index.js';
import { listen } from '../gateway/http/server.js';
import { AccessLog } from '../http/gateway/access-log.js';
import type { GatewayService, ServeOptions } from './serve.js';

/** Runs the gateway in this process; `onStarted` receives the running service. */
export type RunGateway = (
  options: ServeOptions,
  onStarted: (service: GatewayService, failure: 'open' | 'closed') => void,
) => Promise<number>;

/** What a worker answers the primary's admin question. */
interface AdminReply {
  readonly oidcgw: 'admin-reply';
  readonly id: number;
  readonly metrics: string;
  readonly ready: boolean;
}

interface AdminAsk {
  readonly oidcgw: 'admin';
  readonly id: number;
}

interface StopMessage {
  readonly oidcgw: 'stop';
}

const ASK_TIMEOUT_MS = 2_000;
const STOP_TIMEOUT_MS = 15_000;
const MAX_REPLACEMENTS = 10;
const REPLACEMENT_WINDOW_MS = 60_000;

/** `serve --workers N` with N > 1: the primary forks, a worker serves. */
export async function runWorkers(
  ctx: Context,
  options: ServeOptions,
  runGateway: RunGateway,
): Promise<number> {
  if (cluster.isWorker) return runWorker(options, runGateway);
  return runPrimary(ctx, options);
}

// Worker ---------------------------------------------------------------------

async function runWorker(options: ServeOptions, runGateway: RunGateway): Promise<number> {
  let stopping = false;
  let started = false;
  const onSignal = () => {
    stopping = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // As if the worker got SIGTERM itself (unless a signal already came: a
  // terminal's Ctrl-C reaches every process of the group). Before the
  // gateway runs, the stop waits for it.
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.emit('SIGTERM', 'SIGTERM');
  };
  let stopRequested = false;
  let service: GatewayService | undefined;
  let failure: 'open' | 'closed' = 'open';
  const onMessage = (message: unknown) => {
    const m = message as Partial<AdminAsk | StopMessage> | null;
    if (m?.oidcgw === 'stop') {
      if (started) stop();
      else stopRequested = true;
    } else if (m?.oidcgw === 'admin' && typeof m.id === 'number') {
      process.send?.(
        service
          ? workerReply(service, failure, m.id, stopping)
          : { oidcgw: 'admin-reply', id: m.id, ready: false, metrics: '' },
      );
    }
  };
  process.on('message', onMessage);
  try {
    return await runGateway({ ...options, adminPort: undefined }, (running, mode) => {
      service = running;
      failure = mode;
      started = true;
      if (stopRequested) stop();
    });
  } finally {
    process.off('message', onMessage);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    // The IPC channel would keep this process alive: leave the cluster.
    setImmediate(() => cluster.worker?.disconnect());
  }
}

function workerReply(
  service: GatewayService,
  failure: 'open' | 'closed',
  id: number,
  stopping: boolean,
): AdminReply {
  const compiled = service.current();
  let cacheHits = 0;
  let cacheMisses = 0;
  let cacheEntries = 0;
  for (const a of compiled.apis) {
    cacheHits += a.verifier.cache.hits;
    cacheMisses += a.verifier.cache.misses;
    cacheEntries += a.verifier.cache.size;
  }
  const store = service.store;
  // The same readiness as the admin port of a single process (gateway/http/server.ts).
  const ready =
    !stopping &&
    compiled.remoteSets().every((s) => s.loaded) &&
    (store === undefined || store.healthy || failure === 'open');
  if (store && service.metrics.limitStoreUp !== undefined)
    service.metrics.limitStoreUp = store.healthy;
  return {
    oidcgw: 'admin-reply',
    id,
    ready,
    metrics: service.metrics.render({ cacheHits, cacheMisses, cacheEntries, ready }),
  };
}

// Primary --------------------------------------------------------------------

/** Gauges whose whole-gateway value is the minimum over workers, not the sum. */
const MIN_GAUGES = new Set(['oidc_gw_ready', 'oidc_gw_limit_store_up']);

/**
 * Prometheus texts of several workers as one: HELP/TYPE lines once, in the
 * order first seen; each sample (name and labels) summed, or the minimum
 * for the gauges in MIN_GAUGES.
 */
export function mergeMetrics(texts: readonly string[]): string {
  const order: string[] = [];
  const values = new Map<string, number>();
  const comments = new Set<string>();
  for (const text of texts) {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('#')) {
        if (!comments.has(line)) {
          comments.add(line);
          order.push(line);
        }
        continue;
      }
      const space = line.lastIndexOf(' ');
      if (space <= 0) continue;
      const series = line.slice(0, space);
      const value = Number(line.slice(space + 1));
      if (!Number.isFinite(value)) continue;
      const brace = series.indexOf('{');
      const name = brace === -1 ? series : series.slice(0, brace);
      const previous = values.get(series);
      if (previous === undefined) {
        order.push(`\u0000${series}`);
        values.set(series, value);
      } else {
        values.set(series, MIN_GAUGES.has(name) ? Math.min(previous, value) : previous + value);
      }
    }
  }
  let out = '';
  for (const entry of order) {
    if (entry.startsWith('\u0000')) {
      const series = entry.slice(1);
      const v = values.get(series) as number;
      out += `${series} ${Number.isInteger(v) ? String(v) : String(Math.round(v * 1e9) / 1e9)}\n`;
    } else {
      out += `${entry}\n`;
    }
  }
  return out;
}

async function checkRedis(url: string): Promise<void> {
  const { connectRedisStore } = await import('../gateway/limits/redis-store.js');
  const { isLimitStoreUnavailable } = await import('../gateway/limits/errors.js');
  try {
    const store = await connectRedisStore({ url });
    await store.close();
  } catch (error) {
    if (isLimitStoreUnavailable(error)) {
      // The same message and exit code as a single process (services/serve.ts).
      throw new GwError(
        error.reason === 'invalid_url' ? 'ERR_USAGE' : 'ERR_LIMIT_STORE',
        `--redis: ${error.message}`,
        {
          hint: 'start Redis, or check the URL (redis://HOST:PORT, rediss://..., unix:///path/to/socket)',
        },
      );
    }
    throw error;
  }
}

async function runPrimary(ctx: Context, options: ServeOptions): Promise<number> {
  const count = options.workers ?? 1;
  const stderr = ctx.io.stderr;
  const format = options.logFormat ?? (stderr.isTTY ? 'pretty' : 'json');
  const log = new AccessLog((text) => stderr.write(text), format, ctx.out.style, ctx.now);
  const note = (message: string) => log.note(message);
  const warn = (message: string) => log.note(message, 'warn');

  // Refuse early what every worker would refuse.
  const { buildPlan, startProblems } = await import('./serve.js');
  const plan = await buildPlan(ctx, options, () => {}).finally(() => log.flush());
  await startProblems(plan, options);
  if (options.redis !== undefined) await checkRedis(options.redis);

  const workers = new Set<Worker>();
  const listened = new WeakSet<Worker>();
  let url: string | undefined;
  let stopping = false;
  let failedCode: number | undefined;
  const replacements: number[] = [];
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  let resolveAllListening!: () => void;
  const allListening = new Promise<void>((r) => (resolveAllListening = r));

  // Answers to the admin port's questions, by id.
  let nextId = 0;
  const waiting = new Map<number, (reply: AdminReply) => void>();
  const onMessage = (_worker: Worker, message: unknown) => {
    const m = message as Partial<AdminReply> | null;
    if (m?.oidcgw === 'admin-reply' && typeof m.id === 'number')
      waiting.get(m.id)?.(m as AdminReply);
  };
  cluster.on('message', onMessage);

  const ask = (worker: Worker): Promise<AdminReply | undefined> =>
    new Promise((resolve) => {
      const id = ++nextId;
      const timer = setTimeout(() => {
        waiting.delete(id);
        resolve(undefined);
      }, ASK_TIMEOUT_MS);
      waiting.set(id, (reply) => {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(reply);
      });
      try {
        worker.send({ oidcgw: 'admin', id } satisfies AdminAsk);
      } catch {
        clearTimeout(timer);
        waiting.delete(id);
        resolve(undefined);
      }
    });

  const fork = (): Worker => {
    const worker = cluster.fork();
    workers.add(worker);
    return worker;
  };

  let killTimer: NodeJS.Timeout | undefined;
  /** Tells every worker to stop as on SIGTERM; one that has not exited after 15 s is killed. */
  const stopAll = () => {
    stopping = true;
    for (const w of workers) {
      try {
        w.send({ oidcgw: 'stop' } satisfies StopMessage);
      } catch {
        w.process.kill('SIGTERM');
      }
    }
    killTimer ??= setTimeout(() => {
      for (const w of workers) {
        failedCode = 1;
        w.process.kill('SIGKILL');
      }
    }, STOP_TIMEOUT_MS);
    killTimer.unref();
    if (workers.size === 0) resolveDone();
  };

  const onListening = (worker: Worker, address: { port: number }) => {
    if (listened.has(worker)) return;
    listened.add(worker);
    url ??= `http://${options.host.includes(':') ? `[${options.host}]` : options.host}:${address.port}`;
    if ([...workers].every((w) => listened.has(w))) resolveAllListening();
  };
  cluster.on('listening', onListening);

  const onExit = (worker: Worker, code: number | null, signal: string | null) => {
    workers.delete(worker);
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (stopping) {
      if (code !== 0) failedCode = 1;
    } else if (!listened.has(worker)) {
      // A start-up failure (the worker printed why): stop the gateway with its code.
      failedCode = code !== null && code !== 0 ? code : 1;
      warn(`worker ${worker.process.pid} exited before listening (${how}): stopping`);
      resolveAllListening();
      stopAll();
    } else {
      const now = Date.now();
      while (replacements.length > 0 && (replacements[0] as number) < now - REPLACEMENT_WINDOW_MS)
        replacements.shift();
      if (replacements.length >= MAX_REPLACEMENTS) {
        warn(
          `worker ${worker.process.pid} exited (${how}); ${MAX_REPLACEMENTS} workers replaced within a minute already: stopping`,
        );
        failedCode = 1;
        stopAll();
      } else {
        replacements.push(now);
        const next = fork();
        warn(
          `worker ${worker.process.pid} exited (${how}): replaced by worker ${next.process.pid}`,
        );
      }
    }
    log.flush();
    if (stopping && workers.size === 0) resolveDone();
  };
  cluster.on('exit', onExit);

  // The workers run this same script with the same arguments (cluster's defaults).
  for (let i = 0; i < count; i++) fork();

  // Admin port: health, readiness and metrics of the whole gateway.
  let admin: http.Server | undefined;
  let adminUrl: string | undefined;
  const cleanup = async () => {
    cluster.off('message', onMessage);
    cluster.off('listening', onListening);
    cluster.off('exit', onExit);
    if (admin) {
      const closed = new Promise<void>((r) => admin?.close(() => r()));
      admin.closeAllConnections();
      await closed;
    }
  };
  if (options.adminPort !== undefined) {
    admin = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const json = { 'content-type': 'application/json' };
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res
          .writeHead(405, { ...json, allow: 'GET, HEAD' })
          .end(JSON.stringify({ error: 'method_not_allowed' }));
      } else if (path === '/healthz') {
        res.writeHead(200, json).end(JSON.stringify({ status: 'ok' }));
      } else if (path === '/readyz' || path === '/metrics') {
        const current = [...workers];
        void Promise.all(current.map(ask)).then((replies) => {
          const answered = replies.filter((r): r is AdminReply => r !== undefined);
          const ready =
            !stopping &&
            current.length === count &&
            answered.length === count &&
            answered.every((r) => r.ready);
          if (path === '/readyz') {
            res.writeHead(ready ? 200 : 503, json).end(
              JSON.stringify({
                status: ready ? 'ready' : stopping ? 'draining' : 'not_ready',
                workers: current.length,
                workers_ready: answered.filter((r) => r.ready).length,
              }),
            );
            return;
          }
          let text = mergeMetrics(answered.map((r) => r.metrics));
          text +=
            '# HELP oidc_gw_workers Worker processes running (serve --workers).\n# TYPE oidc_gw_workers gauge\n';
          text += `oidc_gw_workers ${current.length}\n`;
          res
            .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
            .end(text);
        });
      } else {
        res.writeHead(404, json).end(JSON.stringify({ error: 'not_found' }));
      }
    });
    try {
      const a = await listen(admin, options.adminPort, '127.0.0.1', 'admin');
      adminUrl = `http://127.0.0.1:${a.port}`;
    } catch (error) {
      stopAll();
      await done;
      await cleanup();
      throw error;
    }
  }

  const offReload =
    options.files.length > 0
      ? ctx.onReload?.(() => {
          for (const w of workers) w.process.kill('SIGHUP');
        })
      : undefined;
  let signals = 0;
  const offShutdown = ctx.onShutdown((signal) => {
    signals++;
    if (signals === 1) {
      note(`${signal}: stopping ${workers.size} workers; letting in-flight requests finish`);
      log.flush();
      stopAll();
    } else {
      // A second signal: cut the drains short (each worker's second SIGTERM).
      for (const w of workers) w.process.kill('SIGTERM');
    }
  });

  await allListening;
  if (!stopping) {
    note(
      `${count} workers (pids ${[...workers].map((w) => w.process.pid).join(', ')}) listening on ${url ?? '?'}${adminUrl ? ` (admin: ${adminUrl}/metrics)` : ''}`,
    );
    log.flush();
  }
  await done;
  clearTimeout(killTimer);
  offReload?.();
  offShutdown();
  await cleanup();
  if (failedCode === undefined) note('stopped');
  log.flush();
  return failedCode ?? 0;
}
