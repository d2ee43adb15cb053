/**
 * The loopback listener that receives the browser's redirect after sign-in
 * (RFC 8252 §7.3). It binds the loopback address of the redirect URI only
 * (127.0.0.1 by default; [::1] when the URI says so), answers its callback
 * path only, ignores (400) a callback whose `state` does not match, and closes
 * as soon as the flow ends. Its pages are small, self-contained and never
 * contain a token or anything taken from the request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GwError } from '../core/errors/index.js';
import { isLoopbackHost } from '../core/loopback.js';
import { escapeHtml } from '../output/html.js';

export const DEFAULT_CALLBACK_PATH = '/callback';
/** Ignored requests reported to the terminal, at most. */
const MAX_REPORTS = 5;

export interface LoopbackAddress {
  /** The address to listen on: 127.x.y.z or ::1. */
  readonly bindHost: string;
  /** The host as written in the redirect URI: 127.0.0.1, [::1] or localhost. */
  readonly urlHost: string;
  /** 0: an ephemeral port. */
  readonly port: number;
  readonly path: string;
}

function badRedirect(input: string, why: string): GwError {
  return new GwError('ERR_USAGE', `--redirect-uri "${input}" ${why}`, {
    hint: 'give a loopback http URL such as http://127.0.0.1:8765/callback (and register it at the IdP)',
  });
}

/**
 * Reads --redirect-uri / --port into where to listen. Without a redirect URI:
 * http://127.0.0.1:PORT/callback, PORT from --port or ephemeral. A redirect
 * URI without a port also gets --port or an ephemeral one (RFC 8252 §7.3: the
 * IdP must accept any port for a loopback redirect URI registered without one).
 */
export function parseRedirectUri(
  input: string | undefined,
  port: number | undefined,
): LoopbackAddress {
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    throw new GwError('ERR_USAGE', `--port must be a whole number from 0 to 65535, not "${port}"`);
  }
  if (input === undefined) {
    return {
      bindHost: '127.0.0.1',
      urlHost: '127.0.0.1',
      port: port ?? 0,
      path: DEFAULT_CALLBACK_PATH,
    };
  }
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw badRedirect(input, 'is not a URL');
  }
  if (url.protocol !== 'http:')
    throw badRedirect(input, 'must use http (a loopback redirect URI has no TLS)');
  if (url.username || url.password)
    throw badRedirect(input, 'must not contain a user name or password');
  if (url.search || url.hash || input.includes('#')) {
    throw badRedirect(input, 'must not have a query string or a fragment');
  }
  const host = url.hostname;
  let bindHost: string;
  if (!isLoopbackHost(host)) {
    throw badRedirect(input, 'must name a loopback host (127.0.0.1, [::1] or localhost)');
  }
  // Where to listen for it: an IPv4-mapped [::ffff:127.0.0.1] is loopback but not bindable as such.
  if (host === '[::1]') bindHost = '::1';
  else if (host === 'localhost') bindHost = '127.0.0.1';
  else if (!host.startsWith('[')) bindHost = host;
  else throw badRedirect(input, 'must name 127.0.0.1 (or another 127.x.y.z), [::1] or localhost');
  // URL drops :80 for http; an explicit ":80" in the input pins port 80.
  const explicitPort =
    url.port !== '' ? Number(url.port) : /^http:\/\/[^/]*:80(?:\/|$)/i.test(input) ? 80 : undefined;
  if (explicitPort !== undefined && port !== undefined && explicitPort !== port) {
    throw new GwError(
      'ERR_USAGE',
      `--port ${port} and --redirect-uri "${input}" name different ports`,
      {
        hint: 'give the port in one place only',
      },
    );
  }
  return { bindHost, urlHost: host, port: explicitPort ?? port ?? 0, path: url.pathname || '/' };
}

/** How a handled callback ended, which decides the page the browser shows. */
export type CallbackOutcome<T> =
  | { readonly ok: true; readonly value: T }
  | {
      readonly ok: false;
      readonly error: unknown;
      /** The IdP's `error` code, when it sent one: the page explains known codes in fixed words. */
      readonly idpError?: string | undefined;
    };

export interface WaitOptions<T> {
  /** The `state` of the authorization request: any other callback gets 400 and is ignored. */
  readonly state: string;
  /** Runs once, for the first callback whose state matches (exchange the code, check tokens). */
  handle(query: URLSearchParams): Promise<CallbackOutcome<T>>;
  /** Milliseconds to wait for that callback (then ERR_LOGIN_TIMEOUT). */
  readonly timeoutMs: number;
  /** Aborting rejects with the signal's reason (a GwError) or ERR_INTERRUPTED, and closes the listener. */
  readonly signal?: AbortSignal | undefined;
  /** Told about requests that were answered but ignored (wrong state, other paths). */
  onIgnored?(message: string): void;
}

export interface LoopbackReceiver {
  /** The redirect URI to send in the authorization request (with the real port). */
  readonly redirectUri: string;
  readonly address: LoopbackAddress;
  /** The port actually listened on. */
  readonly port: number;
  /** Waits for the callback, answers it, and closes the listener whatever happens. */
  waitForCallback<T>(options: WaitOptions<T>): Promise<T>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------- pages

const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Cache-Control': 'no-store',
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy':
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'Cross-Origin-Resource-Policy': 'same-origin',
  Connection: 'close',
};

/**
 * What the browser shows for the IdP's error codes (RFC 6749 §4.1.2.1, OIDC
 * Core §3.1.2.6). Fixed text only: the code from the request is looked up,
 * never copied into the page.
 */
const IDP_ERRORS: Readonly<Record<string, string>> = {
  access_denied: 'Access was denied: the sign-in was cancelled or refused (access_denied).',
  login_required: 'The identity provider needs you to sign in (login_required).',
  consent_required: 'The identity provider needs your consent (consent_required).',
  interaction_required:
    'The identity provider needs you to interact with it (interaction_required).',
  account_selection_required:
    'The identity provider needs you to choose an account (account_selection_required).',
  invalid_request: 'The identity provider found the request invalid (invalid_request).',
  invalid_scope: 'The identity provider refused the requested scopes (invalid_scope).',
  invalid_target:
    'The identity provider refused the requested audience or resource (invalid_target).',
  unauthorized_client:
    'This client is not allowed to use this sign-in method (unauthorized_client).',
  unsupported_response_type:
    'The identity provider does not support this kind of request (unsupported_response_type).',
  server_error: 'The identity provider had an internal error (server_error).',
  temporarily_unavailable:
    'The identity provider is temporarily unavailable (temporarily_unavailable).',
  invalid_request_uri: 'The identity provider refused the request (invalid_request_uri).',
  invalid_request_object: 'The identity provider refused the request (invalid_request_object).',
  registration_not_supported:
    'The identity provider refused the request (registration_not_supported).',
  request_not_supported: 'The identity provider refused the request (request_not_supported).',
  request_uri_not_supported:
    'The identity provider refused the request (request_uri_not_supported).',
};

export type PageKind =
  | 'signed-in'
  | 'refused'
  | 'failed'
  | 'wrong-state'
  | 'in-progress'
  | 'not-found'
  | 'method-not-allowed'
  | 'bad-request';

interface Page {
  readonly status: number;
  readonly title: string;
  readonly lines: readonly string[];
  readonly ok: boolean;
}

const CLOSE = 'You can close this tab and return to the terminal.';

export function pageFor(kind: PageKind, idpError?: string): Page {
  switch (kind) {
    case 'signed-in':
      return {
        status: 200,
        ok: true,
        title: 'Signed in',
        lines: ['You are signed in to oidc-gw.', CLOSE],
      };
    case 'refused': {
      const known = idpError !== undefined ? IDP_ERRORS[idpError] : undefined;
      return {
        status: idpError === 'access_denied' ? 403 : 400,
        ok: false,
        title: 'Not signed in',
        lines: [
          known ?? 'The identity provider refused the sign-in.',
          'The terminal shows the details.',
          CLOSE,
        ],
      };
    }
    case 'failed':
      return {
        status: 400,
        ok: false,
        title: 'Not signed in',
        lines: ['The sign-in could not be completed. The terminal shows why.', CLOSE],
      };
    case 'wrong-state':
      return {
        status: 400,
        ok: false,
        title: 'Not signed in',
        lines: [
          'This response does not belong to the sign-in in progress (its state does not match), so it was ignored.',
          'To sign in, use the link printed in the terminal.',
        ],
      };
    case 'in-progress':
      return {
        status: 409,
        ok: false,
        title: 'Sign-in already received',
        lines: ['This sign-in is already being completed.', CLOSE],
      };
    case 'not-found':
      return { status: 404, ok: false, title: 'Not found', lines: ['There is nothing here.'] };
    case 'method-not-allowed':
      return {
        status: 405,
        ok: false,
        title: 'Not allowed',
        lines: ['This address only takes the sign-in redirect.'],
      };
    case 'bad-request':
      return {
        status: 400,
        ok: false,
        title: 'Bad request',
        lines: ['This request was not understood.'],
      };
  }
}

/** A small self-contained page: inline style, no scripts, no external resources. */
export function renderPage(page: Page): string {
  const mark = page.ok ? '&#10003;' : '&#10007;';
  const accent = page.ok ? '#1a7f37' : '#b42318';
  const paragraphs = page.lines.map((l) => `<p>${escapeHtml(l)}</p>`).join('\n      ');
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <title>oidc-gw: ${escapeHtml(page.title)}</title>
    <style>
      :root { color-scheme: light dark; }
      body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
             font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
             background: #f6f8fa; color: #1f2328; }
      main { max-width: 28rem; margin: 1rem; padding: 2rem 2.25rem; background: #fff; border-radius: 12px;
             box-shadow: 0 1px 3px rgba(0,0,0,.12), 0 8px 24px rgba(0,0,0,.06); border-top: 4px solid ${accent}; }
      h1 { margin: 0 0 .75rem; font-size: 1.4rem; display: flex; gap: .5rem; align-items: center; }
      .mark { color: ${accent}; font-size: 1.6rem; }
      p { margin: .5rem 0; }
      footer { margin-top: 1.25rem; font-size: .8rem; color: #656d76; }
      @media (prefers-color-scheme: dark) {
        body { background: #0d1117; color: #e6edf3; }
        main { background: #161b22; }
        footer { color: #8d96a0; }
      }
    </style>
  </head>
  <body>
    <main>
      <h1><span class="mark" aria-hidden="true">${mark}</span> ${escapeHtml(page.title)}</h1>
      ${paragraphs}
      <footer>oidc-gw login</footer>
    </main>
  </body>
</html>
`;
}

function send(
  res: ServerResponse,
  kind: PageKind,
  idpError?: string,
  extra: Record<string, string> = {},
): void {
  const page = pageFor(kind, idpError);
  const html = renderPage(page);
  res.writeHead(page.status, {
    ...PAGE_HEADERS,
    ...extra,
    'Content-Length': String(Buffer.byteLength(html)),
  });
  res.end(html);
}

// ---------------------------------------------------------------- listener

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time comparison of the callback's state with ours. */
export function stateMatches(query: URLSearchParams, expected: string): boolean {
  const given = query.getAll('state');
  if (given.length !== 1) return false;
  return timingSafeEqual(digest(given[0] as string), digest(expected));
}

function isLoopbackHostHeader(host: string | undefined, port: number): boolean {
  if (!host) return false;
  const m = /^(.+):(\d{1,5})$/.exec(host);
  return Boolean(m && isLoopbackHost(m[1] as string) && Number(m[2]) === port);
}

function listenError(err: NodeJS.ErrnoException, address: LoopbackAddress): GwError {
  const where = `${address.urlHost} port ${address.port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return new GwError(
        'ERR_LOGIN_LISTEN',
        `cannot listen for the sign-in callback: ${where} is already in use`,
        {
          cause: err,
          hint: 'stop what uses it, or pick another --port (the redirect URI registered at the IdP must match)',
        },
      );
    case 'EACCES':
      return new GwError('ERR_LOGIN_LISTEN', `not allowed to listen on ${where}`, {
        cause: err,
        hint: 'use a port above 1023, or no --port for a free one',
      });
    case 'EADDRNOTAVAIL':
    case 'EAFNOSUPPORT':
      return new GwError(
        'ERR_LOGIN_LISTEN',
        `cannot listen on ${address.urlHost}: the address is not available on this machine`,
        {
          cause: err,
          hint: 'use a redirect URI on 127.0.0.1',
        },
      );
    default:
      return new GwError(
        'ERR_LOGIN_LISTEN',
        `cannot listen on ${where}: ${err.code ?? err.message}`,
        { cause: err },
      );
  }
}

function listen(server: Server, address: LoopbackAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      reject(listenError(err, address));
    };
    const onListening = () => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({
      host: address.bindHost,
      port: address.port,
      exclusive: true,
      ipv6Only: address.bindHost === '::1',
    });
  });
}

interface Waiter {
  readonly state: string;
  handle(query: URLSearchParams): Promise<CallbackOutcome<unknown>>;
  onIgnored?(message: string): void;
  settle(outcome: { ok: true; value: unknown } | { ok: false; error: unknown }): void;
  busy: boolean;
}

/** Starts listening on the loopback address. Nothing is accepted until waitForCallback(). */
export async function startLoopbackReceiver(address: LoopbackAddress): Promise<LoopbackReceiver> {
  let waiter: Waiter | undefined;
  let finished = false;
  let actualPort = 0;

  const server = createServer((req, res) => {
    try {
      route(req, res);
    } catch {
      if (!res.headersSent) send(res, 'bad-request');
      else res.destroy();
    }
  });
  server.requestTimeout = 15_000;
  server.headersTimeout = 10_000;
  server.maxHeadersCount = 100;

  // Reported to the terminal at most a few times: a flood of requests cannot flood the terminal.
  let reports = 0;
  const ignored = (message: string) => {
    reports++;
    if (reports <= MAX_REPORTS) waiter?.onIgnored?.(message);
    if (reports === MAX_REPORTS) waiter?.onIgnored?.('further ignored requests are not reported');
  };

  function route(req: IncomingMessage, res: ServerResponse): void {
    const raw = req.url ?? '';
    if (!raw.startsWith('/') || !isLoopbackHostHeader(req.headers.host, actualPort)) {
      ignored('refused a request to the callback listener that did not come from a loopback URL');
      send(res, 'bad-request');
      return;
    }
    const q = raw.indexOf('?');
    const path = q === -1 ? raw : raw.slice(0, q);
    if (path !== address.path) {
      send(res, 'not-found');
      return;
    }
    if (req.method !== 'GET') {
      send(res, 'method-not-allowed', undefined, { Allow: 'GET' });
      return;
    }
    const query = new URLSearchParams(q === -1 ? '' : raw.slice(q + 1));
    const current = waiter;
    if (!current || finished || !stateMatches(query, current.state)) {
      ignored(
        'ignored a callback whose state does not match this sign-in (an old browser tab, or a forged request); still waiting',
      );
      send(res, 'wrong-state');
      return;
    }
    if (current.busy) {
      send(res, 'in-progress');
      return;
    }
    current.busy = true;
    current
      .handle(query)
      .catch((error: unknown): CallbackOutcome<unknown> => ({ ok: false, error }))
      .then((outcome) => {
        if (outcome.ok) send(res, 'signed-in');
        else if (outcome.idpError !== undefined) send(res, 'refused', outcome.idpError);
        else send(res, 'failed');
        const settle = () =>
          current.settle(
            outcome.ok ? { ok: true, value: outcome.value } : { ok: false, error: outcome.error },
          );
        if (res.writableFinished) settle();
        else {
          res.once('finish', settle);
          res.once('close', settle);
        }
      });
  }

  await listen(server, address);
  actualPort = (server.address() as AddressInfo).port;
  const redirectUri = `http://${address.urlHost}:${actualPort}${address.path}`;

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    finished = true;
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return closing;
  };

  return {
    redirectUri,
    address,
    port: actualPort,
    close,
    async waitForCallback<T>(options: WaitOptions<T>): Promise<T> {
      if (waiter) throw new GwError('ERR_INTERNAL', 'waitForCallback() called twice');
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      try {
        return await new Promise<T>((resolve, reject) => {
          let done = false;
          const settle = (
            outcome: { ok: true; value: unknown } | { ok: false; error: unknown },
          ) => {
            if (done) return;
            done = true;
            if (outcome.ok) resolve(outcome.value as T);
            else reject(outcome.error);
          };
          waiter = {
            state: options.state,
            handle: options.handle as (q: URLSearchParams) => Promise<CallbackOutcome<unknown>>,
            ...(options.onIgnored ? { onIgnored: options.onIgnored } : {}),
            settle,
            busy: false,
          };
          const seconds = Math.round(options.timeoutMs / 100) / 10;
          timer = setTimeout(() => {
            // A callback being exchanged is let finish (its requests have their own timeout).
            if (waiter?.busy) return;
            settle({
              ok: false,
              error: new GwError(
                'ERR_LOGIN_TIMEOUT',
                `no sign-in came back from the browser within ${seconds} s`,
                {
                  hint: `run \`oidc-gw login\` again (raise --timeout to wait longer), or use --device; if the IdP showed an error page, check that ${redirectUri} is an allowed callback URL of the client`,
                },
              ),
            });
          }, options.timeoutMs);
          const signal = options.signal;
          if (signal) {
            onAbort = () => {
              const reason: unknown = signal.reason;
              settle({
                ok: false,
                error:
                  reason instanceof GwError
                    ? reason
                    : new GwError(
                        'ERR_INTERRUPTED',
                        'interrupted while waiting for the browser sign-in',
                      ),
              });
            };
            if (signal.aborted) onAbort();
            else signal.addEventListener('abort', onAbort, { once: true });
          }
        });
      } finally {
        if (timer) clearTimeout(timer);
        if (onAbort) options.signal?.removeEventListener('abort', onAbort);
        await close();
      }
    },
  };
}
