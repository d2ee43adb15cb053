/**
 * Small real servers for the gateway tests, all on 127.0.0.1 at port 0:
 * an echo upstream that records what reached it, a JWKS server that can also
 * act as a minimal issuer (discovery document + JWKS), and a trap server
 * that only counts requests (for jku / x5u attacks).
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import net, { type AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  rawHeaders: string[];
  /** Lower-cased header name -> values. */
  headers: Record<string, string[]>;
  body: string;
  httpVersion: string;
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export interface Upstream {
  url: string;
  port: number;
  requests: RecordedRequest[];
  /** Delay before answering, per request (ms). */
  delayMs: number;
  /** Replace the echo answer. */
  handler:
    ((req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest) => void) | undefined;
  /** Raw sockets for `Upgrade: websocket` requests, answered with 101 and echoing bytes. */
  upgrades: number;
  /** Requests whose response was cut because the client went away. */
  aborted: number;
  /** Upgraded (tunnelled) sockets still open. */
  openTunnels(): number;
  close(): Promise<void>;
}

export async function startUpstream(): Promise<Upstream> {
  const state: Upstream = {
    url: '',
    port: 0,
    requests: [],
    delayMs: 0,
    handler: undefined,
    upgrades: 0,
    aborted: 0,
    openTunnels: () => upgraded.size,
    close: async () => {},
  };
  const upgraded = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => {});
    res.on('close', () => {
      if (!res.writableFinished) state.aborted++;
    });
    req.on('end', () => {
      const headers: Record<string, string[]> = {};
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = (req.rawHeaders[i] as string).toLowerCase();
        (headers[name] ??= []).push(req.rawHeaders[i + 1] as string);
      }
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: [...req.rawHeaders],
        headers,
        body: Buffer.concat(chunks).toString('utf8'),
        httpVersion: req.httpVersion,
      };
      state.requests.push(recorded);
      const answer = () => {
        if (res.destroyed) return;
        if (state.handler) return state.handler(req, res, recorded);
        const body = JSON.stringify({
          method: recorded.method,
          url: recorded.url,
          headers,
          body: recorded.body,
        });
        res.writeHead(200, {
          'content-type': 'application/json',
          'x-upstream': 'echo',
          connection: 'keep-alive, x-upstream-private',
          'x-upstream-private': 'must not reach the client',
        });
        res.end(body);
      };
      if (state.delayMs > 0) setTimeout(answer, state.delayMs);
      else answer();
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: net.Socket, head: Buffer) => {
    state.upgrades++;
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    const headers: Record<string, string[]> = {};
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      (headers[(req.rawHeaders[i] as string).toLowerCase()] ??= []).push(
        req.rawHeaders[i + 1] as string,
      );
    }
    state.requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      rawHeaders: [...req.rawHeaders],
      headers,
      body: '',
      httpVersion: req.httpVersion,
    });
    if (req.url?.startsWith('/ws-refused')) {
      // An upstream that will not upgrade: its own answer, then close.
      const body = '{"error":"origin not allowed"}';
      socket.end(
        `HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nX-Upstream: refused\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: test\r\n\r\n',
    );
    if (head.length) socket.write(head);
    socket.on('data', (d: Buffer) => socket.write(d));
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
  state.port = await listen(server);
  state.url = `http://127.0.0.1:${state.port}`;
  state.close = () => {
    for (const socket of upgraded) socket.destroy();
    return closeServer(server);
  };
  return state;
}

export interface JwksServer {
  /** http://127.0.0.1:PORT: also an issuer (serves /.well-known/openid-configuration). */
  issuer: string;
  jwksUri: string;
  /** Requests to the JWKS path. */
  jwksRequests: number;
  /** The document served at the JWKS path. */
  jwks: unknown;
  /** 'up', 'error' (HTTP 503), 'reset' (connection destroyed). */
  mode: 'up' | 'error' | 'reset';
  close(): Promise<void>;
}

export async function startJwksServer(jwks: unknown): Promise<JwksServer> {
  const state: JwksServer = {
    issuer: '',
    jwksUri: '',
    jwksRequests: 0,
    jwks,
    mode: 'up',
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          issuer: state.issuer,
          jwks_uri: state.jwksUri,
          authorization_endpoint: `${state.issuer}/authorize`,
          token_endpoint: `${state.issuer}/token`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
        }),
      );
      return;
    }
    if (req.url === '/jwks.json') {
      state.jwksRequests++;
      if (state.mode === 'reset') {
        req.socket.destroy();
        return;
      }
      if (state.mode === 'error') {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('down');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(state.jwks));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  const port = await listen(server);
  state.issuer = `http://127.0.0.1:${port}`;
  state.jwksUri = `${state.issuer}/jwks.json`;
  state.close = () => closeServer(server);
  return state;
}

/** A server that answers 404 to everything and counts requests: nothing should ever call it. */
export async function startTrap(): Promise<{ url: string; hits: number; close(): Promise<void> }> {
  const state = { url: '', hits: 0, close: async () => {} };
  const server = http.createServer((_req, res) => {
    state.hits++;
    res.writeHead(404);
    res.end();
  });
  state.url = `http://127.0.0.1:${await listen(server)}`;
  state.close = () => closeServer(server);
  return state;
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Sends raw bytes and returns everything the server sends back until it closes or `ms` pass. */
export function rawExchange(port: number, text: string | Buffer, ms = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(text));
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    }, ms);
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (chunks.length) resolve(Buffer.concat(chunks).toString('latin1'));
      else reject(error);
    });
  });
}

/** Status, headers and JSON body of a raw HTTP/1.1 response text (Content-Length framed). */
export function parseRawResponse(text: string): {
  status: number;
  headers: Record<string, string>;
  body: string;
} {
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine, ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = end === -1 ? '' : text.slice(end + 4);
  const length = headers['content-length'];
  if (length !== undefined) body = body.slice(0, Number(length));
  return { status: Number(statusLine?.split(' ')[1]), headers, body };
}
