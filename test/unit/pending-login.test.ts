/**
 * The pending `login --manual` attempts kept beside the token cache: private
 * files, found by state or as the profile's newest, expired ones pruned,
 * files others can write ignored.
 */
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { PendingLoginStore, type PendingLogin } from '../../src/config/pending-login.js';

let dir: string;
let warnings: string[];
let store: PendingLoginStore;

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'oidc-gw-pending-')), 'cache');
  warnings = [];
  store = new PendingLoginStore(dir, { onWarning: (m) => warnings.push(m) });
});

afterEach(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true });
});

function attempt(
  state: string,
  createdAt: number,
  extra: Partial<PendingLogin> = {},
): PendingLogin {
  return {
    version: 1,
    profile: 'default',
    issuer: 'https://idp.example.test/',
    client_id: 'cli',
    redirect_uri: 'https://app.example.test/callback',
    state,
    nonce: `nonce-${state}`,
    code_verifier: `verifier-${state}`,
    scope: 'openid',
    id_token_expected: true,
    created_at: createdAt,
    expires_at: createdAt + 3600,
    ...extra,
  };
}

describe('PendingLoginStore', () => {
  test('saves 0600 in a 0700 directory and finds an attempt by its state', async () => {
    await store.save(attempt('s1', 1000), 1000);
    const [name] = await readdir(dir);
    expect(name).toMatch(/^pending-[0-9a-f]+\.json$/);
    expect((await stat(join(dir, name!))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await store.findByState('s1', 1001))?.code_verifier).toBe('verifier-s1');
    expect(await store.findByState('s2', 1001)).toBeUndefined();
  });

  test('an expired attempt is not found, and is pruned when another is saved', async () => {
    await store.save(attempt('old', 1000), 1000);
    expect(await store.findByState('old', 4600)).toBeUndefined();
    await store.save(attempt('new', 5000), 5000);
    expect(await readdir(dir)).toHaveLength(1);
    expect(await store.findByState('new', 5001)).toBeDefined();
  });

  test('latest: the newest live attempt of the profile for the redirect URI', async () => {
    await store.save(attempt('a', 1000), 1000);
    await store.save(attempt('b', 1100), 1100);
    await store.save(attempt('c', 1200, { profile: 'other' }), 1200);
    await store.save(attempt('d', 1300, { redirect_uri: 'https://elsewhere.test/cb' }), 1300);
    expect((await store.latest('default', 1400, 'https://app.example.test/callback'))?.state).toBe(
      'b',
    );
    expect((await store.latest('default', 1400))?.state).toBe('d');
    expect(await store.latest('nobody', 1400)).toBeUndefined();
  });

  test('a file others can write is ignored with a warning', async () => {
    await store.save(attempt('s1', 1000), 1000);
    await chmod(store.file('s1'), 0o666);
    expect(await store.findByState('s1', 1001)).toBeUndefined();
    expect(warnings.join('\n')).toMatch(/others can write it \(mode 666\)/);
  });

  test('remove forgets an attempt', async () => {
    await store.save(attempt('s1', 1000), 1000);
    await store.remove('s1');
    expect(await store.findByState('s1', 1001)).toBeUndefined();
    await store.remove('s1'); // twice is fine
  });
});
