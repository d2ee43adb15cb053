import { EXIT, type Catalog } from './types.js';

/** Errors of `oidc-gw decode`. Keep docs/errors.md in step (a test checks it). */
export const DECODE = {
  ERR_TOKEN_MALFORMED: {
    exit: EXIT.usage,
    summary:
      'The input is not a token: empty, white space inside, a wrong number of dot-separated parts, a segment that is not base64url, or a header or payload that is not a JSON object.',
  },
} as const satisfies Catalog;
