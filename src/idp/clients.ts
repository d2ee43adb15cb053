/**
 * Client registrations for the dev IdP, as oidc-provider client metadata.
 * Every client is a "native" application (RFC 8252): its loopback redirect
 * URIs match whatever port the caller listens on.
 */
import type { ClientMetadata } from 'oidc-provider';

export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** Registered redirect URIs; any port matches (RFC 8252 §7.3). */
export const LOOPBACK_REDIRECT_URIS: readonly string[] = [
  'http://127.0.0.1/callback',
  'http://localhost/callback',
  'http://[::1]/callback',
];

export type GrantType =
  'authorization_code' | 'refresh_token' | 'client_credentials' | typeof DEVICE_CODE_GRANT;

/** A public client: no secret, authorization code with PKCE (required), refresh, device grant. */
export function publicClient(
  clientId: string,
  grantTypes: readonly GrantType[] = ['authorization_code', 'refresh_token', DEVICE_CODE_GRANT],
): ClientMetadata {
  return withFlows(
    { client_id: clientId, client_name: clientId, token_endpoint_auth_method: 'none' },
    grantTypes,
  );
}

/** A confidential client authenticated with a secret (basic or post: both are accepted). */
export function secretClient(
  clientId: string,
  clientSecret: string,
  authMethod: 'client_secret_basic' | 'client_secret_post',
  grantTypes: readonly GrantType[],
): ClientMetadata {
  return withFlows(
    {
      client_id: clientId,
      client_name: clientId,
      client_secret: clientSecret,
      token_endpoint_auth_method: authMethod,
    },
    grantTypes,
  );
}

/** A confidential client authenticated with a JWT signed by its private key (RFC 7523). */
export function privateKeyJwtClient(
  clientId: string,
  publicJwk: Record<string, unknown>,
  grantTypes: readonly GrantType[],
): ClientMetadata {
  return withFlows(
    {
      client_id: clientId,
      client_name: clientId,
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [publicJwk] },
    },
    grantTypes,
  );
}

function withFlows(base: ClientMetadata, grantTypes: readonly GrantType[]): ClientMetadata {
  const browser = grantTypes.includes('authorization_code');
  return {
    ...base,
    application_type: 'native',
    grant_types: [...grantTypes],
    response_types: browser ? ['code'] : [],
    redirect_uris: browser ? [...LOOPBACK_REDIRECT_URIS] : [],
    ...(browser ? { post_logout_redirect_uris: [...LOOPBACK_REDIRECT_URIS] } : {}),
  };
}
