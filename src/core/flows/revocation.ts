/** Token revocation (RFC 7009) for `oidc-gw logout`, through openid-client. */
import * as oidc from 'openid-client';
import type { Client } from '../client.js';
import { GwError } from '../errors/index.js';
import { wrapOAuthError } from '../oauth-errors.js';

export type RevocableKind = 'refresh_token' | 'access_token';

export function revocationEndpoint(client: Client): string | undefined {
  const endpoint = client.issuer.metadata.revocation_endpoint;
  return typeof endpoint === 'string' ? endpoint : undefined;
}

/**
 * Revokes one token, with its type as `token_type_hint`. RFC 7009 §2.2: the
 * IdP answers 200 also for a token it no longer knows, so success means "not
 * usable any more", not "was valid until now".
 */
export async function revokeToken(
  client: Client,
  token: string,
  kind: RevocableKind,
): Promise<void> {
  const endpoint = revocationEndpoint(client);
  if (!endpoint) {
    throw new GwError('ERR_DISCOVERY', `${client.issuer.issuer} has no revocation endpoint`);
  }
  try {
    await oidc.tokenRevocation(client.config, token, { token_type_hint: kind });
  } catch (error) {
    throw wrapOAuthError(error, {
      action: `revocation of the ${kind.replace('_', ' ')}`,
      url: endpoint,
    });
  }
}
