/** An openid-client Configuration for one client at one discovered issuer. */
import * as oidc from 'openid-client';
import { GwError } from './errors/index.js';
import type { DiscoveredIssuer } from './issuer.js';
import type { ClientKey } from './private-key.js';

export type AuthMethod = 'basic' | 'post' | 'private_key_jwt' | 'none';

export interface ClientOptions {
  readonly clientId: string;
  readonly clientSecret?: string | undefined;
  readonly authMethod?: AuthMethod | undefined;
  readonly privateKey?: ClientKey | undefined;
}

export interface Client {
  readonly config: oidc.Configuration;
  readonly issuer: DiscoveredIssuer;
  readonly clientId: string;
  readonly authMethod: AuthMethod;
}

/** The method used when none is given: the key or secret decides, then what the IdP supports. */
export function chooseAuthMethod(issuer: DiscoveredIssuer, options: ClientOptions): AuthMethod {
  if (options.authMethod) return options.authMethod;
  if (options.privateKey) return 'private_key_jwt';
  if (!options.clientSecret) return 'none';
  const supported = issuer.metadata.token_endpoint_auth_methods_supported;
  if (
    supported &&
    !supported.includes('client_secret_basic') &&
    supported.includes('client_secret_post')
  )
    return 'post';
  return 'basic';
}

export function buildClient(issuer: DiscoveredIssuer, options: ClientOptions): Client {
  const authMethod = chooseAuthMethod(issuer, options);
  let auth: oidc.ClientAuth;
  switch (authMethod) {
    case 'basic':
    case 'post':
      if (!options.clientSecret) {
        throw new GwError(
          'ERR_MISSING_SETTING',
          `--auth-method ${authMethod} needs a client secret`,
          {
            hint: 'give --client-secret or OIDC_GW_CLIENT_SECRET',
          },
        );
      }
      auth =
        authMethod === 'basic'
          ? oidc.ClientSecretBasic(options.clientSecret)
          : oidc.ClientSecretPost(options.clientSecret);
      break;
    case 'private_key_jwt':
      if (!options.privateKey) {
        throw new GwError(
          'ERR_MISSING_SETTING',
          '--auth-method private_key_jwt needs a private key',
          {
            hint: 'give --private-key FILE (PEM or JWK)',
          },
        );
      }
      auth = oidc.PrivateKeyJwt({ key: options.privateKey.key, kid: options.privateKey.kid });
      break;
    case 'none':
      auth = oidc.None();
      break;
  }
  const config = new oidc.Configuration(issuer.metadata, options.clientId, undefined, auth);
  config.timeout = issuer.options.timeoutSeconds ?? 30;
  if (issuer.options.fetch) config[oidc.customFetch] = issuer.options.fetch as oidc.CustomFetch;
  if (new URL(issuer.issuer).protocol === 'http:' || issuer.options.insecureHttp)
    oidc.allowInsecureRequests(config);
  // Verify ID token signatures against the issuer's JWKS in every grant (refresh, token --code), not only their claims.
  oidc.enableNonRepudiationChecks(config);
  return { config, issuer, clientId: options.clientId, authMethod };
}

export interface GrantParameters {
  readonly scope?: string | undefined;
  readonly audience?: string | undefined;
  readonly resource?: readonly string[] | undefined;
  readonly params?: Readonly<Record<string, string>> | undefined;
}

/** scope, audience, resource (repeated) and extra params as a form body. */
export function grantParameters(p: GrantParameters): URLSearchParams {
  const out = new URLSearchParams();
  if (p.scope) out.set('scope', p.scope);
  if (p.audience) out.set('audience', p.audience);
  for (const r of p.resource ?? []) out.append('resource', r);
  for (const [k, v] of Object.entries(p.params ?? {})) out.set(k, v);
  return out;
}
