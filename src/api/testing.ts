/**
 * `oidc-gw/testing`: what an API's own test suite needs to exercise its
 * token checks without a browser or a network: the dev IdP of `oidc-gw idp`
 * in process (startIdp), tokens signed with any key (mintToken), and the
 * gateway of `oidc-gw serve` in front of an app (startGateway; the gateway
 * code loads on the first start, not with this module).
 * docs/testing.md shows them in a suite.
 */
export {
  CLI_CLIENT_ID,
  DEFAULT_AUDIENCE,
  SERVICE_CLIENT_ID,
  startIdp,
  type Idp,
  type IdpClients,
  type IdpEvent,
  type IdpTokenOptions,
  type IdpUser,
  type StartIdpOptions,
  type TokenResponse,
} from './idp.js';
export { DEFAULT_EXPIRES_IN, mintToken, type MintTokenOptions } from './mint.js';
export { generateKey, publicJwks, type Jwks, type PrivateJwk, type PublicJwk } from './keys.js';
export {
  startGateway,
  type Gateway,
  type GatewayApiPlan,
  type GatewayFileFormat,
  type GatewayFileSource,
  type GatewayFlagSource,
  type GatewayListenOptions,
  type GatewayLogLine,
  type GatewayPlan,
  type GatewayPlanSource,
  type GatewaySource,
  type GatewayWarning,
  type StartGatewayOptions,
} from './gateway.js';
export { GwError, isGwError } from '../core/errors/index.js';
