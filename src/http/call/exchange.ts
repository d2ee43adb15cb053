/**
 * One HTTP exchange of `oidc-gw call`, over undici's `request` (streamed body,
 * no redirects: the service follows them itself, so that it decides which
 * headers cross origins). Proxies from the environment are honoured as curl
 * does (HTTPS_PROXY, HTTP_PROXY, NO_PROXY). Certificate checks are off only
 * for -k, on a dispatcher of its own.
 */
import type { Readable } from 'node:stream';
import { EnvHttpProxyAgent, request, type Dispatcher } from 'undici';
import { GwError } from '../../core/errors/index.js';
import { findCauseCode, TLS_ERROR_CODE } from '../../core/errors/causes.js';
import { toNetworkError } from '../client.js';

export interface CallDispatcherOptions {
  /** -k: do not check the server's TLS certificate. */
  readonly insecure: boolean;
  /** Seconds to connect, to wait for the response headers, and between body chunks. */
  readonly timeoutSeconds: number;
}

export function createCallDispatcher(options: CallDispatcherOptions): Dispatcher {
  const ms = Math.max(1, Math.round(options.timeoutSeconds * 1000));
  const tls = options.insecure ? { rejectUnauthorized: false } : {};
  return new EnvHttpProxyAgent({
    // http:// URLs go to an http proxy in absolute form, as curl sends them (no CONNECT).
    proxyTunnel: false,
    headersTimeout: ms,
    bodyTimeout: ms,
    connect: { timeout: ms, ...tls },
    ...(options.insecure ? { requestTls: { rejectUnauthorized: false } } : {}),
  });
}

export interface CallRequest {
  readonly url: URL;
  readonly method: string;
  /** Header lines in order, as [name, value]. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer | undefined;
  readonly signal: AbortSignal;
}

export interface CallResponse {
  readonly status: number;
  readonly statusText: string;
  /** Header lines in order and case as received, as [name, value]. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Readable;
}

/** Sends one request; the response body is a stream the caller must consume or destroy. */
export async function exchange(dispatcher: Dispatcher, req: CallRequest): Promise<CallResponse> {
  const flat: string[] = [];
  for (const [name, value] of req.headers) flat.push(name, value);
  const response = await request(req.url, {
    dispatcher,
    method: req.method as Dispatcher.HttpMethod,
    headers: flat,
    body: req.body ?? null,
    signal: req.signal,
    responseHeaders: 'raw',
  });
  return {
    status: response.statusCode,
    statusText: response.statusText ?? '',
    headers: rawPairs(response.headers as unknown),
    body: response.body,
  };
}

function rawPairs(raw: unknown): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  if (Array.isArray(raw)) {
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i] as Buffer | string;
      const value = raw[i + 1] as Buffer | string;
      pairs.push([latin1(name), latin1(value)]);
    }
    return pairs;
  }
  // Not raw after all: an object of lower-cased names.
  for (const [name, value] of Object.entries(
    (raw ?? {}) as Record<string, string | string[] | undefined>,
  )) {
    if (Array.isArray(value)) for (const v of value) pairs.push([name, v]);
    else if (value !== undefined) pairs.push([name, value]);
  }
  return pairs;
}

function latin1(v: Buffer | string): string {
  return typeof v === 'string' ? v : v.toString('latin1');
}

export interface FailureContext {
  /** The URL, already redacted for display. */
  readonly url: string;
  readonly timeoutSeconds: number;
  /** The --max-time signal, when there is one. */
  readonly maxTime?: { readonly signal: AbortSignal; readonly seconds: number };
  /** Ctrl-C. */
  readonly interrupt: AbortSignal;
}

/** Maps a failure of an exchange (or of reading its body) to a GwError with the right exit code. */
export function callFailure(error: unknown, context: FailureContext): unknown {
  if (error instanceof GwError) return error;
  if (context.interrupt.aborted)
    return new GwError('ERR_INTERRUPTED', 'interrupted', { cause: error });
  if (context.maxTime?.signal.aborted) {
    return new GwError(
      'ERR_TIMEOUT',
      `the call to ${context.url} did not finish within --max-time ${context.maxTime.seconds} s`,
      {
        cause: error,
        hint: 'raise --max-time, or check that the server answers',
      },
    );
  }
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') {
    return new GwError('ERR_USAGE', `cannot send this request: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (code === 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH') {
    return new GwError('ERR_USAGE', 'the Content-Length given with -H does not match the body', {
      cause: error,
    });
  }
  if (
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT'
  ) {
    const what =
      code === 'UND_ERR_CONNECT_TIMEOUT'
        ? 'connect to'
        : code === 'UND_ERR_HEADERS_TIMEOUT'
          ? 'get an answer from'
          : 'get more of the body from';
    return new GwError(
      'ERR_TIMEOUT',
      `could not ${what} ${context.url} within ${context.timeoutSeconds} s`,
      {
        cause: error,
        hint: 'raise --timeout, or check that the server is up',
      },
    );
  }
  const tls = tlsCode(error);
  if (tls) {
    return new GwError(
      'ERR_NETWORK',
      `the TLS certificate of ${context.url} is not trusted (${tls})`,
      {
        cause: error,
        hint: 'NODE_EXTRA_CA_CERTS=FILE adds a CA; -k skips the check (the token could reach an impostor)',
      },
    );
  }
  const mapped = toNetworkError(error, context.url, context.timeoutSeconds, false);
  if (mapped) return mapped;
  if (
    code === 'UND_ERR_SOCKET' ||
    code === 'ECONNRESET' ||
    code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'
  ) {
    return new GwError(
      'ERR_NETWORK',
      `the connection to ${context.url} broke: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  if (
    /certificate|self[- ]signed|TLS|SSL/i.test(message) ||
    /CERT|TLS|SSL/.test(String(code ?? ''))
  ) {
    return new GwError('ERR_NETWORK', `TLS failed with ${context.url}: ${message}`, {
      cause: error,
      hint: 'NODE_EXTRA_CA_CERTS=FILE adds a CA; -k skips the check (the token could reach an impostor)',
    });
  }
  if (typeof code === 'string') {
    return new GwError('ERR_NETWORK', `the call to ${context.url} failed: ${message} (${code})`, {
      cause: error,
    });
  }
  return error; // not a network failure: a bug, shown as one
}

function tlsCode(error: unknown): string | undefined {
  return findCauseCode(error, (code) => TLS_ERROR_CODE.test(code));
}
