/**
 * `oidc-gw login`: the browser flow (authorization code + PKCE through a
 * loopback listener) and the device flow (RFC 8628), then the token set
 * stored for the profile and a summary on stderr. The protocol lives in
 * core/flows; the listener in http/; this module wires them to the terminal.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import type { Client } from '../core/client.js';
import { GwError } from '../core/errors/index.js';
import type { LoginResult, PendingAuthorization } from '../core/flows/auth-code.js';
import type { DeviceAuthorization } from '../core/flows/device-code.js';
import { secondsLeft, type TokenSet } from '../core/token-set.js';
import type { CallbackOutcome } from '../http/loopback-receiver.js';
import { discover, makeClient, type Session } from './session.js';

export interface LoginOptions {
  /** --device: the device authorization grant instead of the browser. */
  readonly device: boolean;
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
}

/** On Linux (and other X11/Wayland systems) a browser needs DISPLAY or WAYLAND_DISPLAY. */
export function hasDisplay(
  env: Readonly<Record<string, string | undefined>>,
  platform: string,
): boolean {
  if (platform === 'darwin' || platform === 'win32' || platform === 'cygwin') return true;
  return Boolean(env['DISPLAY'] || env['WAYLAND_DISPLAY']);
}

/** Removes control characters (terminal escapes) from text that came from the IdP, and bounds it. */
export function printable(text: string, max = 300): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ').trim();
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}

/** The error for a callback that carries `error=` (state already matched). */
export function callbackError(error: string, description: string | undefined): GwError {
  const what = printable(error, 80);
  const why = description ? `: ${printable(description)}` : '';
  if (error === 'access_denied') {
    return new GwError('ERR_ACCESS_DENIED', `the sign-in was refused at the IdP: ${what}${why}`, {
      hint: 'run `oidc-gw login` again and approve the request',
      details: {
        error: what,
        ...(description ? { error_description: printable(description) } : {}),
      },
    });
  }
  return new GwError('ERR_IDP', `the IdP refused the sign-in: ${what}${why}`, {
    details: { error: what, ...(description ? { error_description: printable(description) } : {}) },
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
      `could not open a browser (${printable((error as Error).message ?? String(error), 120)}): open the URL above yourself`,
    );
  }
}

export async function login(session: Session, options: LoginOptions): Promise<LoginOutcome> {
  const { settings } = session;
  const discovered = await discover(session);
  const client = await makeClient(session, discovered);
  const { defaultScope } = await import('../core/flows/auth-code.js');
  const scope = settings.scope ?? defaultScope(discovered.metadata);
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
  return [...printable(code, 64)].join(' ');
}

function describeDuration(seconds: number): string {
  if (seconds >= 120) return `${Math.round(seconds / 60)} min`;
  return `${seconds} s`;
}

export function showDeviceCode(ctx: Context, auth: DeviceAuthorization): void {
  const s = ctx.out.style;
  ctx.out.info('To sign in, open this URL on any device:');
  ctx.out.info(`  ${printable(auth.verificationUri, 2000)}`);
  ctx.out.info('and enter the code:');
  ctx.out.info('');
  ctx.out.info(`      ${s.bold.inverse(`  ${spacedCode(auth.userCode)}  `)}`);
  ctx.out.info('');
  if (auth.verificationUriComplete) {
    ctx.out.info('Or open this URL, which has the code filled in:');
    ctx.out.info(`  ${printable(auth.verificationUriComplete, 2000)}`);
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

/** "in 59m", "in 2h 5m", "3m ago". */
export function relative(seconds: number): string {
  const abs = Math.abs(Math.round(seconds));
  const d = Math.floor(abs / 86_400);
  const h = Math.floor((abs % 86_400) / 3600);
  const m = Math.floor((abs % 3600) / 60);
  const text = d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : m ? `${m}m` : `${abs}s`;
  return seconds < 0 ? `${text} ago` : `in ${text}`;
}

/** The stderr summary after a login: who, issuer, scopes, access-token expiry, what was cached. */
export function summaryLines(outcome: LoginOutcome, profile: string, nowSeconds: number): string[] {
  const { tokens, claims } = outcome;
  const str = (name: string) => {
    const v = claims?.[name];
    return typeof v === 'string' && v.trim() ? printable(v, 200) : undefined;
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
    `  scopes:        ${tokens.scope ? printable(tokens.scope, 500) : '(not stated by the IdP)'}`,
  );
  if (tokens.expires_at !== undefined) {
    const left = secondsLeft(tokens, nowSeconds);
    lines.push(
      `  access token:  expires ${new Date(tokens.expires_at * 1000).toISOString().replace('.000Z', 'Z')} (${relative(left)})`,
    );
  } else {
    lines.push('  access token:  no expiry given by the IdP');
  }
  lines.push(
    `  refresh token: ${tokens.refresh_token ? 'yes (`oidc-gw token` refreshes automatically)' : 'none (ask for offline_access to get one)'}`,
  );
  lines.push(`  cached for profile "${profile}"`);
  return lines;
}
