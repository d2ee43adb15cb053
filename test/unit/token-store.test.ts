import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenStore, clientCredentialsKey } from '../../src/config/token-store.js';
import type { TokenSet } from '../../src/core/token-set.js';
import { ROOT } from '../helpers/cli.js';

const run = promisify(execFile);
const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'oidc-gw-store-'));
  dirs.push(d);
  return join(d, 'cache');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const set = (access: string, extra: Partial<TokenSet> = {}): TokenSet => ({
  access_token: access,
  token_type: 'Bearer',
  expires_at: 2_000_000_000,
  issuer: 'https://idp.example/',
  client_id: 'c1',
  grant: 'client_credentials',
  obtained_at: 1_700_000_000,
  ...extra,
});

describe('TokenStore', () => {
  it('writes 0600 files in a 0700 directory and reads them back', async () => {
    const dir = tmp();
    const store = new TokenStore(dir);
    await store.writeUser(
      'default',
      set('at-1', { refresh_token: 'rt-1', grant: 'authorization_code' }),
    );
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(dir)) expect(statSync(join(dir, f)).mode & 0o777).toBe(0o600);
    expect((await store.readUser('default'))?.refresh_token).toBe('rt-1');
    expect(await store.readUser('other')).toBeUndefined();
  });

  it('keeps client-credentials entries apart by everything that changes the token', async () => {
    const store = new TokenStore(tmp());
    const base = {
      issuer: 'https://idp/',
      clientId: 'c',
      authMethod: undefined,
      scope: 'a b',
      audience: undefined,
      resource: [],
      params: {},
    };
    const k1 = clientCredentialsKey(base);
    const k2 = clientCredentialsKey({ ...base, audience: 'https://api/' });
    const k3 = clientCredentialsKey({ ...base, params: { x: '1' } });
    const k4 = clientCredentialsKey({ ...base, resource: ['https://r/'] });
    expect(new Set([k1, k2, k3, k4]).size).toBe(4);
    expect(clientCredentialsKey({ ...base, params: { b: '2', a: '1' } })).toBe(
      clientCredentialsKey({ ...base, params: { a: '1', b: '2' } }),
    );
    await store.writeClientCredentials(k1, 'default', set('one'));
    await store.writeClientCredentials(k2, 'default', set('two'));
    expect((await store.readClientCredentials(k1))?.access_token).toBe('one');
    expect((await store.readClientCredentials(k2))?.access_token).toBe('two');
    expect(await store.readClientCredentials(k3)).toBeUndefined();
    expect((await store.readClient('default'))?.access_token).toBe('two');
  });

  it('reports a corrupt file and ignores it, then replaces it', async () => {
    const dir = tmp();
    const warnings: string[] = [];
    const store = new TokenStore(dir, { onWarning: (m) => warnings.push(m) });
    await store.writeUser('default', set('good'));
    writeFileSync(store.userFile('default'), '{"version":1,"key":"user:default","tokens":{"acc');
    expect(await store.readUser('default')).toBeUndefined();
    expect(warnings.join('\n')).toMatch(/corrupt token cache file .*user-default\.json/);
    writeFileSync(
      store.userFile('default'),
      JSON.stringify({ version: 1, key: 'user:default', tokens: { access_token: 5 } }),
    );
    expect(await store.readUser('default')).toBeUndefined();
    expect(warnings).toHaveLength(2);
    await store.writeUser('default', set('new'));
    expect((await store.readUser('default'))?.access_token).toBe('new');
  });

  it('serialises work under a lock and breaks a stale lock', async () => {
    const dir = tmp();
    const store = new TokenStore(dir);
    const order: string[] = [];
    const slow = (name: string) => async () => {
      order.push(`${name}:start`);
      await new Promise((r) => setTimeout(r, 50));
      order.push(`${name}:end`);
    };
    await Promise.all([store.withLock('x', slow('a')), store.withLock('x', slow('b'))]);
    expect(order[1]).toMatch(/:end$/);
    expect(order[2]).toMatch(/:start$/);
    // A lock left by a crashed process is broken once stale.
    writeFileSync(join(dir, 'y.lock'), '99999\n');
    const result = await store.withLock('y', async () => 'ran', { staleMs: 0, waitMs: 2000 });
    expect(result).toBe('ran');
  });

  it('breaks a stale lock for one waiter only, and never removes a lock that is not its own', async () => {
    const dir = tmp();
    const store = new TokenStore(dir);
    await store.withLock('z', async () => undefined); // creates the directory
    const lock = join(dir, 'z.lock');
    let inside = 0;
    let overlapped = false;
    const work = async () => {
      inside++;
      if (inside > 1) overlapped = true;
      await new Promise((r) => setTimeout(r, 15));
      inside--;
    };
    // Several rounds of eight waiters on a crashed holder's lock: they all see it
    // stale at once, and only that lock may be broken, never a new holder's.
    for (let round = 0; round < 5; round++) {
      writeFileSync(lock, '99999 crashed\n');
      const old = new Date(Date.now() - 120_000);
      utimesSync(lock, old, old);
      await Promise.all(
        Array.from({ length: 8 }, () =>
          store.withLock('z', work, { staleMs: 60_000, waitMs: 5000 }),
        ),
      );
      expect(overlapped).toBe(false);
      expect(existsSync(lock)).toBe(false);
    }
    // A holder whose lock was taken over (replaced) leaves the new owner's lock in place.
    await store.withLock('z', async () => {
      writeFileSync(lock, 'someone else\n');
    });
    expect(readFileSync(lock, 'utf8')).toBe('someone else\n');
  });

  it('a waiter that saw a stale lock never breaks the lock a new holder took since', async () => {
    const dir = tmp();
    const store = new TokenStore(dir);
    await store.withLock('y', async () => undefined); // creates the directory
    const lock = join(dir, 'y.lock');
    const breakStale = (
      store as unknown as {
        breakStale(l: string, seen: { ino: number; mtimeMs: number }, ms: number): Promise<void>;
      }
    ).breakStale.bind(store);
    const old = new Date(Date.now() - 120_000);
    // The waiter sees a crashed holder's lock...
    writeFileSync(lock, '99999 crashed\n');
    utimesSync(lock, old, old);
    const seen = statSync(lock);
    // ...another waiter breaks it first and takes the lock...
    rmSync(lock);
    writeFileSync(lock, 'new holder\n');
    // ...then the first one goes on breaking what it saw: the new lock stays.
    await breakStale(lock, seen, 60_000);
    expect(readFileSync(lock, 'utf8')).toBe('new holder\n');
    // Even when the new lock is old too (on its own inode or the reused one), it
    // is not the file that was seen.
    const older = new Date(Date.now() - 100_000);
    utimesSync(lock, older, older);
    await breakStale(lock, seen, 60_000);
    expect(readFileSync(lock, 'utf8')).toBe('new holder\n');
    // The lock it saw, still there and stale, is removed; and the guard with it.
    await breakStale(lock, statSync(lock), 60_000);
    expect(existsSync(lock)).toBe(false);
    expect(existsSync(`${lock}.break`)).toBe(false);
    // A breaker that crashed holding the guard: cleared after a few seconds.
    writeFileSync(lock, '99999 crashed\n');
    utimesSync(lock, old, old);
    writeFileSync(`${lock}.break`, '');
    utimesSync(`${lock}.break`, old, old);
    await store.withLock('y', async () => undefined, { staleMs: 60_000, waitMs: 5000 });
    expect(existsSync(`${lock}.break`)).toBe(false);
  });

  describe('ten processes writing at once', () => {
    it('leaves no corrupt file, no temporary file, and loses no entry', async () => {
      const dir = tmp();
      const moduleUrl = pathToFileURL(join(ROOT, 'dist', 'config', 'token-store.js')).href;
      const script = `
        const { TokenStore } = await import(${JSON.stringify(moduleUrl)});
        const [dir, n] = process.argv.slice(1);
        const store = new TokenStore(dir);
        const set = (a) => ({ access_token: a, issuer: 'https://idp/', client_id: 'c', grant: 'client_credentials', obtained_at: 1, expires_at: 2e9 });
        for (let i = 0; i < 20; i++) {
          await store.writeClientCredentials('key-' + n, 'p' + n, set('cc-' + n + '-' + i));
          await store.writeUser('shared', set('user-' + n + '-' + i));
        }
        await store.writeClientCredentials('key-' + n, 'p' + n, set('cc-' + n + '-final'));
      `;
      await Promise.all(
        Array.from({ length: 10 }, (_, n) =>
          run(process.execPath, ['--input-type=module', '-e', script, dir, String(n)]),
        ),
      );
      const store = new TokenStore(dir);
      for (let n = 0; n < 10; n++) {
        expect((await store.readClientCredentials(`key-${n}`))?.access_token).toBe(`cc-${n}-final`);
      }
      const files = readdirSync(dir);
      expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
      for (const f of files)
        expect(() => JSON.parse(readFileSync(join(dir, f), 'utf8'))).not.toThrow();
      expect((await store.readUser('shared'))?.access_token).toMatch(/^user-\d-19$/);
    }, 60_000);
  });
});

describe('cache file names', () => {
  it('are stable, spread, and never a wrong entry on a shared name', async () => {
    const { fileDigest } = await import('../../src/config/token-store.js');
    expect(fileDigest('abc')).toMatch(/^[0-9a-f]{32}$/);
    expect(fileDigest('abc')).toBe(fileDigest('abc'));
    const names = new Set(Array.from({ length: 5000 }, (_, i) => fileDigest(`key-${i}`)));
    expect(names.size).toBe(5000);
    expect(fileDigest('é')).not.toBe(fileDigest('e'));
  });
});
