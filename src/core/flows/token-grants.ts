/** Token grants without a browser: client credentials, refresh, and code exchange. */
import * as oidc from 'openid-client';
import { grantParameters, type Client, type GrantParameters } from '../client.js';
import { wrapOAuthError } from '../oauth-errors.js';
import { toTokenSet, type TokenResponseLike, type TokenSet } from '../token-set.js';
import { GwError } from '../errors/index.js';

function tokenEndpoint(client: Client): string | undefined {
  return client.issuer.metadata.token_endpoint;
}

function requireTokenEndpoint(client: Client): void {
  if (!tokenEndpoint(client)) {
    throw new GwError(
      'ERR_DISCOVERY',
      `the metadata of ${client.issuer.issuer} names no token_endpoint`,
    );
  }
}

export async function clientCredentials(
  client: Client,
  params: GrantParameters,
  nowSeconds: () => number,
): Promise<TokenSet> {
  requireTokenEndpoint(client);
  try {
    const response = await oidc.clientCredentialsGrant(client.config, grantParameters(params));
    return toTokenSet(response as TokenResponseLike, {
      issuer: client.issuer.issuer,
      clientId: client.clientId,
      grant: 'client_credentials',
      nowSeconds: nowSeconds(),
    });
  } catch (error) {
    throw wrapOAuthError(error, {
      action: 'client credentials request',
      url: tokenEndpoint(client),
    });
  }
}

export async function refresh(
  client: Client,
  previous: TokenSet,
  params: GrantParameters,
  nowSeconds: () => number,
): Promise<TokenSet> {
  requireTokenEndpoint(client);
  if (!previous.refresh_token) {
    throw new GwError('ERR_NO_TOKEN', 'the cached token set has no refresh token', {
      hint: 'log in again with `oidc-gw login` (ask for offline_access to get a refresh token)',
    });
  }
  try {
    const response = await oidc.refreshTokenGrant(
      client.config,
      previous.refresh_token,
      grantParameters(params),
    );
    return toTokenSet(response as TokenResponseLike, {
      issuer: client.issuer.issuer,
      clientId: client.clientId,
      grant: previous.grant === 'client_credentials' ? 'refresh_token' : previous.grant,
      nowSeconds: nowSeconds(),
      previous,
    });
  } catch (error) {
    throw wrapOAuthError(error, { action: 'refresh request', url: tokenEndpoint(client) });
  }
}

export interface CodeExchange {
  readonly code: string;
  readonly redirectUri: string;
  readonly codeVerifier?: string | undefined;
  /** The nonce sent in the authorization request, when known: the ID token must carry it. */
  readonly nonce?: string | undefined;
}

/**
 * Exchanges an authorization code obtained elsewhere. The ID token, when
 * present, is validated by openid-client (signature, iss, aud, exp; nonce
 * when given).
 */
export async function exchangeCode(
  client: Client,
  exchange: CodeExchange,
  params: GrantParameters,
  nowSeconds: () => number,
): Promise<TokenSet> {
  requireTokenEndpoint(client);
  const body = grantParameters({ resource: params.resource, params: params.params });
  body.set('code', exchange.code);
  body.set('redirect_uri', exchange.redirectUri);
  if (exchange.codeVerifier) body.set('code_verifier', exchange.codeVerifier);
  try {
    let response: TokenResponseLike;
    if (exchange.nonce) {
      const callback = new URL(exchange.redirectUri);
      callback.searchParams.set('code', exchange.code);
      // The code was copied from elsewhere: there is no authorization response whose RFC 9207
      // `iss` could be checked, so supply the expected one.
      if (client.issuer.metadata.authorization_response_iss_parameter_supported) {
        callback.searchParams.set('iss', client.issuer.issuer);
      }
      response = (await oidc.authorizationCodeGrant(
        client.config,
        callback,
        {
          pkceCodeVerifier: exchange.codeVerifier,
          expectedNonce: exchange.nonce,
          idTokenExpected: false,
        },
        Object.fromEntries(grantParameters({ resource: params.resource, params: params.params })),
      )) as TokenResponseLike;
    } else {
      response = (await oidc.genericGrantRequest(
        client.config,
        'authorization_code',
        body,
      )) as TokenResponseLike;
    }
    return toTokenSet(response, {
      issuer: client.issuer.issuer,
      clientId: client.clientId,
      grant: 'authorization_code',
      nowSeconds: nowSeconds(),
    });
  } catch (error) {
    throw wrapOAuthError(error, {
      action: 'authorization code exchange',
      url: tokenEndpoint(client),
    });
  }
}
