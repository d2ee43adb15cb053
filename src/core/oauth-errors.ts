/**
 * Wraps errors from openid-client / oauth4webapi at the core boundary into
 * GwError, keeping their codes (as `details.cause_code`).
 */
import { GwError, isGwError } from './errors/index.js';
import { causeChain } from './errors/causes.js';

interface OAuthErrorLike {
  error?: unknown;
  error_description?: unknown;
  status?: unknown;
  code?: unknown;
  cause?: unknown;
  message?: unknown;
}

function findGwError(error: unknown): GwError | undefined {
  for (const e of causeChain(error)) if (isGwError(e)) return e;
  return undefined;
}

const NETWORK =
  /ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|UND_ERR_SOCKET|fetch failed|socket hang up/;

function networkCause(error: unknown, depth = 0): string | undefined {
  if (depth > 6 || error === null || typeof error !== 'object') return undefined;
  const e = error as OAuthErrorLike;
  const text = `${typeof e.code === 'string' ? e.code : ''} ${typeof e.message === 'string' ? e.message : ''}`;
  const m = NETWORK.exec(text);
  if (m && typeof e.code === 'string') return e.code;
  return networkCause(e.cause, depth + 1) ?? (m ? m[0] : undefined);
}

export interface WrapContext {
  /** What was being done, for the message: "token request to https://...". */
  action: string;
  url?: string;
}

/** Turns any error from an OAuth exchange into a GwError with the right code. */
export function wrapOAuthError(error: unknown, context: WrapContext): GwError {
  const inner = findGwError(error);
  if (inner) return inner;
  let e = (error ?? {}) as OAuthErrorLike;
  // A WWW-Authenticate challenge (e.g. 401 invalid_client with Basic): its parameters carry the error.
  if (typeof e.error !== 'string' && Array.isArray(e.cause)) {
    const params = (e.cause as Array<{ parameters?: Record<string, unknown> }>).find(
      (c) => typeof c.parameters?.['error'] === 'string',
    )?.parameters;
    if (params) e = { ...params, status: e.status };
  }
  // An OAuth error response from the IdP (ResponseBodyError): show error + error_description.
  if (typeof e.error === 'string') {
    const description = typeof e.error_description === 'string' ? `: ${e.error_description}` : '';
    const status = typeof e.status === 'number' ? ` (HTTP ${e.status})` : '';
    return new GwError(
      'ERR_IDP',
      `the IdP refused the ${context.action}${status}: ${e.error}${description}`,
      {
        cause: error,
        hint: hintFor(e.error),
        details: {
          error: e.error,
          ...(typeof e.error_description === 'string'
            ? { error_description: e.error_description }
            : {}),
        },
      },
    );
  }
  const code = typeof e.code === 'string' ? e.code : undefined;
  const where = context.url ? ` (${context.url})` : '';
  if (code === 'OAUTH_TIMEOUT' || (error instanceof Error && error.name === 'TimeoutError')) {
    return new GwError('ERR_TIMEOUT', `the ${context.action} timed out${where}`, {
      cause: error,
      hint: 'raise --timeout, or check the URL',
    });
  }
  const net = networkCause(error);
  if (net) {
    return new GwError(
      'ERR_NETWORK',
      `cannot reach the server for the ${context.action}${where}: ${net}`,
      { cause: error },
    );
  }
  if (code === 'OAUTH_HTTP_REQUEST_FORBIDDEN') {
    return new GwError(
      'ERR_INSECURE_ISSUER',
      `http is not allowed for the ${context.action}${where}`,
      {
        cause: error,
        hint: 'use https, or --insecure-http for a development server',
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  const detail = innerMessage(error);
  return new GwError(
    'ERR_IDP_RESPONSE',
    `unexpected answer to the ${context.action}${where}: ${message}${detail}`,
    {
      cause: error,
      details: code ? { cause_code: code } : undefined,
    },
  );
}

function innerMessage(error: unknown): string {
  const cause = (error as OAuthErrorLike | undefined)?.cause;
  if (cause instanceof Error && cause.message && cause.message !== (error as Error).message)
    return ` (${cause.message})`;
  if (
    cause &&
    typeof cause === 'object' &&
    'status' in cause &&
    typeof (cause as { status: unknown }).status === 'number'
  ) {
    return ` (HTTP ${(cause as { status: number }).status})`;
  }
  return '';
}

function hintFor(error: string): string | undefined {
  switch (error) {
    case 'invalid_client':
      return 'check --client-id, --client-secret and --auth-method against the client registered at the IdP';
    case 'invalid_grant':
      return 'the code or refresh token is expired, used or revoked: run `oidc-gw login` again';
    case 'unauthorized_client':
      return 'the client is not allowed this grant type: enable it in the IdP';
    case 'invalid_scope':
      return 'ask for scopes the client is allowed (--scope)';
    case 'invalid_target':
      return 'the --audience/--resource is not an API the IdP knows for this client';
    default:
      return undefined;
  }
}
