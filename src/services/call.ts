/**
 * `oidc-gw call`: curl with the bearer token attached, and a diagnosis when
 * the request is refused. This module orchestrates: it builds the request
 * from the flags (core/call/request), picks the token (session services),
 * sends it and follows redirects (http/call, core/call/redirect), writes the
 * response, and explains a 401/403 (core/call/diagnose), refreshing a cached
 * token and retrying once when that can help.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Context, Stream } from '../context.js';
import {
  diagnose,
  refreshVerdict,
  type Diagnosis,
  type RefreshVerdict,
  type TokenSource,
} from '../core/call/diagnose.js';
import { isJsonType, prettyJson } from '../core/call/pretty-json.js';
import { progressLine, summaryLine, wantsProgress } from '../core/call/progress.js';
import { printableLine } from '../core/terminal-text.js';
import { limitSummary, readLimitHeaders, retryNote } from '../core/call/rate-limit.js';
import {
  BODY_HEADERS,
  CREDENTIAL_HEADERS,
  nextHop,
  REDIRECT_STATUSES,
  sameOrigin,
} from '../core/call/redirect.js';
import {
  checkMethod,
  dataSource,
  joinBody,
  parseHeaderArg,
  type DataArg,
  type HeaderArg,
} from '../core/call/request.js';
import { tokenFacts } from '../core/call/token-facts.js';
import { relativeTo } from '../core/jwt/time.js';
import { GwError } from '../core/errors/index.js';
import { isLoopbackHost } from '../core/loopback.js';
import {
  callFailure,
  createCallDispatcher,
  exchange,
  type CallResponse,
} from '../http/call/exchange.js';
import { redactHeader, redactUrl } from '../output/redact.js';

export interface CallOptions {
  readonly url: string;
  /** -X */
  readonly method?: string | undefined;
  /** -H, as given. */
  readonly headers: readonly string[];
  /** -d, --data-binary, --data-raw, --json, in command-line order. */
  readonly data: readonly DataArg[];
  readonly include: boolean;
  /** -o FILE (`-` is stdout). */
  readonly output?: string | undefined;
  readonly silent: boolean;
  readonly fail: boolean;
  readonly failWithBody: boolean;
  readonly location: boolean;
  readonly maxRedirs: number;
  /** --max-time, seconds. */
  readonly maxTime?: number | undefined;
  readonly insecure: boolean;
  readonly token?: string | undefined;
  readonly clientCredentials: boolean;
  readonly idToken: boolean;
  readonly noAuth: boolean;
  /** The command's options, for settings (issuer, client id, scope, profile...). */
  readonly settingsOpts: Readonly<Record<string, unknown>>;
  /** For tests: how long a download runs before the progress bar shows (default 500 ms). */
  readonly progressDelayMs?: number;
}

/** How much of a body is kept for the diagnosis. */
const DIAGNOSIS_BODY_LIMIT = 64 * 1024;
/** Largest JSON body re-indented for a terminal. */
const PRETTY_LIMIT = 4 * 1024 * 1024;
const USER_AGENT = 'oidc-gw';

interface Chosen {
  /** The bare token that is sent (for the diagnosis), if any. */
  readonly token: string | undefined;
  /** The Authorization value oidc-gw adds (undefined when -H gave one, or none is sent). */
  readonly authorization: string | undefined;
  readonly source: TokenSource;
  /** Scheme of an Authorization header given with -H. */
  readonly scheme?: string;
  readonly clientId?: string;
  /** For --verbose: what was chosen and until when it is valid. */
  readonly describe: string;
  /** One refresh for the retry on 401; resolves to the new token, or undefined when there is none. */
  readonly refresh?: () => Promise<string | undefined>;
}

type HeaderLine = readonly [string, string];

interface Attempt {
  readonly response: CallResponse;
  readonly url: URL;
  readonly method: string;
  /** -i text of the redirect responses before the final one. */
  readonly redirectHeads: string[];
  /** Whether the Authorization header went with the final request. */
  readonly authSent: boolean;
  /** The origin where the token was held back, when a redirect left the first origin. */
  readonly heldBackAt: string | undefined;
  readonly started: number;
}

/** Runs the call; returns the exit code (0, or throws a GwError). */
export async function runCall(ctx: Context, options: CallOptions): Promise<number> {
  const url = parseUrl(options.url);
  const headerArgs = options.headers.map(parseHeaderArg);
  checkExclusive(options);
  const body = await readBody(ctx, options.data);
  const method =
    options.method !== undefined
      ? checkMethod(options.method)
      : body !== undefined
        ? 'POST'
        : 'GET';
  const isJson = options.data.some((d) => d.kind === 'json');
  const chosen = await chooseToken(ctx, options, headerArgs);
  const baseHeaders = buildHeaders(headerArgs, {
    json: isJson,
    form: body !== undefined && !isJson,
    authorization: chosen.authorization,
  });
  if (options.insecure) {
    ctx.out.warn(
      "-k/--insecure: the server's TLS certificate is not checked; the token could reach an impostor",
    );
  }
  if (chosen.token !== undefined && url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    ctx.out.warn(
      `sending a bearer token over plain http to ${url.host}: anyone on the way can read and reuse it`,
    );
  }
  ctx.out.debug(`* token: ${chosen.describe}`);

  const dispatcher = createCallDispatcher({
    insecure: options.insecure,
    timeoutSeconds: ctx.globals.timeout,
  });
  const maxTime =
    options.maxTime !== undefined
      ? {
          signal: AbortSignal.timeout(Math.round(options.maxTime * 1000)),
          seconds: options.maxTime,
        }
      : undefined;
  const signal = maxTime ? AbortSignal.any([ctx.signal, maxTime.signal]) : ctx.signal;
  const failure = (error: unknown, at: URL) =>
    callFailure(error, {
      url: redactUrl(at.href),
      timeoutSeconds: ctx.globals.timeout,
      maxTime,
      interrupt: ctx.signal,
    });

  const run = (headers: readonly HeaderLine[]) =>
    send(ctx, dispatcher, options, { url, method, headers, body, signal }, failure);
  try {
    let attempt = await run(baseHeaders);
    let afterRetry = false;
    let refreshSkipped: string | undefined;
    let sentToken = chosen.token;
    let verdict: RefreshVerdict | undefined;
    if (attempt.response.status === 401 && chosen.refresh && attempt.authSent) {
      // The body often says why (Tyk, Kong, APIM): read its start, keep it for the output.
      const peeked = await peekBody(attempt.response, DIAGNOSIS_BODY_LIMIT).catch((error) => {
        throw failure(error, attempt.url);
      });
      attempt = { ...attempt, response: peeked.response };
      verdict = refreshVerdict({
        headers: attempt.response.headers,
        body: peeked.text,
        token: chosen.token,
        ...(chosen.clientId !== undefined ? { clientId: chosen.clientId } : {}),
        nowSeconds: Math.floor(ctx.now() / 1000),
      });
      ctx.out.debug(`* 401: ${verdict.why}`);
      if (!verdict.canHelp) refreshSkipped = verdict.why;
    }
    if (verdict?.canHelp && chosen.refresh) {
      if (!options.silent) {
        ctx.out.info(
          ctx.out.style.dim(
            'the server refused the cached token (401): refreshing it and retrying once',
          ),
        );
      }
      let next: string | undefined;
      try {
        next = await chosen.refresh();
      } catch (error) {
        if (!(error instanceof GwError) || error.code === 'ERR_INTERRUPTED') throw error;
        // The first answer stands, with its diagnosis; say why there was no retry.
        ctx.out.warn(`could not refresh the token, so no retry: ${error.message}`);
        if (error.hint) ctx.out.info(`${ctx.out.style.dim('hint:')} ${error.hint}`);
      }
      if (next !== undefined && next !== chosen.token) {
        discard(attempt.response.body);
        sentToken = next;
        afterRetry = true;
        attempt = await run(withAuthorization(baseHeaders, `Bearer ${next}`));
      } else if (next !== undefined) {
        ctx.out.debug('* the refresh gave the same token: no retry');
      }
    }
    return await deliver(ctx, options, attempt, {
      token: attempt.authSent ? sentToken : undefined,
      chosen,
      afterRetry,
      ...(refreshSkipped !== undefined ? { refreshSkipped } : {}),
      failure,
    });
  } finally {
    await dispatcher.destroy().catch(() => {});
  }
}

function parseUrl(input: string): URL {
  const text = /^[a-z][a-z0-9+.-]*:\/\//i.test(input) ? input : `http://${input}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new GwError('ERR_USAGE', `not a URL: "${printableLine(input, 200)}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new GwError('ERR_USAGE', `call takes http:// or https:// URLs, not ${url.protocol}`);
  }
  if (url.username || url.password) {
    throw new GwError(
      'ERR_USAGE',
      'user:password@ in the URL is not supported by call; the token is the credential',
    );
  }
  url.hash = '';
  return url;
}

function checkExclusive(options: CallOptions): void {
  const given = [
    options.token !== undefined ? '--token' : undefined,
    options.clientCredentials ? '--client-credentials' : undefined,
    options.idToken ? '--id-token' : undefined,
    options.noAuth ? '--no-auth' : undefined,
  ].filter((x): x is string => x !== undefined);
  if (given.length > 1) throw new GwError('ERR_USAGE', `give at most one of ${given.join(', ')}`);
  if (options.failWithBody && options.fail)
    throw new GwError('ERR_USAGE', 'give --fail or --fail-with-body, not both');
}

async function readBody(ctx: Context, data: readonly DataArg[]): Promise<Buffer | undefined> {
  if (data.length === 0) return undefined;
  const ordered = [...data].sort((a, b) => a.seq - b.seq);
  let stdinUsed = false;
  const parts = [];
  for (const arg of ordered) {
    const source = dataSource(arg);
    if (source.from === 'inline') {
      parts.push({ arg, bytes: Buffer.from(source.text, 'utf8'), fromFile: false });
    } else if (source.from === 'stdin') {
      if (stdinUsed) throw new GwError('ERR_USAGE', '@- (stdin) can be read only once');
      stdinUsed = true;
      const chunks: Buffer[] = [];
      for await (const chunk of ctx.io.stdin)
        chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
      parts.push({ arg, bytes: Buffer.concat(chunks), fromFile: true });
    } else {
      let bytes: Buffer;
      try {
        bytes = await readFile(source.path);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
        throw new GwError(
          'ERR_INPUT_INVALID',
          `cannot read ${source.path} for ${arg.kind === 'json' ? '--json' : '-d'} (${code})`,
          {
            cause: error,
          },
        );
      }
      parts.push({ arg, bytes, fromFile: true });
    }
  }
  return joinBody(parts);
}

/** The header lines to send: oidc-gw's defaults, then -H (which replaces or removes a default, as in curl). */
function buildHeaders(
  args: readonly HeaderArg[],
  o: { json: boolean; form: boolean; authorization: string | undefined },
): HeaderLine[] {
  const defaults: Array<[string, string]> = [
    ['User-Agent', USER_AGENT],
    ['Accept', o.json ? 'application/json' : '*/*'],
  ];
  if (o.json) defaults.push(['Content-Type', 'application/json']);
  else if (o.form) defaults.push(['Content-Type', 'application/x-www-form-urlencoded']);
  if (o.authorization !== undefined) defaults.push(['Authorization', o.authorization]);
  const named = new Set(args.map((a) => a.name.toLowerCase()));
  const lines: HeaderLine[] = defaults.filter(([n]) => !named.has(n.toLowerCase()));
  for (const a of args) {
    if (a.kind === 'set') lines.push([a.name, a.value]);
    else if (a.kind === 'empty') lines.push([a.name, '']);
  }
  return lines;
}

function withAuthorization(headers: readonly HeaderLine[], value: string): HeaderLine[] {
  return [
    ...headers.filter(([n]) => n.toLowerCase() !== 'authorization'),
    ['Authorization', value],
  ];
}

// ---------------------------------------------------------------------------
// The token

const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

function bareToken(value: string, from: string): string {
  const text = value.trim().replace(/^bearer\s+/i, '');
  if (!B64TOKEN.test(text)) {
    throw new GwError(
      from === 'OIDC_GW_TOKEN' ? 'ERR_INPUT_INVALID' : 'ERR_USAGE',
      `${from} is not a bearer token (one word of letters, digits and -._~+/)`,
      {
        hint:
          from === 'OIDC_GW_TOKEN'
            ? 'unset it, or set it to the token alone'
            : 'give the token alone, or "Bearer TOKEN"',
      },
    );
  }
  return text;
}

function validity(token: string, nowSeconds: number): string {
  const facts = tokenFacts(token);
  if (facts.kind !== 'JWS' || facts.exp === undefined) return '';
  return facts.exp > nowSeconds
    ? `, expires ${relativeTo(facts.exp, nowSeconds)}`
    : `, expired ${relativeTo(facts.exp, nowSeconds)}`;
}

async function chooseToken(
  ctx: Context,
  options: CallOptions,
  headers: readonly HeaderArg[],
): Promise<Chosen> {
  const now = Math.floor(ctx.now() / 1000);
  // 1. An Authorization header given with -H: sent as is ("Authorization:" sends none).
  const auth = headers.filter((h) => h.name.toLowerCase() === 'authorization');
  if (auth.length) {
    const set = auth.find((h) => h.kind !== 'remove');
    if (!set)
      return {
        token: undefined,
        authorization: undefined,
        source: 'none',
        describe: 'none (-H "Authorization:")',
      };
    if (options.token !== undefined || options.clientCredentials || options.idToken) {
      ctx.out.warn(
        'an Authorization header given with -H is sent as is: --token, --client-credentials and --id-token are ignored',
      );
    }
    const value = set.kind === 'set' ? set.value : '';
    const space = value.indexOf(' ');
    const scheme = space === -1 ? value : value.slice(0, space);
    const credentials = space === -1 ? undefined : value.slice(space + 1).trim();
    return {
      token: scheme.toLowerCase() === 'bearer' ? credentials : undefined,
      authorization: undefined,
      source: 'header',
      scheme,
      describe: `the Authorization header given with -H (${redactHeader('authorization', value)})`,
    };
  }
  if (options.noAuth)
    return {
      token: undefined,
      authorization: undefined,
      source: 'none',
      describe: 'none (--no-auth)',
    };
  // 2. --token
  if (options.token !== undefined) {
    const token = bareToken(options.token, '--token');
    return {
      token,
      authorization: `Bearer ${token}`,
      source: 'flag',
      describe: `--token${validity(token, now)}`,
    };
  }
  // 3. OIDC_GW_TOKEN
  const env = ctx.env['OIDC_GW_TOKEN'];
  if (env !== undefined && env.trim() !== '') {
    const token = bareToken(env, 'OIDC_GW_TOKEN');
    if (options.clientCredentials || options.idToken) {
      ctx.out.warn(
        `OIDC_GW_TOKEN is set and comes first: ${options.clientCredentials ? '--client-credentials' : '--id-token'} is ignored (unset OIDC_GW_TOKEN to use it)`,
      );
    }
    return {
      token,
      authorization: `Bearer ${token}`,
      source: 'env',
      describe: `OIDC_GW_TOKEN${validity(token, now)}`,
    };
  }
  const services = await import('./session.js');
  const session = await services.openSession(ctx, options.settingsOpts);
  // 4. --client-credentials
  if (options.clientCredentials) {
    const { tokens, fromCache } = await services.clientCredentialsToken(session);
    const token = tokens.access_token;
    return {
      token,
      authorization: `Bearer ${token}`,
      source: 'client_credentials',
      describe: `client-credentials access token (${fromCache ? 'cached' : 'new'}, client ${tokens.client_id}${validity(token, now)})`,
      ...(fromCache
        ? {
            refresh: async () =>
              (await services.clientCredentialsToken(session, { force: true })).tokens.access_token,
          }
        : {}),
    };
  }
  const profile = session.settings.profile;
  // 5b. --id-token: the cached login's ID token.
  if (options.idToken) {
    let user = await services.readUserTokens(session);
    if (!user) {
      throw new GwError(
        'ERR_NO_TOKEN',
        `no cached login for profile "${profile}": --id-token sends the ID token of a login`,
        {
          hint: 'run `oidc-gw login` first',
        },
      );
    }
    if (!user.id_token) {
      throw new GwError(
        'ERR_NO_TOKEN',
        `the cached login of profile "${profile}" has no ID token`,
        {
          hint: 'ID tokens come from `oidc-gw login` with the openid scope',
        },
      );
    }
    const facts = tokenFacts(user.id_token);
    const exp = facts.kind === 'JWS' ? facts.exp : undefined;
    if (exp !== undefined && exp - now <= services.MIN_VALIDITY_SECONDS && user.refresh_token) {
      user = await services.refreshUserTokens(session, { force: true });
    }
    const token = user.id_token ?? '';
    const before = token;
    return {
      token,
      authorization: `Bearer ${token}`,
      source: 'id_token',
      clientId: user.client_id,
      describe: `the ID token of the cached login (profile "${profile}"${validity(token, now)})`,
      ...(user.refresh_token
        ? {
            refresh: async () => {
              const next = await services.refreshUserTokens(session, { force: true });
              return next.id_token && next.id_token !== before ? next.id_token : undefined;
            },
          }
        : {}),
    };
  }
  // 5. The profile's cached token (login, refreshed when needed; else the last client-credentials token).
  const tokens = await services.currentTokens(session);
  const token = tokens.access_token;
  if (tokens.grant === 'client_credentials') {
    return {
      token,
      authorization: `Bearer ${token}`,
      source: 'cached_client',
      describe: `the cached client-credentials token of profile "${profile}"${validity(token, now)}`,
    };
  }
  return {
    token,
    authorization: `Bearer ${token}`,
    source: 'login',
    clientId: tokens.client_id,
    describe: `the access token of the cached login (profile "${profile}"${validity(token, now)})`,
    ...(tokens.refresh_token
      ? {
          refresh: async () =>
            (await services.refreshUserTokens(session, { force: true })).access_token,
        }
      : {}),
  };
}

/**
 * Reads the start of a response body (at most `limit` bytes, or all of a
 * shorter one) and returns it as text, with the response whose body still
 * yields every byte: those read, then the rest. Destroying the new body
 * destroys the original.
 */
async function peekBody(
  response: CallResponse,
  limit: number,
): Promise<{ text: string; response: CallResponse }> {
  const source = response.body;
  const iterator = (source as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let bytes = 0;
  let ended = false;
  while (bytes < limit) {
    const next = await iterator.next();
    if (next.done) {
      ended = true;
      break;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    head.push(chunk);
    bytes += chunk.length;
  }
  async function* replay(): AsyncGenerator<Buffer> {
    for (const chunk of head) yield chunk;
    if (ended) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    }
  }
  const body = Readable.from(replay(), { objectMode: false });
  // Destroyed before its end (a retry, a closed stdout): the connection goes too.
  body.once('close', () => source.destroy());
  const text = Buffer.concat(head).subarray(0, limit).toString('utf8');
  return { text, response: { ...response, body } };
}

// ---------------------------------------------------------------------------
// Sending, with redirects

interface Request {
  readonly url: URL;
  readonly method: string;
  readonly headers: readonly HeaderLine[];
  readonly body: Buffer | undefined;
  readonly signal: AbortSignal;
}

function headText(status: number, statusText: string, headers: readonly HeaderLine[]): string {
  const lines = [`HTTP/1.1 ${status}${statusText ? ` ${statusText}` : ''}`];
  for (const [n, v] of headers) lines.push(`${n}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

function reason(response: CallResponse): string {
  return response.statusText || STATUS_CODES[response.status] || '';
}

function logRequest(ctx: Context, req: Request): void {
  if (!ctx.out.verbose) return;
  const target = redactUrl(`${req.url.pathname}${req.url.search}`);
  ctx.out.debug(`> ${req.method} ${target} HTTP/1.1`);
  ctx.out.debug(`> Host: ${req.url.host}`);
  for (const [n, v] of req.headers)
    ctx.out.debug(`> ${n}: ${printableLine(redactHeader(n, v), 2000)}`);
  if (req.body !== undefined) ctx.out.debug(`> Content-Length: ${req.body.length}`);
  ctx.out.debug('>');
}

function logResponse(ctx: Context, response: CallResponse): void {
  if (!ctx.out.verbose) return;
  ctx.out.debug(`< HTTP/1.1 ${response.status} ${printableLine(reason(response))}`);
  for (const [n, v] of response.headers)
    ctx.out.debug(`< ${printableLine(n)}: ${printableLine(redactHeader(n, v), 2000)}`);
  ctx.out.debug('<');
}

async function send(
  ctx: Context,
  dispatcher: Dispatcher,
  options: CallOptions,
  first: Request,
  failure: (error: unknown, at: URL) => unknown,
): Promise<Attempt> {
  const started = performance.now();
  const origin = first.url;
  let req = first;
  let left = false;
  let heldBackAt: string | undefined;
  const redirectHeads: string[] = [];
  for (let hop = 0; ; hop++) {
    logRequest(ctx, req);
    let response: CallResponse;
    try {
      response = await exchange(dispatcher, req);
    } catch (error) {
      throw failure(error, req.url);
    }
    logResponse(ctx, response);
    const authSent = req.headers.some(([n]) => n.toLowerCase() === 'authorization');
    const location = response.headers.find(([n]) => n.toLowerCase() === 'location')?.[1];
    if (!options.location || !REDIRECT_STATUSES.has(response.status) || location === undefined) {
      return {
        response,
        url: req.url,
        method: req.method,
        redirectHeads,
        authSent,
        heldBackAt,
        started,
      };
    }
    const decision = nextHop(req.url, response.status, req.method, location);
    discard(response.body);
    if (!decision.follow) {
      throw new GwError(
        'ERR_CALL_REDIRECT',
        `cannot follow the redirect from ${redactUrl(req.url.href)}: ${decision.reason}`,
      );
    }
    if (hop + 1 > options.maxRedirs) {
      throw new GwError(
        'ERR_CALL_REDIRECT',
        `more than ${options.maxRedirs} redirects (last from ${redactUrl(req.url.href)})`,
        {
          hint: 'a redirect loop? --max-redirs N allows more',
        },
      );
    }
    if (options.include)
      redirectHeads.push(headText(response.status, reason(response), response.headers));
    let headers = req.headers;
    if (!left && !sameOrigin(origin, decision.url)) {
      left = true;
      const dropped = headers
        .filter(([n]) => CREDENTIAL_HEADERS.has(n.toLowerCase()))
        .map(([n]) => n);
      if (dropped.length) {
        heldBackAt = decision.url.origin;
        ctx.out.debug(
          `* redirected to another origin (${decision.url.origin}): not sending ${dropped.join(', ')} there`,
        );
      }
    }
    if (left) headers = headers.filter(([n]) => !CREDENTIAL_HEADERS.has(n.toLowerCase()));
    if (!decision.keepBody) headers = headers.filter(([n]) => !BODY_HEADERS.has(n.toLowerCase()));
    ctx.out.debug(`* following ${response.status} to ${redactUrl(decision.url.href)}`);
    req = {
      url: decision.url,
      method: decision.method,
      headers,
      body: decision.keepBody ? req.body : undefined,
      signal: req.signal,
    };
  }
}

// ---------------------------------------------------------------------------
// Writing the response

class BrokenPipe extends Error {}

/** Waits until `stream` can take more, or has failed (its error handler records why). */
function drained(stream: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('error', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('error', done);
    stream.on('close', done);
  });
}

/** Stops reading a response body (its connection is closed); the abort is not an error here. */
function discard(body: NodeJS.ReadableStream & { destroy(): void }): void {
  body.on('error', () => {});
  body.destroy();
}

interface Sink {
  /** Stdout on a terminal (pretty JSON, binary guard). */
  readonly terminal: boolean;
  write(chunk: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

function stdoutSink(stream: Stream): Sink {
  const state: { failed?: Error } = {};
  const onError = (error: Error) => {
    state.failed = error;
  };
  stream.on('error', onError);
  const check = () => {
    if (state.failed) throw new BrokenPipe(state.failed.message);
  };
  return {
    terminal: Boolean(stream.isTTY),
    async write(chunk) {
      check();
      if (!stream.write(chunk)) {
        await drained(stream);
      }
      check();
    },
    async close() {
      stream.off('error', onError);
    },
  };
}

async function fileSink(path: string): Promise<Sink> {
  const stream: WriteStream = createWriteStream(path, { flags: 'w', mode: 0o644 });
  const state: { failed?: Error } = {};
  stream.on('error', (e) => {
    state.failed = e;
  });
  const outputError = (error: Error) =>
    new GwError(
      'ERR_CALL_OUTPUT',
      `cannot write ${path} (${(error as NodeJS.ErrnoException).code ?? error.message})`,
      { cause: error },
    );
  const check = () => {
    if (state.failed) throw outputError(state.failed);
  };
  await new Promise<void>((resolve, reject) => {
    const opened = () => {
      stream.off('error', failed);
      resolve();
    };
    const failed = (error: Error) => {
      stream.off('open', opened);
      reject(outputError(error));
    };
    stream.once('open', opened);
    stream.once('error', failed);
  });
  return {
    terminal: false,
    async write(chunk) {
      check();
      if (!stream.write(chunk)) await drained(stream);
      check();
    },
    async close() {
      check();
      await new Promise<void>((resolve, reject) => {
        stream.end((error?: Error | null) => (error ? reject(outputError(error)) : resolve()));
      });
    },
  };
}

interface DeliverInput {
  readonly token: string | undefined;
  readonly chosen: Chosen;
  readonly afterRetry: boolean;
  /** Why no refresh-and-retry was made although the token could have been refreshed. */
  readonly refreshSkipped?: string;
  readonly failure: (error: unknown, at: URL) => unknown;
}

async function deliver(
  ctx: Context,
  options: CallOptions,
  attempt: Attempt,
  input: DeliverInput,
): Promise<number> {
  const { response } = attempt;
  const status = response.status;
  const statusText = reason(response);
  const failing = status >= 400 && (options.fail || options.failWithBody);
  const writeBody = !(failing && options.fail);
  const header = (name: string) => response.headers.find(([n]) => n.toLowerCase() === name)?.[1];
  const lengthHeader = header('content-length');
  const total =
    lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : undefined;
  const toStdout = options.output === undefined || options.output === '-';

  const captured: Buffer[] = [];
  let capturedBytes = 0;
  let received = 0;
  let sink: Sink | undefined;
  let broken = false;
  try {
    if (writeBody) {
      sink = toStdout ? stdoutSink(ctx.io.stdout) : await fileSink(options.output as string);
      if (options.include) {
        for (const head of attempt.redirectHeads) await sink.write(Buffer.from(head, 'latin1'));
        await sink.write(Buffer.from(headText(status, statusText, response.headers), 'latin1'));
      }
    }
    const pretty = Boolean(
      writeBody &&
      sink?.terminal &&
      isJsonType(header('content-type')) &&
      (total === undefined || total <= PRETTY_LIMIT),
    );
    const progress = createProgress(ctx, options, total, toStdout);
    let held: Buffer[] | undefined = pretty ? [] : undefined;
    let heldBytes = 0;
    let first = true;
    try {
      for await (const raw of response.body as AsyncIterable<Buffer>) {
        const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
        received += chunk.length;
        if (capturedBytes < DIAGNOSIS_BODY_LIMIT) {
          const part = chunk.subarray(0, DIAGNOSIS_BODY_LIMIT - capturedBytes);
          captured.push(part);
          capturedBytes += part.length;
        }
        progress.update(received);
        if (!writeBody || !sink) continue;
        if (first && sink.terminal && options.output !== '-' && !pretty && chunk.includes(0)) {
          discard(response.body);
          throw new GwError(
            'ERR_CALL_OUTPUT',
            'the response body is binary: not writing it to the terminal',
            {
              hint: 'save it with -o FILE, or use -o - to see it anyway',
            },
          );
        }
        first = false;
        if (held) {
          held.push(chunk);
          heldBytes += chunk.length;
          if (heldBytes > PRETTY_LIMIT) {
            for (const c of held) await sink.write(c);
            held = undefined;
          }
          continue;
        }
        await sink.write(chunk);
      }
    } catch (error) {
      progress.done();
      if (error instanceof BrokenPipe || error instanceof GwError) throw error;
      throw input.failure(error, attempt.url);
    }
    progress.done();
    if (held && sink) {
      const bytes = Buffer.concat(held);
      const text = decodeUtf8(bytes);
      const s = ctx.out.styleOut;
      const formatted =
        text === undefined
          ? undefined
          : prettyJson(text, {
              key: (k) => s.blue(k),
              string: (v) => s.green(v),
              literal: (l) => s.yellow(l),
            });
      await sink.write(formatted === undefined ? bytes : Buffer.from(formatted, 'utf8'));
    }
    await sink?.close();
  } catch (error) {
    discard(response.body);
    if (error instanceof BrokenPipe) broken = true;
    else throw error;
  }
  if (broken) {
    ctx.out.debug('* stdout was closed: stopped reading the response');
    return 0;
  }
  const elapsed = performance.now() - attempt.started;

  if ((status === 401 || status === 403) && !options.silent) {
    const bodyBytes = Buffer.concat(captured);
    const report = diagnose({
      status,
      statusText,
      headers: response.headers,
      body: bodyBytes.toString('utf8'),
      bodyTruncated: received > capturedBytes,
      token: input.token,
      source: input.chosen.source,
      ...(input.chosen.scheme !== undefined ? { scheme: input.chosen.scheme } : {}),
      ...(input.chosen.clientId !== undefined ? { clientId: input.chosen.clientId } : {}),
      nowSeconds: Math.floor(ctx.now() / 1000),
      afterRetry: input.afterRetry,
      ...(input.refreshSkipped !== undefined ? { refreshSkipped: input.refreshSkipped } : {}),
      ...(attempt.heldBackAt !== undefined && !attempt.authSent
        ? { heldBackAt: attempt.heldBackAt }
        : {}),
    });
    if (
      toStdout &&
      writeBody &&
      ctx.io.stdout.isTTY &&
      received > 0 &&
      !endsWithNewline(captured, received, capturedBytes)
    ) {
      ctx.io.stderr.write('\n');
    }
    renderDiagnosis(ctx, report, redactUrl(attempt.url.href));
  }
  // Rate limits (docs/commands/call.md): in the summary, and when to retry a 429.
  const limits = readLimitHeaders(response.headers, ctx.now());
  if (status === 429 && !options.silent) {
    if (
      toStdout &&
      writeBody &&
      ctx.io.stdout.isTTY &&
      received > 0 &&
      !endsWithNewline(captured, received, capturedBytes)
    ) {
      ctx.io.stderr.write('\n');
    }
    ctx.out.warn(`${status} ${statusText || 'Too Many Requests'}: ${retryNote(limits, ctx.now())}`);
  }
  if (ctx.io.stderr.isTTY && !options.silent) {
    const limitText = limits ? limitSummary(limits) : undefined;
    ctx.out.info(
      ctx.out.style.dim(
        `${summaryLine(status, statusText, elapsed, received)}${limitText ? ` · ${limitText}` : ''}`,
      ),
    );
  }
  if (failing) {
    throw new GwError(
      'ERR_HTTP_FAIL',
      `HTTP ${status}${statusText ? ` ${statusText}` : ''} from ${redactUrl(attempt.url.href)}`,
    );
  }
  return 0;
}

function endsWithNewline(captured: Buffer[], received: number, capturedBytes: number): boolean {
  if (received > capturedBytes) return true; // unknown: do not add anything
  const last = captured[captured.length - 1];
  return last !== undefined && last.length > 0 && last[last.length - 1] === 0x0a;
}

function decodeUtf8(bytes: Buffer): string | undefined {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

interface Progress {
  update(received: number): void;
  done(): void;
}

function createProgress(
  ctx: Context,
  options: CallOptions,
  total: number | undefined,
  toStdout: boolean,
): Progress {
  const stderr = ctx.io.stderr;
  const show =
    !options.silent &&
    Boolean(stderr.isTTY) &&
    !(toStdout && ctx.io.stdout.isTTY) &&
    wantsProgress(total);
  if (!show) return { update() {}, done() {} };
  const start = performance.now();
  const delay = options.progressDelayMs ?? 500;
  let last = -Infinity;
  let drawn = false;
  return {
    update(received) {
      const now = performance.now();
      if (now - start < delay || now - last < 100) return;
      last = now;
      drawn = true;
      stderr.write(
        `\r\x1b[2K${progressLine({ received, total, elapsedMs: now - start, columns: stderr.columns ?? 80 })}`,
      );
    },
    done() {
      if (drawn) stderr.write('\r\x1b[2K');
      drawn = false;
    },
  };
}

function renderDiagnosis(ctx: Context, d: Diagnosis, url: string): void {
  const s = ctx.out.style;
  const lines: string[] = [];
  lines.push(`${s.bold(`${d.headline}`)} from ${url}: ${s.bold('why')}`);
  const width = Math.max(...d.facts.map(([label]) => label.length), 10) + 2;
  for (const [label, value] of d.facts) lines.push(`  ${s.dim(label.padEnd(width))}${value}`);
  for (const cause of d.causes) lines.push(`  ${s.yellow('likely cause:')} ${cause}`);
  for (const hint of d.hints) lines.push(`  ${s.cyan('hint:')} ${hint}`);
  for (const note of d.notes) lines.push(`  ${s.dim('note:')} ${note}`);
  ctx.out.info(lines.join('\n'));
}
