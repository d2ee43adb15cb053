/**
 * The verifying reverse proxy of `oidc-gw serve`: node:http in front, an
 * undici Pool (keep-alive) to the upstream, bodies streamed both ways.
 *
 * Every request, including one asking for an Upgrade, goes through the same
 * checks (token, then forwarded claims) before anything is sent upstream. A
 * verified WebSocket upgrade is tunnelled to the upstream (or the upstream's
 * refusal relayed as it is); any other upgrade
 * (h2c...) is served as a plain HTTP/1.1 request, the Upgrade ignored, as
 * RFC 9110 §7.8 lets a server do.
 */
import http, { type IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import { Pool, type Dispatcher } from 'undici';
import { GwError } from '../../core/errors/index.js';
import { normalizeHeaderName } from '../../core/gateway/forward.js';
import { extractBearer } from '../../core/gateway/extract.js';
import { refusalBody, wwwAuthenticate, type Refusal } from '../../core/gateway/reasons.js';
import type { Verified, Verifier } from '../../core/gateway/verify.js';
import type { AccessLog } from './access-log.js';
import { ALWAYS_RESERVED, downstreamHeaders, upstreamHeaders } from './headers.js';
import { GatewayMetrics } from './metrics.js';

export interface GatewayOptions {
  readonly upstream: URL;
  readonly host: string;
  readonly port: number;
  /** Serve /healthz, /readyz and /metrics on this port (loopback only). */
  readonly adminPort?: number | undefined;
  /** The verifier; its `forwardClaims` also name the headers a client may never send. */
  readonly verifier: Verifier;
  readonly stripAuthorization: boolean;
  /** No response headers from the upstream within this time: 504. */
  readonly upstreamTimeoutMs: number;
  readonly log: AccessLog;
  readonly metrics?: GatewayMetrics;
  /** Milliseconds since the epoch (token times are checked against it). */
  readonly now?: () => number;
  /** How long in-flight requests may take to finish on shutdown (default 10 s). */
  readonly drainMs?: number;
  /** Largest request head accepted (default 16 KiB, or more for big --max-token-size). */
  readonly maxHeaderBytes?: number;
  /** How often stale key sets are refreshed in the background (default 30 s). */
  readonly refreshIntervalMs?: number;
}

export interface Gateway {
  /** http://HOST:PORT */
  readonly url: string;
  readonly port: number;
  readonly adminUrl: string | undefined;
  readonly metrics: GatewayMetrics;
  /** Stop accepting, let in-flight requests finish (up to drainMs), then close everything. */
  shutdown(): Promise<{ drained: boolean }>;
  /** During shutdown: stop waiting for in-flight requests (a second Ctrl-C). */
  abortDrain(): void;
}

const JSON_TYPE = 'application/json';

function jsonBody(value: Record<string, string>): string {
  return JSON.stringify(value);
}

function upstreamFailure(error: unknown): { status: 502 | 504; reason: string } {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return { status: 504, reason: 'upstream_timeout' };
  }
  // The upstream answered, but not with valid HTTP/1.1 (undici's parser refused it).
  const name = (error as { name?: unknown } | undefined)?.name;
  if (
    name === 'HTTPParserError' ||
    code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' ||
    (typeof code === 'string' && code.startsWith('HPE_'))
  ) {
    return { status: 502, reason: 'upstream_bad_response' };
  }
  return { status: 502, reason: 'upstream_unreachable' };
}

function listen(
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

/** A raw HTTP/1.1 response on a socket that left the HTTP parser (upgrade path). */
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

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { verifier, log, upstream } = options;
  const metrics = options.metrics ?? new GatewayMetrics();
  const clock = options.now ?? Date.now;
  const drainMs = options.drainMs ?? 10_000;
  const timeoutMs = options.upstreamTimeoutMs;
  const basePath = upstream.pathname === '/' ? '' : upstream.pathname.replace(/\/+$/, '');
  const reserved = new Set<string>([
    ...ALWAYS_RESERVED,
    ...(verifier.options.forwardClaims ?? []).map((f) => normalizeHeaderName(f.header)),
  ]);
  const pool = new Pool(upstream.origin, {
    keepAliveTimeout: 10_000,
    connectTimeout: Math.min(10_000, timeoutMs),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
  });
  // An idle upstream socket that errors must never take the process down.
  pool.on('connectionError', () => {});

  let draining = false;
  let listening = false;
  const tunnels = new Set<Duplex>();
  const drainWaiters = new Set<() => void>();

  const refuse = (res: ServerResponse, r: Refusal, hasBody: boolean): void => {
    const body = refusalBody(r);
    const headers: Record<string, string | number> = {
      'content-type': JSON_TYPE,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
      'www-authenticate': wwwAuthenticate(r),
    };
    // Do not read an unauthenticated request body just to keep the connection.
    if (hasBody || draining) headers['connection'] = 'close';
    res.writeHead(r.status, headers);
    res.end(body);
  };

  const sendJson = (res: ServerResponse, status: number, value: Record<string, string>): void => {
    const body = jsonBody(value);
    const headers: Record<string, string | number> = {
      'content-type': JSON_TYPE,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    };
    if (draining) headers['connection'] = 'close';
    res.writeHead(status, headers);
    res.end(body);
  };

  const requestHasBody = (req: IncomingMessage): boolean => {
    const h = req.headers;
    return (
      h['transfer-encoding'] !== undefined ||
      (h['content-length'] !== undefined && h['content-length'] !== '0')
    );
  };

  /**
   * The life of one request: checks, then forwarding through undici's
   * dispatch API (no AbortController per request: the controller undici hands
   * over cancels the upstream call when the client goes away).
   * `upgradeSocket` is set when the request came through the upgrade event.
   */
  class Exchange implements Dispatcher.DispatchHandler {
    readonly started = performance.now();
    sub: string | undefined;
    iss: string | undefined;
    reason: string | undefined;
    status: number | undefined;
    finished = false;
    controller: Dispatcher.DispatchController | undefined;
    upstreamStarted = 0;

    constructor(
      readonly req: IncomingMessage,
      readonly res: ServerResponse,
      readonly upgradeSocket?: Duplex,
      readonly head?: Buffer,
    ) {
      metrics.inflight++;
      res.once('close', this.done);
      if (upgradeSocket) res.once('finish', this.done);
    }

    /** Logs and counts the request once, when its response is over (or the client left). */
    readonly done = (): void => {
      if (this.finished) return;
      this.finished = true;
      const res = this.res;
      if (!res.writableFinished) this.controller?.abort(new Error('the client went away'));
      metrics.inflight--;
      const status = this.status ?? (res.headersSent ? res.statusCode : 499);
      const reason =
        this.reason ??
        (res.writableFinished || this.status !== undefined ? undefined : 'client_closed');
      metrics.request(status, reason);
      log.request({
        method: this.req.method ?? '-',
        url: this.req.url ?? '-',
        status,
        durationMs: performance.now() - this.started,
        sub: this.sub,
        iss: this.iss,
        reason,
      });
      if (draining && metrics.inflight === 0) for (const w of drainWaiters) w();
    };

    run(): void {
      const { req, res } = this;
      try {
        const url = req.url ?? '';
        if (url.charCodeAt(0) !== 0x2f /* / */) {
          this.reason = 'bad_request_target';
          sendJson(res, 400, {
            error: 'invalid_request',
            error_description: 'the request target must be a path',
          });
          return;
        }
        const extracted = extractBearer(req.rawHeaders);
        if ('refusal' in extracted) return this.fail(extracted.refusal);
        const token = extracted.token;
        const now = clock();
        const hit = verifier.lookup(token, now);
        if (hit) return this.forward(hit);
        const t0 = performance.now();
        verifier.verify(token, now).then(
          (outcome) => {
            metrics.verification.observe((performance.now() - t0) / 1000);
            if (res.destroyed) return;
            if (!outcome.ok) return this.fail(outcome.refusal);
            this.forward(outcome.verified);
          },
          (error: unknown) => this.internalError(error),
        );
      } catch (error) {
        this.internalError(error);
      }
    }

    fail(r: Refusal): void {
      this.reason = r.reason;
      refuse(this.res, r, requestHasBody(this.req));
    }

    internalError(error: unknown): void {
      this.reason = 'internal_error';
      log.note(`internal error: ${error instanceof Error ? error.message : String(error)}`, 'warn');
      if (!this.res.headersSent && !this.res.destroyed) {
        sendJson(this.res, 500, { error: 'internal_error' });
      } else {
        this.res.destroy();
      }
    }

    forward(v: Verified): void {
      const { req, res, upgradeSocket } = this;
      this.sub = v.sub;
      this.iss = v.iss;
      const forwarded = v.forward;
      if ('refusal' in forwarded) return this.fail(forwarded.refusal);
      const up = upstreamHeaders(req.rawHeaders, {
        reserved,
        stripAuthorization: options.stripAuthorization,
        clientAddress: req.socket.remoteAddress,
        extra: forwarded.headers,
      });
      if (upgradeSocket && up.upgrade !== undefined) {
        if (/(^|[\s,])websocket($|[\s,/])/i.test(up.upgrade)) {
          return this.tunnel(up.headers);
        }
        if (up.hasBody) {
          // Node does not parse a body after an upgrade request: refuse rather than guess.
          this.reason = 'upgrade_with_body';
          sendJson(res, 400, {
            error: 'invalid_request',
            error_description: 'an Upgrade request other than WebSocket cannot carry a body',
          });
          return;
        }
      }
      this.upstreamStarted = performance.now();
      pool.dispatch(
        {
          path: basePath + (req.url as string),
          method: req.method as string,
          headers: up.headers,
          body: up.hasBody ? req : null,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        },
        this,
      );
    }

    // undici DispatchHandler -------------------------------------------------

    onRequestStart(controller: Dispatcher.DispatchController): void {
      this.controller = controller;
      if (this.finished) controller.abort(new Error('the client went away'));
    }

    onResponseStart(
      controller: Dispatcher.DispatchController,
      statusCode: number,
      headers: Record<string, string | string[] | undefined>,
    ): void {
      if (statusCode < 200) return; // 1xx: Node sends its own 100 Continue
      metrics.upstream.observe((performance.now() - this.upstreamStarted) / 1000);
      const out = downstreamHeaders(headers);
      if (draining || this.upgradeSocket) out['connection'] = 'close';
      try {
        this.res.writeHead(statusCode, out);
      } catch {
        // A status or header Node will not send (an invalid character, say): the
        // upstream's answer cannot be relayed as is.
        this.reason = 'upstream_bad_response';
        this.status = 502;
        controller.abort(new Error('the upstream response cannot be relayed'));
        if (!this.res.headersSent) sendJson(this.res, 502, { error: 'bad_gateway' });
      }
    }

    onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
      if (this.reason === 'upstream_bad_response') return;
      if (!this.res.write(chunk)) {
        controller.pause();
        this.res.once('drain', () => controller.resume());
      }
    }

    onResponseEnd(): void {
      if (this.reason !== 'upstream_bad_response') this.res.end();
    }

    onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
      const res = this.res;
      if (this.finished || this.reason === 'upstream_bad_response') return; // answered already, or nobody to answer
      const failure = upstreamFailure(error);
      this.reason = failure.reason;
      if (!res.headersSent && !res.destroyed) {
        this.status = failure.status;
        sendJson(res, failure.status, {
          error: failure.status === 504 ? 'gateway_timeout' : 'bad_gateway',
        });
      } else {
        res.destroy();
      }
    }

    /**
     * A verified WebSocket upgrade, through the same dispatch as any request:
     * the upstream's 101 is relayed and the two sockets joined
     * (onRequestUpgrade); any other answer (a 403, a 426...) is relayed as it
     * is by onResponseStart/Data/End, on the client socket, then closed.
     */
    tunnel(headers: string[]): void {
      this.upstreamStarted = performance.now();
      pool.dispatch(
        {
          path: basePath + (this.req.url as string),
          method: this.req.method as string,
          headers,
          upgrade: 'websocket',
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        },
        this,
      );
    }

    onRequestUpgrade(
      _controller: Dispatcher.DispatchController,
      statusCode: number,
      headers: Record<string, string | string[] | undefined>,
      upSocket: Duplex,
    ): void {
      const socket = this.upgradeSocket as Duplex;
      metrics.upstream.observe((performance.now() - this.upstreamStarted) / 1000);
      this.status = statusCode;
      // The upstream call is over: nothing is left to cancel when the log line is written.
      this.controller = undefined;
      if (socket.destroyed) {
        upSocket.destroy();
        this.done();
        return;
      }
      let headText = `HTTP/1.1 ${statusCode} ${http.STATUS_CODES[statusCode] ?? 'Switching Protocols'}\r\n`;
      for (const [name, value] of Object.entries(headers)) {
        if (value === undefined) continue;
        for (const v of Array.isArray(value) ? value : [value]) headText += `${name}: ${v}\r\n`;
      }
      socket.write(`${headText}\r\n`);
      const first = this.head ?? Buffer.alloc(0);
      if (first.length > 0) upSocket.write(first);
      tunnels.add(socket);
      const close = () => {
        tunnels.delete(socket);
        socket.destroy();
        upSocket.destroy();
      };
      upSocket.on('error', close);
      socket.on('error', close);
      upSocket.on('close', close);
      socket.on('close', close);
      socket.pipe(upSocket);
      upSocket.pipe(socket);
      this.done();
    }
  }

  const server = http.createServer(
    {
      // Room for the largest token accepted plus ordinary headers.
      maxHeaderSize:
        options.maxHeaderBytes ?? Math.max(16 * 1024, verifier.options.maxTokenBytes + 8 * 1024),
      keepAliveTimeout: 5_000,
      noDelay: true,
    },
    (req, res) => new Exchange(req, res).run(),
  );

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
    // A body after an upgrade request is not parsed by Node: refuse to guess.
    const upgradeHead = head;
    new Exchange(req, res, socket, upgradeHead).run();
  });

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (error.code === 'ECONNRESET' || !socket.writable) {
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
      jsonBody({
        error: 'invalid_request',
        error_description: tooLarge ? 'request headers too large' : 'malformed HTTP request',
      }),
    );
  });

  server.on('connect', (req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => {});
    metrics.request(405, 'connect_not_allowed');
    log.request({
      method: 'CONNECT',
      url: '-',
      status: 405,
      durationMs: 0,
      reason: 'connect_not_allowed',
    });
    writeRaw(socket, 405, { 'content-type': JSON_TYPE }, jsonBody({ error: 'method_not_allowed' }));
  });

  const address = await listen(server, options.port, options.host, 'gateway');
  listening = true;

  // Admin: health, readiness, metrics, on loopback only.
  let admin: http.Server | undefined;
  let adminUrl: string | undefined;
  if (options.adminPort !== undefined) {
    admin = http.createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      const ready = listening && !draining && verifier.remoteSets().every((s) => s.loaded);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res
          .writeHead(405, { 'content-type': JSON_TYPE, allow: 'GET, HEAD' })
          .end(jsonBody({ error: 'method_not_allowed' }));
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': JSON_TYPE }).end(jsonBody({ status: 'ok' }));
      } else if (path === '/readyz') {
        res
          .writeHead(ready ? 200 : 503, { 'content-type': JSON_TYPE })
          .end(jsonBody({ status: ready ? 'ready' : draining ? 'draining' : 'not_ready' }));
      } else if (path === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(
          metrics.render({
            cacheHits: verifier.cache.hits,
            cacheMisses: verifier.cache.misses,
            cacheEntries: verifier.cache.size,
            ready,
          }),
        );
      } else {
        res.writeHead(404, { 'content-type': JSON_TYPE }).end(jsonBody({ error: 'not_found' }));
      }
    });
    try {
      const a = await listen(admin, options.adminPort, '127.0.0.1', 'admin');
      adminUrl = `http://127.0.0.1:${a.port}`;
    } catch (error) {
      server.close();
      server.closeAllConnections();
      await pool.destroy();
      throw error;
    }
  }

  const refreshTimer = setInterval(() => {
    for (const set of verifier.remoteSets()) set.refreshIfStale();
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
      await (drained ? pool.close() : pool.destroy()).catch(() => {});
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
    shutdown,
    abortDrain: () => cutDrain?.(),
  };
}
