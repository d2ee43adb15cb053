import { EXIT, type Catalog } from './types.js';

/** Errors of `oidc-gw decode`. Keep docs/errors.md in step (a test checks it). */
export const DECODE = {} as const satisfies Catalog;

void EXIT;
