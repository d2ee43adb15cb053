/**
 * The gateway's listener and lifecycle: node:http in front, each request an
 * `Exchange` on the compiled plan current when it arrived; the admin port
 * (health, readiness, metrics, loopback only); the background key refresh;
 * reload (a new compiled plan for new requests, in-flight ones finish on
 * theirs); shutdown (stop accepting, drain up to `drainMs`, close).
 *
 * Every request, including one asking for an Upgrade, goes through the same
 * checks before anything is sent upstream. A verified WebSocket upgrade is
 * tunnelled to the upstream (or the upstream's refusal relayed as it is);
 * any other upgrade (h2c...) is served as a plain HTTP/1.1 request, the
 * Upgrade ignored, as RFC 9110 §7.8 lets a server do.
 */
import http, { type IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import type { Pool } from 'undici';
import { GwError } from '../../core/errors/index.js';
import type { AccessLog } from '../../http/gateway/access-log.js';
import { GatewayMetrics } from '../../http/gateway/metrics.js';
import type { CompiledPlan } from './compile.js';
import { Exchange, type LimitRunner } from './exchange.js';

export interface GatewayServerOptions {
  readonly host: string;
  readonly port: number;
  /** Serve /healthz, /readyz and /metrics on this port (loopback only). */
  readonly adminPort?: number | undefined;
  readonly compiled: CompiledPlan;
  /** Upstream pools by origin (shared with the plan compiler; closed at shutdown). */
  readonly pools: Map<string, Pool>;
  readonly log: AccessLog;
  readonly metrics?: GatewayMetrics;
  readonly limits?: LimitRunner | undefined;
  /** Milliseconds since the epoch (token times are checked against it). */
  readonly now?: () => number;
  /** How long in-flight requests may take to finish on shutdown (default 10 s). */
  readonly drainMs?: number;
  /** Largest request head accepted (default 16 KiB, or more for big tokens). */
  readonly maxHeaderBytes?: number;
  /** How often stale key sets are refreshed in the background (default 30 s). */
  readonly refreshIntervalMs?: number;
}

export interface GatewayServer {
  /** http://HOST:PORT */
  readonly url: string;
  readonly port: number;
  readonly adminUrl: string | undefined;
  readonly metrics: GatewayMetrics;
  /** The plan new requests get. */
  current(): CompiledPlan;
  /** Swap the plan: new requests get `next`, in-flight ones finish on theirs. */
  swap(next: CompiledPlan): void;
  /** Stop accepting, let in-flight requests finish (up to drainMs), then close everything. */
  shutdown(): Promise<{ drained: boolean }>;
  /** During shutdown: stop waiting for in-flight requests (a second Ctrl-C). */
  abortDrain(): void;
}

const JSON_TYPE = 'application/json';

export function listen(
  server: http.Server,
  port: number,
  host: string,
  what: string,
): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      const why =
        error.code === 'EADDRINUSE'
          ? 'the port is in use'
          : error.code === 'EACCES'
            ? 'permission denied'
            : error.code === 'EADDRNOTAVAIL'
              ? 'no such local address'
              : error.message;
      reject(
        new GwError('ERR_SERVE_LISTEN', `cannot listen on ${host}:${port} (${what}): ${why}`, {
          cause: error,
          hint:
            error.code === 'EADDRINUSE'
              ? 'choose another port with --port, or 0 for any free port'
              : undefined,
        }),
      );
    };
    const onListening = () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** A raw HTTP/1.1 response on a socket that left the HTTP parser (upgrade path, parse errors). */
function writeRaw(
  socket: Duplex,
  status: number,
  headers: Record<string, string>,
  body: string,
): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  let head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  head += `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n`;
  socket.end(head + body);
}

export async function startGatewayServer(options: GatewayServerOptions): Promise<GatewayServer> {
  const { log } = options;
  const metrics = options.metrics ?? new GatewayMetrics();
  const clock = options.now ?? Date.now;
  const drainMs = options.drainMs ?? 10_000;
  let compiled = options.compiled;

  let draining = false;
  let listening = false;
  const tunnels = new Set<Duplex>();
  const drainWaiters = new Set<() => void>();
  const deps = {
    metrics,
    log,
    clock,
    draining: () => draining,
    tunnels,
    finished: () => {
      if (draining && metrics.inflight === 0) for (const w of drainWaiters) w();
    },
    limits: options.limits,
  };

  const maxTokenBytes = Math.max(...compiled.apis.map((a) => a.plan.checks.maxTokenBytes), 8192);
  const server = http.createServer(
    {
      // Room for the largest token accepted plus ordinary headers.
      maxHeaderSize: options.maxHeaderBytes ?? Math.max(16 * 1024, maxTokenBytes + 8 * 1024),
      keepAliveTimeout: 5_000,
      noDelay: true,
    },
    (req, res) => new Exchange(deps, compiled, req, res).run(),
  );

  // `Expect: 100-continue`: Node would answer 100 at once; with this listener
  // the exchange runs first and invites the body only once the request is
  // accepted (a refused one gets its answer without 100 Continue).
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const exchange = new Exchange(deps, compiled, req, res);
    exchange.continueOnForward = true;
    exchange.run();
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => {});
    // The same checks as any request: a ServerResponse on the socket, so a
    // refusal (or a plain answer to a non-WebSocket upgrade) is written as usual.
    const res = new ServerResponse(req);
    res.assignSocket(socket as Socket);
    res.shouldKeepAlive = false;
    res.once('finish', () => {
      res.detachSocket(socket as Socket);
      socket.end();
    });
    res.once('close', () => {
      if (!res.writableFinished && !tunnels.has(socket) && res.statusCode !== 101) socket.destroy();
    });
    new Exchange(deps, compiled, req, res, socket, head).run();
  });

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // A response already under way on this socket (a pipelined request
    // behind a streaming answer): writing a 400 now would land inside that
    // response's body. Only close, as Node's own handler does.
    const current = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || current?.headersSent) {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const reason = tooLarge ? 'headers_too_large' : 'bad_http';
    metrics.request(status, reason);
    // Node could not parse the request: there is no method or path to log.
    log.request({ method: '-', url: '-', status, durationMs: 0, reason });
    writeRaw(
      socket,
      status,
      { 'content-type': JSON_TYPE },
      JSON.stringify({
        error: 'invalid_request',
        error_description: tooLarge ? 'request headers too large' : 'malformed HTTP request',
      }),
    );
  });

  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => {});
    metrics.request(405, 'connect_not_allowed');
    log.request({
      method: 'CONNECT',
      url: '-',
      status: 405,
      durationMs: 0,
      reason: 'connect_not_allowed',
    });
    writeRaw(
      socket,
      405,
      { 'content-type': JSON_TYPE },
      JSON.stringify({ error: 'method_not_allowed' }),
    );
  });

  const closePools = async (graceful: boolean) => {
    await Promise.all(
      [...options.pools.values()].map((p) => (graceful ? p.close() : p.destroy()).catch(() => {})),
    );
  };

  const address = await listen(server, options.port, options.host, 'gateway');
  listening = true;

  const isReady = () =>
    listening &&
    !draining &&
    compiled.remoteSets().every((s) => s.loaded) &&
    (options.limits === undefined ||
      options.limits.store.healthy ||
      options.limits.failure === 'open');

  // Admin: health, readiness, metrics, on loopback only.
  let admin: http.Server | undefined;
  let adminUrl: string | undefined;
  if (options.adminPort !== undefined) {
    admin = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const ready = isReady();
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res
          .writeHead(405, { 'content-type': JSON_TYPE, allow: 'GET, HEAD' })
          .end(JSON.stringify({ error: 'method_not_allowed' }));
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': JSON_TYPE }).end(JSON.stringify({ status: 'ok' }));
      } else if (path === '/readyz') {
        res
          .writeHead(ready ? 200 : 503, { 'content-type': JSON_TYPE })
          .end(JSON.stringify({ status: ready ? 'ready' : draining ? 'draining' : 'not_ready' }));
      } else if (path === '/metrics') {
        let hits = 0;
        let misses = 0;
        let entries = 0;
        for (const a of compiled.apis) {
          hits += a.verifier.cache.hits;
          misses += a.verifier.cache.misses;
          entries += a.verifier.cache.size;
        }
        if (options.limits) metrics.limitStoreUp = options.limits.store.healthy;
        res
          .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
          .end(
            metrics.render({ cacheHits: hits, cacheMisses: misses, cacheEntries: entries, ready }),
          );
      } else {
        res
          .writeHead(404, { 'content-type': JSON_TYPE })
          .end(JSON.stringify({ error: 'not_found' }));
      }
    });
    try {
      const a = await listen(admin, options.adminPort, '127.0.0.1', 'admin');
      adminUrl = `http://127.0.0.1:${a.port}`;
    } catch (error) {
      server.close();
      server.closeAllConnections();
      await closePools(false);
      throw error;
    }
  }

  const refreshTimer = setInterval(() => {
    for (const set of compiled.remoteSets()) set.refreshIfStale();
  }, options.refreshIntervalMs ?? 30_000);
  refreshTimer.unref();

  let shutdownPromise: Promise<{ drained: boolean }> | undefined;
  let cutDrain: (() => void) | undefined;
  const shutdown = (): Promise<{ drained: boolean }> => {
    shutdownPromise ??= (async () => {
      draining = true;
      clearInterval(refreshTimer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      let drained = metrics.inflight === 0;
      if (!drained) {
        drained = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), drainMs);
          cutDrain = () => {
            clearTimeout(timer);
            resolve(metrics.inflight === 0);
          };
          drainWaiters.add(() => {
            clearTimeout(timer);
            resolve(true);
          });
        });
      }
      server.closeAllConnections();
      for (const socket of tunnels) socket.destroy();
      await closed;
      listening = false;
      if (admin) {
        const adminClosed = new Promise<void>((resolve) => admin?.close(() => resolve()));
        admin.closeAllConnections();
        await adminClosed;
      }
      await closePools(drained);
      log.flush();
      return { drained };
    })();
    return shutdownPromise;
  };

  return {
    url: `http://${hostForUrl(options.host)}:${address.port}`,
    port: address.port,
    adminUrl,
    metrics,
    current: () => compiled,
    swap: (next) => {
      compiled = next;
    },
    shutdown,
    abortDrain: () => cutDrain?.(),
  };
}
