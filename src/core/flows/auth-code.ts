/**
 * The authorization code flow for a human at a browser (RFC 8252 native
 * app): the authorization URL with PKCE S256, `state` and `nonce`, and the
 * code exchange with every check openid-client does (RFC 9207 `iss` when the
 * IdP advertises it, state, PKCE, ID token signature, iss, aud, exp, nonce).
 * Silent and pure apart from the HTTP requests openid-client makes.
 */
import * as oidc from 'openid-client';
import type { Client } from '../client.js';
import { GwError } from '../errors/index.js';
import { wrapOAuthError } from '../oauth-errors.js';
import { toTokenSet, type Grant, type TokenResponseLike, type TokenSet } from '../token-set.js';
import { causeChain } from '../errors/causes.js';

/** The default scopes, each sent only when the IdP lists it in scopes_supported (openid always). */
export const DEFAULT_SCOPES = ['openid', 'profile', 'email', 'offline_access'] as const;

/**
 * `openid profile email offline_access`, keeping only what the IdP supports
 * when it lists scopes_supported. Without that list, `offline_access` is left
 * out (some IdPs refuse scopes they do not know) and the rest is sent.
 */
export function defaultScope(metadata: { scopes_supported?: string[] | undefined }): string {
  const supported = metadata.scopes_supported;
  if (!Array.isArray(supported)) return 'openid profile email';
  return DEFAULT_SCOPES.filter((s) => s === 'openid' || supported.includes(s)).join(' ');
}

/** Parameters that oidc-gw sets itself, which --param may not override (and the flag to use instead). */
const RESERVED: Readonly<Record<string, string>> = {
  state: 'oidc-gw makes a new random state for every attempt',
  nonce: 'oidc-gw makes a new random nonce for every attempt',
  code_challenge: 'oidc-gw makes the PKCE challenge',
  code_challenge_method: 'oidc-gw always uses S256',
  code_verifier: 'oidc-gw makes the PKCE verifier',
  redirect_uri: 'use --redirect-uri or --port',
  client_id: 'use --client-id',
  response_type: 'oidc-gw uses response_type=code',
  response_mode: 'oidc-gw uses the default query response mode',
  request: 'signed request objects are not supported by login',
  request_uri: 'pushed or referenced request objects are not supported by login',
  scope: 'use --scope',
  audience: 'use --audience',
  resource: 'use --resource',
  prompt: 'use --prompt',
};

/** Refuses a --param that would replace a parameter oidc-gw sets for security or from a flag. */
export function checkExtraParams(params: Readonly<Record<string, string>>): void {
  for (const name of Object.keys(params)) {
    const why = RESERVED[name];
    if (why) throw new GwError('ERR_USAGE', `--param cannot set "${name}": ${why}`);
  }
}

export interface AuthorizationOptions {
  /** The loopback redirect URI the listener answers on. */
  readonly redirectUri: string;
  /** Space-separated; see defaultScope(). */
  readonly scope: string;
  readonly audience?: string | undefined;
  readonly resource?: readonly string[] | undefined;
  readonly params?: Readonly<Record<string, string>> | undefined;
  readonly prompt?: string | undefined;
}

/** One authorization attempt: what the code exchange needs to check the answer. */
export interface PendingAuthorization {
  /** The URL to open in the browser. */
  readonly url: string;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string;
  readonly codeChallenge: string;
  readonly redirectUri: string;
  readonly scope: string;
  /** Whether an ID token must come back (the openid scope was asked for). */
  readonly idTokenExpected: boolean;
}

/** RFC 7636 S256: BASE64URL(SHA256(ASCII(code_verifier))). */
export function pkceChallenge(codeVerifier: string): Promise<string> {
  return oidc.calculatePKCECodeChallenge(codeVerifier);
}

/** A new code_verifier: 32 random bytes, base64url (43 characters). */
export function newCodeVerifier(): string {
  return oidc.randomPKCECodeVerifier();
}

function hasScope(scope: string, name: string): boolean {
  return scope.split(' ').includes(name);
}

/** Builds the authorization URL for a new attempt: new verifier, state and nonce every time. */
export async function startAuthorization(
  client: Client,
  options: AuthorizationOptions,
): Promise<PendingAuthorization> {
  const metadata = client.issuer.metadata;
  if (!metadata.authorization_endpoint) {
    throw new GwError(
      'ERR_DISCOVERY',
      `the metadata of ${client.issuer.issuer} names no authorization_endpoint`,
      { hint: 'this IdP cannot do a browser login; try `oidc-gw login --device`' },
    );
  }
  checkExtraParams(options.params ?? {});
  const codeVerifier = newCodeVerifier();
  const codeChallenge = await pkceChallenge(codeVerifier);
  const state = oidc.randomState();
  const nonce = oidc.randomNonce();
  const parameters = new URLSearchParams();
  parameters.set('redirect_uri', options.redirectUri);
  parameters.set('scope', options.scope);
  parameters.set('code_challenge', codeChallenge);
  parameters.set('code_challenge_method', 'S256');
  parameters.set('state', state);
  parameters.set('nonce', nonce);
  if (options.audience) parameters.set('audience', options.audience);
  for (const r of options.resource ?? []) parameters.append('resource', r);
  if (options.prompt) parameters.set('prompt', options.prompt);
  for (const [k, v] of Object.entries(options.params ?? {})) parameters.set(k, v);
  let url: URL;
  try {
    url = oidc.buildAuthorizationUrl(client.config, parameters);
  } catch (error) {
    throw wrapOAuthError(error, {
      action: 'authorization request',
      url: metadata.authorization_endpoint,
    });
  }
  return Object.freeze({
    url: url.href,
    state,
    nonce,
    codeVerifier,
    codeChallenge,
    redirectUri: options.redirectUri,
    scope: options.scope,
    idTokenExpected: hasScope(options.scope, 'openid'),
  });
}

/** What a callback to the redirect URI carries, before any exchange. */
export type CallbackKind =
  | { readonly kind: 'code' }
  | { readonly kind: 'error'; readonly error: string; readonly description: string | undefined };

/**
 * Reads an authorization response whose `state` has already been matched:
 * an `error` (RFC 6749 §4.1.2.1) or a code to exchange.
 */
export function readCallback(query: URLSearchParams): CallbackKind {
  const error = query.get('error');
  if (error !== null) {
    const description = query.get('error_description') ?? undefined;
    return { kind: 'error', error, description };
  }
  return { kind: 'code' };
}

/** Claims of the validated ID token, when one came back. */
export type IdClaims = Readonly<Record<string, unknown>>;

export interface LoginResult {
  readonly tokens: TokenSet;
  /** The ID token's claims, after openid-client validated it. */
  readonly claims: IdClaims | undefined;
}

export interface ExchangeParameters {
  /** RFC 8707 resource indicators, sent again at the token endpoint. */
  readonly resource?: readonly string[] | undefined;
}

/** Makes openid-client verify the ID token's signature against the issuer's JWKS (not only its claims). */
export function verifyIdTokenSignatures(client: Client): void {
  oidc.enableNonRepudiationChecks(client.config);
}

/** Turns a token endpoint response into our token set, with the ID token's claims. */
export function toLoginResult(
  client: Client,
  response: TokenResponseLike & { claims?: () => unknown },
  grant: Grant,
  nowSeconds: number,
): LoginResult {
  const claims = typeof response.claims === 'function' ? response.claims() : undefined;
  const { claims: _helper, ...rest } = response;
  const tokens = toTokenSet(rest as TokenResponseLike, {
    issuer: client.issuer.issuer,
    clientId: client.clientId,
    grant,
    nowSeconds,
  });
  return { tokens, claims: claims ? (claims as IdClaims) : undefined };
}

/**
 * Exchanges the code of a callback (whose state already matched) and
 * validates everything: `iss` in the response (RFC 9207, required when the
 * IdP advertises it), state, the PKCE verifier, and the ID token (signature,
 * iss, aud, exp, nonce).
 */
export async function completeAuthorization(
  client: Client,
  pending: PendingAuthorization,
  query: URLSearchParams,
  params: ExchangeParameters,
  nowSeconds: () => number,
): Promise<LoginResult> {
  const callback = new URL(pending.redirectUri);
  callback.search = query.toString();
  const tokenParameters = new URLSearchParams();
  for (const r of params.resource ?? []) tokenParameters.append('resource', r);
  verifyIdTokenSignatures(client);
  try {
    const response = await oidc.authorizationCodeGrant(
      client.config,
      callback,
      {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        ...(pending.idTokenExpected
          ? { expectedNonce: pending.nonce, idTokenExpected: true }
          : { idTokenExpected: false }),
      },
      tokenParameters,
    );
    return toLoginResult(
      client,
      response as unknown as TokenResponseLike,
      'authorization_code',
      nowSeconds(),
    );
  } catch (error) {
    throw describeExchangeError(error, client);
  }
}

function messages(error: unknown): string {
  const parts: string[] = [];
  for (const e of causeChain(error, 4)) {
    const m = (e as { message?: unknown }).message;
    if (typeof m === 'string') parts.push(m);
  }
  return parts.join(' | ');
}

function describeExchangeError(error: unknown, client: Client): GwError {
  const text = messages(error);
  if (/"iss" \(issuer\)/.test(text)) {
    const missing = /"iss" \(issuer\) missing/.test(text);
    return new GwError(
      'ERR_IDP_RESPONSE',
      missing
        ? `the authorization response has no "iss" parameter, though ${client.issuer.issuer} advertises RFC 9207 support: sign-in refused`
        : `the authorization response names another issuer than ${client.issuer.issuer} (RFC 9207): sign-in refused, it may be a mix-up attack`,
      { cause: error, details: { cause_code: (error as { code?: unknown }).code } },
    );
  }
  return wrapOAuthError(error, {
    action: 'authorization code exchange',
    url: client.issuer.metadata.token_endpoint,
  });
}
