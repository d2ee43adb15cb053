import { EXIT, type Catalog } from './types.js';

/** Errors of `oidc-gw call`. Keep docs/errors.md in step (a test checks it). */
export const CALL = {} as const satisfies Catalog;

void EXIT;
