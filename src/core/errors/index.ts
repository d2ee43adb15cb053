import { CATALOG, type ErrorCode } from './catalog.js';
import type { ExitCode } from './types.js';

export { EXIT, type ExitCode } from './types.js';
export { CATALOG, type ErrorCode } from './catalog.js';

export interface GwErrorOptions {
  /** What to do next, shown as `hint: ...`. */
  hint?: string;
  cause?: unknown;
  /** Structured details for --json output (never secrets). */
  details?: Record<string, unknown>;
}

/**
 * Every error oidc-gw throws on purpose: a stable `code` from the catalog, a
 * message written for people, an optional hint and the original cause.
 */
export class GwError extends Error {
  override readonly name = 'GwError';
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: GwErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }

  get exitCode(): ExitCode {
    return CATALOG[this.code].exit;
  }
}

export function isGwError(value: unknown): value is GwError {
  return value instanceof GwError;
}
