/**
 * Small real HTTP servers for the `call` tests, on 127.0.0.1 at port 0: each
 * records what reached it (method, path, headers, body bytes) and answers
 * with a handler the test gives.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Recorded {
  readonly method: string;
  readonly url: string;
  /** Lower-cased name -> values. */
  readonly headers: Readonly<Record<string, string[]>>;
  readonly body: Buffer;
}

export type Handler = (
  req: IncomingMessage,
  res: ServerResponse,
  recorded: Recorded,
) => void | Promise<void>;

export interface TestServer {
  /** http://127.0.0.1:PORT */
  readonly origin: string;
  readonly port: number;
  readonly requests: Recorded[];
  handler: Handler;
  close(): Promise<void>;
}

function headersOf(req: IncomingMessage): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = (req.rawHeaders[i] as string).toLowerCase();
    (out[name] ??= []).push(req.rawHeaders[i + 1] as string);
  }
  return out;
}

export async function startServer(handler: Handler): Promise<TestServer> {
  const state = { handler };
  const requests: Recorded[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: Recorded = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: headersOf(req),
        body: Buffer.concat(chunks),
      };
      requests.push(recorded);
      Promise.resolve(state.handler(req, res, recorded)).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    requests,
    get handler() {
      return state.handler;
    },
    set handler(h: Handler) {
      state.handler = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function json(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/** Answers like the gateways `call` recognises. */
export const GATEWAY_REPLIES = {
  tykKeyNotAuthorised: (res: ServerResponse) => json(res, 403, { error: 'Key not authorised' }),
  tykSigningMethod: (res: ServerResponse) =>
    json(res, 403, { error: 'Key not authorized: Unexpected signing method' }),
  tykFieldMissing: (res: ServerResponse) =>
    json(res, 401, { error: 'Authorization field missing' }),
  kongUnauthorized: (res: ServerResponse) =>
    json(res, 401, { message: 'Unauthorized' }, { server: 'kong/3.6.1' }),
  kongNoIss: (res: ServerResponse) =>
    json(res, 401, { message: "No credentials found for given 'iss'" }),
  apimInvalidJwt: (res: ServerResponse) =>
    json(res, 401, { statusCode: 401, message: 'Invalid JWT.' }),
  apimSubscription: (res: ServerResponse) =>
    json(res, 401, {
      statusCode: 401,
      message:
        'Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.',
    }),
} as const;
