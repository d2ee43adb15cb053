import { EXIT, type Catalog } from './types.js';

/** Errors of `oidc-gw serve`. Keep docs/errors.md in step (a test checks it). */
export const SERVE = {
  ERR_SERVE_NO_TRUST: {
    exit: EXIT.usage,
    summary:
      '`serve` was given nothing to verify tokens with: no --issuer, --jwks-uri, --public-key or --secret.',
  },
  ERR_SERVE_JWKS: {
    exit: EXIT.network,
    summary:
      'A JWKS could not be fetched when `serve` started (unreachable, timeout, HTTP error, or not a JWK Set).',
  },
  ERR_SERVE_LISTEN: {
    exit: EXIT.failed,
    summary: '`serve` could not listen on its port or admin port (in use, or not permitted).',
  },
  ERR_LIMIT_STORE: {
    exit: EXIT.network,
    summary:
      '`serve --redis`: the Redis server holding the shared limit counters cannot be reached at start.',
  },
} as const satisfies Catalog;
