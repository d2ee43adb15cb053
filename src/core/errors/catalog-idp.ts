import { EXIT, type Catalog } from './types.js';

/** Errors of `oidc-gw idp`. Keep docs/errors.md in step (a test checks it). */
export const IDP = {} as const satisfies Catalog;

void EXIT;
