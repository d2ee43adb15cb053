/**
 * RedisStore: counters in Redis, shared by every gateway process and machine
 * that points at the same server (docs/limits.md). Each rule is one Lua
 * script run with EVALSHA (EVAL on NOSCRIPT, which also caches it), so a
 * check-and-count is atomic on the server, and by default the script reads
 * the server's clock (`TIME`): replicas agree on windows whatever their own
 * clocks say, and the `nowMs` given to `hit` is then ignored.
 *
 * node-redis (`redis`) is imported only when a RedisStore is created.
 *
 * Failure behaviour (the gateway decides open or closed):
 *  - `connectRedisStore` rejects with LimitStoreUnavailable('unreachable')
 *    when the first connection fails (no retry at start), 'invalid_url' when
 *    the URL is not one it takes;
 *  - once running, a lost connection makes `healthy` false and every `hit`
 *    reject at once with LimitStoreUnavailable('lost') (no offline queue);
 *    a command that gets no answer within `commandTimeoutMs` rejects with
 *    'timeout'; the client reconnects in the background with exponential
 *    backoff (`reconnectMinMs` doubling up to `reconnectMaxMs`, jittered),
 *    and `healthy` returns to true when it is ready again;
 *  - `onHealthChange(healthy)` fires once per transition; the client's
 *    'error' events are always listened to (never unhandled).
 *
 * URLs: `redis://[user:pass@]host[:port][/db]`, `rediss://...` (TLS), and a
 * unix socket as `unix:///path/to/redis.sock[?db=N]` (`redis+unix:///path`
 * is accepted as the same thing). Passwords never appear in errors.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClientType } from 'redis';
import type { LimitRule } from '../plan.js';
import { assertRunnable, settle } from './algorithms.js';
import { LimitStoreUnavailable, type LimitStoreFailure } from './errors.js';
import { counterKeyBase } from './identity.js';
import { SCRIPTS } from './redis-scripts.js';
import type { CountMode, CounterKey, LimitState, LimitStore } from './types.js';

export interface RedisStoreOptions {
  /** redis://, rediss://, unix:///path (or redis+unix:///path). */
  readonly url: string;
  /**
   * Whose clock the scripts use: 'server' (default; Redis TIME, shared by all
   * replicas, `nowMs` ignored) or 'caller' (the `nowMs` given to hit; for
   * tests with an injected clock and single-process use).
   */
  readonly clock?: 'server' | 'caller';
  /** Bound on one command's round trip, ms (default 1000). */
  readonly commandTimeoutMs?: number;
  /** Bound on establishing a connection, ms (default 2000). */
  readonly connectTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap, ms (defaults 100 and 5000). */
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  /** Added to every key's TTL beyond its window, ms (default 1000). */
  readonly ttlGraceMs?: number;
  /** Called once per health transition (false when lost, true when back). */
  readonly onHealthChange?: (healthy: boolean) => void;
}

/**
 * The URL with any password replaced by `***`, for messages. The user
 * information is everything between `://` and the LAST `@` before the path
 * (a password may hold `@` or `/`); a user name without a password stays.
 */
export function redactRedisUrl(url: string): string {
  const m = /^([a-z+]+:\/\/)(.*)$/is.exec(url);
  if (!m) return url;
  const rest = m[2] as string;
  const at = rest.lastIndexOf('@');
  if (at === -1) return url;
  const info = rest.slice(0, at);
  const colon = info.indexOf(':');
  const user = colon === -1 ? info : info.slice(0, colon);
  return `${m[1]}${colon === -1 ? user : `${user}:***`}${rest.slice(at)}`;
}

/** The URL node-redis is given, or LimitStoreUnavailable('invalid_url'). */
export function normalizeRedisUrl(url: string): string {
  const trimmed = url.trim();
  const scheme = /^([a-z+]+):/i.exec(trimmed)?.[1]?.toLowerCase();
  if (scheme === 'redis+unix') return 'unix:' + trimmed.slice('redis+unix:'.length);
  if (scheme === 'redis' || scheme === 'rediss' || scheme === 'unix') return trimmed;
  throw new LimitStoreUnavailable(
    'invalid_url',
    `not a Redis URL: ${redactRedisUrl(trimmed)} (expected redis://, rediss:// or unix:///path)`,
  );
}

type Client = RedisClientType;

export class RedisStore implements LimitStore {
  readonly #client: Client;
  readonly #clock: 'server' | 'caller';
  readonly #graceMs: number;
  readonly #where: string;
  readonly #onHealthChange: ((healthy: boolean) => void) | undefined;
  #healthy = true;
  #closed = false;

  readonly #classify: (err: unknown) => LimitStoreFailure;

  /** Use `connectRedisStore`; this wraps a node-redis client (connected there). */
  constructor(
    client: Client,
    options: RedisStoreOptions,
    where: string,
    classify: (err: unknown) => LimitStoreFailure,
  ) {
    this.#client = client;
    this.#classify = classify;
    this.#clock = options.clock ?? 'server';
    this.#graceMs = Math.max(0, Math.floor(options.ttlGraceMs ?? 1000));
    this.#onHealthChange = options.onHealthChange;
    this.#where = where;
  }

  get healthy(): boolean {
    return this.#healthy && !this.#closed;
  }

  /** Called by the client's events; fires onHealthChange on a transition only. */
  setHealthy(healthy: boolean): void {
    if (this.#closed || healthy === this.#healthy) return;
    this.#healthy = healthy;
    try {
      this.#onHealthChange?.(healthy);
    } catch {
      // A throwing listener must not break the client's event handling.
    }
  }

  async hit(
    key: CounterKey,
    rules: readonly LimitRule[],
    nowMs: number,
    cost = 1,
    mode: CountMode = 'count',
  ): Promise<readonly LimitState[]> {
    for (const rule of rules) assertRunnable(rule, cost);
    const out: LimitState[] = [];
    for (const rule of rules) {
      const state = await this.#hitOne(key, rule, Math.floor(nowMs), cost, mode);
      out.push(state);
      if (!state.allowed && mode !== 'add') break;
    }
    return out;
  }

  async #hitOne(
    key: CounterKey,
    rule: LimitRule,
    nowMs: number,
    cost: number,
    mode: CountMode,
  ): Promise<LimitState> {
    if (this.#closed) {
      throw new LimitStoreUnavailable('closed', 'the Redis limit store is closed');
    }
    if (!this.#healthy || !this.#client.isReady) {
      throw new LimitStoreUnavailable('lost', `Redis at ${this.#where} is unreachable`);
    }
    let extra = '';
    if (rule.algorithm === 'sliding_log') extra = randomUUID();
    else if (rule.algorithm === 'fixed_calendar') extra = rule.calendar ?? 'minute';
    else if (rule.algorithm === 'fixed_from_start') extra = String(rule.startMs ?? 0);
    const args = [
      String(rule.limit),
      String(rule.periodMs),
      String(cost),
      mode === 'check' ? 'n' : mode === 'add' ? 'a' : rule.countRefused ? '1' : '0',
      this.#clock === 'caller' ? String(nowMs) : '',
      String(this.#graceMs),
      extra,
    ];
    const reply = await this.#run(rule, counterKeyBase(key.api, rule, key.identity), args);
    if (!Array.isArray(reply) || reply.length !== 4) {
      throw new LimitStoreUnavailable('lost', `Redis at ${this.#where} gave an unexpected reply`);
    }
    const [allowed, remaining, resetMs, serverNow] = reply.map(Number) as [
      number,
      number,
      number,
      number,
    ];
    return settle(rule, allowed === 1, remaining, resetMs, serverNow);
  }

  async #run(rule: LimitRule, redisKey: string, args: string[]): Promise<unknown> {
    const script = SCRIPTS[rule.algorithm];
    try {
      try {
        return await this.#client.sendCommand(['EVALSHA', script.sha, '1', redisKey, ...args]);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return await this.#client.sendCommand(['EVAL', script.source, '1', redisKey, ...args]);
      }
    } catch (err) {
      throw this.#wrap(err);
    }
  }

  #wrap(err: unknown): LimitStoreUnavailable {
    if (err instanceof LimitStoreUnavailable) return err;
    const reason = this.#closed ? 'closed' : this.#classify(err);
    if (reason === 'closed') {
      return new LimitStoreUnavailable('closed', 'the Redis limit store is closed', { cause: err });
    }
    if (reason === 'timeout') {
      return new LimitStoreUnavailable(
        'timeout',
        `Redis at ${this.#where} did not answer in time`,
        {
          cause: err,
        },
      );
    }
    const detail = err instanceof Error ? err.message : String(err);
    return new LimitStoreUnavailable('lost', `Redis at ${this.#where} failed: ${detail}`, {
      cause: err,
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.#client.isReady) await this.#client.close();
      else this.#client.destroy();
    } catch {
      this.#client.destroy();
    }
  }
}

/**
 * Connects to Redis and returns a RedisStore; rejects with
 * LimitStoreUnavailable ('invalid_url': exit 2, 'unreachable': exit 3).
 */
export async function connectRedisStore(options: RedisStoreOptions): Promise<RedisStore> {
  const url = normalizeRedisUrl(options.url);
  const where = redactRedisUrl(url);
  const minMs = Math.max(1, options.reconnectMinMs ?? 100);
  const maxMs = Math.max(minMs, options.reconnectMaxMs ?? 5000);
  const redis = await import('redis');
  const { createClient } = redis;
  const classify = (err: unknown): LimitStoreFailure => {
    if (err instanceof redis.TimeoutError || err instanceof redis.TimeoutReadError)
      return 'timeout';
    if (err instanceof redis.ClientClosedError) return 'closed';
    return 'lost';
  };
  let started = false;
  let client: Client;
  try {
    client = createClient({
      url,
      disableOfflineQueue: true,
      commandOptions: { timeout: options.commandTimeoutMs ?? 1000, rejectInFlight: true },
      socket: {
        connectTimeout: options.connectTimeoutMs ?? 2000,
        reconnectStrategy: (retries: number, cause: Error) => {
          if (!started) return cause;
          const delay = Math.min(maxMs, minMs * 2 ** Math.min(retries, 20));
          return Math.round(delay * (0.8 + Math.random() * 0.2));
        },
      },
    }) as unknown as Client;
  } catch (err) {
    throw new LimitStoreUnavailable('invalid_url', `not a usable Redis URL: ${where}`, {
      cause: err,
    });
  }
  const store = new RedisStore(client, options, where, classify);
  // Never an unhandled 'error': every socket error is a health signal.
  const health = (healthy: boolean) => () => {
    if (started) store.setHealthy(healthy);
  };
  client.on('error', health(false));
  client.on('reconnecting', health(false));
  client.on('end', health(false));
  client.on('ready', health(true));
  try {
    await client.connect();
  } catch (err) {
    try {
      client.destroy();
    } catch {
      // Already closed by the failed attempt.
    }
    const detail = err instanceof Error ? ` (${describe(err)})` : '';
    throw new LimitStoreUnavailable('unreachable', `cannot connect to Redis at ${where}${detail}`, {
      cause: err,
    });
  }
  started = true;
  return store;
}

function describe(err: Error): string {
  const socketError = (err as { socketError?: unknown }).socketError;
  const inner = socketError instanceof Error ? socketError : err;
  return inner.message || inner.name;
}
