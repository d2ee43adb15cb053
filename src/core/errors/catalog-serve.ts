import { EXIT, type Catalog } from './types.js';

/** Errors of `oidc-gw serve`. Keep docs/errors.md in step (a test checks it). */
export const SERVE = {} as const satisfies Catalog;

void EXIT;
