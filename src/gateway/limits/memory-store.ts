/**
 * MemoryStore: the default LimitStore, counters in this process only
 * (docs/limits.md). Atomic by construction: `hit` does all its work
 * synchronously between two awaits, so no other hit interleaves.
 *
 * Memory stays bounded by the identities active within their windows:
 * each entry records when its window ends (algorithms.ts `expiresAtMs`),
 * an expired entry is treated as absent, and every hit sweeps a bounded
 * number of entries (`sweepPerHit`, default 8) from a cursor that walks the
 * map round and round, deleting the expired ones. Entries are re-inserted
 * when touched, so the map is ordered by last use and the cursor meets the
 * idle ones first. `prune(nowMs)` sweeps everything at once (tests, timers).
 */
import type { LimitRule } from '../plan.js';
import { assertRunnable, step } from './algorithms.js';
import { counterKeyBase } from './identity.js';
import type { CountMode, CounterKey, LimitState, LimitStore } from './types.js';

export interface MemoryStoreOptions {
  /** Entries examined (and deleted when expired) per hit; default 8, at least 2. */
  readonly sweepPerHit?: number;
}

interface Entry {
  readonly name: string;
  state: unknown;
  expiresAtMs: number;
}

export class MemoryStore implements LimitStore {
  readonly healthy = true;
  readonly #entries = new Map<string, Entry>();
  readonly #sweepPerHit: number;
  #cursor: Iterator<Entry> | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    this.#sweepPerHit = Math.max(2, Math.floor(options.sweepPerHit ?? 8));
  }

  /** How many counters are held (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  hit(
    key: CounterKey,
    rules: readonly LimitRule[],
    nowMs: number,
    cost = 1,
    mode: CountMode = 'count',
  ): Promise<readonly LimitState[]> {
    try {
      return Promise.resolve(this.hitSync(key, rules, nowMs, cost, mode));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /** `hit` without the promise (LimitStore.hitSync). */
  readonly hitSync = (
    key: CounterKey,
    rules: readonly LimitRule[],
    nowMs: number,
    cost = 1,
    mode: CountMode = 'count',
  ): readonly LimitState[] => {
    const now = Math.floor(nowMs);
    for (const rule of rules) assertRunnable(rule, cost);
    const out: LimitState[] = [];
    for (const rule of rules) {
      const name = counterKeyBase(key.api, rule, key.identity);
      const held = this.#entries.get(name);
      const prev = held !== undefined && held.expiresAtMs > now ? held.state : undefined;
      const result = step(rule, prev, now, cost, mode);
      if (mode !== 'check') {
        this.#entries.delete(name);
        if (result.expiresAtMs > now) {
          this.#entries.set(name, { name, state: result.next, expiresAtMs: result.expiresAtMs });
        }
      }
      out.push(result.state);
      if (!result.state.allowed && mode !== 'add') break;
    }
    this.#sweep(now, this.#sweepPerHit);
    return out;
  };

  /** Deletes every expired entry; returns how many went. */
  prune(nowMs: number): number {
    let removed = 0;
    for (const [name, entry] of this.#entries) {
      if (entry.expiresAtMs <= nowMs) {
        this.#entries.delete(name);
        removed += 1;
      }
    }
    this.#cursor = undefined;
    return removed;
  }

  #sweep(nowMs: number, budget: number): void {
    for (let i = 0; i < budget; i += 1) {
      this.#cursor ??= this.#entries.values();
      const next = this.#cursor.next();
      if (next.done === true) {
        this.#cursor = undefined;
        if (this.#entries.size === 0) return;
        continue;
      }
      if (next.value.expiresAtMs <= nowMs) this.#entries.delete(next.value.name);
    }
  }

  close(): Promise<void> {
    this.#entries.clear();
    this.#cursor = undefined;
    return Promise.resolve();
  }
}
