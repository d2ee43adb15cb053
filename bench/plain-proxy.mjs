// The baseline: a plain reverse proxy with node:http and an undici Pool
// (keep-alive), streaming both ways, hop-by-hop headers dropped, no auth.
// This is the floor for `oidc-gw serve`: the same transport, no verification.
// Usage: node bench/plain-proxy.mjs UPSTREAM_URL   (prints `PORT <n>`)
import http from 'node:http';
import { Pool } from 'undici';

const upstream = new URL(process.argv[2]);
const pool = new Pool(upstream.origin, { keepAliveTimeout: 10_000 });
const HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'expect',
]);

const server = http.createServer((req, res) => {
  const headers = {};
  for (const [name, value] of Object.entries(req.headers))
    if (!HOP.has(name)) headers[name] = value;
  headers['x-forwarded-for'] = req.socket.remoteAddress;
  const hasBody =
    req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  pool.stream(
    {
      path: req.url,
      method: req.method,
      headers,
      body: hasBody ? req : null,
      signal: controller.signal,
    },
    ({ statusCode, headers: upHeaders }) => {
      const out = {};
      for (const [name, value] of Object.entries(upHeaders)) if (!HOP.has(name)) out[name] = value;
      res.writeHead(statusCode, out);
      return res;
    },
    (error) => {
      if (!error || controller.signal.aborted) return;
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'application/json' });
        res.end('{"error":"bad_gateway"}');
      } else res.destroy();
    },
  );
});
server.listen(0, '127.0.0.1', () => console.log(`PORT ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
