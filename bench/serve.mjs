#!/usr/bin/env node
// `npm run bench:serve`: throughput and latency of `oidc-gw serve` against
// the same upstream and the same RS256 token as
//   1. the upstream directly,
//   2. a plain node:http + undici proxy with no auth (bench/plain-proxy.mjs),
//   3. express + express-jwt + jwks-rsa + http-proxy-middleware (bench/express-stack.mjs),
//   4. `oidc-gw serve` (the built CLI, logging JSON lines to a file),
// then the distinct-token case (a different valid token on every request, so
// the verified-token cache never helps) for serve and express, and the RSS of
// serve after 100,000 requests over 10,000 distinct valid tokens (also with
// V8's default heap settings, which serve otherwise tightens).
// All targets run at once and are measured one at a time, in interleaved
// rounds (medians reported), after a warm-up each; the RSS runs use fresh
// processes, one at a time. autocannon runs in this process.
// Usage: node bench/serve.mjs [--duration S] [--warmup S] [--connections N] [--rounds N]
//        [--distinct N] [--rss-tokens N] [--rss-requests N]   (defaults: 10 3 50 5 12000 10000 100000)
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, closeSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import autocannon from 'autocannon';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = join(ROOT, 'bench');
const BIN = join(ROOT, 'bin', 'oidc-gw.js');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const DURATION = arg('--duration', 10);
const WARMUP = arg('--warmup', 3);
const CONNECTIONS = arg('--connections', 50);
const ROUNDS = arg('--rounds', 5);
// More than serve's default cache (10,000 entries, oldest out first): cycling
// through them, every request misses the cache.
const DISTINCT = arg('--distinct', 12_000);
const RSS_TOKENS = Math.min(DISTINCT, arg('--rss-tokens', 10_000));
const RSS_REQUESTS = arg('--rss-requests', 100_000);
const AUDIENCE = 'https://api.bench.test/';

const work = mkdtempSync(join(os.tmpdir(), 'oidc-gw-bench-serve-'));
const children = new Set();
const env = {
  ...process.env,
  NO_COLOR: '1',
  HOME: work,
  XDG_CONFIG_HOME: join(work, 'c'),
  XDG_CACHE_HOME: join(work, 'k'),
};
for (const k of Object.keys(env))
  if (k.startsWith('OIDC_GW_') || /^(HTTPS?|ALL|NO)_PROXY$/i.test(k)) delete env[k];

function log(message) {
  process.stderr.write(`${message}\n`);
}

function cleanup() {
  for (const child of children) child.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));

// --- keys, issuer (discovery + JWKS), tokens ---------------------------------
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'bench-k1', alg: 'RS256', use: 'sig' };
const idp = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url === '/.well-known/openid-configuration') {
    res.end(
      JSON.stringify({
        issuer,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      }),
    );
  } else if (req.url === '/jwks') {
    res.end(JSON.stringify({ keys: [jwk] }));
  } else {
    res.statusCode = 404;
    res.end('{}');
  }
});
await new Promise((r) => idp.listen(0, '127.0.0.1', r));
const issuer = `http://127.0.0.1:${idp.address().port}`;
idp.unref();

async function mint(count) {
  const workers = Math.max(1, Math.min(2, os.cpus().length));
  const per = Math.ceil(count / workers);
  const parts = await Promise.all(
    Array.from(
      { length: workers },
      (_, w) =>
        new Promise((resolvePart, reject) => {
          const worker = new Worker(join(BENCH, 'mint-worker.mjs'), {
            workerData: {
              pem,
              kid: jwk.kid,
              iss: issuer,
              aud: AUDIENCE,
              from: w * per,
              count: Math.min(per, count - w * per),
            },
          });
          worker.once('message', resolvePart);
          worker.once('error', reject);
        }),
    ),
  );
  return parts.flat();
}

// --- processes ---------------------------------------------------------------
function startChild(script, args) {
  return new Promise((resolveChild, reject) => {
    const child = spawn(process.execPath, [join(BENCH, script), ...args], {
      env,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) resolveChild({ child, url: `http://127.0.0.1:${m[1]}` });
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code})`)));
  });
}

async function startServe(args, extraEnv = {}, nodeArgs = []) {
  const logFile = join(work, `serve-${Date.now()}.log`);
  const fd = openSync(logFile, 'w');
  const child = spawn(
    process.execPath,
    [...nodeArgs, BIN, 'serve', '--port', '0', '--log-format', 'json', ...args],
    {
      env: { ...env, ...extraEnv },
      stdio: ['ignore', 'ignore', fd],
    },
  );
  closeSync(fd);
  children.add(child);
  for (let i = 0; i < 300; i++) {
    const m = /listening on (http:\/\/[^\s"]+)/.exec(readFileSync(logFile, 'utf8'));
    if (m) return { child, url: m[1], logFile };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`oidc-gw serve did not start: ${readFileSync(logFile, 'utf8')}`);
}

function stop(child) {
  return new Promise((resolveStop) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolveStop();
    const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
    child.once('exit', () => {
      clearTimeout(timer);
      children.delete(child);
      resolveStop();
    });
    child.kill('SIGTERM');
  });
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

// --- load ----------------------------------------------------------------------
function cannon(url, options) {
  return new Promise((resolveRun, reject) => {
    const instance = autocannon(
      { url: `${url}/api/items`, connections: CONNECTIONS, ...options },
      (error, result) => (error ? reject(error) : resolveRun(result)),
    );
    autocannon.track(instance, {
      renderProgressBar: false,
      renderResultsTable: false,
      renderLatencyTable: false,
    });
  });
}

// One cursor per token list for the whole run, so that later rounds continue
// where earlier ones stopped (cycling more tokens than the cache holds).
const cursors = new Map();
function tokenRequests(tokens) {
  if (typeof tokens === 'string') return { headers: { authorization: `Bearer ${tokens}` } };
  if (!cursors.has(tokens)) cursors.set(tokens, { next: 0 });
  const cursor = cursors.get(tokens);
  return {
    requests: [
      {
        method: 'GET',
        setupRequest: (req) => ({
          ...req,
          headers: {
            ...req.headers,
            authorization: `Bearer ${tokens[cursor.next++ % tokens.length]}`,
          },
        }),
      },
    ],
  };
}

async function measure(name, url, tokens) {
  const r = await cannon(url, { duration: DURATION, ...tokenRequests(tokens) });
  const row = {
    name,
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
  log(
    `  ${name}: ${Math.round(row.rps)} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, non-2xx ${row.non2xx}, errors ${row.errors}`,
  );
  return row;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

// --- run ---------------------------------------------------------------------
const started = Date.now();
const load0 = os.loadavg();
log(
  `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, load average ${load0.map((l) => l.toFixed(2)).join(' ')}`,
);
log(`minting ${DISTINCT} distinct RS256 tokens...`);
const distinct = await mint(DISTINCT);
const token = distinct[0];

// All targets run at once (idle when not measured) and the rounds interleave
// them, so that load from other processes on a shared machine falls on all
// targets alike. Each figure is the median over the rounds.
const upstream = await startChild('upstream.mjs', []);
const plain = await startChild('plain-proxy.mjs', [upstream.url]);
const expressStack = await startChild('express-stack.mjs', [
  upstream.url,
  `${issuer}/jwks`,
  issuer,
  AUDIENCE,
]);
const serveArgs = ['--upstream', upstream.url, '--issuer', issuer, '--audience', AUDIENCE];
const serve = await startServe(serveArgs);
const targets = [
  { name: 'upstream directly', url: upstream.url, tokens: token },
  { name: 'plain node:http + undici proxy (no auth)', url: plain.url, tokens: token },
  {
    name: 'express + express-jwt + jwks-rsa + http-proxy-middleware',
    url: expressStack.url,
    tokens: token,
  },
  { name: 'oidc-gw serve', url: serve.url, tokens: token },
  {
    name: 'express stack, a different token on every request',
    url: expressStack.url,
    tokens: distinct,
  },
  { name: 'oidc-gw serve, a different token on every request', url: serve.url, tokens: distinct },
];
for (const t of targets) {
  log(`warm-up ${WARMUP} s: ${t.name}`);
  await cannon(t.url, { duration: WARMUP, ...tokenRequests(t.tokens) });
}
const runs = new Map(targets.map((t) => [t.name, []]));
for (let round = 1; round <= ROUNDS; round++) {
  log(`round ${round} of ${ROUNDS}: ${DURATION} s per target at ${CONNECTIONS} connections`);
  for (const t of targets) runs.get(t.name).push(await measure(t.name, t.url, t.tokens));
}
const rows = targets.map((t) => {
  const rs = runs.get(t.name);
  return {
    name: t.name,
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    rounds: rs.map((r) => Math.round(r.rps)),
    requests: rs.reduce((n, r) => n + r.requests, 0),
    non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
    errors: rs.reduce((n, r) => n + r.errors, 0),
  };
});
await stop(serve.child);
const logLines = readFileSync(serve.logFile, 'utf8')
  .split('\n')
  .filter((l) => l.includes('"status"')).length;
await stop(plain.child);
await stop(expressStack.child);
const serveDistinct = rows.find(
  (r) => r.name === 'oidc-gw serve, a different token on every request',
);
const expressDistinct = rows.find(
  (r) => r.name === 'express stack, a different token on every request',
);

async function rss(name, start) {
  log(`RSS: ${name}: ${RSS_REQUESTS} requests over ${RSS_TOKENS} distinct tokens, fresh process`);
  const target = await start();
  const before = rssMiB(target.child.pid);
  // The highest RSS seen during the run, sampled every 100 ms.
  let peak = before;
  const sampler = setInterval(() => {
    const now = rssMiB(target.child.pid);
    if (now > peak) peak = now;
  }, 100);
  const run = await cannon(target.url, {
    amount: RSS_REQUESTS,
    ...tokenRequests(distinct.slice(0, RSS_TOKENS)),
  });
  clearInterval(sampler);
  const after = rssMiB(target.child.pid);
  peak = Math.max(peak, after);
  await stop(target.child);
  log(
    `  RSS ${before.toFixed(1)} MiB at start, ${after.toFixed(1)} MiB after, ${peak.toFixed(1)} MiB at most; ${Math.round(run.requests.average)} req/s, non-2xx ${run.non2xx}, errors ${run.errors}`,
  );
  return {
    name,
    before,
    after,
    peak,
    rps: run.requests.average,
    non2xx: run.non2xx,
    errors: run.errors + run.timeouts,
  };
}
const rssRows = [];
rssRows.push(await rss('oidc-gw serve', () => startServe(serveArgs)));
// V8's defaults: serve keeps an operator's choice, and these are V8's own values
// (16 MiB semi-spaces at most; 0 = V8's dynamic old-generation growth).
rssRows.push(
  await rss(
    'oidc-gw serve, V8 defaults (node --max-semi-space-size=16 --heap-growing-percent=0)',
    () => startServe(serveArgs, {}, ['--max-semi-space-size=16', '--heap-growing-percent=0']),
  ),
);
rssRows.push(
  await rss('plain node:http + undici proxy (no auth)', () =>
    startChild('plain-proxy.mjs', [upstream.url]),
  ),
);
await stop(upstream.child);
const load1 = os.loadavg();

// --- report --------------------------------------------------------------------
const by = (name) => rows.find((r) => r.name === name);
const plainRow = by('plain node:http + undici proxy (no auth)');
const expressRow = by('express + express-jwt + jwks-rsa + http-proxy-middleware');
const serveRow = by('oidc-gw serve');
const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
const lines = [];
lines.push(
  `| target | req/s (median) | p50 (ms) | p99 (ms) | req/s per round | requests | non-2xx | errors |`,
);
lines.push(`|---|---:|---:|---:|---|---:|---:|---:|`);
for (const r of rows)
  lines.push(
    `| ${r.name} | ${fmt(r.rps)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.rounds.join(', ')} | ${r.requests} | ${r.non2xx} | ${r.errors} |`,
  );
lines.push('');
lines.push(`| ratio | value | target |`);
lines.push(`|---|---:|---|`);
lines.push(`| serve / plain proxy (req/s) | ${fmt(serveRow.rps / plainRow.rps, 2)} | >= 0.9 |`);
lines.push(`| serve / express stack (req/s) | ${fmt(serveRow.rps / expressRow.rps, 2)} | >= 5 |`);
lines.push(`| serve p99 - plain proxy p99 (ms) | ${fmt(serveRow.p99 - plainRow.p99, 2)} | <= 1 |`);
lines.push(
  `| serve, distinct tokens / plain proxy (req/s) | ${fmt(serveDistinct.rps / plainRow.rps, 2)} | >= 0.5 |`,
);
lines.push(
  `| serve, distinct tokens / express, distinct tokens (req/s) | ${fmt(serveDistinct.rps / expressDistinct.rps, 2)} | |`,
);
lines.push('');
lines.push(
  `| RSS, ${RSS_REQUESTS} requests over ${RSS_TOKENS} distinct tokens | at start (MiB) | after (MiB) | highest (MiB) | req/s | non-2xx | errors |`,
);
lines.push(`|---|---:|---:|---:|---:|---:|---:|`);
for (const r of rssRows)
  lines.push(
    `| ${r.name} | ${fmt(r.before, 1)} | ${fmt(r.after, 1)} | ${fmt(r.peak, 1)} | ${fmt(r.rps)} | ${r.non2xx} | ${r.errors} |`,
  );
lines.push('');
lines.push(
  `${ROUNDS} interleaved rounds of ${DURATION} s per target after a ${WARMUP} s warm-up, medians shown, ${CONNECTIONS} connections, autocannon ${JSON.parse(readFileSync(join(ROOT, 'node_modules', 'autocannon', 'package.json'), 'utf8')).version} in the benchmark process; ` +
    `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; load average ${load0.map((l) => l.toFixed(1)).join('/')} at start, ${load1.map((l) => l.toFixed(1)).join('/')} at end; ` +
    `serve wrote ${logLines} request log lines (JSON, to a file); total ${Math.round((Date.now() - started) / 1000)} s.`,
);
process.stdout.write(`${lines.join('\n')}\n`);
process.exit(0);
