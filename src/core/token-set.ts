/** The token set as oidc-gw keeps it: the token response plus where it came from and when it ends. */

export type Grant = 'authorization_code' | 'client_credentials' | 'refresh_token' | 'device_code';

export interface TokenSet {
  readonly access_token: string;
  readonly token_type?: string;
  /** Epoch seconds; absent when the IdP gave no expires_in. */
  readonly expires_at?: number;
  readonly expires_in?: number;
  readonly refresh_token?: string;
  readonly id_token?: string;
  readonly scope?: string;
  readonly issuer: string;
  readonly client_id: string;
  readonly grant: Grant;
  /** Epoch seconds. */
  readonly obtained_at: number;
  /** Other members of the token response (e.g. `issued_token_type`). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

const KNOWN = new Set([
  'access_token',
  'token_type',
  'expires_in',
  'refresh_token',
  'id_token',
  'scope',
]);

export interface TokenResponseLike {
  access_token: string;
  token_type?: string;
  expires_in?: number;
  refresh_token?: string;
  id_token?: string;
  scope?: string;
  [key: string]: unknown;
}

export function toTokenSet(
  response: TokenResponseLike,
  meta: { issuer: string; clientId: string; grant: Grant; nowSeconds: number; previous?: TokenSet },
): TokenSet {
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(response))
    if (!KNOWN.has(k) && typeof v !== 'function') extra[k] = v;
  const expiresIn = typeof response.expires_in === 'number' ? response.expires_in : undefined;
  // RFC 6749 §6: a refresh response may omit refresh_token (keep the old one) or the id_token.
  const refresh = response.refresh_token ?? meta.previous?.refresh_token;
  const idToken = response.id_token ?? meta.previous?.id_token;
  return {
    access_token: response.access_token,
    ...(response.token_type ? { token_type: response.token_type } : {}),
    ...(expiresIn !== undefined
      ? { expires_in: expiresIn, expires_at: meta.nowSeconds + expiresIn }
      : {}),
    ...(refresh ? { refresh_token: refresh } : {}),
    ...(idToken ? { id_token: idToken } : {}),
    ...((response.scope ?? meta.previous?.scope)
      ? { scope: response.scope ?? meta.previous?.scope }
      : {}),
    issuer: meta.issuer,
    client_id: meta.clientId,
    grant: meta.grant,
    obtained_at: meta.nowSeconds,
    ...(Object.keys(extra).length ? { extra } : {}),
  };
}

/** Seconds of validity left (Infinity when the IdP gave no expiry). */
export function secondsLeft(set: TokenSet, nowSeconds: number): number {
  return set.expires_at === undefined ? Number.POSITIVE_INFINITY : set.expires_at - nowSeconds;
}

/** The token response as `token --json` prints it: the response members plus `expires_at`. */
export function toJsonOutput(set: TokenSet): Record<string, unknown> {
  return {
    access_token: set.access_token,
    token_type: set.token_type ?? 'Bearer',
    ...(set.expires_in !== undefined ? { expires_in: set.expires_in } : {}),
    ...(set.expires_at !== undefined ? { expires_at: set.expires_at } : {}),
    ...(set.refresh_token ? { refresh_token: set.refresh_token } : {}),
    ...(set.id_token ? { id_token: set.id_token } : {}),
    ...(set.scope ? { scope: set.scope } : {}),
    ...(set.extra ?? {}),
    issuer: set.issuer,
    client_id: set.client_id,
  };
}

export function isTokenSet(value: unknown): value is TokenSet {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v['access_token'] === 'string' &&
    typeof v['issuer'] === 'string' &&
    typeof v['client_id'] === 'string' &&
    typeof v['obtained_at'] === 'number' &&
    (v['expires_at'] === undefined || typeof v['expires_at'] === 'number') &&
    (v['refresh_token'] === undefined || typeof v['refresh_token'] === 'string') &&
    (v['id_token'] === undefined || typeof v['id_token'] === 'string')
  );
}
