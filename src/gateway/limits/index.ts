/**
 * The limits library (docs/limits.md): algorithms, the in-memory and Redis
 * stores, identity keys and the store's error. Importing this module does
 * not load node-redis; `connectRedisStore` does, when called.
 */
export type { CountMode, CounterKey, LimitState, LimitStore } from './types.js';
export {
  NEVER_MS,
  NEVER_RETRY_AFTER_SECONDS,
  calendarWindow,
  fixedCalendar,
  fixedFirstRequest,
  fixedFromStart,
  fromStartWindow,
  settle,
  slidingLog,
  slidingWindow,
  step,
  type FixedWindowState,
  type SlidingLogState,
  type SlidingWindowState,
  type Step,
} from './algorithms.js';
export {
  LimitStoreUnavailable,
  isLimitStoreUnavailable,
  type LimitStoreFailure,
} from './errors.js';
export {
  KEY_PREFIX,
  counterKeyBase,
  identityKey,
  isSecretKind,
  type IdentityKind,
} from './identity.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export {
  RedisStore,
  connectRedisStore,
  normalizeRedisUrl,
  redactRedisUrl,
  type RedisStoreOptions,
} from './redis-store.js';
