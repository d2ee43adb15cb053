import { EXIT, type Catalog } from './types.js';

/** Errors of `oidc-gw login` and `oidc-gw logout`. Keep docs/errors.md in step (a test checks it). */
export const LOGIN = {
  ERR_LOGIN_TIMEOUT: {
    exit: EXIT.failed,
    summary:
      'No sign-in came back within --timeout seconds (no browser callback, or the device code was not approved in time).',
  },
  ERR_ACCESS_DENIED: {
    exit: EXIT.failed,
    summary: 'The user or the IdP refused the sign-in (access_denied).',
  },
  ERR_DEVICE_EXPIRED: {
    exit: EXIT.failed,
    summary:
      'The device code expired before the user approved it (expired_token or expires_in passed).',
  },
  ERR_DEVICE_UNSUPPORTED: {
    exit: EXIT.failed,
    summary:
      'login --device was asked for, but the IdP advertises no device_authorization_endpoint.',
  },
  ERR_LOGIN_LISTEN: {
    exit: EXIT.failed,
    summary:
      'The loopback listener for the browser callback could not start (port in use, or address not available).',
  },
} as const satisfies Catalog;
