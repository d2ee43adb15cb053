import { EXIT, type Catalog } from './types.js';

/** Errors shared by every command. Keep docs/errors.md in step (a test checks it). */
export const COMMON = {
  ERR_USAGE: { exit: EXIT.usage, summary: 'A flag or argument is unknown, missing or malformed.' },
  ERR_MISSING_SETTING: {
    exit: EXIT.usage,
    summary:
      'A required setting (issuer, client id, secret...) was given nowhere, and no terminal is there to ask for it.',
  },
  ERR_CONFIG_INVALID: {
    exit: EXIT.usage,
    summary:
      'The config file is unreadable, not JSON, or has a key or value of the wrong kind; or a gateway configuration (`serve --file`, `decode --file`) is invalid: the message names the file, the path inside it and what is wrong.',
  },
  ERR_INPUT_INVALID: {
    exit: EXIT.usage,
    summary: 'An input file or value (private key, token, parameter) cannot be used as given.',
  },
  ERR_INSECURE_ISSUER: {
    exit: EXIT.usage,
    summary: 'An http:// URL was given for a host that is not loopback, without --insecure-http.',
  },
  ERR_NETWORK: {
    exit: EXIT.network,
    summary: 'The server could not be reached: connection refused, DNS, TLS or a reset.',
  },
  ERR_TIMEOUT: {
    exit: EXIT.network,
    summary: 'The server did not answer within the time allowed.',
  },
  ERR_DISCOVERY: {
    exit: EXIT.failed,
    summary:
      'The issuer answered, but with no usable OpenID Connect or RFC 8414 metadata (not found, not JSON, or missing fields).',
  },
  ERR_ISSUER_MISMATCH: {
    exit: EXIT.failed,
    summary:
      'The discovery document names another issuer than the one given (beyond a trailing slash).',
  },
  ERR_IDP: {
    exit: EXIT.failed,
    summary: 'The IdP refused the request; its error and error_description are shown.',
  },
  ERR_IDP_RESPONSE: {
    exit: EXIT.failed,
    summary:
      'The IdP answered with something that is not a valid response (bad JSON, missing fields, failed ID token check).',
  },
  ERR_NO_TOKEN: {
    exit: EXIT.failed,
    summary: 'No usable cached token for the profile, and none could be refreshed.',
  },
  ERR_INTERRUPTED: {
    exit: EXIT.interrupted,
    summary: 'Interrupted (Ctrl-C) while waiting or working.',
  },
  ERR_INTERNAL: {
    exit: EXIT.failed,
    summary: 'A bug in oidc-gw: please report it with the output of --verbose.',
  },
} as const satisfies Catalog;
