/**
 * The HTTP client for talking to IdPs: undici's fetch through an
 * EnvHttpProxyAgent (HTTPS_PROXY / HTTP_PROXY / NO_PROXY honoured), a timeout
 * on every request, network failures turned into GwError (exit 3) naming the
 * URL, --verbose logging of every exchange with secrets redacted, and every
 * response body bounded while it is read (an IdP answer larger than
 * maxResponseBytes errors instead of filling memory; openid-client reads the
 * bodies of token, introspection and revocation answers through this fetch).
 */
import { EnvHttpProxyAgent, fetch as undiciFetch, type Dispatcher } from 'undici';
import { GwError } from '../core/errors/index.js';
import { findCauseCode, isNetworkErrorCode, TLS_ERROR_CODE } from '../core/errors/causes.js';
import { boundResponse, readBoundedText } from '../core/http-body.js';
import type { FetchLike } from '../core/issuer.js';
import { redactBody, redactHeader, redactUrl } from '../output/redact.js';

export interface HttpClientOptions {
  /** Seconds before a request is abandoned (exit 3). */
  timeoutSeconds: number;
  /** Receives one line per request/response part when --verbose is on. */
  log?: (line: string) => void;
  /** For tests or custom proxies. Default: EnvHttpProxyAgent. */
  dispatcher?: Dispatcher;
  userAgent?: string;
  /** Largest response body read, counted while it is read (default 1 MiB: IdP answers are a few KiB). */
  maxResponseBytes?: number;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

let sharedAgent: Dispatcher | undefined;

function defaultDispatcher(): Dispatcher {
  // http:// URLs go to an http proxy as absolute-form requests, as curl sends them;
  // https:// URLs are tunnelled with CONNECT.
  sharedAgent ??= new EnvHttpProxyAgent({ proxyTunnel: false } as ConstructorParameters<
    typeof EnvHttpProxyAgent
  >[0]);
  return sharedAgent;
}

function causeCode(error: unknown): string | undefined {
  return findCauseCode(error, isNetworkErrorCode);
}

export function toNetworkError(
  error: unknown,
  url: string,
  timeoutSeconds: number,
  aborted: boolean,
): GwError | undefined {
  const name = (error as { name?: unknown } | undefined)?.name;
  if (name === 'TimeoutError' || (aborted && name === 'AbortError')) {
    return new GwError('ERR_TIMEOUT', `no answer from ${url} within ${timeoutSeconds} s`, {
      cause: error,
      hint: 'raise --timeout, or check that the URL is right and the server is up',
    });
  }
  const code = causeCode(error);
  if (code) {
    const what =
      code === 'ECONNREFUSED'
        ? 'connection refused'
        : code === 'ENOTFOUND'
          ? 'host not found'
          : code;
    return new GwError('ERR_NETWORK', `cannot reach ${url}: ${what}`, {
      cause: error,
      hint: TLS_ERROR_CODE.test(code)
        ? 'the TLS certificate is not trusted (NODE_EXTRA_CA_CERTS adds a CA)'
        : 'check the URL and that the server is running',
    });
  }
  if (error instanceof TypeError && /fetch failed/.test(error.message)) {
    const cause = (error as { cause?: unknown }).cause;
    const why = cause instanceof Error && cause.message ? `: ${cause.message}` : '';
    return new GwError('ERR_NETWORK', `cannot reach ${url}${why}`, { cause: error });
  }
  return undefined;
}

function headerLines(prefix: string, headers: Headers): string[] {
  const lines: string[] = [];
  headers.forEach((value, name) => lines.push(`${prefix} ${name}: ${redactHeader(name, value)}`));
  return lines;
}

/** A response with the same head and a body already read (`text`). */
function rebuilt(response: Response, text: string): Response {
  const noBody = [204, 205, 304].includes(response.status);
  const copy = new Response(noBody ? null : text, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  if (response.url) Object.defineProperty(copy, 'url', { value: response.url });
  return copy;
}

/** A fetch for openid-client's customFetch and for our own requests to IdPs. */
export function createHttpClient(options: HttpClientOptions): FetchLike {
  const dispatcher = options.dispatcher ?? defaultDispatcher();
  const log = options.log;
  return async (url, init = {}) => {
    const timeout = AbortSignal.timeout(options.timeoutSeconds * 1000);
    const signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    const headers = new Headers(init.headers);
    if (!headers.has('user-agent')) headers.set('user-agent', options.userAgent ?? 'oidc-gw');
    const method = (init.method ?? 'GET').toUpperCase();
    if (log) {
      log(`> ${method} ${redactUrl(url)}`);
      for (const line of headerLines('>', headers)) log(line);
      if (typeof init.body === 'string' || init.body instanceof URLSearchParams) {
        log(`> ${redactBody(String(init.body), headers.get('content-type'))}`);
      }
    }
    const started = performance.now();
    let response: Response;
    try {
      response = (await undiciFetch(url, {
        ...(init as object),
        headers,
        signal,
        dispatcher,
      } as Parameters<typeof undiciFetch>[1])) as unknown as Response;
    } catch (error) {
      throw toNetworkError(error, url, options.timeoutSeconds, timeout.aborted) ?? error;
    }
    const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const what = `the answer of ${redactUrl(url)}`;
    if (log) {
      const ms = Math.round(performance.now() - started);
      log(`< HTTP ${response.status} ${response.statusText} (${ms} ms)`);
      for (const line of headerLines('<', response.headers)) log(line);
      const type = response.headers.get('content-type');
      if (type && /json|text|form/.test(type) && response.body) {
        // Read once, bounded, and hand the caller the same bytes.
        const text = await readBoundedText(response, maxBytes, what);
        log(`< ${redactBody(text, type)}`);
        return rebuilt(response, text);
      }
    }
    return boundResponse(response, maxBytes, what);
  };
}
