import { COMMON } from './catalog-common.js';
import { DECODE } from './catalog-decode.js';
import { SERVE } from './catalog-serve.js';
import { LOGIN } from './catalog-login.js';
import { CALL } from './catalog-call.js';
import { IDP } from './catalog-idp.js';
import type { CatalogEntry } from './types.js';

/** Every error code oidc-gw throws on purpose, with its exit code. */
export const CATALOG = { ...COMMON, ...DECODE, ...SERVE, ...LOGIN, ...CALL, ...IDP } as const;

export type ErrorCode = keyof typeof CATALOG;

export function catalogEntry(code: string): CatalogEntry | undefined {
  return (CATALOG as Record<string, CatalogEntry>)[code];
}
