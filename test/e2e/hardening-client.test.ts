/**
 * The built CLI against the test IdP and small metadata servers on 127.0.0.1
 * (issue 16, items 8 and 9): a token cache others can write is not used, a
 * config file with loose modes is warned about; `token`, `discover` and
 * `serve` say at start when they use the IdP's spelling of an issuer that
 * differs from the one given by a trailing slash.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, tempHome } from '../helpers/cli.js';
import { startServe, type ServeProcess } from '../helpers/gateway-cli.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';

const posix = process.platform !== 'win32';
let idp: TestIdp;
const servers: Server[] = [];
let home: ReturnType<typeof tempHome>;

beforeAll(async () => {
  idp = await startTestIdp();
});
afterAll(async () => {
  await idp?.close();
  for (const s of servers) s.close();
});
beforeEach(() => {
  home = tempHome();
});
afterEach(() => home.cleanup());

const cc = (issuer: string) => [
  'token',
  '--client-credentials',
  '--issuer',
  issuer,
  '--client-id',
  idp.clients.post.clientId,
  '--client-secret',
  idp.clients.post.clientSecret,
  '--audience',
  idp.audience,
];

describe('item 9: the slash form of an issuer is said at start', () => {
  const note = (issuer: string, given: string) =>
    `the IdP names its issuer "${issuer}" (you gave "${given}"): using the IdP's spelling`;

  it("token: on a new token, on a cached one, and on the profile's cached token", async () => {
    const given = `${idp.issuer}/`;
    const first = await runCli(cc(given), { env: home.env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain(note(idp.issuer, given));
    const cached = await runCli(cc(given), { env: home.env });
    expect(cached.code, cached.stderr).toBe(0);
    expect(cached.stdout).toBe(first.stdout);
    expect(cached.stderr).toContain(note(idp.issuer, given));
    // `token` without a grant flag serves the profile's cached token: the same note.
    const plain = await runCli(['token', '--issuer', given], { env: home.env });
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout).toBe(first.stdout);
    expect(plain.stderr).toContain(note(idp.issuer, given));
    const exact = await runCli(cc(idp.issuer), { env: home.env });
    expect(exact.stderr).not.toContain('names its issuer');
  });

  it('discover: the note comes first, before the report', async () => {
    const given = `${idp.issuer}/`;
    const r = await runCli(['discover', given, '--no-keys'], { env: home.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n')[0]).toContain(note(idp.issuer, given));
    expect(r.stdout).toContain(`issuer (exact iss)       ${idp.issuer}\n`);
  });

  it('serve: a path issuer given without its slash is noted at start', async () => {
    const { publicKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const server = createServer((req, res) => {
      const o = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const body =
        req.url === '/jwks'
          ? { keys: [jwk] }
          : req.url === '/tenant/.well-known/openid-configuration' ||
              req.url === '/tenant//.well-known/openid-configuration'
            ? {
                issuer: `${o}/tenant/`,
                jwks_uri: `${o}/jwks`,
                token_endpoint: `${o}/t`,
                response_types_supported: ['code'],
                subject_types_supported: ['public'],
                id_token_signing_alg_values_supported: ['RS256'],
              }
            : undefined;
      if (!body) res.writeHead(404).end();
      else res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let serve: ServeProcess | undefined;
    try {
      serve = await startServe(
        [
          '--issuer',
          `${origin}/tenant`,
          '--audience',
          'https://api.example.test/',
          '--upstream',
          `${origin}/`,
          '--port',
          '0',
          '--host',
          '127.0.0.1',
        ],
        home.env,
      );
      // serve logs JSON lines: the note is a "warn" message, before the listening line.
      const stderr = serve.stderr();
      const at = stderr.indexOf(
        JSON.stringify(note(`${origin}/tenant/`, `${origin}/tenant`)).slice(1, -1),
      );
      expect(at, stderr).toBeGreaterThanOrEqual(0);
      expect(at).toBeLessThan(stderr.indexOf('listening on'));
    } finally {
      await serve?.stop();
    }
  });
});

describe.skipIf(!posix)('item 8: modes of the cache and the config file', () => {
  it('a 0777 cache directory with a planted 0644 token is not used: warned, exit 1', async () => {
    const cache = join(home.dir, 'open-cache');
    mkdirSync(cache);
    chmodSync(cache, 0o777);
    const planted = join(cache, 'user-default.json');
    writeFileSync(
      planted,
      JSON.stringify({
        version: 1,
        key: 'user:default',
        profile: 'default',
        tokens: {
          access_token: 'planted-by-someone-else',
          token_type: 'Bearer',
          expires_at: 4_000_000_000,
          issuer: idp.issuer,
          client_id: idp.clients.native.clientId,
          grant: 'authorization_code',
          obtained_at: 1_700_000_000,
        },
      }),
    );
    chmodSync(planted, 0o644);
    const env = { ...home.env, OIDC_GW_CACHE_DIR: cache };
    const r = await runCli(['token'], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain('planted-by-someone-else');
    expect(r.stderr).toContain(`warning: the token cache directory ${cache} can be written by`);
    expect(r.stderr).toContain('no cached token for profile "default"');
    // The same token in a private directory is used, as before.
    chmodSync(cache, 0o700);
    const ok = await runCli(['token'], { env });
    expect(ok.stdout).toContain('planted-by-someone-else');
  });

  it('a 0666 config file holding a client secret: warned, secret never printed', async () => {
    const config = join(home.dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        profiles: {
          default: {
            issuer: idp.issuer,
            clientId: idp.clients.post.clientId,
            clientSecret: idp.clients.post.clientSecret,
            audience: idp.audience,
          },
        },
      }),
    );
    chmodSync(config, 0o666);
    const env = { ...home.env, OIDC_GW_CONFIG: config };
    const r = await runCli(['token', '--client-credentials'], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`warning: the config file ${config} can be written by`);
    expect(r.stderr).toContain(`warning: the config file ${config} holds a client secret`);
    expect(r.stderr).not.toContain(idp.clients.post.clientSecret);
    chmodSync(config, 0o600);
    const quiet = await runCli(['token', '--client-credentials'], { env });
    expect(quiet.stderr).not.toContain('the config file');
  });
});
