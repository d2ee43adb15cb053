#!/usr/bin/env node
// `npm run bench:serve`: throughput, latency and CPU per request of
// `oidc-gw serve` (the built CLI, logging one JSON line per request to a
// file), with wrk (Debian package `wrk`) as the load generator and the
// baselines measured in the same run, against the same upstream with the
// same RS256 token:
//   upstream    the upstream directly (bench/upstream.mjs)
//   raw         a raw node:http + undici proxy, no auth (bench/plain-proxy.mjs)
//   haproxy     HAProxy's jwt_verify (Debian `haproxy`, bench/haproxy.cfg)
//   serve       oidc-gw serve, flags (--issuer, --audience), one worker
//   distinct    the same serve, a different token on every request (more
//               tokens than the verified-token cache holds: every request
//               is a full RS256 verification)
//   api1        serve --file with 1 API (oidc-gw YAML)
//   api20       serve --file with 20 APIs, the request going to the API the
//               router tries last (routing cost)
//   limits      serve --rate-limit 1000000/1m, counters in memory
//   redis       the same with --redis on loopback (a redis-server started
//               here; Redis commands per request from INFO commandstats)
//   workers2    serve --workers 2 (when the built CLI has --workers)
// then `rss`: a fresh serve with limits on, driven through N distinct
// identities (a distinct token and `sub` per request), RSS from /proc; and
// `rss-v8`: the same with V8's default heap settings, which serve otherwise
// tightens (docs/commands/serve.md, "Memory").
// Every target runs at once (idle when not measured); they are measured
// one at a time in interleaved rounds, the order rotated each round, after
// a warm-up each, and the medians of the rounds are reported. CPU per
// request is the target's utime + stime (/proc/PID/stat, all its processes)
// over the run divided by the requests. Everything listens on 127.0.0.1;
// every process started here is stopped by its PID.
// Usage: node bench/serve.mjs [--rounds N] [--seconds S] [--warmup S]
//   [--connections N] [--threads N] [--distinct N] [--identities N]
//   [--rss-max-seconds S] [--haproxy-threads N] [--targets a,b,...] [--keep]
// Defaults: 5 rounds of 10 s, 2 s warm-up, 50 connections, 1 wrk thread,
// 12000 distinct tokens, 100000 identities, rss bounded at 300 s, HAProxy
// with 1 thread, every target, rss and rss-v8. --keep leaves the work folder (serve's
// logs, the tokens, the configurations) in place and prints its path.
import { execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BENCH = join(ROOT, 'bench');
const BIN = join(ROOT, 'bin', 'oidc-gw.js');
const WRK = '/usr/bin/wrk';
const HAPROXY = '/usr/sbin/haproxy';
const REDIS_SERVER = '/usr/bin/redis-server';
const REDIS_CLI = '/usr/bin/redis-cli';
const ALL_TARGETS = [
  'upstream',
  'raw',
  'haproxy',
  'serve',
  'distinct',
  'api1',
  'api20',
  'limits',
  'redis',
  'workers2',
  'rss',
  'rss-v8',
];

const { values: flags } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '50' },
    threads: { type: 'string', default: '1' },
    distinct: { type: 'string', default: '12000' },
    identities: { type: 'string', default: '100000' },
    'rss-max-seconds': { type: 'string', default: '300' },
    'haproxy-threads': { type: 'string', default: '1' },
    targets: { type: 'string', default: ALL_TARGETS.join(',') },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
});
function count(name, min = 1) {
  const n = Number(flags[name]);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`--${name} takes a whole number >= ${min}, not "${flags[name]}"\n`);
    process.exit(2);
  }
  return n;
}
const ROUNDS = count('rounds');
const SECONDS = count('seconds');
const WARMUP = count('warmup', 0);
const CONNECTIONS = count('connections');
const THREADS = count('threads');
const DISTINCT = count('distinct');
const IDENTITIES = count('identities');
const RSS_MAX_SECONDS = count('rss-max-seconds');
const HAPROXY_THREADS = count('haproxy-threads');
const SELECTED = new Set(flags.targets.split(',').filter(Boolean));
for (const key of SELECTED)
  if (!ALL_TARGETS.includes(key)) {
    process.stderr.write(`--targets: unknown target "${key}" (known: ${ALL_TARGETS.join(', ')})\n`);
    process.exit(2);
  }
const AUDIENCE = 'https://api.bench.test/';
const PATH = '/api/items';
const RATE_LIMIT = '1000000/1m';

const work = mkdtempSync(join(os.tmpdir(), 'oidc-gw-bench-serve-'));
/** Every process started here, by PID, until it has exited. */
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
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  if (flags.keep) log(`kept ${work} (logs, tokens, configurations)`);
  else rmSync(work, { recursive: true, force: true });
}
process.on('exit', cleanup);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

for (const [what, file] of [
  ['wrk (Debian package wrk)', WRK],
  ['the built CLI (npm run build)', BIN],
  ...(SELECTED.has('haproxy') ? [['HAProxy (Debian package haproxy)', HAPROXY]] : []),
  ...(SELECTED.has('redis')
    ? [
        ['redis-server (Debian package redis-server)', REDIS_SERVER],
        ['redis-cli', REDIS_CLI],
      ]
    : []),
])
  if (!existsSync(file)) {
    log(`missing ${what}: ${file}`);
    process.exit(2);
  }

// --- keys, issuer (discovery + JWKS), tokens ---------------------------------
// RS256 for the repeated token and the distinct-token row (what IdPs sign
// with); ES256 for the many-identity RSS run only, because signing 100,000
// RS256 tokens takes minutes (RSS does not depend on the algorithm).
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const RSA_KID = 'bench-rs256';
const EC_KID = 'bench-es256';
const jwks = {
  keys: [
    { ...rsa.publicKey.export({ format: 'jwk' }), kid: RSA_KID, alg: 'RS256', use: 'sig' },
    { ...ec.publicKey.export({ format: 'jwk' }), kid: EC_KID, alg: 'ES256', use: 'sig' },
  ],
};
const publicKeyFile = join(work, 'rs256-public.pem');
writeFileSync(publicKeyFile, rsa.publicKey.export({ type: 'spki', format: 'pem' }));
const idp = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  if (req.url === '/.well-known/openid-configuration') {
    res.end(
      JSON.stringify({
        issuer,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256', 'ES256'],
      }),
    );
  } else if (req.url === '/jwks') {
    res.end(JSON.stringify(jwks));
  } else {
    res.statusCode = 404;
    res.end('{}');
  }
});
await new Promise((r) => idp.listen(0, '127.0.0.1', r));
const issuer = `http://127.0.0.1:${idp.address().port}`;
idp.unref();

async function mint(total, alg, prefix) {
  const pem = (alg === 'ES256' ? ec : rsa).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const workers = Math.max(1, Math.min(2, os.cpus().length));
  const per = Math.ceil(total / workers);
  const parts = await Promise.all(
    Array.from(
      { length: workers },
      (_, w) =>
        new Promise((resolvePart, reject) => {
          const worker = new Worker(join(BENCH, 'mint-worker.mjs'), {
            workerData: {
              pem,
              alg,
              kid: alg === 'ES256' ? EC_KID : RSA_KID,
              iss: issuer,
              aud: AUDIENCE,
              from: w * per,
              count: Math.max(0, Math.min(per, total - w * per)),
              prefix,
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
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolvePort(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolveConnect) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolveConnect(true);
    });
    socket.once('error', () => resolveConnect(false));
  });
}

function startNodeChild(script, args) {
  return new Promise((resolveChild, reject) => {
    const child = track(
      spawn(process.execPath, [join(BENCH, script), ...args], {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) resolveChild({ child, url: `http://127.0.0.1:${m[1]}`, pids: () => [child.pid] });
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code})`)));
  });
}

/** PIDs of the direct children of `pid` (the workers of `serve --workers`). */
function childPids(pid) {
  const found = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

// OIDC_GW_BENCH_NODE_ARGS: extra node flags for every serve target (e.g.
// `--cpu-prof --cpu-prof-dir=DIR` to profile the gateway under this load).
const EXTRA_NODE_ARGS = (process.env['OIDC_GW_BENCH_NODE_ARGS'] ?? '').split(' ').filter(Boolean);

async function startServe(name, args, { workers = 1, nodeArgs = [] } = {}) {
  nodeArgs = [...EXTRA_NODE_ARGS, ...nodeArgs];
  const logFile = join(work, `${name}.log`);
  const fd = openSync(logFile, 'w');
  const child = track(
    spawn(
      process.execPath,
      [...nodeArgs, BIN, 'serve', '--port', '0', '--log-format', 'json', ...args],
      {
        env,
        stdio: ['ignore', 'ignore', fd],
      },
    ),
  );
  closeSync(fd);
  const ready =
    workers > 1
      ? /workers \(pids [\d, ]+\) listening on (http:\/\/[^\s"]+)/
      : /listening on (http:\/\/[^\s"]+)/;
  for (let i = 0; i < 600; i++) {
    const m = ready.exec(readFileSync(logFile, 'utf8'));
    if (m) {
      const pids = workers > 1 ? () => [child.pid, ...childPids(child.pid)] : () => [child.pid];
      return { child, url: m[1], logFile, pids };
    }
    if (child.exitCode !== null) break;
    await sleep(50);
  }
  throw new Error(`oidc-gw serve (${name}) did not start: ${readFileSync(logFile, 'utf8')}`);
}

async function startHaproxy(upstreamUrl) {
  const template = readFileSync(join(BENCH, 'haproxy.cfg'), 'utf8');
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const cfg = join(work, 'haproxy.cfg');
    const fill = {
      PORT: String(port),
      THREADS: String(HAPROXY_THREADS),
      UPSTREAM: new URL(upstreamUrl).host,
      KEY: publicKeyFile,
      ISSUER: issuer,
      AUDIENCE,
    };
    writeFileSync(
      cfg,
      template.replace(/@([A-Z]+)@/g, (all, key) => fill[key] ?? all),
    );
    const child = track(
      spawn(HAPROXY, ['-db', '-f', cfg], { env, stdio: ['ignore', 'ignore', 'pipe'] }),
    );
    let errors = '';
    child.stderr.on('data', (d) => (errors += d));
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      if (await canConnect(port))
        return { child, url: `http://127.0.0.1:${port}`, pids: () => [child.pid] };
      await sleep(100);
    }
    await stop(child);
    log(`haproxy did not start (attempt ${attempt}): ${errors.trim()}`);
  }
  throw new Error('haproxy did not start');
}

async function startRedis() {
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const child = track(
      spawn(
        REDIS_SERVER,
        [
          '--bind',
          '127.0.0.1',
          '--port',
          String(port),
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          work,
          '--daemonize',
          'no',
        ],
        { env, stdio: ['ignore', 'pipe', 'pipe'] },
      ),
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      if (/Ready to accept connections/.test(out)) return { child, port };
      await sleep(100);
    }
    await stop(child);
    log(`redis-server did not start (attempt ${attempt}): ${out.trim().split('\n').pop()}`);
  }
  throw new Error('redis-server did not start');
}

/** Calls per Redis command so far (INFO commandstats), without INFO itself. */
function redisCommandCalls(port) {
  const text = execFileSync(
    REDIS_CLI,
    ['-h', '127.0.0.1', '-p', String(port), 'INFO', 'commandstats'],
    {
      encoding: 'utf8',
    },
  );
  const calls = {};
  for (const m of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm))
    if (m[1] !== 'info') calls[m[1]] = Number(m[2]);
  return calls;
}

function stop(child) {
  return new Promise((resolveStop) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolveStop();
    const timer = setTimeout(() => child.kill('SIGKILL'), 12_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveStop();
    });
    child.kill('SIGTERM');
  });
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
/** utime + stime of these processes, in seconds (0 for one that is gone). */
function cpuSeconds(pids) {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // fields 14 and 15 of proc(5)
    } catch {
      // exited
    }
  }
  return ticks / CLK_TCK;
}

function rssMiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** One request, for the sanity checks before measuring. */
function probe(url, token) {
  return new Promise((resolveProbe, reject) => {
    const req = http.get(
      `${url}${PATH}`,
      { agent: false, headers: token ? { authorization: `Bearer ${token}` } : {} },
      (res) => {
        res.resume();
        res.on('end', () => resolveProbe(res.statusCode));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('probe timed out')));
    req.once('error', reject);
  });
}

// --- load ----------------------------------------------------------------------
/**
 * One wrk run. `token`: the same token on every request; `tokensFile`: the
 * next token of the file on every request; `stopAfter`: stop after that
 * many responses (bounded by `seconds` all the same).
 */
function runWrk(url, { seconds, token, tokensFile, stopAfter }) {
  return new Promise((resolveRun, reject) => {
    const child = track(
      spawn(
        WRK,
        [
          '-t',
          String(THREADS),
          '-c',
          String(CONNECTIONS),
          '-d',
          `${seconds}s`,
          '--timeout',
          '5s',
          '-s',
          join(BENCH, 'wrk.lua'),
          `${url}${PATH}`,
        ],
        {
          env: {
            ...env,
            WRK_THREADS: String(THREADS),
            ...(token ? { WRK_TOKEN: token } : {}),
            ...(tokensFile ? { WRK_TOKENS: tokensFile } : {}),
            ...(stopAfter ? { WRK_STOP_AFTER: String(stopAfter) } : {}),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    );
    let out = '';
    let errors = '';
    let interrupted = false;
    child.stdout.on('data', (d) => {
      out += d;
      if (
        stopAfter &&
        !interrupted &&
        (out.match(/^@@wrk-thread-done$/gm) ?? []).length >= THREADS
      ) {
        interrupted = true;
        child.kill('SIGINT'); // wrk then stops and reports, as on Ctrl-C
      }
    });
    child.stderr.on('data', (d) => (errors += d));
    child.once('exit', (code) => {
      const m = /^@@wrk-json (.*)$/m.exec(out);
      if (code !== 0 || !m) {
        reject(new Error(`wrk failed (${code}): ${errors.trim() || out.trim()}`));
        return;
      }
      const r = JSON.parse(m[1]);
      resolveRun({
        requests: r.requests,
        rps: r.requests / (r.duration_us / 1e6),
        p50: r.p50 / 1000,
        p99: r.p99 / 1000,
        non2xx: r.status,
        errors: r.connect + r.read + r.write + r.timeout,
        ok: r.ok,
        seconds: r.duration_us / 1e6,
      });
    });
  });
}

async function measure(target, seconds) {
  const pids = target.pids();
  const redisBefore = target.redisPort ? redisCommandCalls(target.redisPort) : undefined;
  const cpuBefore = cpuSeconds(pids);
  const r = await runWrk(target.url, { seconds, ...target.load });
  const cpu = cpuSeconds(pids) - cpuBefore;
  const row = { ...r, cpuUs: (cpu * 1e6) / Math.max(1, r.requests) };
  if (redisBefore) {
    const after = redisCommandCalls(target.redisPort);
    row.redis = Object.fromEntries(
      Object.entries(after).map(([cmd, n]) => [cmd, (n - (redisBefore[cmd] ?? 0)) / r.requests]),
    );
  }
  return row;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const fmt = (n, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');

// --- run ---------------------------------------------------------------------
const started = Date.now();
const load0 = os.loadavg();
const wrkVersion = /wrk (\S+)/.exec(
  (() => {
    try {
      return execFileSync(WRK, ['-v'], { encoding: 'utf8' });
    } catch (e) {
      return String(e.stdout ?? '');
    }
  })(),
)?.[1];
log(
  `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, wrk ${wrkVersion}, load average ${load0.map((l) => l.toFixed(2)).join(' ')}`,
);
if (load0[0] > 1.5)
  log('note: load average above 1.5: other work is running, figures will be noisy');

const serveHelp = execFileSync(process.execPath, [BIN, 'serve', '--help'], {
  env,
  encoding: 'utf8',
});
if (SELECTED.has('workers2') && !serveHelp.includes('--workers')) {
  log('notice: this build of serve has no --workers: the workers2 target is skipped');
  SELECTED.delete('workers2');
}

log('minting tokens...');
const [token] = await mint(1, 'RS256', 'bench-user-');
const distinctFile = join(work, 'distinct-tokens.txt');
if (SELECTED.has('distinct')) {
  log(`  ${DISTINCT} distinct RS256 tokens`);
  writeFileSync(distinctFile, `${(await mint(DISTINCT, 'RS256', 'distinct-')).join('\n')}\n`);
}
const identitiesFile = join(work, 'identity-tokens.txt');
if (SELECTED.has('rss') || SELECTED.has('rss-v8')) {
  log(`  ${IDENTITIES} distinct ES256 tokens, each with its own sub`);
  writeFileSync(identitiesFile, `${(await mint(IDENTITIES, 'ES256', 'identity-')).join('\n')}\n`);
}

const upstream = await startNodeChild('upstream.mjs', []);
const flagArgs = ['--upstream', upstream.url, '--issuer', issuer, '--audience', AUDIENCE];

function planYaml(apiCount) {
  const api = (name, path) =>
    [
      `  - name: ${name}`,
      `    path: ${path}`,
      `    upstream: ${upstream.url}`,
      `    issuers: [${JSON.stringify(issuer)}]`,
      `    audiences: [${JSON.stringify(AUDIENCE)}]`,
    ].join('\n');
  // The router tries the longest prefixes first: the others' prefixes are
  // all longer than /api, so a request to /api/items is matched against
  // every other API before its own.
  const others = Array.from({ length: apiCount - 1 }, (_, i) =>
    api(
      `service-${String(i + 1).padStart(2, '0')}`,
      `/service-${String(i + 1).padStart(2, '0')}/v1`,
    ),
  );
  return `apis:\n${[...others, api('api', '/api')].join('\n')}\n`;
}

const targets = [];
const want = (key) => SELECTED.has(key);
let serve;
let redis;
if (want('upstream'))
  targets.push({ key: 'upstream', name: 'upstream directly', ...upstream, auth: false });
if (want('raw')) {
  const raw = await startNodeChild('plain-proxy.mjs', [upstream.url]);
  targets.push({ key: 'raw', name: 'raw node:http + undici proxy (no auth)', ...raw, auth: false });
}
if (want('haproxy')) {
  const h = await startHaproxy(upstream.url);
  targets.push({
    key: 'haproxy',
    name: `HAProxy jwt_verify (${HAPROXY_THREADS} thread${HAPROXY_THREADS > 1 ? 's' : ''})`,
    ...h,
    auth: true,
  });
}
if (want('serve') || want('distinct')) serve = await startServe('serve', flagArgs);
if (want('serve')) targets.push({ key: 'serve', name: 'oidc-gw serve', ...serve, auth: true });
if (want('distinct'))
  targets.push({
    key: 'distinct',
    name: `oidc-gw serve, a different token on every request (${DISTINCT} cycled)`,
    ...serve,
    auth: true,
    load: { tokensFile: distinctFile },
  });
for (const [key, apis] of [
  ['api1', 1],
  ['api20', 20],
]) {
  if (!want(key)) continue;
  const file = join(work, `plan-${apis}.yaml`);
  writeFileSync(file, planYaml(apis));
  const s = await startServe(key, ['--file', file, '--format', 'oidc-gw']);
  targets.push({
    key,
    name: `oidc-gw serve --file, ${apis} API${apis > 1 ? 's (the request matched last)' : ''}`,
    ...s,
    auth: true,
  });
}
if (want('limits')) {
  const s = await startServe('limits', [...flagArgs, '--rate-limit', RATE_LIMIT]);
  targets.push({
    key: 'limits',
    name: `oidc-gw serve --rate-limit ${RATE_LIMIT} (memory)`,
    ...s,
    auth: true,
  });
}
if (want('redis')) {
  redis = await startRedis();
  const s = await startServe('redis', [
    ...flagArgs,
    '--rate-limit',
    RATE_LIMIT,
    '--redis',
    `redis://127.0.0.1:${redis.port}`,
  ]);
  targets.push({
    key: 'redis',
    name: `oidc-gw serve --rate-limit ${RATE_LIMIT} --redis (loopback)`,
    ...s,
    auth: true,
    redisPort: redis.port,
  });
}
if (want('workers2')) {
  const s = await startServe('workers2', [...flagArgs, '--workers', '2'], { workers: 2 });
  targets.push({ key: 'workers2', name: 'oidc-gw serve --workers 2', ...s, auth: true });
}
for (const t of targets) t.load ??= { token };

// Sanity: every target answers 200 to the token, and every verifying one
// 401 to the same token with another signature.
const forged = `${token.slice(0, token.lastIndexOf('.'))}.${Buffer.alloc(256, 7).toString('base64url')}`;
for (const t of targets) {
  const good = await probe(t.url, token);
  const bad = t.auth ? await probe(t.url, forged) : 401;
  if (good !== 200 || bad !== 401) {
    log(`${t.name}: expected 200 and 401, got ${good} and ${bad}`);
    process.exit(1);
  }
}

if (targets.length > 0 && WARMUP > 0)
  for (const t of targets) {
    log(`warm-up ${WARMUP} s: ${t.name}`);
    await runWrk(t.url, { seconds: WARMUP, ...t.load });
  }
const runs = new Map(targets.map((t) => [t.key, []]));
for (let round = 0; round < ROUNDS && targets.length > 0; round++) {
  const shift = round % targets.length;
  const order = [...targets.slice(shift), ...targets.slice(0, shift)];
  log(`round ${round + 1} of ${ROUNDS}: ${SECONDS} s per target, ${CONNECTIONS} connections`);
  for (const t of order) {
    const r = await measure(t, SECONDS);
    runs.get(t.key).push(r);
    log(
      `  ${t.name}: ${Math.round(r.rps)} req/s, p50 ${fmt(r.p50, 2)} ms, p99 ${fmt(r.p99, 2)} ms, CPU ${fmt(r.cpuUs, 1)} µs/request, non-2xx ${r.non2xx}, errors ${r.errors}`,
    );
  }
}
const rows = targets.map((t) => {
  const rs = runs.get(t.key);
  const row = {
    key: t.key,
    name: t.name,
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    cpuUs: median(rs.map((r) => r.cpuUs)),
    rounds: rs.map((r) => Math.round(r.rps)),
    requests: rs.reduce((n, r) => n + r.requests, 0),
    non2xx: rs.reduce((n, r) => n + r.non2xx, 0),
    errors: rs.reduce((n, r) => n + r.errors, 0),
  };
  if (t.redisPort) {
    const commands = new Set(rs.flatMap((r) => Object.keys(r.redis)));
    row.redis = Object.fromEntries(
      [...commands].map((c) => [c, median(rs.map((r) => r.redis[c] ?? 0))]),
    );
  }
  return row;
});
const logLines = {};
for (const t of targets)
  if (t.logFile && !(t.logFile in logLines)) {
    await stop(t.child);
    logLines[t.logFile] = readFileSync(t.logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"status"')).length;
  }
for (const t of targets) if (t.child !== upstream.child) await stop(t.child);
if (redis) await stop(redis.child);

/** A fresh serve with limits on, driven through IDENTITIES distinct identities. */
async function rss(name, nodeArgs) {
  log(
    `RSS: ${name}: fresh process, ${IDENTITIES} requests, each with another identity (at most ${RSS_MAX_SECONDS} s)`,
  );
  const s = await startServe('rss', [...flagArgs, '--rate-limit', RATE_LIMIT], { nodeArgs });
  const before = rssMiB(s.child.pid);
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMiB(s.child.pid));
  }, 100);
  const cpuBefore = cpuSeconds([s.child.pid]);
  const r = await runWrk(s.url, {
    seconds: RSS_MAX_SECONDS,
    tokensFile: identitiesFile,
    stopAfter: IDENTITIES,
  });
  clearInterval(sampler);
  const cpu = cpuSeconds([s.child.pid]) - cpuBefore;
  const after = rssMiB(s.child.pid);
  peak = Math.max(peak, after);
  await stop(s.child);
  log(
    `  RSS ${fmt(before, 1)} MiB at start, ${fmt(after, 1)} MiB after, ${fmt(peak, 1)} MiB at most; ${r.ok} requests answered 200; ${Math.round(r.rps)} req/s`,
  );
  return { name, before, after, peak, ...r, cpuUs: (cpu * 1e6) / Math.max(1, r.requests) };
}
const rssRows = [];
if (want('rss')) rssRows.push(await rss(`oidc-gw serve --rate-limit ${RATE_LIMIT}`, []));
// V8's own heap settings, which serve otherwise tightens (docs/commands/serve.md,
// "Memory"): 16 MiB semi-spaces at most, 0 = V8's dynamic old-generation growth.
if (want('rss-v8'))
  rssRows.push(
    await rss(
      `the same with V8's defaults (node --max-semi-space-size=16 --heap-growing-percent=0)`,
      ['--max-semi-space-size=16', '--heap-growing-percent=0'],
    ),
  );
await stop(upstream.child);
const load1 = os.loadavg();

// --- report --------------------------------------------------------------------
const by = (key) => rows.find((r) => r.key === key);
const lines = [];
if (rows.length > 0) {
  lines.push(
    '| target | req/s | p50 (ms) | p99 (ms) | CPU per request (µs) | req/s per round | requests | non-2xx | errors |',
  );
  lines.push('|---|---:|---:|---:|---:|---|---:|---:|---:|');
  for (const r of rows)
    lines.push(
      `| ${r.name} | ${fmt(r.rps)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.cpuUs, 1)} | ${r.rounds.join(', ')} | ${r.requests} | ${r.non2xx} | ${r.errors} |`,
    );
  lines.push('');
}
const ratios = [];
const ratio = (label, a, b, target, field = 'rps') => {
  const x = by(a);
  const y = by(b);
  if (x && y) ratios.push([label, fmt(x[field] / y[field], 3), target]);
};
const diff = (label, a, b, target) => {
  const x = by(a);
  const y = by(b);
  if (x && y) ratios.push([label, fmt(x.p99 - y.p99, 2), target]);
};
ratio('serve / raw proxy (req/s)', 'serve', 'raw', '>= 1.0');
ratio('serve / HAProxy jwt_verify (req/s)', 'serve', 'haproxy', '>= 1.0');
diff('serve p99 - raw proxy p99 (ms)', 'serve', 'raw', '<= 0.5');
ratio('serve, distinct tokens / raw proxy (req/s)', 'distinct', 'raw', '');
ratio('20 APIs / 1 API (req/s)', 'api20', 'api1', '>= 0.98');
ratio('limits in memory / no limits (req/s)', 'limits', 'serve', '>= 0.9');
ratio('limits in Redis / no limits (req/s)', 'redis', 'serve', '>= 0.5');
diff('limits in Redis p99 - no limits p99 (ms)', 'redis', 'serve', '');
ratio('--workers 2 / 1 worker (req/s)', 'workers2', 'serve', 'report');
ratio('--workers 2 / 1 worker (CPU per request)', 'workers2', 'serve', '', 'cpuUs');
if (ratios.length > 0) {
  lines.push('| ratio | value | target |');
  lines.push('|---|---:|---|');
  for (const [label, value, target] of ratios) lines.push(`| ${label} | ${value} | ${target} |`);
  lines.push('');
}
const redisRow = by('redis');
if (redisRow) {
  const entries = Object.entries(redisRow.redis).filter(([, n]) => n > 0);
  const total = entries.reduce((n, [, v]) => n + v, 0);
  lines.push(
    `Redis commands per request with limits in Redis: ${fmt(total, 2)} (${entries.map(([c, n]) => `${c} ${fmt(n, 2)}`).join(', ') || 'none'}), from INFO commandstats before and after each run (INFO itself left out), medians of the rounds. ` +
      'Commandstats also counts the commands a script runs (its redis.call()s) besides the EVALSHA that ran it: the round trips per request are the EVALSHA/EVAL count. ' +
      'Requests still in flight when wrk stops are served but not counted by wrk, which lifts every per-request figure by about connections / requests.',
  );
  lines.push('');
}
if (rssRows.length > 0) {
  lines.push(
    `| RSS, limits on (memory), ${IDENTITIES} distinct identities, one request each | at start (MiB) | after (MiB) | highest (MiB) | target | requests answered 200 | req/s | CPU per request (µs) | errors |`,
  );
  lines.push('|---|---:|---:|---:|---|---:|---:|---:|---:|');
  for (const r of rssRows)
    lines.push(
      `| ${r.name} | ${fmt(r.before, 1)} | ${fmt(r.after, 1)} | ${fmt(r.peak, 1)} | <= 150 | ${r.ok} | ${fmt(r.rps)} | ${fmt(r.cpuUs, 1)} | ${r.errors} |`,
    );
  lines.push('');
}
if (by('workers2'))
  lines.push(
    `\`--workers 2\` on ${os.cpus().length} cores: wrk, the upstream and the benchmark's other idle processes share the same cores, so two workers cannot double anything here; the ratio is bounded by the machine, and the CPU per request (all of the gateway's processes, primary included) is the figure that carries over.\n`,
  );
if (!want('workers2') && flags.targets.split(',').includes('workers2'))
  lines.push('`--workers 2` not measured: this build of serve has no --workers.\n');
lines.push(
  (rows.length > 0
    ? `${ROUNDS} interleaved rounds (order rotated) of ${SECONDS} s per target after a ${WARMUP} s warm-up each, medians shown; `
    : '') +
    `wrk ${wrkVersion}, ${THREADS} thread(s), ${CONNECTIONS} connections, on the same machine; ` +
    `${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, Node ${process.version}; load average ${load0.map((l) => l.toFixed(1)).join('/')} at start, ${load1.map((l) => l.toFixed(1)).join('/')} at end; ` +
    `serve wrote ${Object.values(logLines).reduce((a, b) => a + b, 0)} request log lines (JSON, to files); total ${Math.round((Date.now() - started) / 1000)} s.`,
);
process.stdout.write(`${lines.join('\n')}\n`);
process.exit(0);
