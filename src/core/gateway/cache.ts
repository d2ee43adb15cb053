/**
 * The verified-token cache: bounded, keyed by the token itself (strict
 * parsing makes the compact form canonical: one token, one string), and no
 * entry outlives its token's `exp`. Oldest entries go first when full.
 * Only successes are cached: a refused token is checked again every time.
 */
export interface CacheEntry<T> {
  readonly expiresAtMs: number;
  readonly value: T;
}

export class VerifiedTokenCache<T> {
  private readonly map = new Map<string, CacheEntry<T>>();
  hits = 0;
  misses = 0;

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.map.size;
  }

  get(token: string, nowMs: number): T | undefined {
    if (this.maxEntries === 0) return undefined;
    const entry = this.map.get(token);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    if (nowMs >= entry.expiresAtMs) {
      this.map.delete(token);
      this.misses++;
      return undefined;
    }
    this.hits++;
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
  }
}
