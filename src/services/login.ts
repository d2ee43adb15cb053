/**
 * `oidc-gw login`: the browser flow (authorization code + PKCE through a
 * loopback listener), the manual flow (any registered redirect URI: the user
 * brings the redirected URL back on stdin, or later with `token
 * --code-url`), and the device flow (RFC 8628), then the token set stored
 * for the profile and a summary on stderr. The protocol lives in
 * core/flows; the listener in http/; this module wires them to the terminal.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context, InStream } from '../context.js';
import type { PendingLogin } from '../config/pending-login.js';
import type { Client } from '../core/client.js';
import { GwError } from '../core/errors/index.js';
import { printableLine } from '../core/terminal-text.js';
import type { LoginResult, PendingAuthorization } from '../core/flows/auth-code.js';
import type { DeviceAuthorization } from '../core/flows/device-code.js';
import { describeTime } from '../core/jwt/time.js';
import type { TokenSet } from '../core/token-set.js';
import type { CallbackOutcome } from '../http/loopback-receiver.js';
import { discover, makeClient, type Session } from './session.js';

export interface LoginOptions {
  /** --device: the device authorization grant instead of the browser. */
  readonly device: boolean;
  /** --manual: print the URL for --redirect-uri and read the redirected URL (or code) back. */
  readonly manual?: boolean | undefined;
  /** false with --no-open. */
  readonly open: boolean;
  /** --port */
  readonly port?: number | undefined;
  /** --prompt */
  readonly prompt?: string | undefined;
  /** --timeout: seconds to wait for the browser callback. */
  readonly waitSeconds: number;
  /** Stop the device flow after waitSeconds too (when --timeout was given); else it runs to expires_in. */
  readonly deviceHonoursTimeout?: boolean | undefined;
  /** Whether a browser can be opened here (see hasDisplay). */
  readonly display: boolean;
}

export interface LoginOutcome {
  readonly tokens: TokenSet;
  readonly claims: Readonly<Record<string, unknown>> | undefined;
  /** The profile the tokens were cached for (a `token --code-url` finishes the login's own). */
  readonly profile?: string | undefined;
}

/** On Linux (and other X11/Wayland systems) a browser needs DISPLAY or WAYLAND_DISPLAY. */
export function hasDisplay(
  env: Readonly<Record<string, string | undefined>>,
  platform: string,
): boolean {
  if (platform === 'darwin' || platform === 'win32' || platform === 'cygwin') return true;
  return Boolean(env['DISPLAY'] || env['WAYLAND_DISPLAY']);
}

/** The error for a callback that carries `error=` (state already matched). */
export function callbackError(error: string, description: string | undefined): GwError {
  const what = printableLine(error, 80);
  const why = description ? `: ${printableLine(description)}` : '';
  if (error === 'access_denied') {
    return new GwError('ERR_ACCESS_DENIED', `the sign-in was refused at the IdP: ${what}${why}`, {
      hint: 'run `oidc-gw login` again and approve the request',
      details: {
        error: what,
        ...(description ? { error_description: printableLine(description) } : {}),
      },
    });
  }
  return new GwError('ERR_IDP', `the IdP refused the sign-in: ${what}${why}`, {
    details: {
      error: what,
      ...(description ? { error_description: printableLine(description) } : {}),
    },
    ...(error === 'invalid_scope'
      ? { hint: 'ask for scopes the client is allowed (--scope)' }
      : error === 'unauthorized_client'
        ? { hint: 'enable the authorization code grant for this client at the IdP' }
        : error === 'invalid_request'
          ? { hint: 'check that the redirect URI is registered for this client at the IdP' }
          : {}),
  });
}

/** Ctrl-C while waiting: closes what is open and ends with ERR_INTERRUPTED (exit 130). */
function interruptSignal(ctx: Context): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const off = ctx.onShutdown(() =>
    controller.abort(new GwError('ERR_INTERRUPTED', 'interrupted: the sign-in was cancelled')),
  );
  return { signal: AbortSignal.any([controller.signal, ctx.signal]), dispose: off };
}

async function openInBrowser(ctx: Context, url: string): Promise<void> {
  try {
    await ctx.openUrl(url);
  } catch (error) {
    ctx.out.warn(
      `could not open a browser (${printableLine((error as Error).message ?? String(error), 120)}): open the URL above yourself`,
    );
  }
}

export async function login(
  session: Session,
  options: LoginOptions,
): Promise<LoginOutcome | undefined> {
  const { settings } = session;
  const discovered = await discover(session);
  const client = await makeClient(session, discovered);
  const { defaultScope } = await import('../core/flows/auth-code.js');
  const scope = settings.scope ?? defaultScope(discovered.metadata);
  if (options.manual) {
    const result = await manualLogin(session, client, scope, options);
    return result ?? undefined;
  }
  const result = options.device
    ? await deviceLogin(session, client, scope, options)
    : await browserLogin(session, client, scope, options);
  return { tokens: result.tokens, claims: result.claims };
}

/** Stores the new login under the profile's refresh lock, so a concurrent refresh cannot overwrite it. */
async function store(session: Session, tokens: TokenSet): Promise<void> {
  const profile = session.settings.profile;
  await session.store.withLock(`refresh-${profile}`, () =>
    session.store.writeUser(profile, tokens),
  );
}

async function browserLogin(
  session: Session,
  client: Client,
  scope: string,
  options: LoginOptions,
): Promise<LoginResult> {
  const { ctx, settings } = session;
  const [{ parseRedirectUri, startLoopbackReceiver }, flow] = await Promise.all([
    import('../http/loopback-receiver.js'),
    import('../core/flows/auth-code.js'),
  ]);
  flow.checkExtraParams(settings.params);
  const methods = client.issuer.metadata.code_challenge_methods_supported;
  if (Array.isArray(methods) && !methods.includes('S256')) {
    ctx.out.warn(
      `${client.issuer.issuer} does not list PKCE S256 in code_challenge_methods_supported; sending it anyway`,
    );
  }
  const address = parseRedirectUri(settings.redirectUri, options.port);
  const receiver = await startLoopbackReceiver(address);
  const interrupt = interruptSignal(ctx);
  try {
    const pending: PendingAuthorization = await flow.startAuthorization(client, {
      redirectUri: receiver.redirectUri,
      scope,
      audience: settings.audience,
      resource: settings.resource,
      params: settings.params,
      prompt: options.prompt,
    });
    ctx.out.debug(`listening for the sign-in callback on ${receiver.redirectUri} (loopback only)`);
    ctx.out.info('Open this URL in a browser to sign in:');
    ctx.out.info(pending.url);
    if (!options.open) {
      // --no-open: the user opens it.
    } else if (!options.display) {
      ctx.out.info(
        'No display found (DISPLAY and WAYLAND_DISPLAY are unset), so no browser was opened: open the URL above in a browser on this machine, or use `oidc-gw login --device` to sign in from another device.',
      );
    } else {
      await openInBrowser(ctx, pending.url);
    }
    ctx.out.info(
      ctx.out.style.dim(
        `Waiting for the browser to come back (up to ${options.waitSeconds} s; Ctrl-C to cancel)…`,
      ),
    );
    return await receiver.waitForCallback<LoginResult>({
      state: pending.state,
      timeoutMs: options.waitSeconds * 1000,
      signal: interrupt.signal,
      onIgnored: (message) => ctx.out.warn(message),
      handle: async (query): Promise<CallbackOutcome<LoginResult>> => {
        const callback = flow.readCallback(query);
        if (callback.kind === 'error') {
          return {
            ok: false,
            idpError: callback.error,
            error: callbackError(callback.error, callback.description),
          };
        }
        const result = await flow.completeAuthorization(
          client,
          pending,
          query,
          { resource: settings.resource },
          session.nowSeconds,
        );
        await store(session, result.tokens);
        return { ok: true, value: result };
      },
    });
  } finally {
    interrupt.dispose();
    await receiver.close();
  }
}

/** The user code spaced out, for reading across a room: "WDJB-MJHT" -> "W D J B - M J H T". */
export function spacedCode(code: string): string {
  return [...printableLine(code, 64)].join(' ');
}

function describeDuration(seconds: number): string {
  if (seconds >= 120) return `${Math.round(seconds / 60)} min`;
  return `${seconds} s`;
}

export function showDeviceCode(ctx: Context, auth: DeviceAuthorization): void {
  const s = ctx.out.style;
  ctx.out.info('To sign in, open this URL on any device:');
  ctx.out.info(`  ${printableLine(auth.verificationUri, 2000)}`);
  ctx.out.info('and enter the code:');
  ctx.out.info('');
  ctx.out.info(`      ${s.bold.inverse(`  ${spacedCode(auth.userCode)}  `)}`);
  ctx.out.info('');
  if (auth.verificationUriComplete) {
    ctx.out.info('Or open this URL, which has the code filled in:');
    ctx.out.info(`  ${printableLine(auth.verificationUriComplete, 2000)}`);
  }
  ctx.out.info(
    s.dim(
      `Waiting for approval (the code expires in ${describeDuration(auth.expiresIn)}; Ctrl-C to cancel)…`,
    ),
  );
}

async function deviceLogin(
  session: Session,
  client: Client,
  scope: string,
  options: LoginOptions,
): Promise<LoginResult> {
  const { ctx, settings } = session;
  const flow = await import('../core/flows/device-code.js');
  const auth = await flow.startDeviceAuthorization(
    client,
    { scope, audience: settings.audience, resource: settings.resource, params: settings.params },
    () => ctx.now(),
  );
  showDeviceCode(ctx, auth);
  if (options.open && options.display && auth.verificationUriComplete) {
    await openInBrowser(ctx, auth.verificationUriComplete);
  }
  const interrupt = interruptSignal(ctx);
  try {
    const result = await flow.pollDeviceToken(client, auth, {
      now: () => ctx.now(),
      sleep: (ms, signal) => sleep(ms, undefined, signal ? { signal } : {}),
      signal: interrupt.signal,
      deadline: options.deviceHonoursTimeout
        ? auth.startedAt + options.waitSeconds * 1000
        : undefined,
      onEvent: (event) => {
        if (event.type === 'slow_down') {
          ctx.out.debug(`the IdP asked to slow down: polling every ${event.interval} s`);
        } else if (event.type === 'network_error') {
          ctx.out.warn(`${event.message}; trying again in ${event.interval} s`);
        } else if (event.type === 'pending') {
          ctx.out.debug('not approved yet');
        }
      },
    });
    await store(session, result.tokens);
    return result;
  } finally {
    interrupt.dispose();
  }
}

/** The stderr summary after a login: who, issuer, scopes, access-token expiry, what was cached. */
export function summaryLines(outcome: LoginOutcome, profile: string, nowSeconds: number): string[] {
  const { tokens, claims } = outcome;
  const str = (name: string) => {
    const v = claims?.[name];
    return typeof v === 'string' && v.trim() ? printableLine(v, 200) : undefined;
  };
  const sub = str('sub');
  const name = str('name') ?? str('preferred_username');
  const email = str('email');
  const who = [name, email && email !== name ? `<${email}>` : undefined].filter(Boolean).join(' ');
  const lines: string[] = [];
  if (sub) lines.push(`Signed in as ${who ? `${who} (sub ${sub})` : `sub ${sub}`}`);
  else lines.push('Signed in (no ID token, so no user details)');
  lines.push(`  issuer:        ${tokens.issuer}`);
  lines.push(`  client:        ${tokens.client_id}`);
  lines.push(
    `  scopes:        ${tokens.scope ? printableLine(tokens.scope, 500) : '(not stated by the IdP)'}`,
  );
  if (tokens.expires_at !== undefined) {
    lines.push(`  access token:  expires ${describeTime(tokens.expires_at, nowSeconds)}`);
  } else {
    lines.push('  access token:  no expiry given by the IdP');
  }
  lines.push(
    `  refresh token: ${tokens.refresh_token ? 'yes (`oidc-gw token` refreshes automatically)' : 'none (ask for offline_access to get one)'}`,
  );
  lines.push(`  cached for profile "${profile}"`);
  return lines;
}

/** Largest line read back from stdin (a redirected URL with a long code and state). */
const MAX_INPUT_BYTES = 16 * 1024;

/**
 * Reads one line from `stream`, at most `maxBytes`. Resolves undefined when
 * the stream ends with nothing on it; rejects with ERR_LOGIN_TIMEOUT after
 * `timeoutMs`, or with the signal's reason when it is aborted.
 */
export function readLine(
  stream: InStream,
  options: { timeoutMs: number; signal: AbortSignal; maxBytes?: number },
): Promise<string | undefined> {
  const max = options.maxBytes ?? MAX_INPUT_BYTES;
  return new Promise((resolve, reject) => {
    let text = '';
    let bytes = 0;
    const done = (finish: () => void) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
      options.signal.removeEventListener('abort', onAbort);
      stream.pause();
      finish();
    };
    const onData = (chunk: Buffer | string) => {
      const piece = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      bytes += Buffer.byteLength(piece);
      text += piece;
      const newline = text.indexOf('\n');
      if (newline !== -1) {
        const line = text.slice(0, newline);
        done(() => resolve(line));
      } else if (bytes > max) {
        done(() =>
          reject(new GwError('ERR_INPUT_INVALID', `the input is longer than ${max} bytes`)),
        );
      }
    };
    const onEnd = () => done(() => resolve(text.trim() === '' ? undefined : text));
    const onError = (error: Error) => done(() => reject(error));
    const onAbort = () => done(() => reject(options.signal.reason as Error));
    const timer = setTimeout(
      () =>
        done(() =>
          reject(
            new GwError(
              'ERR_LOGIN_TIMEOUT',
              `nothing was pasted within ${Math.round(options.timeoutMs / 1000)} s`,
              {
                hint: "the sign-in is kept: finish it from any shell with `oidc-gw token --code-url 'URL'`",
              },
            ),
          ),
        ),
      options.timeoutMs,
    );
    if (options.signal.aborted) {
      onAbort();
      return;
    }
    options.signal.addEventListener('abort', onAbort, { once: true });
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onError);
    stream.resume();
  });
}

/** What the user brought back: the redirected URL's parameters, or a bare code. */
export type CodeInput =
  | { readonly kind: 'url'; readonly params: URLSearchParams }
  | { readonly kind: 'code'; readonly code: string };

/**
 * Reads what was pasted: a URL (its query, or its fragment when the query
 * has no code), a bare query string (`code=...&state=...`), or a bare code.
 */
export function parseCodeInput(input: string): CodeInput {
  const text = input.trim();
  if (text === '') throw new GwError('ERR_INPUT_INVALID', 'nothing was given: paste the URL');
  const url = /^[a-z][a-z0-9+.-]*:/i.test(text) ? URL.parse(text) : null;
  if (url) {
    const params = url.searchParams;
    if (!params.has('code') && !params.has('error') && url.hash.length > 1) {
      return { kind: 'url', params: new URLSearchParams(url.hash.slice(1)) };
    }
    return { kind: 'url', params };
  }
  if (text.includes('=')) {
    return { kind: 'url', params: new URLSearchParams(text.replace(/^[?#]/, '')) };
  }
  if (!/^[\x21-\x7e]{1,4096}$/.test(text)) {
    throw new GwError(
      'ERR_INPUT_INVALID',
      'that is neither a URL nor an authorization code (a code has no spaces)',
      { hint: 'paste the whole address the browser went to after the sign-in' },
    );
  }
  return { kind: 'code', code: text };
}

function pendingStore(session: Session) {
  return import('../config/pending-login.js').then(
    ({ PendingLoginStore }) =>
      new PendingLoginStore(session.settings.cacheDir, {
        onWarning: (m) => session.ctx.out.warn(m),
      }),
  );
}

function codeUrlCommand(profile: string): string {
  const flag = profile === 'default' ? '' : ` --profile ${profile}`;
  return `oidc-gw token${flag} --code-url 'URL'`;
}

async function manualLogin(
  session: Session,
  client: Client,
  scope: string,
  options: LoginOptions,
): Promise<LoginOutcome | undefined> {
  const { ctx, settings } = session;
  const redirectUri = settings.redirectUri;
  if (!redirectUri) {
    throw new GwError('ERR_USAGE', 'login --manual needs --redirect-uri', {
      hint: 'give the redirect URI registered for the client at the IdP (a web app callback, a request bin...)',
    });
  }
  if (!URL.parse(redirectUri)) {
    throw new GwError(
      'ERR_USAGE',
      `--redirect-uri "${printableLine(redirectUri, 200)}" is not a URL`,
    );
  }
  const flow = await import('../core/flows/auth-code.js');
  const pending = await flow.startAuthorization(client, {
    redirectUri,
    scope,
    audience: settings.audience,
    resource: settings.resource,
    params: settings.params,
    prompt: options.prompt,
  });
  const now = session.nowSeconds();
  const { PENDING_LOGIN_TTL_SECONDS } = await import('../config/pending-login.js');
  const store = await pendingStore(session);
  await store.save(
    {
      version: 1,
      profile: settings.profile,
      issuer: client.issuer.issuer,
      client_id: client.clientId,
      redirect_uri: redirectUri,
      state: pending.state,
      nonce: pending.nonce,
      code_verifier: pending.codeVerifier,
      scope: pending.scope,
      id_token_expected: pending.idTokenExpected,
      ...(settings.resource.length ? { resource: [...settings.resource] } : {}),
      created_at: now,
      expires_at: now + PENDING_LOGIN_TTL_SECONDS,
    },
    now,
  );
  ctx.out.info('Open this URL in a browser to sign in:');
  ctx.out.info(pending.url);
  if (options.open && options.display) await openInBrowser(ctx, pending.url);
  ctx.out.info(
    `After the sign-in the browser goes to ${printableLine(redirectUri, 500)}?code=...: copy that whole address (or just the code) and paste it here.`,
  );
  ctx.out.info(
    ctx.out.style.dim(
      `To finish later or from another shell (within ${PENDING_LOGIN_TTL_SECONDS / 60} min): ${codeUrlCommand(settings.profile)}`,
    ),
  );
  const interrupt = interruptSignal(ctx);
  let line: string | undefined;
  try {
    line = await readLine(ctx.io.stdin, {
      timeoutMs: options.waitSeconds * 1000,
      signal: interrupt.signal,
    });
  } finally {
    interrupt.dispose();
  }
  if (line === undefined) {
    ctx.out.info(
      `Nothing was pasted (stdin ended): the sign-in is kept; finish it with ${codeUrlCommand(settings.profile)}`,
    );
    return undefined;
  }
  const stored = await store.findByState(pending.state, session.nowSeconds());
  return finishPending(session, client, stored ?? toStored(pending, settings.profile, now), line, {
    fromThisLogin: true,
  });
}

function toStored(pending: PendingAuthorization, profile: string, now: number): PendingLogin {
  return {
    version: 1,
    profile,
    issuer: '',
    client_id: '',
    redirect_uri: pending.redirectUri,
    state: pending.state,
    nonce: pending.nonce,
    code_verifier: pending.codeVerifier,
    scope: pending.scope,
    id_token_expected: pending.idTokenExpected,
    created_at: now,
    expires_at: now,
  };
}

/**
 * Exchanges what the user brought back for the pending attempt: checks
 * `state` (a URL of another attempt is refused), turns an `error=` into its
 * error, exchanges the code with the attempt's verifier and nonce, stores
 * the tokens and forgets the attempt.
 */
async function finishPending(
  session: Session,
  client: Client,
  pending: PendingLogin,
  input: string,
  how: { fromThisLogin: boolean },
): Promise<LoginOutcome> {
  const parsed = parseCodeInput(input);
  const query = new URLSearchParams();
  if (parsed.kind === 'url') {
    const state = parsed.params.get('state');
    if (state !== pending.state) {
      throw new GwError(
        'ERR_IDP_RESPONSE',
        state === null
          ? 'the URL has no state parameter: it is not the answer to this sign-in'
          : 'the URL carries another state than this sign-in sent: refused (it belongs to another attempt, or was made up)',
        {
          hint: how.fromThisLogin
            ? 'paste the address the browser went to after signing in with the URL above'
            : undefined,
        },
      );
    }
    const callback = (await import('../core/flows/auth-code.js')).readCallback(parsed.params);
    if (callback.kind === 'error') throw callbackError(callback.error, callback.description);
    if (!parsed.params.get('code')) {
      throw new GwError('ERR_INPUT_INVALID', 'the URL has no code parameter');
    }
    for (const [k, v] of parsed.params) query.append(k, v);
  } else {
    // A bare code cannot be matched to its request: only the verifier ties it to this one.
    session.ctx.out.debug('a bare code: its state cannot be checked');
    query.set('code', parsed.code);
    query.set('state', pending.state);
    if (client.issuer.metadata.authorization_response_iss_parameter_supported) {
      query.set('iss', client.issuer.issuer);
    }
  }
  const flow = await import('../core/flows/auth-code.js');
  const authorization: PendingAuthorization = {
    url: '',
    state: pending.state,
    nonce: pending.nonce,
    codeVerifier: pending.code_verifier,
    codeChallenge: '',
    redirectUri: pending.redirect_uri,
    scope: pending.scope,
    idTokenExpected: pending.id_token_expected,
  };
  const result = await flow.completeAuthorization(
    client,
    authorization,
    query,
    { resource: pending.resource ?? session.settings.resource },
    session.nowSeconds,
  );
  const profile = pending.profile;
  await session.store.withLock(`refresh-${profile}`, () =>
    session.store.writeUser(profile, result.tokens),
  );
  await (await pendingStore(session)).remove(pending.state);
  return { tokens: result.tokens, claims: result.claims, profile };
}

/**
 * `token --code-url URL`: finishes a `login --manual` started in any shell,
 * found by the URL's state in the cache. The issuer and client id are the
 * attempt's (flags may repeat them; a different one is an error).
 */
export async function finishManualLogin(session: Session, input: string): Promise<LoginOutcome> {
  const parsed = parseCodeInput(input);
  const store = await pendingStore(session);
  const now = session.nowSeconds();
  let pending: PendingLogin | undefined;
  if (parsed.kind === 'url') {
    const state = parsed.params.get('state');
    if (state === null) {
      throw new GwError('ERR_INPUT_INVALID', 'the URL has no state parameter', {
        hint: 'give the whole address the browser went to after the sign-in',
      });
    }
    pending = await store.findByState(state, now);
  } else {
    pending = await store.latest(session.settings.profile, now, session.settings.redirectUri);
  }
  if (!pending) {
    throw new GwError(
      'ERR_INPUT_INVALID',
      'no pending `login --manual` matches this URL (it was finished, is older than an hour, or was started with another cache directory)',
      { hint: 'start again with `oidc-gw login --manual --redirect-uri URI`' },
    );
  }
  const { settings } = session;
  if (settings.clientId && settings.clientId !== pending.client_id) {
    throw new GwError(
      'ERR_USAGE',
      `the pending sign-in is for client ${pending.client_id}, not ${settings.clientId}`,
    );
  }
  const own: Session = {
    ...session,
    settings: Object.freeze({
      ...settings,
      issuer: pending.issuer,
      clientId: pending.client_id,
    }),
  };
  if (settings.issuer && stripSlash(settings.issuer) !== stripSlash(pending.issuer)) {
    throw new GwError(
      'ERR_USAGE',
      `the pending sign-in is at ${pending.issuer}, not ${settings.issuer}`,
    );
  }
  const discovered = await discover(own, pending.issuer);
  const client = await makeClient(own, discovered);
  return finishPending(own, client, pending, input, { fromThisLogin: false });
}

function stripSlash(s: string): string {
  return s.replace(/\/+$/, '');
}

/** The newest pending `login --manual` of the profile for this redirect URI (its verifier and nonce). */
export async function pendingFor(
  session: Session,
  redirectUri: string,
): Promise<PendingLogin | undefined> {
  const store = await pendingStore(session);
  return store.latest(session.settings.profile, session.nowSeconds(), redirectUri);
}

/** Forgets a pending attempt (after `token --code` used its verifier). */
export async function forgetPending(session: Session, state: string): Promise<void> {
  await (await pendingStore(session)).remove(state);
}
