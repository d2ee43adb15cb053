// The echo API of the compose example: answers every request with what it
// received (method, path, the headers the gateway added), as JSON. No token
// checks of its own: in this example only the gateway in front of it verifies.
/* global process, Buffer, console */
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 3000);
const server = createServer((req, res) => {
  const headers = { ...req.headers };
  delete headers.authorization;
  const body = JSON.stringify({ method: req.method, path: req.url, headers }, null, 2);
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
  req.resume();
});
server.listen(port, '0.0.0.0', () => console.log(`echo API on port ${port}`));
// As PID 1 in its container: stop on the signals `docker stop` sends.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
