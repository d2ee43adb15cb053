/**
 * `decode TOKEN --introspect` (SPEC section 3, "Opaque tokens"): the
 * issuer's introspection endpoint (RFC 7662) asked with the profile's
 * client, as the gateway asks it. Against the real dev IdP, whose access
 * tokens are opaque when no audience is asked for.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { baseEnv, runCli } from '../helpers/cli.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import { confidentialClient, opaqueAccessToken } from '../fixtures/kong/live/deck-env.js';

const home = mkdtempSync(join(tmpdir(), 'oidc-gw-introspect-'));
let idp: TestIdp;
let token: string;

beforeAll(async () => {
  idp = await startTestIdp();
  token = await opaqueAccessToken(await confidentialClient(idp, 'basic'));
});

afterAll(async () => {
  await idp?.close();
  rmSync(home, { recursive: true, force: true });
});

describe('decode --introspect', () => {
  const args = () => [
    '--introspect',
    '--issuer',
    idp.issuer,
    '--client-id',
    idp.clients.basic.clientId,
    '--client-secret',
    idp.clients.basic.clientSecret,
  ];

  test('an active opaque token: exit 0, its claims', async () => {
    expect(token.split('.')).toHaveLength(1);
    const r = await runCli(['decode', token, ...args()], { env: baseEnv(home) });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/active/);
    expect(r.stdout).toContain(`client_id: ${idp.clients.basic.clientId}`);
    const json = await runCli(['decode', token, ...args(), '--json'], { env: baseEnv(home) });
    const parsed = JSON.parse(json.stdout) as { active: boolean; claims: Record<string, unknown> };
    expect(parsed.active).toBe(true);
    expect(parsed.claims['client_id']).toBe(idp.clients.basic.clientId);
  });

  test('a token the IdP does not know: not active, exit 1', async () => {
    const r = await runCli(['decode', 'not-a-token-this-idp-issued', ...args()], {
      env: baseEnv(home),
    });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/not active/);
  });

  test('no client: exit 2 with a hint; the secret is never printed', async () => {
    const r = await runCli(['decode', token, '--introspect', '--issuer', idp.issuer], {
      env: baseEnv(home),
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs a confidential client/);
    const verbose = await runCli(['decode', token, ...args(), '--verbose'], { env: baseEnv(home) });
    expect(verbose.stderr + verbose.stdout).not.toContain(idp.clients.basic.clientSecret);
  });

  test('the IdP refuses the client (wrong secret): exit 1, not a network error; an IdP that is down: exit 3', async () => {
    const wrong = `${idp.clients.basic.clientSecret}-wrong`;
    const refused = await runCli(
      [
        'decode',
        token,
        '--introspect',
        '--issuer',
        idp.issuer,
        '--client-id',
        idp.clients.basic.clientId,
        '--client-secret',
        wrong,
      ],
      { env: baseEnv(home) },
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused/);
    expect(refused.stderr + refused.stdout).not.toContain(wrong);
    // Nothing listens there: the network, exit 3.
    const { closedPort } = await import('../helpers/gateway-servers.js');
    const down = await runCli(
      [
        'decode',
        token,
        '--introspect',
        '--issuer',
        `http://127.0.0.1:${await closedPort()}`,
        '--client-id',
        'x',
        '--client-secret',
        'y',
      ],
      { env: baseEnv(home) },
    );
    expect(down.code).toBe(3);
  });

  test('--introspect with --verify: a usage error', async () => {
    const r = await runCli(['decode', token, ...args(), '--verify'], { env: baseEnv(home) });
    expect(r.code).toBe(2);
    // Keys to verify with make no sense either: the issuer is asked.
    const keyed = await runCli(['decode', token, ...args(), '--secret', 'x'.repeat(32)], {
      env: baseEnv(home),
    });
    expect(keyed.code).toBe(2);
    expect(keyed.stderr).toContain(
      'cannot be combined with --file, --verify, --key, --secret or --jwks-uri',
    );
  });
});
