// The benchmark's upstream: a node:http server answering every request with a
// small JSON body (keep-alive). Prints `PORT <n>` when listening.
import http from 'node:http';

const body = Buffer.from('{"ok":true,"service":"bench-upstream"}');
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => console.log(`PORT ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
