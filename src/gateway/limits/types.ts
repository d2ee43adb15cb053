/**
 * The limits library's contract (docs/limits.md): a store counts hits per
 * (API, rule, identity) with one of the algorithms of `LimitAlgorithm`,
 * atomically, and answers with what the response headers need.
 */
import type { LimitRule } from '../plan.js';

/** What one check-and-count of one rule says. */
export interface LimitState {
  readonly rule: LimitRule;
  /** This request may pass (as far as this rule goes). */
  readonly allowed: boolean;
  readonly limit: number;
  /** Requests left in the current window after this one (never below 0). */
  readonly remaining: number;
  /** Epoch ms when the window resets (fixed windows) or when one more request will be allowed (sliding). */
  readonly resetMs: number;
  /** Refused: seconds until a retry can pass (>= 1, rounded up); allowed: 0. */
  readonly retryAfterSeconds: number;
  /**
   * Set when the window never ends (fixed_from_start with periodMs 0, APIM
   * renewal-period 0): resetMs is then Number.MAX_SAFE_INTEGER and a
   * refusal's retryAfterSeconds one year; a renderer may omit reset headers.
   */
  readonly neverResets?: true;
}

/** A counter's identity: which API, which rule, whose. */
export interface CounterKey {
  readonly api: string;
  /** The identity, already hashed when it is a secret (client id...). */
  readonly identity: string;
}

/**
 * How a store call counts (docs/limits.md, "Counting modes"):
 *  - `count` (the default): check and count, refused requests only when the
 *    rule's `countRefused` says so;
 *  - `check`: answer as `count` would, write nothing (APIM rules whose
 *    `increment-condition` is decided after the response);
 *  - `add`: count whatever the answer (the deferred count of those rules,
 *    once the condition holds); every rule is counted, a refusal stops none.
 */
export type CountMode = 'count' | 'check' | 'add';

export interface LimitStore {
  /**
   * Checks and counts one request against `rules`, in order, as one atomic
   * step per rule. A rule that refuses stops the ones after it (they are
   * neither checked nor counted). `cost` is the weight of the request
   * (APIM increment-count; 1 otherwise), a positive integer. `nowMs` is
   * the caller's clock; a RedisStore on the server clock (its default)
   * ignores it and uses Redis `TIME`. `mode` (default `count`) says what is
   * written. Rejects with LimitStoreUnavailable (errors.ts) when the store
   * cannot answer.
   */
  hit(
    key: CounterKey,
    rules: readonly LimitRule[],
    nowMs: number,
    cost?: number,
    mode?: CountMode,
  ): Promise<readonly LimitState[]>;
  /**
   * `hit` without the promise, for a store that answers in this process
   * (MemoryStore): the gateway then decides without a microtask hop. Throws
   * where `hit` would reject.
   */
  readonly hitSync?: (
    key: CounterKey,
    rules: readonly LimitRule[],
    nowMs: number,
    cost?: number,
    mode?: CountMode,
  ) => readonly LimitState[];
  /** Store health: false while a Redis store has lost its server. */
  readonly healthy: boolean;
  close(): Promise<void>;
}
