/**
 * The verified-token cache: bounded, keyed by the token's hash (strict
 * parsing makes the compact form canonical: one token, one string), and no
 * entry outlives its token's `exp`. Oldest entries go first when full.
 * Only successes are cached: a refused token is checked again every time.
 */
export interface CacheEntry<T> {
  readonly expiresAtMs: number;
  readonly value: T;
}

/** Tokens remembered by their own text (see `getRecent`). */
const RECENT_TOKENS = 64;

export class VerifiedTokenCache<T> {
  private readonly map = new Map<string, CacheEntry<T>>();
  /**
   * The last few tokens that hit, keyed by the token text itself: a client
   * repeating its token is found without hashing it (the main map is keyed
   * by SHA-256 so that its size does not grow with the tokens'). Bounded by
   * RECENT_TOKENS; emptied with the main map.
   */
  private readonly recent = new Map<string, CacheEntry<T>>();
  hits = 0;
  misses = 0;

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.map.size;
  }

  /** A token that hit recently, found by its text (undefined: look it up by key with `get`). */
  getRecent(token: string, nowMs: number): T | undefined {
    const entry = this.recent.get(token);
    if (entry === undefined) return undefined;
    if (nowMs >= entry.expiresAtMs) {
      this.recent.delete(token);
      return undefined;
    }
    this.hits++;
    return entry.value;
  }

  /** The entry under `key`; on a hit, `token` (the text behind the key) is remembered for `getRecent`. */
  get(key: string, nowMs: number, token?: string): T | undefined {
    if (this.maxEntries === 0) return undefined;
    const entry = this.map.get(key);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    if (nowMs >= entry.expiresAtMs) {
      this.map.delete(key);
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (token !== undefined) {
      if (this.recent.size >= RECENT_TOKENS) {
        this.recent.delete(this.recent.keys().next().value as string);
      }
      this.recent.set(token, entry);
    }
    return entry.value;
  }

  set(token: string, value: T, expiresAtMs: number, nowMs: number): void {
    if (this.maxEntries === 0 || expiresAtMs <= nowMs) return;
    if (this.map.has(token)) this.map.delete(token);
    while (this.map.size >= this.maxEntries) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
    this.map.set(token, { expiresAtMs, value });
  }

  /** Drops every entry (keys changed: a token signed by a removed key must be checked again). */
  clear(): void {
    this.map.clear();
    this.recent.clear();
  }
}
