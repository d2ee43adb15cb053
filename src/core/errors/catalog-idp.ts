import { EXIT, type Catalog } from './types.js';

/** Errors of `oidc-gw idp`. Keep docs/errors.md in step (a test checks it). */
export const IDP = {
  ERR_IDP_LISTEN: {
    exit: EXIT.failed,
    summary:
      'The dev IdP could not listen on the host and port asked for (port in use, or an address this machine does not have).',
  },
  ERR_IDP_NOT_LOOPBACK: {
    exit: EXIT.usage,
    summary:
      'The dev IdP was asked to listen on a host that is not loopback, without --allow-non-loopback.',
  },
  ERR_IDP_KEYS: {
    exit: EXIT.usage,
    summary:
      'The --keys file of the dev IdP cannot be read or written, or is not a private JWKS of RSA keys.',
  },
} as const satisfies Catalog;
