/**
 * Issuer discovery: OpenID Connect discovery with RFC 8414 as fallback, the
 * issuer or its `.well-known` URL as input, and the one convenience docs/configuration.md (Issuers)
 * allows (a trailing-slash difference is accepted, with a note).
 */
import * as client from 'openid-client';
import { causeChain } from './errors/causes.js';
import { GwError, isGwError } from './errors/index.js';
import { boundResponse } from './http-body.js';
import { wrapOAuthError } from './oauth-errors.js';
import { isLoopbackHost } from './loopback.js';

export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface DiscoverOptions {
  fetch?: FetchLike;
  timeoutSeconds?: number;
  /** Allow http:// for hosts that are not loopback (--insecure-http). */
  insecureHttp?: boolean;
}

export interface DiscoveredIssuer {
  /** The issuer as the metadata names it (compare tokens' `iss` with this, exactly). */
  readonly issuer: string;
  readonly metadata: client.ServerMetadata;
  /** The URL the metadata was read from. */
  readonly discoveryUrl: string;
  readonly source: 'openid-configuration' | 'oauth-authorization-server' | 'given-url';
  /** Things to tell the user (trailing slash adjusted, http allowed...). Core stays silent; callers print them. */
  readonly notes: readonly string[];
  /** For building an openid-client Configuration without fetching again. */
  readonly options: DiscoverOptions;
}

/** Parses and checks an issuer (or any IdP) URL: https, or http on loopback, or http with --insecure-http. */
export function checkUrl(
  input: string,
  what: string,
  insecureHttp = false,
): { url: URL; note?: string } {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new GwError('ERR_USAGE', `${what} "${input}" is not a URL`, {
      hint: 'give a full URL such as https://tenant.example.com/',
    });
  }
  if (url.protocol === 'https:') return { url };
  if (url.protocol !== 'http:') {
    throw new GwError('ERR_USAGE', `${what} "${input}" must be an https URL`);
  }
  if (isLoopbackHost(url.hostname)) return { url };
  if (!insecureHttp) {
    throw new GwError(
      'ERR_INSECURE_ISSUER',
      `${what} ${url.origin} uses http on a host that is not loopback`,
      {
        hint: 'use https, or add --insecure-http for a development server such as http://keycloak:8080',
      },
    );
  }
  return {
    url,
    note: `using plain http for ${url.origin} (--insecure-http): tokens and secrets cross the network unencrypted`,
  };
}

/** Largest discovery document accepted (real ones are a few KiB). */
export const DISCOVERY_MAX_BYTES = 1024 * 1024;
/** Redirects followed for a discovery document or a key set, as curl's default is 50 and browsers' 20: IdPs need one or two. */
export const MAX_REDIRECTS = 5;

const REDIRECT_STATUS = new Set([301, 302, 303, 307, 308]);

/**
 * A GET that follows redirects itself (`redirect: 'manual'`), at most
 * MAX_REDIRECTS of them, holding every hop to the rules of the first URL
 * (checkUrl: https, or http on loopback, or http anywhere with
 * --insecure-http). fetch's own following would go anywhere, plain http and
 * other hosts included. A 3xx without Location is returned as it is.
 */
export async function fetchFollowingChecked(
  fetch: FetchLike,
  url: string,
  init: RequestInit,
  what: string,
  insecureHttp = false,
): Promise<Response> {
  let current = url;
  for (let hop = 0; ; hop++) {
    const response = await fetch(current, { ...init, redirect: 'manual' });
    const location = REDIRECT_STATUS.has(response.status) ? response.headers.get('location') : null;
    if (location === null) return response;
    await response.body?.cancel().catch(() => {});
    if (hop >= MAX_REDIRECTS) {
      throw new GwError('ERR_DISCOVERY', `${what}: more than ${MAX_REDIRECTS} redirects`, {
        hint: 'give the final URL',
      });
    }
    let next: string;
    try {
      next = new URL(location, current).href;
    } catch {
      throw new GwError(
        'ERR_DISCOVERY',
        `${what}: ${current} redirects to "${location}", not a URL`,
      );
    }
    checkUrl(next, `${what}: ${current} redirects to`, insecureHttp);
    current = next;
  }
}

/** The fetch discovery uses: redirects checked hop by hop, the document bounded while it is read. */
function discoveryFetch(options: DiscoverOptions): client.CustomFetch {
  const base: FetchLike = options.fetch ?? ((u, i) => fetch(u, i));
  return (async (url: string, init: RequestInit) => {
    const what = `the discovery document at ${url}`;
    const response = await fetchFollowingChecked(base, url, init, what, options.insecureHttp);
    return boundResponse(response, DISCOVERY_MAX_BYTES, what);
  }) as unknown as client.CustomFetch;
}

function execute(options: DiscoverOptions, url: URL): Array<(c: client.Configuration) => void> {
  return url.protocol === 'http:' ? [client.allowInsecureRequests] : [];
}

async function tryDiscovery(
  url: URL,
  algorithm: 'oidc' | 'oauth2',
  options: DiscoverOptions,
): Promise<client.Configuration> {
  return client.discovery(url, 'oidc-gw-discovery', undefined, undefined, {
    algorithm,
    timeout: options.timeoutSeconds ?? 30,
    execute: execute(options, url),
    [client.customFetch]: discoveryFetch(options),
  });
}

function isNotFoundLike(error: unknown): boolean {
  // Our own refusals (a body over the cap, a redirect off limits) are not "no document here".
  if ([...causeChain(error)].some(isGwError)) return false;
  const code = (error as { code?: unknown } | undefined)?.code;
  return (
    code === 'OAUTH_RESPONSE_IS_NOT_CONFORM' ||
    code === 'OAUTH_RESPONSE_IS_NOT_JSON' ||
    code === 'OAUTH_PARSE_ERROR'
  );
}

function mismatch(error: unknown): { expected: string; actual: string } | undefined {
  const e = error as {
    code?: unknown;
    cause?: { expected?: unknown; body?: { issuer?: unknown }; attribute?: unknown };
  };
  if (e?.code !== 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED' || e.cause?.attribute !== 'issuer')
    return undefined;
  const expected = e.cause.expected;
  const actual = e.cause.body?.issuer;
  if (typeof expected !== 'string' || typeof actual !== 'string') return undefined;
  return { expected, actual };
}

function stripSlash(s: string): string {
  return s.endsWith('/') ? s.slice(0, -1) : s;
}

export async function discoverIssuer(
  input: string,
  options: DiscoverOptions = {},
): Promise<DiscoveredIssuer> {
  const checked = checkUrl(input.trim(), 'issuer', options.insecureHttp);
  const url = checked.url;
  const notes: string[] = checked.note ? [checked.note] : [];
  const given = url.href.includes('/.well-known/');
  const finish = (
    config: client.Configuration,
    source: DiscoveredIssuer['source'],
    discoveryUrl: string,
  ): DiscoveredIssuer => {
    const metadata = config.serverMetadata();
    // The issuer in a discovery document must itself be https (or loopback / allowed http).
    const issuerCheck = checkUrl(
      metadata.issuer,
      'the issuer named by the metadata',
      options.insecureHttp,
    );
    if (issuerCheck.note && !notes.includes(issuerCheck.note)) notes.push(issuerCheck.note);
    // An issuer that is an origin (Auth0's https://TENANT.auth0.com/) is
    // discovered under either spelling without a mismatch: say which one
    // tokens carry, as for a path issuer (docs/configuration.md, Issuers).
    const typed = input.trim();
    if (
      !given &&
      typed !== metadata.issuer &&
      stripSlash(typed) === stripSlash(metadata.issuer) &&
      !notes.some((n) => n.includes(`names its issuer "${metadata.issuer}"`))
    ) {
      notes.push(
        `the IdP names its issuer "${metadata.issuer}" (you gave "${typed}"): using the IdP's spelling`,
      );
    }
    return Object.freeze({
      issuer: metadata.issuer,
      metadata,
      discoveryUrl,
      source,
      notes,
      options,
    });
  };
  if (given) {
    try {
      return finish(await tryDiscovery(url, 'oidc', options), 'given-url', url.href);
    } catch (error) {
      throw wrapOAuthError(error, { action: 'discovery request', url: url.href });
    }
  }
  const wellKnown = (suffix: string) => {
    // RFC 8414 §3.1 inserts the well-known segment before the path; OIDC appends it.
    const u = new URL(url.href);
    if (suffix === 'openid-configuration') {
      u.pathname = `${stripSlash(u.pathname)}/.well-known/openid-configuration`;
    } else {
      u.pathname = `/.well-known/oauth-authorization-server${u.pathname === '/' ? '' : stripSlash(u.pathname)}`;
    }
    return u.href;
  };
  let firstError: unknown;
  for (const [algorithm, source, suffix] of [
    ['oidc', 'openid-configuration', 'openid-configuration'],
    ['oauth2', 'oauth-authorization-server', 'oauth-authorization-server'],
  ] as const) {
    try {
      return finish(await tryDiscovery(url, algorithm, options), source, wellKnown(suffix));
    } catch (error) {
      const m = mismatch(error);
      if (m) {
        if (stripSlash(m.expected) === stripSlash(m.actual)) {
          notes.push(
            `the IdP names its issuer "${m.actual}" (you gave "${input.trim()}"): using the IdP's spelling`,
          );
          try {
            const exact = new URL(m.actual);
            return finish(await tryDiscovery(exact, algorithm, options), source, wellKnown(suffix));
          } catch (retryError) {
            throw wrapOAuthError(retryError, { action: 'discovery request', url: m.actual });
          }
        }
        throw new GwError(
          'ERR_ISSUER_MISMATCH',
          `the metadata at ${wellKnown(suffix)} names issuer "${m.actual}", not "${m.expected}"`,
          {
            hint: `if "${m.actual}" is right, use it as --issuer`,
            details: { expected: m.expected, actual: m.actual },
          },
        );
      }
      if (!isNotFoundLike(error))
        throw wrapOAuthError(error, { action: 'discovery request', url: wellKnown(suffix) });
      firstError ??= error;
    }
  }
  const wrapped = wrapOAuthError(firstError, {
    action: 'discovery request',
    url: wellKnown('openid-configuration'),
  });
  throw new GwError(
    'ERR_DISCOVERY',
    `no OpenID Connect or OAuth 2.0 metadata found for ${url.href} (tried ${wellKnown('openid-configuration')} and ${wellKnown('oauth-authorization-server')})`,
    {
      cause: wrapped,
      hint: 'check the issuer URL: it is the `iss` of your tokens, e.g. https://TENANT.auth0.com/ or https://HOST/realms/REALM',
    },
  );
}
