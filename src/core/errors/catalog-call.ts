import { EXIT, type Catalog } from './types.js';

/** Errors of `oidc-gw call`. Keep docs/errors.md in step (a test checks it). */
export const CALL = {
  ERR_HTTP_FAIL: {
    exit: EXIT.httpFail,
    summary:
      '`call --fail` (or --fail-with-body) got an HTTP status of 400 or more, as curl -f does.',
  },
  ERR_CALL_REDIRECT: {
    exit: EXIT.failed,
    summary:
      '`call -L` met more redirects than --max-redirs allows, or a redirect it cannot follow (no Location, not http or https).',
  },
  ERR_CALL_OUTPUT: {
    exit: EXIT.failed,
    summary:
      '`call` could not write the response: the --output file cannot be written, or a binary body would go to a terminal.',
  },
} as const satisfies Catalog;
