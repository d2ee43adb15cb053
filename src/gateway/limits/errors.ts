/**
 * The one error the limit stores throw on purpose: the store cannot answer
 * (Redis unreachable at start, lost while running, too slow, closed) or was
 * given a URL it cannot use. The gateway maps it: `invalid_url` is a usage
 * error (exit 2), `unreachable` at start is exit 3, and while serving any of
 * them means "no answer": `--redis-failure open|closed` decides what the
 * request gets. Messages never carry a password (URLs are redacted).
 */

/** Why the store could not answer. */
export type LimitStoreFailure = 'invalid_url' | 'unreachable' | 'lost' | 'timeout' | 'closed';

export class LimitStoreUnavailable extends Error {
  override readonly name = 'LimitStoreUnavailable';
  /** Stable code for logs and metrics. */
  readonly code = 'LIMIT_STORE_UNAVAILABLE';
  readonly reason: LimitStoreFailure;

  constructor(reason: LimitStoreFailure, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
  }
}

export function isLimitStoreUnavailable(value: unknown): value is LimitStoreUnavailable {
  return value instanceof LimitStoreUnavailable;
}
