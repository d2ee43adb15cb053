#!/usr/bin/env node
// Writes V8 code caches for the bundle (dist/bundle/**/*.js.cache), read by
// bin/oidc-gw.js. It loads the bundle through the same loader, runs the
// commands whose start-up time matters (`--help`, `decode`, a cached `token`)
// in this one process with no network and no terminal, then saves, for every
// bundle file loaded, the code V8 compiled for it: the next run of those
// commands neither parses nor compiles those functions again.
// A run whose Node differs from this one ignores the caches (V8 checks).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const { load, scripts, ENTRY } = require('../bin/oidc-gw.js');
const { TokenStore, clientCredentialsKey } = await import('../dist/config/token-store.js');

const home = mkdtempSync(join(tmpdir(), 'oidc-gw-code-cache-'));
try {
  const env = {
    PATH: process.env.PATH,
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    OIDC_GW_CACHE_DIR: join(home, 'cache'),
    NO_COLOR: '1',
  };
  const now = Math.floor(Date.now() / 1000);
  const b64 = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const jwt = [
    b64({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' }),
    b64({
      iss: 'https://idp.example/',
      aud: 'https://api.example/',
      sub: 'alice',
      azp: 'cli',
      exp: now + 3600,
      iat: now,
      scope: 'read',
    }),
    Buffer.alloc(256, 1).toString('base64url'),
  ].join('.');

  // A client-credentials token already in the cache: `token` serves it without the network.
  const issuer = 'http://127.0.0.1:9/';
  const audience = 'https://api.example/';
  const key = clientCredentialsKey({
    issuer,
    clientId: 'code-cache',
    authMethod: undefined,
    scope: undefined,
    audience,
    resource: [],
    params: {},
  });
  await new TokenStore(env.OIDC_GW_CACHE_DIR).writeClientCredentials(key, 'default', {
    access_token: jwt,
    token_type: 'Bearer',
    expires_at: now + 3600,
    obtained_at: now,
    issuer,
    client_id: 'code-cache',
  });

  const scenarios = [
    { argv: ['--help'] },
    { argv: ['decode', jwt], expect: 0 },
    { argv: ['decode', jwt], env: { NO_COLOR: undefined, FORCE_COLOR: '1' }, expect: 0 },
    {
      argv: [
        'token',
        '--client-credentials',
        '--issuer',
        issuer,
        '--client-id',
        'code-cache',
        '--client-secret',
        'not-used',
        '--audience',
        audience,
      ],
      expect: 0,
      stdout: `${jwt}\n`,
    },
  ];

  const { main } = load(ENTRY);
  for (const scenario of scenarios) {
    let stdout = '';
    let stderr = '';
    const sink = (collect) => ({
      isTTY: false,
      write(chunk) {
        collect(String(chunk));
        return true;
      },
      on() {
        return this;
      },
    });
    const out = sink((s) => (stdout += s));
    const err = sink((s) => (stderr += s));
    const io = {
      stdout: out,
      stderr: err,
      text: { stdout: out, stderr: err },
      get stdin() {
        throw new Error('the code-cache scenarios read no stdin');
      },
    };
    const code = await main(scenario.argv, io, { ...env, ...scenario.env });
    const label = scenario.argv.slice(0, 2).join(' ');
    if ((scenario.expect ?? 0) !== code || (scenario.stdout && stdout !== scenario.stdout)) {
      throw new Error(`code cache: \`oidc-gw ${label}\` exited ${code}: ${stderr.trim()}`);
    }
  }

  // The layout bin/oidc-gw.js expects: source length (u32 LE), the source, V8's data.
  for (const [file, script] of scripts) {
    const source = readFileSync(file);
    const length = Buffer.alloc(4);
    length.writeUInt32LE(source.length);
    writeFileSync(`${file}.cache`, Buffer.concat([length, source, script.createCachedData()]));
  }
  console.log(`code cache: ${scripts.size} bundle files`);
} finally {
  rmSync(home, { recursive: true, force: true });
}
