/**
 * "Gateway settings": the values a gateway needs to accept this token
 * (issuer, audiences, JWKS URI) and where they go in Tyk, Kong's
 * openid-connect plugin and Azure API Management's `validate-jwt` policy.
 * Pure: built from the token's claims and whatever discovery found.
 */

export interface GatewaySettings {
  readonly issuer: string | null;
  readonly audiences: readonly string[];
  /** Known after discovery or from --jwks-uri; otherwise null (see discovery_url). */
  readonly jwks_uri: string | null;
  /** Where the JWKS URI is published: `<issuer>/.well-known/openid-configuration`. */
  readonly discovery_url: string | null;
  readonly algorithm: string | null;
  /** The claim a gateway uses as the caller's identity. */
  readonly identity_claim: 'sub';
  readonly tyk: {
    readonly jwt_source: string;
    readonly jwt_signing_method: 'rsa' | 'ecdsa' | 'hmac' | null;
    readonly jwt_identity_base_field: 'sub';
    readonly openid_options: {
      readonly providers: ReadonlyArray<{ issuer: string; client_ids: Record<string, string> }>;
    };
  };
  readonly kong: {
    readonly plugin: 'openid-connect';
    readonly 'config.issuer': string;
    readonly 'config.audience_required': readonly string[];
    readonly 'config.auth_methods': readonly ['bearer'];
  };
  readonly azure_apim: {
    readonly policy: string;
  };
}

export interface GatewayInput {
  /** The token's `iss` (or --issuer when the token has none). */
  issuer: string | null;
  /** The token's `aud` values (or --audience). */
  audiences: readonly string[];
  jwksUri?: string | null;
  /** The discovery document the keys came from, when discovery ran. */
  discoveryUrl?: string | null;
  alg: string | null;
}

/** OpenID Connect Discovery §4: the issuer with `/.well-known/openid-configuration` appended. */
export function discoveryUrlFor(issuer: string): string | null {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return null;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
  const base = issuer.endsWith('/') ? issuer.slice(0, -1) : issuer;
  return `${base}/.well-known/openid-configuration`;
}

function signingMethod(alg: string | null): GatewaySettings['tyk']['jwt_signing_method'] {
  if (!alg) return null;
  if (/^(RS|PS)\d+$/.test(alg)) return 'rsa';
  if (/^ES\d+$/.test(alg)) return 'ecdsa';
  if (/^HS\d+$/.test(alg)) return 'hmac';
  return null;
}

function xmlEscape(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

const ISSUER_PLACEHOLDER = '<issuer>';
const AUDIENCE_PLACEHOLDER = '<audience>';

export function gatewaySettings(input: GatewayInput): GatewaySettings {
  const issuer = input.issuer;
  const discovery = input.discoveryUrl ?? (issuer ? discoveryUrlFor(issuer) : null);
  const jwksUri = input.jwksUri ?? null;
  const audiences = [...input.audiences];
  const alg = input.alg;
  const method = signingMethod(alg);
  const hmac = method === 'hmac';
  const jwtSource = hmac
    ? '<the shared secret>'
    : (jwksUri ?? (discovery ? `<jwks_uri from ${discovery}>` : '<the JWKS URI>'));
  const iss = issuer ?? ISSUER_PLACEHOLDER;
  const auds = audiences.length > 0 ? audiences : [AUDIENCE_PLACEHOLDER];
  const clientIds: Record<string, string> = {};
  for (const aud of auds) {
    clientIds[
      aud === AUDIENCE_PLACEHOLDER
        ? 'base64(<audience>)'
        : Buffer.from(aud, 'utf8').toString('base64')
    ] = '<policy id>';
  }
  const openidConfig = discovery ?? `${iss}/.well-known/openid-configuration`;
  const policy = [
    '<validate-jwt header-name="Authorization" require-scheme="Bearer" failed-validation-httpcode="401">',
    `  <openid-config url="${xmlEscape(openidConfig)}" />`,
    '  <audiences>',
    ...auds.map((a) => `    <audience>${xmlEscape(a)}</audience>`),
    '  </audiences>',
    '  <issuers>',
    `    <issuer>${xmlEscape(iss)}</issuer>`,
    '  </issuers>',
    '</validate-jwt>',
  ].join('\n');
  return {
    issuer,
    audiences,
    jwks_uri: jwksUri,
    discovery_url: discovery,
    algorithm: alg,
    identity_claim: 'sub',
    tyk: {
      jwt_source: jwtSource,
      jwt_signing_method: method,
      jwt_identity_base_field: 'sub',
      openid_options: { providers: [{ issuer: iss, client_ids: clientIds }] },
    },
    kong: {
      plugin: 'openid-connect',
      'config.issuer': discovery ?? iss,
      'config.audience_required': auds,
      'config.auth_methods': ['bearer'],
    },
    azure_apim: { policy },
  };
}
