/**
 * Recognises the error bodies of common API gateways (Tyk, Kong, Azure API
 * Management, Envoy, oidc-gw serve) and RFC 6750-style JSON, and says what
 * they mean. Pure: the body text in, a reading out.
 */

/** What a refusal is about, so that the diagnosis can point at the right part of the token. */
export type Topic =
  | 'missing' // the gateway saw no token
  | 'expired'
  | 'not_yet_valid'
  | 'audience'
  | 'issuer'
  | 'key' // no key for the kid / JWKS
  | 'algorithm'
  | 'signature'
  | 'scope'
  | 'malformed'
  | 'subscription' // Azure APIM subscription key
  | 'forbidden' // authenticated, but not allowed
  | 'rejected'; // refused, no reason given

export interface GatewayReading {
  /** "Tyk", "Kong", "Azure API Management", "Envoy", "oidc-gw serve", or "RFC 6750". */
  readonly gateway: string;
  /** The gateway's own words. */
  readonly message: string;
  /** What they mean, for people. */
  readonly meaning: string;
  readonly topic: Topic;
}

/** Looks up a response header by name (case-insensitive), all values joined. */
export type HeaderLookup = (name: string) => string | undefined;

/** Guesses the topic of a free-text refusal reason. */
export function topicOf(text: string): Topic | undefined {
  const t = text.toLowerCase();
  if (/missing or invalid/.test(t)) return 'rejected';
  if (/subscription key/.test(t)) return 'subscription';
  if (/scope/.test(t)) return 'scope';
  if (/expired|\bexp\b/.test(t)) return 'expired';
  if (/not (yet )?valid|\bnbf\b|in the future|\biat\b/.test(t)) return 'not_yet_valid';
  if (/audience|\baud\b/.test(t)) return 'audience';
  if (/issuer|\biss\b/.test(t)) return 'issuer';
  if (/\bkid\b|trusted key|key not found|jwks|no key|key to match/.test(t)) return 'key';
  if (/signing method|algorithm|\balg\b/.test(t)) return 'algorithm';
  if (/signature/.test(t)) return 'signature';
  if (/malformed|segments|base64|compact|invalid json|unrecognizable|not in the form/.test(t))
    return 'malformed';
  if (/missing|not present|no api key|no credentials|not found in request|no token/.test(t))
    return 'missing';
  if (/forbidden|disallowed|cannot consume|not allowed|access denied/.test(t)) return 'forbidden';
  return undefined;
}

function parseObject(body: string): Record<string, unknown> | undefined {
  const text = body.trim();
  if (!text.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const TYK: ReadonlyArray<readonly [RegExp, string, Topic]> = [
  [
    /^authorization field missing$/i,
    'Tyk saw no credential in the header its API definition names (Authorization by default).',
    'missing',
  ],
  [
    /^key not authori[sz]ed: unexpected signing method$/i,
    "the token's alg is not the JWT signing method the API definition is set to (e.g. RS256 against an HMAC API, or the reverse).",
    'algorithm',
  ],
  [/^key not authori[sz]ed: .*expired/i, 'Tyk found the token expired.', 'expired'],
  [
    /^key not authori[sz]ed: .+/i,
    'Tyk refused the token (see its reason after "Key not authorised:").',
    'rejected',
  ],
  [
    /^key not authori[sz]ed$/i,
    'Tyk did not accept the token: for JWT/OpenID APIs usually a bad signature, an unknown issuer or client (no policy mapped), or an expired token; for auth-key APIs, an unknown key.',
    'rejected',
  ],
  [
    /^key has expired, please renew$/i,
    'the Tyk session (key) behind the token has expired.',
    'expired',
  ],
  [
    /^access to this api has been disallowed$/i,
    "the token was accepted, but the key's access rights (its policy) do not include this API.",
    'forbidden',
  ],
  [
    /^attempted access to disallowed version/i,
    "the key's access rights do not include this API version.",
    'forbidden',
  ],
];

const KONG: ReadonlyArray<readonly [RegExp, string, Topic]> = [
  [
    /^unauthorized$/i,
    'Kong found no credential it accepts: the jwt plugin saw no token (it reads the Authorization header, the "jwt" query parameter or cookie), or the OpenID Connect plugin refused it.',
    'rejected',
  ],
  [
    /^no credentials found for given 'iss'$/i,
    "Kong's jwt plugin has no consumer credential whose key equals the token's iss (or the claim set in key_claim_name).",
    'issuer',
  ],
  [
    /^no mandatory 'iss' in claims$/i,
    'the token has no iss claim; Kong uses it to find the consumer credential.',
    'issuer',
  ],
  [
    /^invalid signature$/i,
    "the signature does not verify with the consumer credential's rsa_public_key or secret.",
    'signature',
  ],
  [
    /^invalid algorithm$/i,
    "the token's alg differs from the algorithm of the consumer's jwt credential.",
    'algorithm',
  ],
  [/^bad token|^unrecognizable token$/i, 'Kong could not read the token as a JWT.', 'malformed'],
  [
    /^multiple tokens provided$/i,
    'Kong found a token in more than one place (header, query, cookie).',
    'malformed',
  ],
  [
    /^no api key found in request$/i,
    'Kong key-auth wants an API key (header apikey by default), not a bearer token.',
    'missing',
  ],
  [/^invalid authentication credentials$/i, 'Kong did not accept the credential.', 'rejected'],
  [
    /^you cannot consume this service$/i,
    "Kong's ACL plugin: the consumer is not in an allowed group.",
    'forbidden',
  ],
  [/^forbidden$/i, 'Kong accepted the credential but refuses access.', 'forbidden'],
];

const APIM: ReadonlyArray<readonly [RegExp, string, Topic]> = [
  [
    /missing subscription key/i,
    'Azure API Management wants a subscription key with the request (header Ocp-Apim-Subscription-Key), besides or instead of the token.',
    'subscription',
  ],
  [
    /invalid subscription key/i,
    'the subscription key is wrong or not active for this API or product.',
    'subscription',
  ],
  [
    /^invalid jwt\.?$/i,
    'the validate-jwt (or validate-azure-ad-token) policy refused the token: signature (openid-config URL), issuer, audience or expiry.',
    'rejected',
  ],
  [
    /^jwt not present\.?$/i,
    'the validate-jwt policy found no token in the header it reads.',
    'missing',
  ],
  [
    /missing or invalid/i,
    'the validate-jwt policy refused the request (its failed-validation-error-message says no more): no token, or the token failed a check.',
    'rejected',
  ],
];

const ENVOY: ReadonlyArray<readonly [RegExp, string, Topic]> = [
  [/^jwt is missing$/i, 'Envoy jwt_authn found no token where the provider reads it.', 'missing'],
  [/^jwt is expired$/i, 'Envoy found the token expired.', 'expired'],
  [/^jwt not yet valid$/i, 'Envoy found the token not yet valid (nbf).', 'not_yet_valid'],
  [/^jwt issuer is not configured$/i, "no jwt_authn provider has this token's issuer.", 'issuer'],
  [
    /^audiences in jwt are not allowed$/i,
    "the token's aud is not in the provider's audiences.",
    'audience',
  ],
  [
    /^jwks doesn't have key to match kid or alg/i,
    'no key in the JWKS matches the kid or alg of the token.',
    'key',
  ],
  [/^jwt verification fails$/i, 'the signature did not verify with the JWKS keys.', 'signature'],
  [
    /^jwt is not in the form|^jwt header|^jwt payload|^jwt signature/i,
    'Envoy could not read the token as a JWT.',
    'malformed',
  ],
];

function match(
  table: ReadonlyArray<readonly [RegExp, string, Topic]>,
  text: string,
): readonly [string, Topic] | undefined {
  for (const [re, meaning, topic] of table) if (re.test(text)) return [meaning, topic];
  return undefined;
}

const SERVE_MEANINGS: Readonly<Record<string, string>> = {
  unauthorized: 'oidc-gw serve saw no bearer token in the request.',
  invalid_token: 'oidc-gw serve refused the token; the description names the check that failed.',
  invalid_request:
    'oidc-gw serve found the Authorization header malformed (two of them, or not "Bearer TOKEN").',
  insufficient_scope: 'oidc-gw serve accepted the token but it lacks a scope the route requires.',
};

/** Reads a refusal body. `realm` is the Bearer challenge's realm, when there was one. */
export function readGatewayBody(
  body: string,
  header: HeaderLookup,
  realm?: string,
): GatewayReading | undefined {
  const json = parseObject(body);
  const server = `${header('server') ?? ''} ${header('via') ?? ''}`.toLowerCase();
  if (json) {
    const error = typeof json['error'] === 'string' ? json['error'] : undefined;
    const description =
      typeof json['error_description'] === 'string' ? json['error_description'] : undefined;
    const message = typeof json['message'] === 'string' ? json['message'] : undefined;
    // oidc-gw serve: RFC 6750 body and realm "oidc-gw".
    if (error && realm === 'oidc-gw') {
      const meaning = SERVE_MEANINGS[error] ?? 'oidc-gw serve refused the request.';
      const topic =
        error === 'insufficient_scope'
          ? 'scope'
          : error === 'unauthorized'
            ? 'missing'
            : (description && topicOf(description)) || 'rejected';
      return {
        gateway: 'oidc-gw serve',
        message: description ? `${error}: ${description}` : error,
        meaning,
        topic,
      };
    }
    // Azure API Management: {"statusCode": 401, "message": "..."}.
    if (typeof json['statusCode'] === 'number' && message !== undefined) {
      const m = match(APIM, message);
      return {
        gateway: 'Azure API Management',
        message,
        meaning:
          m?.[0] ??
          'Azure API Management refused the request (the policy that failed sets this message).',
        topic: m?.[1] ?? topicOf(message) ?? 'rejected',
      };
    }
    // Tyk: {"error": "Key not authorised"}.
    if (error !== undefined) {
      const m = match(TYK, error);
      if (m) {
        // "Key not authorized: REASON": the reason says more than the generic entry.
        const reason = /^key not authori[sz]ed: (.+)$/i.exec(error)?.[1];
        const topic = m[1] === 'rejected' && reason ? (topicOf(reason) ?? 'rejected') : m[1];
        return { gateway: 'Tyk', message: error, meaning: m[0], topic };
      }
    }
    // Kong: {"message": "Unauthorized"} (plus request_id in recent versions), or {"exp": "token expired"} from the jwt plugin.
    if (message !== undefined && error === undefined) {
      const keys = Object.keys(json).filter((k) => k !== 'request_id');
      const m = match(KONG, message);
      if (m && (keys.length === 1 || server.includes('kong')))
        return { gateway: 'Kong', message, meaning: m[0], topic: m[1] };
      if (server.includes('kong'))
        return {
          gateway: 'Kong',
          message,
          meaning: 'Kong refused the request.',
          topic: topicOf(message) ?? 'rejected',
        };
    }
    const claimErrors = Object.entries(json).filter(
      ([k, v]) => ['exp', 'nbf'].includes(k) && typeof v === 'string',
    );
    if (claimErrors.length && claimErrors.length === Object.keys(json).length) {
      const text = claimErrors.map(([k, v]) => `${k}: ${String(v)}`).join(', ');
      return {
        gateway: 'Kong',
        message: text,
        meaning: "Kong's jwt plugin refused a time claim (claims_to_verify).",
        topic: claimErrors.some(([k]) => k === 'exp') ? 'expired' : 'not_yet_valid',
      };
    }
    // RFC 6750 / OAuth style: {"error": "invalid_token", "error_description": "..."}.
    if (error !== undefined && /^[a-z0-9_.-]+$/i.test(error)) {
      return {
        gateway: 'RFC 6750',
        message: description ? `${error}: ${description}` : error,
        meaning: 'an OAuth-style error body (error and error_description).',
        topic:
          error === 'insufficient_scope'
            ? 'scope'
            : (description && topicOf(description)) || topicOf(error) || 'rejected',
      };
    }
    return undefined;
  }
  const text = body.trim();
  if (text && text.length <= 300 && !text.includes('\n')) {
    const m = match(ENVOY, text);
    if (m) return { gateway: 'Envoy', message: text, meaning: m[0], topic: m[1] };
  }
  return undefined;
}
