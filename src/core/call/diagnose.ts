/**
 * Why was the request refused? Puts together the `WWW-Authenticate` challenge
 * (RFC 6750), the gateway's error body and what the token that was sent says
 * about itself, and names the likely causes, most likely first. Pure: the
 * caller renders the result. Nothing here ever contains the token itself.
 */
import { readGatewayBody, topicOf, type GatewayReading, type Topic } from './gateway-bodies.js';
import { escapeControls, printableLine } from '../terminal-text.js';
import { relativeTo } from '../jwt/time.js';
import { isoTime, tokenFacts, type TokenFacts } from './token-facts.js';
import {
  bearerChallenge,
  parseWwwAuthenticate,
  type BearerChallenge,
  type Challenge,
} from './www-authenticate.js';

/** Where the token that was sent came from, as `call` chose it. */
export type TokenSource =
  | 'header' // -H "Authorization: ..."
  | 'flag' // --token
  | 'env' // OIDC_GW_TOKEN
  | 'client_credentials' // --client-credentials
  | 'login' // the profile's cached login (access token)
  | 'id_token' // --id-token
  | 'cached_client' // the profile's last client-credentials token
  | 'none'; // --no-auth

export interface DiagnoseInput {
  readonly status: number;
  readonly statusText: string;
  /** Response headers, in order, as [name, value]. */
  readonly headers: ReadonlyArray<readonly [string, string]>;
  /** The start of the response body, decoded as UTF-8. */
  readonly body: string;
  readonly bodyTruncated: boolean;
  /** The token that was sent (without `Bearer `), if any. */
  readonly token: string | undefined;
  readonly source: TokenSource;
  /** The scheme of the Authorization header that was sent, when not Bearer. */
  readonly scheme?: string;
  /** The client id of the cached login, to spot an ID token (its aud). */
  readonly clientId?: string;
  readonly nowSeconds: number;
  /** True when this response came after the one refresh-and-retry. */
  readonly afterRetry?: boolean;
  /** Why the cached token was not refreshed and retried, when it could have been (see refreshVerdict). */
  readonly refreshSkipped?: string;
  /** The origin a redirect led to, when the token was held back because it is another origin. */
  readonly heldBackAt?: string;
}

export interface Diagnosis {
  /** "401 Unauthorized". */
  readonly headline: string;
  /** Label/value facts: the challenge, the gateway's body, the token's claims. */
  readonly facts: ReadonlyArray<readonly [string, string]>;
  /** The likely causes, most likely first. */
  readonly causes: readonly string[];
  readonly hints: readonly string[];
  /** Departures from the standards noticed on the way (malformed header...), and why no retry was made. */
  readonly notes: readonly string[];
  /** The parsed Bearer challenge, when there was one. */
  readonly bearer: BearerChallenge | undefined;
  readonly gateway: GatewayReading | undefined;
  readonly token: TokenFacts;
}

const SOURCE_LABEL: Readonly<Record<TokenSource, string>> = {
  header: 'the Authorization header given with -H',
  flag: 'the token given with --token',
  env: 'the token in OIDC_GW_TOKEN',
  client_credentials: 'a client-credentials access token',
  login: "the cached login's access token",
  id_token: "the cached login's ID token (--id-token)",
  cached_client: 'the cached client-credentials access token',
  none: 'none (--no-auth)',
};

export function describeSource(source: TokenSource): string {
  return SOURCE_LABEL[source];
}

function lookup(headers: DiagnoseInput['headers']): (name: string) => string | undefined {
  return (name) => {
    const values = headers.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
    return values.length ? values.join(', ') : undefined;
  };
}

const q = (s: string) => `"${escapeControls(s)}"`;
const list = (items: readonly string[]) => items.map(q).join(', ');

export function diagnose(input: DiagnoseInput): Diagnosis {
  const facts: Array<[string, string]> = [];
  const causes: string[] = [];
  const hints: string[] = [];
  const notes: string[] = [];
  const header = lookup(input.headers);

  // 1. The challenge.
  const challengeValues = input.headers
    .filter(([n]) => n.toLowerCase() === 'www-authenticate')
    .map(([, v]) => v);
  let challenges: Challenge[] = [];
  let bearer: BearerChallenge | undefined;
  if (challengeValues.length) {
    facts.push(['WWW-Authenticate', printableLine(challengeValues.join(', '), 400)]);
    try {
      challenges = parseWwwAuthenticate(challengeValues);
      bearer = bearerChallenge(challenges);
      if (bearer) notes.push(...bearer.problems.map((p) => `WWW-Authenticate: ${p}`));
    } catch (error) {
      notes.push(`WWW-Authenticate is malformed: ${(error as Error).message}`);
    }
  }
  if (bearer?.error) {
    facts.push([
      'error',
      printableLine(
        bearer.errorDescription ? `${bearer.error}: ${bearer.errorDescription}` : bearer.error,
      ),
    ]);
  }
  if (bearer?.scope) facts.push(['scope needed', printableLine(bearer.scope.join(' '))]);
  if (bearer?.errorUri) facts.push(['error_uri', printableLine(bearer.errorUri)]);

  // 2. The body.
  if (input.body.trim()) {
    facts.push(['body', printableLine(input.body, 300) + (input.bodyTruncated ? ' (cut)' : '')]);
  }
  const gateway = input.body.trim()
    ? readGatewayBody(input.body, header, bearer?.realm)
    : undefined;
  if (gateway)
    facts.push([
      'gateway',
      `${gateway.gateway}: ${printableLine(gateway.message, 200)}: ${gateway.meaning}`,
    ]);

  // 3. The token.
  const token = tokenFacts(input.token, input.clientId);
  const sentLabel = input.heldBackAt
    ? `none at this origin (${SOURCE_LABEL[input.source]} was held back after a redirect)`
    : SOURCE_LABEL[input.source];
  facts.push([
    'token sent',
    sentLabel +
      (input.scheme && input.scheme.toLowerCase() !== 'bearer'
        ? ` (scheme ${q(input.scheme)})`
        : ''),
  ]);
  if (token.kind === 'JWS') {
    facts.push([
      '  alg / kid / typ',
      [token.alg ?? '(none)', token.kid ?? '(no kid)', token.typ ?? '(no typ)']
        .map((v) => escapeControls(v))
        .join(' / '),
    ]);
    facts.push(['  iss', token.iss === undefined ? '(none)' : q(token.iss)]);
    facts.push(['  aud', token.aud.length ? list(token.aud) : '(none)']);
    if (token.sub !== undefined) facts.push(['  sub', q(token.sub)]);
    const client = token.clientId ?? token.azp;
    if (client !== undefined)
      facts.push([token.clientId !== undefined ? '  client_id' : '  azp', q(client)]);
    if (token.scopes)
      facts.push([
        '  scope',
        token.scopes.length ? escapeControls(token.scopes.join(' ')) : '(empty)',
      ]);
    if (token.exp !== undefined)
      facts.push(['  exp', `${isoTime(token.exp)} (${relativeTo(token.exp, input.nowSeconds)})`]);
    if (token.nbf !== undefined && token.nbf > input.nowSeconds)
      facts.push(['  nbf', `${isoTime(token.nbf)} (${relativeTo(token.nbf, input.nowSeconds)})`]);
  } else if (token.kind === 'opaque') {
    facts.push(['  format', `opaque (not a JWT), ${token.length} characters`]);
  } else if (token.kind === 'JWE') {
    facts.push([
      '  format',
      `encrypted JWT (JWE, alg ${token.alg ?? '?'}, enc ${token.enc ?? '?'})`,
    ]);
  } else if (token.kind === 'malformed') {
    facts.push(['  format', `not a well-formed JWT: ${token.problem}`]);
  }

  // 4. The topic: what the refusal is about.
  const topic = refusalTopic(bearer, gateway, input.token);

  // 5. Causes.
  const nonBearer = challenges
    .filter((c) => c.scheme.toLowerCase() !== 'bearer')
    .map((c) => c.scheme);
  if (!bearer && nonBearer.length) {
    const dpop = nonBearer.some((s) => s.toLowerCase() === 'dpop');
    causes.push(
      dpop
        ? 'the server asks for a DPoP-bound token (RFC 9449), not a plain bearer token; oidc-gw call sends bearer tokens only'
        : `the server asks for ${nonBearer.map(q).join(' or ')} authentication, not a bearer token: this endpoint may not be behind the gateway's token check`,
    );
  }
  if (input.afterRetry) {
    causes.push(
      'the token was refreshed once and the new one was refused too: a fresh token does not fix this, so look at the claims and at the gateway configuration',
    );
  }
  if (input.refreshSkipped) notes.push(input.refreshSkipped);
  explainToken(input, token, topic, bearer, gateway, causes, hints);
  if (
    input.status === 403 &&
    causes.length === 0 &&
    (topic === undefined || topic === 'forbidden')
  ) {
    causes.push(
      `the gateway accepted who you are but refuses this request: a scope, role, group or claim it requires${token.kind === 'JWS' && token.scopes ? ` (the token's scope: ${q(token.scopes.join(' '))})` : ''}, or an access rule for this route`,
    );
  }
  if (causes.length === 0 && token.kind === 'JWS') {
    causes.push(
      `nothing in the token itself explains it (${token.exp !== undefined ? `expires ${relativeTo(token.exp, input.nowSeconds)}` : 'no exp'}): compare what the gateway trusts with the token: issuer ${token.iss ? q(token.iss) : '(none)'}, audience ${token.aud.length ? list(token.aud) : '(none)'}, signing keys (JWKS of the issuer, kid ${token.kid ? q(token.kid) : 'none'}) and algorithm ${token.alg ? q(token.alg) : '(none)'}`,
    );
    hints.push(
      'oidc-gw decode --verify --issuer ISSUER --audience AUDIENCE checks the token as a gateway would',
    );
  }
  return {
    headline: `${input.status}${input.statusText ? ` ${escapeControls(input.statusText)}` : ''}`,
    facts,
    causes,
    hints,
    notes,
    bearer,
    gateway,
    token,
  };
}

function explainToken(
  input: DiagnoseInput,
  token: TokenFacts,
  topic: Topic | undefined,
  bearer: BearerChallenge | undefined,
  gateway: GatewayReading | undefined,
  causes: string[],
  hints: string[],
): void {
  const now = input.nowSeconds;
  if (token.kind === 'none' && input.heldBackAt) {
    causes.push(
      `no token reached ${q(input.heldBackAt)}: a redirect led there from another origin, and oidc-gw never sends the token to another origin (curl neither)`,
    );
    hints.push('call that URL directly if it really should get the token');
    return;
  }
  if (
    token.kind === 'none' &&
    input.source === 'header' &&
    input.scheme &&
    input.scheme.toLowerCase() !== 'bearer'
  ) {
    // A credential was sent, just not a bearer token: saying "no token was sent" beside it confuses.
    causes.push(
      `the Authorization header given with -H carries ${q(input.scheme)} credentials, not a bearer token: ${bearer ? 'the server asks for a bearer token' : 'the server refused them'}`,
    );
    hints.push(
      bearer
        ? 'drop -H "Authorization: ..." to send the cached token, or give -H "Authorization: Bearer TOKEN"'
        : `check the ${escapeControls(input.scheme)} credentials, or drop -H "Authorization: ..." to send the cached bearer token`,
    );
    return;
  }
  if (token.kind === 'none') {
    causes.push(input.source === 'none' ? 'no token was sent (--no-auth)' : 'no token was sent');
    hints.push(
      input.source === 'none'
        ? 'drop --no-auth to send the cached token'
        : 'run `oidc-gw login` or give --token / --client-credentials',
    );
    return;
  }
  if (topic === 'subscription') {
    causes.push('Azure API Management wants a subscription key for this API, whatever the token');
    hints.push(
      'add -H "Ocp-Apim-Subscription-Key: KEY" (the key of a subscription to the API\'s product)',
    );
  }
  if (topic === 'missing') {
    causes.push(
      `a token was sent in the Authorization header, but the gateway says none arrived: it may read another header (Tyk's auth header name, APIM's validate-jwt header-name, Kong's header_names), a proxy in between may drop Authorization, or a redirect may have removed it (oidc-gw never sends the token to another origin)`,
    );
  }
  if (input.scheme && input.scheme.toLowerCase() !== 'bearer' && input.source === 'header') {
    causes.push(
      `the Authorization header given with -H uses the scheme ${q(input.scheme)}, not Bearer`,
    );
  }
  if (token.kind === 'opaque') {
    causes.push(
      `the token is not a JWT (opaque, ${token.length} characters): a gateway that validates JWTs locally cannot read it. Auth0 gives opaque access tokens when no audience is asked for`,
    );
    hints.push(
      'ask for an access token for the API: --audience API (Auth0) or --resource API (RFC 8707), or have the gateway introspect opaque tokens',
    );
    return;
  }
  if (token.kind === 'malformed') {
    causes.push(`the token is not a well-formed JWT (${token.problem})`);
    return;
  }
  if (token.kind === 'JWE') {
    causes.push('the token is encrypted (JWE): a gateway that verifies signed JWTs cannot read it');
    return;
  }
  // A signed JWT.
  if (token.exp !== undefined && token.exp <= now) {
    causes.push(`the token expired ${relativeTo(token.exp, now)} (exp ${isoTime(token.exp)})`);
    hints.push(
      input.source === 'login' || input.source === 'id_token'
        ? 'the cached login could not be refreshed: run `oidc-gw login` again'
        : input.source === 'client_credentials' || input.source === 'cached_client'
          ? 'get a new one: oidc-gw token --client-credentials --force'
          : 'get a new token (oidc-gw token, or oidc-gw login)',
    );
  } else if (topic === 'expired') {
    causes.push(
      `the gateway says the token expired, but its exp is ${token.exp === undefined ? 'absent' : `${isoTime(token.exp)} (${relativeTo(token.exp, now)})`}: the clocks of this machine and the gateway may differ, or the gateway's own session expired`,
    );
  }
  if (token.exp === undefined)
    causes.push('the token has no exp: most gateways refuse a token that never expires');
  if (token.nbf !== undefined && token.nbf > now) {
    causes.push(
      `the token is not valid before ${isoTime(token.nbf)} (${relativeTo(token.nbf, now)}): the clocks may differ`,
    );
  } else if (topic === 'not_yet_valid') {
    causes.push(
      "the gateway says the token is not valid yet (nbf or iat in its future): the IdP's and the gateway's clocks may differ",
    );
  }
  if (token.idTokenMarks.length) {
    const why = token.idTokenMarks.map((m) => escapeControls(m)).join(', ');
    causes.push(
      input.source === 'id_token'
        ? `an ID token was sent (--id-token; it has ${why}): this gateway probably expects an access token for the API`
        : `this looks like an ID token (it has ${why}), sent where an access token for the API is expected`,
    );
    hints.push(idTokenHint(input.source));
  }
  if (topic === 'scope') {
    const needed = bearer?.scope ?? [];
    const has = token.scopes ?? [];
    const missing = needed.filter((s) => !has.includes(s));
    if (missing.length) {
      causes.push(
        `the token lacks the scope${missing.length > 1 ? 's' : ''} ${list(missing)} (it has: ${has.length ? list(has) : 'none'})`,
      );
      hints.push(
        `ask for ${missing.length > 1 ? 'them' : 'it'}: --scope "${escapeControls([...new Set([...has, ...missing])].join(' '))}" (login or token), if the client may have it`,
      );
    } else {
      causes.push(
        `the token lacks a scope the gateway requires${needed.length ? '' : ' (the gateway did not say which)'} (it has: ${has.length ? list(has) : 'none'})`,
      );
    }
  }
  if (topic === 'audience') {
    causes.push(
      `the gateway does not accept the token's audience: aud = ${token.aud.length ? list(token.aud) : '(none)'}`,
    );
    hints.push(
      "configure the gateway with this audience, or ask the IdP for a token for the gateway's audience (--audience / --resource)",
    );
  }
  if (topic === 'issuer') {
    causes.push(
      `the gateway does not trust the token's issuer: iss = ${token.iss ? q(token.iss) : '(none)'} (compared exactly, trailing slash included)`,
    );
  }
  if (topic === 'key' || topic === 'signature') {
    causes.push(
      `the gateway could not verify the signature with its keys (alg ${token.alg ? q(token.alg) : 'none'}, kid ${token.kid ? q(token.kid) : 'none'}): its JWKS must be the one of the issuer ${token.iss ? q(token.iss) : ''}; after a key rotation it may need to re-fetch it`,
    );
  }
  if (topic === 'algorithm' || token.alg === 'none' || (token.alg && /^HS/.test(token.alg))) {
    if (token.alg === 'none')
      causes.push('the token is unsigned (alg "none"): no gateway should accept it');
    else if (token.alg && /^HS/.test(token.alg)) {
      causes.push(
        `the token is signed with ${q(token.alg)}, a shared secret: the gateway must be set up with that secret (and for that algorithm); most expect RS256 or ES256 with the issuer's JWKS`,
      );
    } else if (topic === 'algorithm') {
      causes.push(
        `the token is signed with ${token.alg ? q(token.alg) : 'no alg'}: the gateway expects another algorithm (e.g. an HMAC/RSA mismatch in its JWT settings)`,
      );
    }
  }
  if (topic === 'malformed' && bearer?.error === 'invalid_request') {
    causes.push(
      'the gateway found the request malformed (invalid_request): e.g. two Authorization headers, or not "Bearer TOKEN"',
    );
  }
  if (topic === 'forbidden' && gateway) {
    causes.push(`the gateway accepted the token but refuses this request: ${gateway.meaning}`);
  }
}

/** What to do instead of sending an ID token, naming only flags the user gave (or can add). */
function idTokenHint(source: TokenSource): string {
  const get = 'log in with --audience API or --resource API';
  switch (source) {
    case 'id_token':
      return `send an access token whose aud is the API: ${get}, and drop --id-token`;
    case 'flag':
      return `pass an access token whose aud is the API to --token (the access_token of the token response, not its id_token), or let oidc-gw pick one: ${get}`;
    case 'env':
      return `set OIDC_GW_TOKEN to an access token whose aud is the API (the access_token of the token response, not its id_token), or unset it and ${get}`;
    case 'header':
      return 'send an access token whose aud is the API in -H "Authorization: Bearer ..." (the access_token of the token response, not its id_token)';
    default:
      return `send an access token whose aud is the API: ${get}`;
  }
}

/** What the refusal is about: the challenge's error first, then its description, then the gateway's body. */
function refusalTopic(
  bearer: BearerChallenge | undefined,
  gateway: GatewayReading | undefined,
  token: string | undefined,
): Topic | undefined {
  let topic: Topic | undefined;
  if (bearer?.error === 'insufficient_scope') topic = 'scope';
  else if (bearer?.error === 'invalid_request') topic = 'malformed';
  else if (bearer?.errorDescription) topic = topicOf(bearer.errorDescription);
  topic ??= gateway?.topic;
  if (!topic && bearer && !bearer.error && token === undefined) topic = 'missing';
  return topic;
}

/** What a refusal on each topic is about, for "a new token would carry the same ...". */
const SAME_AFTER_REFRESH: Partial<Record<Topic, string>> = {
  audience: "the token's audience (aud)",
  issuer: "the token's issuer (iss)",
  algorithm: "the token's signing algorithm (alg)",
  scope: "the token's scopes",
  not_yet_valid: "the clocks (nbf or iat in the gateway's future; a new token is newer still)",
  missing: 'no token reaching the gateway',
  malformed: 'the form of the request',
  subscription: 'an Azure API Management subscription key',
  forbidden: 'an access rule of the gateway',
};

export interface RefreshVerdict {
  /** True when a refreshed token could be accepted where this one was refused. */
  readonly canHelp: boolean;
  /** Why, in words (for --verbose, and for the diagnosis when no retry is made). */
  readonly why: string;
}

/**
 * Whether refreshing the token and retrying can fix a 401: yes when the
 * token has expired, when the gateway says it expired or cannot find its key
 * (a rotation), or when it gives no reason at all; no when the refusal is
 * about something a new token from the same settings keeps (audience,
 * issuer, algorithm, scope) or about the request itself.
 */
export function refreshVerdict(input: {
  readonly headers: DiagnoseInput['headers'];
  readonly body: string;
  readonly token: string | undefined;
  readonly clientId?: string;
  readonly nowSeconds: number;
}): RefreshVerdict {
  const values = input.headers
    .filter(([n]) => n.toLowerCase() === 'www-authenticate')
    .map(([, v]) => v);
  let bearer: BearerChallenge | undefined;
  try {
    bearer = values.length ? bearerChallenge(parseWwwAuthenticate(values)) : undefined;
  } catch {
    bearer = undefined;
  }
  const token = tokenFacts(input.token, input.clientId);
  if (token.kind === 'JWS' && token.exp !== undefined && token.exp <= input.nowSeconds) {
    return { canHelp: true, why: 'the token has expired' };
  }
  if (bearer?.error !== undefined && bearer.error !== 'invalid_token') {
    return {
      canHelp: false,
      why: `not refreshed and retried: the server's error is ${q(bearer.error)}, which a new token does not fix`,
    };
  }
  const gateway = input.body.trim()
    ? readGatewayBody(input.body, lookup(input.headers), bearer?.realm)
    : undefined;
  const topic = refusalTopic(bearer, gateway, input.token);
  const same = topic ? SAME_AFTER_REFRESH[topic] : undefined;
  if (same) {
    return {
      canHelp: false,
      why: `not refreshed and retried: the refusal is about ${same}, and a new token from the same settings would be refused the same way`,
    };
  }
  if (topic === 'expired') return { canHelp: true, why: 'the server says the token expired' };
  if (topic === 'key' || topic === 'signature') {
    return {
      canHelp: true,
      why: "the server cannot verify the token with its keys (the IdP's keys may have rotated)",
    };
  }
  return { canHelp: true, why: 'the server gives no reason a new token would not fix' };
}
