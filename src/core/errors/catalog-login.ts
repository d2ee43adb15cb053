import { EXIT, type Catalog } from './types.js';

/** Errors of `oidc-gw login`. Keep docs/errors.md in step (a test checks it). */
export const LOGIN = {} as const satisfies Catalog;

void EXIT;
