// What a Node developer assembles by hand: express + express-jwt + jwks-rsa
// (cached JWKS) + http-proxy-middleware, RS256 only, issuer and audience
// checked. Configured as well as it can be: a keep-alive agent to the upstream
// (without one, http-proxy passes the upstream's `Connection: close` to the
// client and every request costs a new connection on both sides).
// Usage: node bench/express-stack.mjs UPSTREAM JWKS_URI ISSUER AUDIENCE
import http from 'node:http';
import express from 'express';
import { expressjwt } from 'express-jwt';
import jwksRsa from 'jwks-rsa';
import { createProxyMiddleware } from 'http-proxy-middleware';

const [upstream, jwksUri, issuer, audience] = process.argv.slice(2);
const app = express();
app.disable('x-powered-by');
app.use(
  expressjwt({
    secret: jwksRsa.expressJwtSecret({
      jwksUri,
      cache: true,
      rateLimit: true,
      jwksRequestsPerMinute: 10,
    }),
    algorithms: ['RS256'],
    issuer,
    audience,
  }),
);
app.use(
  createProxyMiddleware({
    target: upstream,
    changeOrigin: true,
    agent: new http.Agent({ keepAlive: true, maxSockets: 256 }),
  }),
);
// Express recognises an error handler by its four parameters.
// eslint-disable-next-line @typescript-eslint/no-unused-vars
app.use((err, _req, res, _next) => {
  res.status(err.status ?? 500).json({ error: err.code ?? 'error' });
});
const server = app.listen(0, '127.0.0.1', () => console.log(`PORT ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
