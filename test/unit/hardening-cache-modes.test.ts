/**
 * Trust in the token cache and the config file by their modes (issue 16,
 * item 8), as ssh has for keys: a cache directory others can write is not
 * used at all; a cache file others can write, owned by another user, or a
 * symbolic link is ignored; one others can read is used with a warning. A
 * config file others can write, or one holding a client secret that others
 * can read, gets a warning.
 */
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TokenStore } from '../../src/config/token-store.js';
import { configModeWarnings, loadConfig } from '../../src/config/config-file.js';
import type { TokenSet } from '../../src/core/token-set.js';

const posix = process.platform !== 'win32';
const root = process.getuid?.() === 0;

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'oidc-gw-modes-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const tokens: TokenSet = {
  access_token: 'planted-token',
  token_type: 'Bearer',
  expires_at: 2_000_000_000,
  issuer: 'https://idp.example/',
  client_id: 'c1',
  grant: 'authorization_code',
  obtained_at: 1_700_000_000,
};
const entry = JSON.stringify({ version: 1, key: 'user:default', profile: 'default', tokens });

function store(dir: string): { store: TokenStore; warnings: string[] } {
  const warnings: string[] = [];
  return { store: new TokenStore(dir, { onWarning: (m) => warnings.push(m) }), warnings };
}

describe.skipIf(!posix)('item 8: the token cache', () => {
  it('a 0777 cache directory with a planted 0644 token file: not used, said once', async () => {
    const dir = join(tmp(), 'cache');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const file = join(dir, 'user-default.json');
    writeFileSync(file, entry);
    chmodSync(file, 0o644);
    const { store: s, warnings } = store(dir);
    expect(await s.readUser('default')).toBeUndefined();
    expect(await s.readUser('default')).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`the token cache directory ${dir} can be written by`);
    expect(warnings[0]).toContain('mode 0777');
    expect(warnings[0]).toContain('the cache is not used');
    // Nor written: a new token does not land where others can swap it.
    await s.writeUser('other', { ...tokens, access_token: 'fresh' });
    expect(readdirSync(dir)).toEqual(['user-default.json']);
    expect(warnings).toHaveLength(1);
  });

  it('a group-writable directory (0770) is refused too; 0755 is read, with its old warning on write', async () => {
    const dir = join(tmp(), 'cache');
    mkdirSync(dir);
    writeFileSync(join(dir, 'user-default.json'), entry, { mode: 0o600 });
    chmodSync(dir, 0o770);
    expect(await store(dir).store.readUser('default')).toBeUndefined();
    chmodSync(dir, 0o755);
    const open = store(dir);
    expect((await open.store.readUser('default'))?.access_token).toBe('planted-token');
    expect(open.warnings).toEqual([]);
  });

  it('a cache file others can write is ignored; one others can read is used, with a warning', async () => {
    const dir = join(tmp(), 'cache');
    mkdirSync(dir, { mode: 0o700 });
    const file = join(dir, 'user-default.json');
    writeFileSync(file, entry);
    chmodSync(file, 0o666);
    const a = store(dir);
    expect(await a.store.readUser('default')).toBeUndefined();
    expect(a.warnings[0]).toContain(`ignoring token cache file ${file}: it can be written by`);
    chmodSync(file, 0o644);
    const b = store(dir);
    expect((await b.store.readUser('default'))?.access_token).toBe('planted-token');
    expect(b.warnings[0]).toContain('can be read by its group and other users (mode 0644)');
    expect(b.warnings[0]).toContain('chmod 600');
    chmodSync(file, 0o600);
    const c = store(dir);
    expect((await c.store.readUser('default'))?.access_token).toBe('planted-token');
    expect(c.warnings).toEqual([]);
  });

  it('a symbolic link in place of a cache file is not followed', async () => {
    const base = tmp();
    const dir = join(base, 'cache');
    mkdirSync(dir, { mode: 0o700 });
    const target = join(base, 'elsewhere.json');
    writeFileSync(target, entry, { mode: 0o600 });
    symlinkSync(target, join(dir, 'user-default.json'));
    const { store: s, warnings } = store(dir);
    expect(await s.readUser('default')).toBeUndefined();
    expect(warnings[0]).toContain('it is a symbolic link');
  });

  it.skipIf(!root)('a cache file or directory owned by another user is not used', async () => {
    const dir = join(tmp(), 'cache');
    mkdirSync(dir, { mode: 0o700 });
    const file = join(dir, 'user-default.json');
    writeFileSync(file, entry, { mode: 0o600 });
    chownSync(file, 4321, 4321);
    const a = store(dir);
    expect(await a.store.readUser('default')).toBeUndefined();
    expect(a.warnings[0]).toContain('it belongs to another user (uid 4321)');
    chownSync(file, 0, 0);
    chownSync(dir, 4321, 4321);
    const b = store(dir);
    expect(await b.store.readUser('default')).toBeUndefined();
    expect(b.warnings[0]).toContain('belongs to another user (uid 4321)');
  });

  it('a cache directory that does not exist yet is created 0700 and used', async () => {
    const dir = join(tmp(), 'new', 'cache');
    const { store: s, warnings } = store(dir);
    expect(await s.readUser('default')).toBeUndefined();
    await s.writeUser('default', tokens);
    expect(existsSync(join(dir, 'user-default.json'))).toBe(true);
    expect((await s.readUser('default'))?.access_token).toBe('planted-token');
    expect(warnings).toEqual([]);
  });
});

describe.skipIf(!posix)('item 8: the config file', () => {
  const withSecret = {
    profiles: { default: { issuer: 'https://idp.example/', clientSecret: 's3cret' } },
  };
  const noSecret = { profiles: { default: { issuer: 'https://idp.example/' } } };

  function config(content: unknown, mode: number): string {
    const file = join(tmp(), 'config.json');
    writeFileSync(file, JSON.stringify(content));
    chmodSync(file, mode);
    return file;
  }

  it('0666 with a client secret: both warnings, never the secret itself; still loaded', async () => {
    const file = config(withSecret, 0o666);
    const warnings: string[] = [];
    const loaded = await loadConfig(file, { onWarning: (m) => warnings.push(m) });
    expect(loaded.profiles['default']?.clientSecret).toBe('s3cret');
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain(`the config file ${file} can be written by`);
    expect(warnings[0]).toContain('point your issuer');
    expect(warnings[1]).toContain('holds a client secret and can be read by');
    expect(warnings.join('\n')).not.toContain('s3cret');
    // Once per file and process.
    await loadConfig(file, { onWarning: (m) => warnings.push(m) });
    expect(warnings).toHaveLength(2);
  });

  it('0644 with a secret: one warning; 0644 without a secret, and 0600: none', async () => {
    expect(await configModeWarnings(config(withSecret, 0o644), withSecret)).toEqual([
      expect.stringContaining(
        'holds a client secret and can be read by its group and other users (mode 0644)',
      ),
    ]);
    expect(await configModeWarnings(config(noSecret, 0o644), noSecret)).toEqual([]);
    expect(await configModeWarnings(config(withSecret, 0o600), withSecret)).toEqual([]);
    expect(await configModeWarnings(config(noSecret, 0o620), noSecret)).toEqual([
      expect.stringContaining('can be written by its group (mode 0620)'),
    ]);
  });
});
