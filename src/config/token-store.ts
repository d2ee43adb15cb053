/**
 * The token cache (docs/configuration.md): a directory of 0700 holding one JSON file per
 * entry, each 0600 and written atomically, so that concurrent commands never
 * leave a corrupt file nor lose another writer's entry. A corrupt file is
 * reported and ignored.
 *
 * Trust, as ssh has for keys: a cache directory that other users can write
 * (group or world writable) or that another user owns is not used at all
 * (neither read nor written, with a warning): anyone there could plant a
 * token. A cache file that others can write, that another user owns, or that
 * is not a regular file is ignored with a warning; one that others can read
 * is used, with a warning to chmod 600 it.
 *
 * Files:
 * - `user-<profile>.json`: the profile's user token set (login, device, code
 *   exchange, and their refreshes).
 * - `client-<profile>.json`: the profile's last client-credentials token set.
 * - `cc-<sha256>.json`: client-credentials tokens keyed by everything that
 *   changes the token (issuer, client, auth, scope, audience, resource, params).
 */
import { constants } from 'node:fs';
import { open, readFile, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { GwError } from '../core/errors/index.js';
import { isTokenSet, type TokenSet } from '../core/token-set.js';
import { ensurePrivateDir, writeFileAtomic } from './atomic-file.js';

export interface CacheEntry {
  readonly version: 1;
  /** What the entry was stored under (for checking a hash-named file really matches). */
  readonly key: string;
  readonly profile: string;
  readonly tokens: TokenSet;
}

export interface ClientCredentialsKey {
  issuer: string;
  clientId: string;
  authMethod: string | undefined;
  scope: string | undefined;
  audience: string | undefined;
  resource: readonly string[];
  params: Readonly<Record<string, string>>;
}

/**
 * A 128-bit FNV-1a digest (four 32-bit lanes with different offsets), in hex.
 * It only names cache files: every file also stores its full key, which is
 * compared on read, so a collision can never serve the wrong token. Not
 * node:crypto, whose start-up cost (OpenSSL) a cached `oidc-gw token` would pay.
 */
export function fileDigest(text: string): string {
  const lanes = [0x811c9dc5, 0x01000193 ^ 0x811c9dc5, 0x050c5d1f, 0x2b7e1516];
  let out = '';
  for (let lane = 0; lane < lanes.length; lane++) {
    let h = lanes[lane] as number;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      h ^= c & 0xff;
      h = Math.imul(h, 0x01000193);
      h ^= c >>> 8;
      h = Math.imul(h, 0x01000193);
    }
    h ^= lane;
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    out += ((h ^ (h >>> 16)) >>> 0).toString(16).padStart(8, '0');
  }
  return out;
}

function slug(profile: string): string {
  const safe = profile.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
  // Different names that map to the same slug get different files.
  return safe === profile ? safe : `${safe}-${fileDigest(profile).slice(0, 8)}`;
}

export function clientCredentialsKey(k: ClientCredentialsKey): string {
  const params = Object.keys(k.params)
    .sort()
    .map((name) => [name, k.params[name]]);
  return JSON.stringify([
    'client_credentials',
    k.issuer,
    k.clientId,
    k.authMethod ?? '',
    k.scope ?? '',
    k.audience ?? '',
    [...k.resource].sort(),
    params,
  ]);
}

export interface TokenStoreOptions {
  /** Called with a message when a cache file is corrupt and ignored. */
  onWarning?: (message: string) => void;
}

let lockCounter = 0;

/** Mode checks mean nothing on Windows (no POSIX permission bits). */
const CHECK_MODES = process.platform !== 'win32';

/** "group and others", "others" or "group", for the bits of `mask` set in `mode`. */
function whom(mode: number, mask: number): string {
  const group = (mode & mask & 0o070) !== 0;
  const others = (mode & mask & 0o007) !== 0;
  return group && others ? 'its group and other users' : group ? 'its group' : 'other users';
}

function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8)}`;
}

/** Owned by this user or by root (as ssh accepts); false for another user. */
function ownOrRoot(uid: number): boolean {
  const me = process.getuid?.();
  return me === undefined || uid === me || uid === 0;
}

/**
 * Why the cache directory must not be used (others can write it, or another
 * user owns it), or undefined when it is fine or does not exist yet.
 */
export async function untrustedCacheDir(dir: string): Promise<string | undefined> {
  if (!CHECK_MODES) return undefined;
  let info;
  try {
    info = await stat(dir);
  } catch {
    return undefined; // missing: it is created 0700; unreadable: reading fails and says so
  }
  if ((info.mode & 0o022) !== 0) {
    return `the token cache directory ${dir} can be written by ${whom(info.mode, 0o022)} (mode ${octal(info.mode)}): anyone there could plant a token, so the cache is not used; chmod 700 it, or set OIDC_GW_CACHE_DIR`;
  }
  if (!ownOrRoot(info.uid)) {
    return `the token cache directory ${dir} belongs to another user (uid ${info.uid}): the cache is not used; set OIDC_GW_CACHE_DIR to a directory of yours`;
  }
  return undefined;
}

/** A stale-lock breaker holds its guard for a few system calls; older than this, it crashed. */
const GUARD_STALE_MS = 5_000;

export class TokenStore {
  constructor(
    readonly dir: string,
    private readonly options: TokenStoreOptions = {},
  ) {}

  userFile(profile: string): string {
    return join(this.dir, `user-${slug(profile)}.json`);
  }

  clientFile(profile: string): string {
    return join(this.dir, `client-${slug(profile)}.json`);
  }

  ccFile(key: string): string {
    return join(this.dir, `cc-${fileDigest(key)}.json`);
  }

  async readUser(profile: string): Promise<TokenSet | undefined> {
    return (await this.read(this.userFile(profile), `user:${profile}`))?.tokens;
  }

  async writeUser(profile: string, tokens: TokenSet): Promise<void> {
    await this.write(this.userFile(profile), {
      version: 1,
      key: `user:${profile}`,
      profile,
      tokens,
    });
  }

  async readClient(profile: string): Promise<TokenSet | undefined> {
    return (await this.read(this.clientFile(profile), `client:${profile}`))?.tokens;
  }

  async readClientCredentials(key: string): Promise<TokenSet | undefined> {
    return (await this.read(this.ccFile(key), key))?.tokens;
  }

  async writeClientCredentials(key: string, profile: string, tokens: TokenSet): Promise<void> {
    await this.write(this.ccFile(key), { version: 1, key, profile, tokens });
    await this.write(this.clientFile(profile), {
      version: 1,
      key: `client:${profile}`,
      profile,
      tokens,
    });
  }

  /** Removes the profile's user token set (login). */
  async removeProfileUser(profile: string): Promise<void> {
    try {
      await rm(this.userFile(profile));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT')
        throw this.ioError(this.userFile(profile), error);
    }
  }

  /** Removes the profile's user and client token sets. Returns how many files were removed. */
  async removeProfile(profile: string): Promise<number> {
    let removed = 0;
    for (const file of [this.userFile(profile), this.clientFile(profile)]) {
      try {
        await rm(file);
        removed++;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw this.ioError(file, error);
      }
    }
    return removed;
  }

  private dirVerdict: Promise<string | undefined> | undefined;
  private dirWarned = false;

  /** True when the directory may not be used; warns once. Checked once per store. */
  private async dirRefused(): Promise<boolean> {
    this.dirVerdict ??= untrustedCacheDir(this.dir);
    const why = await this.dirVerdict;
    if (why === undefined) {
      this.dirVerdict = undefined; // not created yet, or fine: look again next time (cheap)
      return false;
    }
    if (!this.dirWarned) {
      this.dirWarned = true;
      this.options.onWarning?.(why);
    }
    return true;
  }

  /**
   * Reads a cache file without following a symbolic link, and checks, on the
   * open file itself, that it is a regular file no one else can write.
   */
  private async readChecked(file: string): Promise<string | undefined> {
    const flags = constants.O_RDONLY | (CHECK_MODES ? constants.O_NOFOLLOW : 0);
    let handle;
    try {
      handle = await open(file, flags);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      const why = code === 'ELOOP' ? 'it is a symbolic link' : `cannot be read (${code})`;
      this.options.onWarning?.(`ignoring token cache file ${file}: ${why}`);
      return undefined;
    }
    try {
      if (CHECK_MODES) {
        const info = await handle.stat();
        let refused: string | undefined;
        if (!info.isFile()) refused = 'not a regular file';
        else if ((info.mode & 0o022) !== 0)
          refused = `it can be written by ${whom(info.mode, 0o022)} (mode ${octal(info.mode)}), so anyone could have planted it`;
        else if (!ownOrRoot(info.uid)) refused = `it belongs to another user (uid ${info.uid})`;
        if (refused) {
          this.options.onWarning?.(
            `ignoring token cache file ${file}: ${refused}; remove it (oidc-gw writes its files 0600)`,
          );
          return undefined;
        }
        if ((info.mode & 0o044) !== 0) {
          this.options.onWarning?.(
            `the token cache file ${file} can be read by ${whom(info.mode, 0o044)} (mode ${octal(info.mode)}): its tokens may have been seen; chmod 600 it`,
          );
        }
      }
      return await handle.readFile('utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
      this.options.onWarning?.(`ignoring token cache file ${file}: cannot be read (${code})`);
      return undefined;
    } finally {
      await handle.close();
    }
  }

  private async read(file: string, key: string): Promise<CacheEntry | undefined> {
    if (await this.dirRefused()) return undefined;
    const text = await this.readChecked(file);
    if (text === undefined) return undefined;
    let entry: unknown;
    try {
      entry = JSON.parse(text);
    } catch {
      this.options.onWarning?.(
        `ignoring corrupt token cache file ${file} (not JSON); it will be replaced`,
      );
      return undefined;
    }
    const e = entry as Partial<CacheEntry> | null;
    if (!e || e.version !== 1 || typeof e.key !== 'string' || !isTokenSet(e.tokens)) {
      this.options.onWarning?.(
        `ignoring corrupt token cache file ${file} (unexpected content); it will be replaced`,
      );
      return undefined;
    }
    if (e.key !== key) return undefined; // a hash collision or a file copied by hand
    return e as CacheEntry;
  }

  private checkedDir = false;

  private async write(file: string, entry: CacheEntry): Promise<void> {
    try {
      if (!this.checkedDir) {
        this.checkedDir = true;
        const { private: isPrivate } = await ensurePrivateDir(this.dir);
        if (!isPrivate && !(await this.dirRefused())) {
          this.options.onWarning?.(
            `the token cache directory ${this.dir} can be read by other users: chmod 700 it`,
          );
        }
      }
      if (await this.dirRefused()) return; // said once: the token is used, just not cached
      await writeFileAtomic(file, `${JSON.stringify(entry, null, 2)}\n`);
    } catch (error) {
      throw this.ioError(file, error);
    }
  }

  private ioError(file: string, error: unknown): GwError {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return new GwError('ERR_INPUT_INVALID', `cannot write the token cache ${file} (${code})`, {
      cause: error,
      hint: 'check the permissions of the cache directory, or set OIDC_GW_CACHE_DIR',
    });
  }

  /**
   * Runs `fn` holding an exclusive lock on `name` (a lock file created with
   * O_EXCL). Used so that two refreshes never spend one rotated refresh token
   * twice: the second waits, then finds the first one's new tokens. A lock
   * older than `staleMs` (a crashed process) is broken. Waits at most `waitMs`.
   */
  /**
   * Removes the stale lock that was seen (same inode and modification time:
   * a new file may reuse the inode), and nothing else.
   * Checking and removing are not one step, so breakers take turns through a
   * second lock (`LOCK.break`) and check again under it: a waiter that saw
   * the stale lock, but comes after another breaker (and perhaps a new
   * holder), finds a different or a fresh lock and leaves it alone. (Renaming
   * the stale lock away, as before, could take a new holder's lock instead.)
   * A breaker holds the guard for a few system calls; one that crashed with it
   * leaves it to be cleared after a few seconds.
   */
  private async breakStale(
    lock: string,
    seen: { readonly ino: number; readonly mtimeMs: number },
    staleMs: number,
  ): Promise<void> {
    const guard = `${lock}.break`;
    try {
      await (await open(guard, 'wx', 0o600)).close();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const held = await stat(guard).catch(() => undefined);
      if (held && Date.now() - held.mtimeMs > GUARD_STALE_MS) await rm(guard, { force: true });
      await new Promise((r) => setTimeout(r, 5));
      return; // the caller looks again
    }
    try {
      const now = await stat(lock).catch(() => undefined);
      if (
        now &&
        now.ino === seen.ino &&
        now.mtimeMs === seen.mtimeMs &&
        Date.now() - now.mtimeMs > staleMs
      ) {
        await rm(lock, { force: true });
      }
    } finally {
      await rm(guard, { force: true });
    }
  }

  async withLock<T>(
    name: string,
    fn: () => Promise<T>,
    opts: { waitMs?: number; staleMs?: number } = {},
  ): Promise<T> {
    const waitMs = opts.waitMs ?? 30_000;
    const staleMs = opts.staleMs ?? 60_000;
    await ensurePrivateDir(this.dir);
    const lock = join(this.dir, `${slug(name)}.lock`);
    // What this holder writes into the lock, so that it only ever removes its own.
    const owner = `${process.pid} ${process.hrtime.bigint().toString(36)} ${++lockCounter}\n`;
    const deadline = Date.now() + waitMs;
    let delay = 20;
    for (;;) {
      try {
        const handle = await open(lock, 'wx', 0o600);
        await handle.writeFile(owner);
        await handle.close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw this.ioError(lock, error);
        try {
          const info = await stat(lock);
          if (Date.now() - info.mtimeMs > staleMs) {
            await this.breakStale(lock, info, staleMs);
            continue;
          }
        } catch {
          continue; // removed meanwhile: try again at once
        }
        if (Date.now() > deadline) {
          throw new GwError(
            'ERR_TIMEOUT',
            `another oidc-gw is holding the token cache lock ${lock}`,
            {
              hint: 'wait for it to finish, or remove the lock file if no oidc-gw is running',
            },
          );
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 250);
      }
    }
    // Keep the lock fresh while the work runs, so a slow IdP never makes it look stale.
    const keepAlive = setInterval(
      () => {
        const now = new Date();
        utimes(lock, now, now).catch(() => {});
      },
      Math.max(1000, Math.floor(staleMs / 3)),
    );
    keepAlive.unref();
    try {
      return await fn();
    } finally {
      clearInterval(keepAlive);
      // Remove the lock only if it is still ours (never another holder's).
      try {
        if ((await readFile(lock, 'utf8')) === owner) await rm(lock, { force: true });
      } catch {
        /* already gone */
      }
    }
  }
}
