/**
 * A remote JWK Set kept in memory for `serve`.
 *
 * Why not jose's createRemoteJWKSet: the gateway's contract needs three
 * things it does not do. (1) When a refresh fails, the last good keys keep
 * serving: jose rejects every verification once its cache is older than
 * cacheMaxAge and the reload fails. (2) Fetches are rate-limited from the
 * time of the attempt, failed or not: jose's cooldown starts at the last
 * success, so a failing IdP is fetched again on every unknown `kid`.
 * (3) Unusable keys are dropped with a log line, and key-set changes are
 * reported (the verified-token cache is cleared on change). Key import and
 * signature checks stay jose's (keys.ts, verify.ts).
 */
import { isGwError } from '../errors/index.js';
import { isBodyTooLarge, readBoundedText } from '../http-body.js';
import { fetchFollowingChecked, type FetchLike } from '../issuer.js';
import { isLoopbackHost } from '../loopback.js';
import { keysFromJwks, type KeyEntry } from './keys.js';

export type { FetchLike };

export type JwksFailure = 'network' | 'timeout' | 'http' | 'invalid';

export class JwksFetchError extends Error {
  constructor(
    readonly kind: JwksFailure,
    message: string,
    readonly uri: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface RemoteKeySetOptions {
  readonly uri: string;
  readonly fetch: FetchLike;
  /** Per fetch. */
  readonly timeoutMs: number;
  /** Keys older than this are refreshed in the background (they keep serving meanwhile). */
  readonly maxAgeMs: number;
  /** At most one fetch attempt per this many ms (unknown kid, stale keys, failures). */
  readonly cooldownMs: number;
  readonly now: () => number;
  /** A line for the log (dropped keys, refresh results). */
  readonly log: (line: string) => void;
  /** Each fetch attempt's result, for metrics. */
  readonly onFetch?: (result: 'ok' | 'error') => void;
  /** Called when a refresh changed the set of keys. */
  readonly onChange?: () => void;
  /** Largest JWKS document accepted (default 1 MiB), counted while it is read. */
  readonly maxBytes?: number;
  /**
   * Whether redirects may lead to plain http on a host that is not loopback.
   * Default: only when the key set's own URI is such a URL (it got past
   * --insecure-http): every hop obeys the rules of the first URL.
   */
  readonly insecureHttp?: boolean;
}

function isInsecureHttp(uri: string): boolean {
  try {
    const url = new URL(uri);
    return url.protocol === 'http:' && !isLoopbackHost(url.hostname);
  } catch {
    return false;
  }
}

export class RemoteKeySet {
  entries: readonly KeyEntry[] = [];
  kids: ReadonlySet<string> = new Set();
  /** Whether a set has been loaded at least once. */
  loaded = false;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private inflight: Promise<void> | undefined;
  private fingerprint = '';

  constructor(readonly options: RemoteKeySetOptions) {}

  get uri(): string {
    return this.options.uri;
  }

  /** The first fetch, at start: throws JwksFetchError when the set cannot be had. */
  async load(): Promise<void> {
    this.lastAttempt = this.options.now();
    await this.fetchAndReplace();
  }

  /**
   * A token named a `kid` this set does not have: re-fetch, unless a fetch
   * was attempted less than `cooldownMs` ago. Concurrent callers share one
   * fetch. Resolves when there is nothing more to wait for; never rejects.
   */
  refreshForUnknownKid(): Promise<void> | undefined {
    if (this.inflight) return this.inflight;
    if (this.options.now() - this.lastAttempt < this.options.cooldownMs) return undefined;
    return this.startRefresh('unknown kid');
  }

  /** Starts a background refresh when the keys are older than their lifetime. */
  refreshIfStale(): void {
    if (this.inflight) return;
    const now = this.options.now();
    if (now - this.fetchedAt < this.options.maxAgeMs) return;
    if (now - this.lastAttempt < this.options.cooldownMs) return;
    void this.startRefresh('cache lifetime reached');
  }

  private startRefresh(why: string): Promise<void> {
    this.lastAttempt = this.options.now();
    const run = this.fetchAndReplace().then(
      (changed) => {
        if (changed)
          this.options.log(`JWKS ${this.uri}: keys changed (${why}): ${this.describe()}`);
      },
      (error: unknown) => {
        this.options.log(
          `JWKS ${this.uri}: refresh failed (${why}): ${error instanceof Error ? error.message : String(error)}; the last good keys keep serving`,
        );
      },
    );
    this.inflight = run.finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  describe(): string {
    const kids = this.entries.map((e) => e.label.replace(/ \(.*\)$/, ''));
    return `${this.entries.length} key${this.entries.length === 1 ? '' : 's'}${kids.length ? ` (${kids.join(', ')})` : ''}`;
  }

  /** Fetches, parses and swaps the set in. Resolves true when the keys changed. */
  private async fetchAndReplace(): Promise<boolean> {
    let document: unknown;
    try {
      document = await this.fetchDocument();
    } catch (error) {
      this.options.onFetch?.('error');
      throw error;
    }
    let result;
    try {
      result = await keysFromJwks(document, `JWKS ${this.uri}`, { wildcardWithoutKid: false });
    } catch (error) {
      this.options.onFetch?.('error');
      throw new JwksFetchError(
        'invalid',
        `${this.uri} did not return a JWK Set: ${error instanceof Error ? error.message : String(error)}`,
        this.uri,
        { cause: error },
      );
    }
    this.options.onFetch?.('ok');
    const fingerprint = JSON.stringify(
      result.entries.map((e) => ('jwk' in e.material ? e.material.jwk : null)),
    );
    this.fetchedAt = this.options.now();
    if (fingerprint === this.fingerprint) return false;
    // Keep the imported keys of entries that did not change.
    const previous = new Map(
      this.entries.map((e) => [JSON.stringify('jwk' in e.material ? e.material.jwk : null), e]),
    );
    for (const line of result.dropped) this.options.log(line);
    this.entries = result.entries.map(
      (e) => previous.get(JSON.stringify('jwk' in e.material ? e.material.jwk : null)) ?? e,
    );
    this.kids = new Set(this.entries.flatMap((e) => (e.kid === undefined ? [] : [e.kid])));
    const first = !this.loaded;
    this.loaded = true;
    this.fingerprint = fingerprint;
    if (!first) this.options.onChange?.();
    return !first;
  }

  private async fetchDocument(): Promise<unknown> {
    const { uri, timeoutMs } = this.options;
    const maxBytes = this.options.maxBytes ?? 1024 * 1024;
    const what = `the JWK Set at ${uri}`;
    let response: Response;
    try {
      response = await fetchFollowingChecked(
        this.options.fetch,
        uri,
        {
          headers: { accept: 'application/jwk-set+json, application/json' },
          signal: AbortSignal.timeout(timeoutMs),
        },
        what,
        this.options.insecureHttp ?? isInsecureHttp(uri),
      );
    } catch (error) {
      if (isBodyTooLarge(error)) {
        throw new JwksFetchError('invalid', error.message, uri, { cause: error });
      }
      if (isGwError(error)) {
        // The project's HTTP client already names the URL and the cause; a
        // redirect off limits is an answer we refuse.
        const kind =
          error.code === 'ERR_TIMEOUT'
            ? 'timeout'
            : error.code === 'ERR_NETWORK'
              ? 'network'
              : 'http';
        throw new JwksFetchError(kind, error.message, uri, { cause: error });
      }
      const timedOut =
        error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError');
      throw new JwksFetchError(
        timedOut ? 'timeout' : 'network',
        timedOut
          ? `${uri} did not answer within ${timeoutMs / 1000} s`
          : `cannot reach ${uri}: ${describeNetworkError(error)}`,
        uri,
        { cause: error },
      );
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => {});
      throw new JwksFetchError('http', `${uri} answered HTTP ${response.status}`, uri);
    }
    let text: string;
    try {
      // Counted while read: a key set that never ends costs at most maxBytes.
      text = await readBoundedText(response, maxBytes, what);
    } catch (error) {
      if (isBodyTooLarge(error)) {
        throw new JwksFetchError('invalid', `${uri} returned more than ${maxBytes} bytes`, uri, {
          cause: error,
        });
      }
      throw new JwksFetchError(
        'network',
        `cannot read ${uri}: ${describeNetworkError(error)}`,
        uri,
        {
          cause: error,
        },
      );
    }
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new JwksFetchError('invalid', `${uri} did not return JSON`, uri, { cause: error });
    }
  }
}

/** `connect ECONNREFUSED 127.0.0.1:9` from fetch's `TypeError: fetch failed` and its causes. */
export function describeNetworkError(error: unknown): string {
  let current: unknown = error;
  let text = error instanceof Error ? error.message : String(error);
  for (let i = 0; i < 5 && current instanceof Error; i++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      text = current.message.includes(code) ? current.message : `${code} ${current.message}`;
    }
    current = current.cause;
  }
  return text;
}
