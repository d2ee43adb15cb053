/** The development OpenID provider behind `oidc-gw idp` (and the test IdP). */
export {
  ADMIN_ROTATE_PATH,
  DEFAULT_ACCESS_TOKEN_TTL,
  DEFAULT_REFRESH_TOKEN_TTL,
  DEFAULT_RESOURCE_SCOPES,
  startDevIdp,
  type DevIdp,
  type DevIdpEvent,
  type DevIdpOptions,
  type DevUser,
  type RequestCounter,
  type RequestLogLine,
} from './dev-idp.js';
export {
  DEVICE_CODE_GRANT,
  LOOPBACK_REDIRECT_URIS,
  privateKeyJwtClient,
  publicClient,
  secretClient,
  type GrantType,
} from './clients.js';
export {
  generateSigningKey,
  loadOrCreateKeysFile,
  parsePrivateJwks,
  publicJwk,
  saveKeysFile,
  type LoadedKeys,
  type PrivateJwks,
  type PrivateRsaJwk,
} from './keys.js';
export {
  bannerJson,
  bannerText,
  duration,
  shellQuote,
  type BannerClient,
  type BannerInfo,
} from './banner.js';
