/**
 * The device authorization grant (RFC 8628) for machines without a browser.
 *
 * The polling loop is ours, around openid-client's `genericGrantRequest`,
 * rather than `pollDeviceAuthorizationGrant`: that one waits with its own
 * `setTimeout` and clock, so a test could not check the waits (5, 5, 10, 10 s
 * for `interval` 5 and a `slow_down` on the second poll) without real time
 * passing. Here the clock and the sleep are injected. Every token response is
 * still parsed and checked by openid-client (the ID token's signature, iss,
 * aud and exp included).
 */
import * as oidc from 'openid-client';
import type { Client } from '../client.js';
import { GwError } from '../errors/index.js';
import { wrapOAuthError } from '../oauth-errors.js';
import type { TokenResponseLike } from '../token-set.js';
import {
  checkExtraParams,
  toLoginResult,
  verifyIdTokenSignatures,
  type LoginResult,
} from './auth-code.js';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** RFC 8628 §3.2: the interval when the IdP names none. */
export const DEFAULT_INTERVAL_SECONDS = 5;
/** RFC 8628 §3.5: what slow_down adds to the interval, for this and every later poll. */
export const SLOW_DOWN_SECONDS = 5;
/** Network failures in a row tolerated while polling (each doubles the interval, RFC 8628 §3.5). */
export const MAX_NETWORK_FAILURES = 3;
/** The longest interval a network backoff reaches. */
const MAX_BACKOFF_SECONDS = 60;

export interface DeviceRequestOptions {
  readonly scope: string;
  readonly audience?: string | undefined;
  readonly resource?: readonly string[] | undefined;
  readonly params?: Readonly<Record<string, string>> | undefined;
}

export interface DeviceAuthorization {
  readonly deviceCode: string;
  readonly userCode: string;
  readonly verificationUri: string;
  readonly verificationUriComplete: string | undefined;
  /** Seconds the codes are valid for. */
  readonly expiresIn: number;
  /** Seconds between polls (the IdP's, or 5). */
  readonly interval: number;
  /** Milliseconds since the epoch, when the IdP answered. */
  readonly startedAt: number;
  readonly scope: string;
  readonly resource: readonly string[];
}

export function supportsDeviceFlow(client: Client): boolean {
  return typeof client.issuer.metadata.device_authorization_endpoint === 'string';
}

/** Asks the IdP for a device code and a user code. */
export async function startDeviceAuthorization(
  client: Client,
  options: DeviceRequestOptions,
  nowMs: () => number,
): Promise<DeviceAuthorization> {
  const endpoint = client.issuer.metadata.device_authorization_endpoint;
  if (!endpoint) {
    throw new GwError(
      'ERR_DEVICE_UNSUPPORTED',
      `${client.issuer.issuer} has no device authorization endpoint (RFC 8628)`,
      {
        hint: 'log in with the browser instead (`oidc-gw login` without --device), or enable the device grant at the IdP',
      },
    );
  }
  checkExtraParams(options.params ?? {});
  const parameters = new URLSearchParams();
  parameters.set('scope', options.scope);
  if (options.audience) parameters.set('audience', options.audience);
  for (const r of options.resource ?? []) parameters.append('resource', r);
  for (const [k, v] of Object.entries(options.params ?? {})) parameters.set(k, v);
  let response: oidc.DeviceAuthorizationResponse;
  try {
    response = await oidc.initiateDeviceAuthorization(client.config, parameters);
  } catch (error) {
    throw wrapOAuthError(error, { action: 'device authorization request', url: endpoint });
  }
  const interval =
    typeof response.interval === 'number' && response.interval >= 1
      ? response.interval
      : DEFAULT_INTERVAL_SECONDS;
  return Object.freeze({
    deviceCode: response.device_code,
    userCode: response.user_code,
    verificationUri: response.verification_uri,
    verificationUriComplete:
      typeof response.verification_uri_complete === 'string'
        ? response.verification_uri_complete
        : undefined,
    expiresIn: response.expires_in,
    interval,
    startedAt: nowMs(),
    scope: options.scope,
    resource: [...(options.resource ?? [])],
  });
}

export type PollEvent =
  | { readonly type: 'wait'; readonly seconds: number }
  | { readonly type: 'pending' }
  | { readonly type: 'slow_down'; readonly interval: number }
  | { readonly type: 'network_error'; readonly interval: number; readonly message: string };

export interface PollOptions {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Waits `ms` milliseconds; rejects when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Aborts the polling (Ctrl-C). Its reason is thrown when it is a GwError. */
  readonly signal?: AbortSignal | undefined;
  /** Stop earlier than expires_in (milliseconds since the epoch) with ERR_LOGIN_TIMEOUT. */
  readonly deadline?: number | undefined;
  /** Progress, for a spinner or --verbose. */
  onEvent?(event: PollEvent): void;
}

function interrupted(signal: AbortSignal): GwError {
  const reason: unknown = signal.reason;
  if (reason instanceof GwError) return reason;
  return new GwError('ERR_INTERRUPTED', 'interrupted while waiting for the device to be approved');
}

function expired(auth: DeviceAuthorization): GwError {
  return new GwError(
    'ERR_DEVICE_EXPIRED',
    `the code ${auth.userCode} expired before it was approved (it was valid for ${auth.expiresIn} s)`,
    { hint: 'run `oidc-gw login --device` again and approve the new code sooner' },
  );
}

/**
 * Polls the token endpoint until the user approves or denies, the codes
 * expire, or `signal` aborts. Waits `interval` seconds before every poll;
 * `authorization_pending` goes on, `slow_down` adds 5 s to the interval for
 * this and every later poll, `access_denied` and `expired_token` stop. A
 * connection failure or timeout doubles the interval and polling goes on, up
 * to three failures in a row.
 */
export async function pollDeviceToken(
  client: Client,
  auth: DeviceAuthorization,
  options: PollOptions,
): Promise<LoginResult> {
  const expiresAt = auth.startedAt + auth.expiresIn * 1000;
  const stopAt = Math.min(expiresAt, options.deadline ?? Number.POSITIVE_INFINITY);
  const timedOut = () =>
    stopAt < expiresAt
      ? new GwError('ERR_LOGIN_TIMEOUT', 'the device was not approved within --timeout', {
          hint: 'raise --timeout, or approve the code sooner',
        })
      : expired(auth);
  let interval = auth.interval;
  // Bounded even with a clock that does not move: never more polls than expires_in allows.
  const maxPolls = Math.ceil(auth.expiresIn / auth.interval) + 1;
  const parameters = new URLSearchParams();
  parameters.set('device_code', auth.deviceCode);
  for (const r of auth.resource) parameters.append('resource', r);
  verifyIdTokenSignatures(client);
  let networkFailures = 0;
  for (let poll = 1; poll <= maxPolls; poll++) {
    if (options.signal?.aborted) throw interrupted(options.signal);
    if (options.now() >= stopAt) throw timedOut();
    options.onEvent?.({ type: 'wait', seconds: interval });
    try {
      await options.sleep(interval * 1000, options.signal);
    } catch (error) {
      if (options.signal?.aborted) throw interrupted(options.signal);
      throw error;
    }
    if (options.signal?.aborted) throw interrupted(options.signal);
    if (options.now() > stopAt) throw timedOut();
    let response: TokenResponseLike;
    try {
      response = (await oidc.genericGrantRequest(
        client.config,
        DEVICE_CODE_GRANT,
        parameters,
      )) as unknown as TokenResponseLike;
    } catch (error) {
      const code = (error as { error?: unknown }).error;
      if (code === 'authorization_pending') {
        networkFailures = 0;
        options.onEvent?.({ type: 'pending' });
        continue;
      }
      if (code === 'slow_down') {
        networkFailures = 0;
        interval += SLOW_DOWN_SECONDS;
        options.onEvent?.({ type: 'slow_down', interval });
        continue;
      }
      if (code === 'access_denied') {
        throw new GwError('ERR_ACCESS_DENIED', 'the sign-in was denied on the verification page', {
          cause: error,
          hint: 'run `oidc-gw login --device` again and approve the request',
        });
      }
      if (code === 'expired_token') throw expired(auth);
      const wrapped = wrapOAuthError(error, {
        action: 'device code token request',
        url: client.issuer.metadata.token_endpoint,
      });
      // RFC 8628 §3.5: on a connection failure or timeout, back off exponentially and go on.
      if (
        (wrapped.code === 'ERR_NETWORK' || wrapped.code === 'ERR_TIMEOUT') &&
        networkFailures < MAX_NETWORK_FAILURES
      ) {
        networkFailures++;
        interval = Math.min(interval * 2, MAX_BACKOFF_SECONDS);
        options.onEvent?.({ type: 'network_error', interval, message: wrapped.message });
        continue;
      }
      throw wrapped;
    }
    return toLoginResult(client, response, 'device_code', Math.floor(options.now() / 1000));
  }
  throw timedOut();
}
