/**
 * Pending manual logins (`login --manual`): what the code exchange needs
 * once the user brings the redirected URL back, possibly from another shell
 * (`token --code-url`): the PKCE verifier, state, nonce and redirect URI.
 *
 * One file per attempt beside the token cache, `pending-<digest of
 * state>.json`, written atomically with mode 0600 in the 0700 cache
 * directory, as token sets are (the verifier is as sensitive as a code).
 * Found by the `state` of the redirected URL; a bare code finds the newest
 * attempt of the profile for its redirect URI. Expired attempts are removed
 * whenever one is saved; a finished one is removed at once.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { fileDigest } from './token-store.js';

/** How long a pending attempt is kept: the IdP's sign-in pages do not last longer. */
export const PENDING_LOGIN_TTL_SECONDS = 3600;
/** At most this many pending files are looked at (the directory is ours; this bounds a scan). */
const MAX_SCANNED = 200;
/** A pending file is a few hundred bytes; anything much larger is not ours. */
const MAX_FILE_BYTES = 64 * 1024;

export interface PendingLogin {
  readonly version: 1;
  readonly profile: string;
  readonly issuer: string;
  readonly client_id: string;
  readonly redirect_uri: string;
  readonly state: string;
  readonly nonce: string;
  readonly code_verifier: string;
  readonly scope: string;
  /** The openid scope was asked for: an ID token must come back, with the nonce. */
  readonly id_token_expected: boolean;
  /** RFC 8707 resources of the request, sent again at the token endpoint. */
  readonly resource?: readonly string[] | undefined;
  /** Seconds since the epoch. */
  readonly created_at: number;
  readonly expires_at: number;
}

export interface PendingLoginStoreOptions {
  onWarning?: (message: string) => void;
}

const FILE = /^pending-[0-9a-f]{16,128}\.json$/;

function isPendingLogin(value: unknown): value is PendingLogin {
  const v = value as Partial<Record<keyof PendingLogin, unknown>> | null;
  return (
    v !== null &&
    typeof v === 'object' &&
    v.version === 1 &&
    typeof v.profile === 'string' &&
    typeof v.issuer === 'string' &&
    typeof v.client_id === 'string' &&
    typeof v.redirect_uri === 'string' &&
    typeof v.state === 'string' &&
    typeof v.nonce === 'string' &&
    typeof v.code_verifier === 'string' &&
    typeof v.scope === 'string' &&
    typeof v.id_token_expected === 'boolean' &&
    typeof v.created_at === 'number' &&
    typeof v.expires_at === 'number' &&
    (v.resource === undefined ||
      (Array.isArray(v.resource) && v.resource.every((r) => typeof r === 'string')))
  );
}

export class PendingLoginStore {
  constructor(
    readonly dir: string,
    private readonly options: PendingLoginStoreOptions = {},
  ) {}

  file(state: string): string {
    return join(this.dir, `pending-${fileDigest(`pending:${state}`)}.json`);
  }

  /** Saves an attempt (0600, atomic) and removes expired ones. */
  async save(pending: PendingLogin, nowSeconds: number): Promise<void> {
    await this.prune(nowSeconds);
    await writeFileAtomic(this.file(pending.state), `${JSON.stringify(pending, null, 2)}\n`);
  }

  /** The live attempt whose state this is, if any. */
  async findByState(state: string, nowSeconds: number): Promise<PendingLogin | undefined> {
    const found = await this.read(this.file(state));
    if (!found || found.state !== state || found.expires_at <= nowSeconds) return undefined;
    return found;
  }

  /** The newest live attempt of `profile` (for `redirectUri`, when given). */
  async latest(
    profile: string,
    nowSeconds: number,
    redirectUri?: string,
  ): Promise<PendingLogin | undefined> {
    let best: PendingLogin | undefined;
    for (const pending of await this.all()) {
      if (pending.profile !== profile || pending.expires_at <= nowSeconds) continue;
      if (redirectUri !== undefined && pending.redirect_uri !== redirectUri) continue;
      if (!best || pending.created_at >= best.created_at) best = pending;
    }
    return best;
  }

  async remove(state: string): Promise<void> {
    await rm(this.file(state), { force: true });
  }

  private async prune(nowSeconds: number): Promise<void> {
    for (const pending of await this.all()) {
      if (pending.expires_at <= nowSeconds) await this.remove(pending.state);
    }
  }

  private async all(): Promise<PendingLogin[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const out: PendingLogin[] = [];
    for (const name of names.filter((n) => FILE.test(n)).slice(0, MAX_SCANNED)) {
      const pending = await this.read(join(this.dir, name));
      if (pending) out.push(pending);
    }
    return out;
  }

  private async read(file: string): Promise<PendingLogin | undefined> {
    try {
      const info = await stat(file);
      if (info.size > MAX_FILE_BYTES) {
        this.options.onWarning?.(`ignoring ${file}: too large for a pending login`);
        return undefined;
      }
      if ((info.mode & 0o022) !== 0) {
        // Someone else could have written the verifier and redirect URI.
        this.options.onWarning?.(
          `ignoring ${file}: others can write it (mode ${(info.mode & 0o777).toString(8)}); run \`chmod 600 ${file}\` if it is yours`,
        );
        return undefined;
      }
      const parsed: unknown = JSON.parse(await readFile(file, 'utf8'));
      if (!isPendingLogin(parsed)) {
        this.options.onWarning?.(`ignoring ${file}: not a pending login`);
        return undefined;
      }
      return parsed;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      this.options.onWarning?.(`ignoring ${file}: ${code ?? 'not JSON'}`);
      return undefined;
    }
  }
}
