#!/usr/bin/env node
// `npm run bench`: start-up cost of the CLI, as ratios to `node -e 0` measured
// in the same run. Median of N interleaved runs per target; NODE_EXTRA_CA_CERTS
// unset for all of them (loading a CA bundle costs every Node process tens of ms).
// Usage: node bench/startup.mjs [--runs N]
import { spawnSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'oidc-gw.js');
const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 31;

const home = mkdtempSync(join(tmpdir(), 'oidc-gw-bench-'));
const env = {
  ...process.env,
  HOME: home,
  XDG_CONFIG_HOME: join(home, 'c'),
  XDG_CACHE_HOME: join(home, 'k'),
  NO_COLOR: '1',
};
delete env.NODE_EXTRA_CA_CERTS;
for (const k of Object.keys(env)) if (k.startsWith('OIDC_GW_')) delete env[k];

function time(args, extraEnv = {}) {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, {
    env: { ...env, ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// A token to decode: any well-formed JWT (decode does not verify without --verify).
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
const now = Math.floor(Date.now() / 1000);
const jwt = `${b64({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' })}.${b64({ iss: 'https://idp.example/', aud: 'https://api.example/', sub: 'alice', exp: now + 3600, iat: now, scope: 'read' })}.${Buffer.alloc(256, 1).toString('base64url')}`;

// A cached client-credentials token: obtained once from the dev IdP, then every
// timed run is served from the cache (no network request).
async function startIdp() {
  const child = spawn(
    process.execPath,
    [BIN, 'idp', '--port', '0', '--json', '--client-secret', 'bench-secret'],
    {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const info = await new Promise((resolveInfo, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('idp did not start')), 20_000);
    child.stdout.on('data', (d) => {
      buf += d;
      const line = buf.split('\n').find((l) => l.trim().startsWith('{'));
      if (line) {
        try {
          const parsed = JSON.parse(buf.trim());
          clearTimeout(timer);
          resolveInfo(parsed);
        } catch {
          /* wait for the whole document */
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`idp exited ${code}`)));
  });
  return { child, info };
}

const targets = [
  ['node -e 0', ['-e', '0']],
  ['oidc-gw --help', [BIN, '--help']],
  ['oidc-gw decode TOKEN', [BIN, 'decode', jwt]],
];

let idp;
try {
  idp = await startIdp();
  const { issuer, audience } = idp.info;
  const ccArgs = [
    BIN,
    'token',
    '--client-credentials',
    '--issuer',
    issuer,
    '--client-id',
    'oidc-gw-service',
    '--client-secret',
    'bench-secret',
    '--audience',
    audience,
  ];
  time(ccArgs); // fills the cache
  targets.push(['oidc-gw token --client-credentials (cached)', ccArgs]);
} catch (error) {
  console.error(`note: cached-token target skipped: ${error.message}`);
}

// decode exits 1 when a check fails; our token is valid, so all targets exit 0.
// Warm the file system cache; a target that does not run is reported and left out.
for (const [name, args] of [...targets]) {
  try {
    time(args);
  } catch (error) {
    console.error(`note: ${name} left out: ${String(error.message).split('\n')[0]}`);
    targets.splice(
      targets.findIndex(([n]) => n === name),
      1,
    );
  }
}
const samples = new Map(targets.map(([name]) => [name, []]));
for (let i = 0; i < RUNS; i++) {
  for (const [name, args] of targets) samples.get(name).push(time(args));
}
idp?.child.kill('SIGTERM');

const base = median(samples.get('node -e 0'));
const goals = {
  'oidc-gw --help': 1.5,
  'oidc-gw decode TOKEN': 1.6,
  'oidc-gw token --client-credentials (cached)': 1.8,
};
console.log(`start-up, median of ${RUNS} interleaved runs (node ${process.version})`);
console.log('| target | median ms | ratio to node -e 0 | target ratio |');
console.log('|---|---:|---:|---:|');
for (const [name] of targets) {
  const m = median(samples.get(name));
  console.log(
    `| ${name} | ${m.toFixed(1)} | ${(m / base).toFixed(2)}x | ${goals[name] ? `<= ${goals[name]}x` : ''} |`,
  );
}
rmSync(home, { recursive: true, force: true });
