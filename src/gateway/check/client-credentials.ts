/**
 * The gateway's client-credentials exchange (Kong openid-connect
 * `auth_methods: [client_credentials]`, the Auth0 guide's pattern; an oidc-gw
 * API's `client_credentials:`): a caller presents its own client id and
 * secret (basic-auth.ts reads them), the gateway sends them to the IdP's
 * token endpoint with the client credentials grant (RFC 6749 §4.4) and
 * forwards the request with the token it got. One exchanger per API plan.
 *
 * The token request goes through openid-client (the same grant as
 * `oidc-gw token --client-credentials`): the caller's credentials are sent
 * with client_secret_basic (form-urlencoded, RFC 6749 §2.3.1) or
 * client_secret_post, plus the plan's `scope` and extra `params` (Auth0's
 * `audience`). The token endpoint is the plan's `tokenEndpoint`, or the
 * `token_endpoint` of the issuer's metadata, discovered once on first use
 * (a failed discovery is not remembered: the next request tries again).
 * Every response is read with a byte bound (64 KiB by default).
 *
 * Caching rules (the integrator documents these for users):
 *  - Key: HMAC-SHA-256, under a random key made per exchanger, of
 *    (client id, client secret, scope, params). Only that digest is kept, never
 *    the secret; a caller with another secret computes another key, so a
 *    token is never served to a caller whose secret differs from the one that
 *    obtained it, and the digests cannot be checked against guessed secrets
 *    outside this process.
 *  - A token is served from the cache until its expiry minus a margin of
 *    10% of its lifetime, at most 30 s (3600 s -> 30 s, 60 s -> 6 s); its
 *    expiry is the time the request was sent plus `expires_in`. A response
 *    without a usable `expires_in` counts as DEFAULT_TTL_SECONDS (300 s). No
 *    entry lives longer than MAX_TTL_SECONDS (1 day).
 *  - Refused credentials (HTTP 400, 401 or 403 from the token endpoint) are
 *    remembered for 5 s (`negativeTtlMs`, 0 turns it off) for that exact id and
 *    secret: a client retrying a wrong secret in a loop costs the IdP one
 *    request per 5 s, and a secret just registered at the IdP works within
 *    5 s. Other secrets, the right one included, are not affected.
 *  - IdP failures (network, timeout, 5xx, any other status, a malformed or
 *    oversized answer) are never cached: the next request tries again.
 *  - At most 1,000 entries (`maxEntries`), least recently used dropped first.
 *  - Concurrent requests for one key share one token request (single-flight).
 *    At most 256 token requests are pending at once (`maxPending`); beyond
 *    that a request is answered idp_unavailable without asking the IdP.
 *
 * The caller's secret never appears in a log line, a description or an error:
 * descriptions are built from fixed text, the IdP's error code and
 * description, and endpoint URLs, and any occurrence of the secret in them is
 * replaced by `[secret]` before they leave this module.
 */
import { createHmac, randomBytes } from 'node:crypto';
import * as oidc from 'openid-client';
import { buildClient, grantParameters } from '../../core/client.js';
import { boundResponse } from '../../core/http-body.js';
import {
  checkUrl,
  discoverIssuer,
  type DiscoveredIssuer,
  type FetchLike,
} from '../../core/issuer.js';
import { wrapOAuthError } from '../../core/oauth-errors.js';
import { printableLine } from '../../core/terminal-text.js';
import type { ClientCredentialsExchange } from '../plan.js';

export type { FetchLike };

/** Largest IdP response read (token, introspection, discovery), in bytes. */
export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;
/** Cache lifetime of a token whose response has no `expires_in`. */
export const DEFAULT_TTL_SECONDS = 300;
/** No cache entry lives longer than this. */
export const MAX_TTL_SECONDS = 24 * 3600;
/** Served until expiry minus min(MARGIN_FRACTION * lifetime, MAX_MARGIN_MS). */
export const MARGIN_FRACTION = 0.1;
export const MAX_MARGIN_MS = 30_000;
export const DEFAULT_NEGATIVE_TTL_MS = 5_000;
export const DEFAULT_MAX_ENTRIES = 1_000;
export const DEFAULT_MAX_PENDING = 256;

// ---------------------------------------------------------------------------
// Shared by the exchange and introspection (introspection.ts imports these).

/** A fetch whose responses stop at `maxBytes` while they are read (src/core/http-body.ts). */
export function boundedFetch(fetch: FetchLike, maxBytes: number): FetchLike {
  return async (url, init) =>
    boundResponse(await fetch(url, init), maxBytes, `the answer of ${url}`);
}

/** A bounded map whose entries expire; the least recently used entry goes first when full. */
export class TtlLru<V> {
  private readonly map = new Map<string, { readonly value: V; readonly untilMs: number }>();

  constructor(readonly maxEntries: number) {}

  get size(): number {
    return this.map.size;
  }

  get(key: string, nowMs: number): V | undefined {
    const entry = this.map.get(key);
    if (entry === undefined) return undefined;
    this.map.delete(key);
    if (nowMs >= entry.untilMs) return undefined;
    this.map.set(key, entry);
    return entry.value;
  }

  /** Stores until `untilMs` (nothing when that is not in the future or the cache holds nothing). */
  set(key: string, value: V, untilMs: number, nowMs: number): void {
    if (this.maxEntries <= 0 || !(untilMs > nowMs)) return;
    this.map.delete(key);
    while (this.map.size >= this.maxEntries) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
    this.map.set(key, { value, untilMs });
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}

/** Text from outside (a client id, an IdP's description) made safe for one log line. */
export function printable(value: string, max = 200): string {
  return printableLine(value, max);
}

/** Replaces every occurrence of the secrets (as given, and form-urlencoded) in a text. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length === 0) continue;
    for (const form of new Set([secret, encodeURIComponent(secret), formEncode(secret)])) {
      out = out.split(form).join('[secret]');
    }
  }
  return out;
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}

/** The HTTP status an openid-client error carries (the response's, when it kept it). */
export function statusOf(error: unknown): number | undefined {
  const e = error as { status?: unknown; cause?: unknown } | undefined;
  if (typeof e?.status === 'number') return e.status;
  const cause = e?.cause as { status?: unknown } | undefined;
  if (cause instanceof Response || typeof cause?.status === 'number')
    return (cause as { status: number }).status;
  return undefined;
}

export interface IdpOptions {
  readonly fetch: FetchLike;
  readonly timeoutMs: number;
  /** Allow http:// for IdP hosts that are not loopback (--insecure-http). */
  readonly insecureHttp?: boolean;
  readonly maxResponseBytes?: number;
}

/**
 * The IdP's metadata for one plan: discovered once, lazily, from `issuer`,
 * with endpoints given in the plan taking precedence; or only the given
 * endpoint when there is no issuer. Concurrent first calls share one
 * discovery; a failed one is forgotten so that the next call tries again.
 */
export class LazyIdpMetadata {
  private resolved: DiscoveredIssuer | undefined;
  private pending: Promise<DiscoveredIssuer> | undefined;

  constructor(
    private readonly issuer: string | undefined,
    /** Endpoints the plan names (`token_endpoint`, `introspection_endpoint`). */
    private readonly overrides: Readonly<Record<string, string | undefined>>,
    private readonly options: IdpOptions & { readonly fetch: FetchLike },
  ) {}

  get(): Promise<DiscoveredIssuer> {
    if (this.resolved) return Promise.resolve(this.resolved);
    this.pending ??= this.resolve().then(
      (server) => {
        this.resolved = server;
        this.pending = undefined;
        return server;
      },
      (error: unknown) => {
        this.pending = undefined;
        throw error;
      },
    );
    return this.pending;
  }

  private async resolve(): Promise<DiscoveredIssuer> {
    const given: Record<string, string> = {};
    for (const [name, url] of Object.entries(this.overrides)) {
      if (url === undefined) continue;
      checkUrl(url, name.replace('_', ' '), this.options.insecureHttp);
      given[name] = url;
    }
    const discoverOptions = {
      fetch: this.options.fetch,
      timeoutSeconds: this.options.timeoutMs / 1000,
      ...(this.options.insecureHttp ? { insecureHttp: true } : {}),
    };
    if (this.issuer !== undefined) {
      const found = await discoverIssuer(this.issuer, discoverOptions);
      return { ...found, metadata: { ...found.metadata, ...given } };
    }
    const first = Object.values(given)[0];
    if (first === undefined) throw new Error('LazyIdpMetadata: neither an issuer nor an endpoint');
    // No issuer: the endpoint's origin stands in for it (no ID token is checked on these calls).
    const issuer = new URL(first).origin;
    return {
      issuer,
      metadata: { issuer, ...given },
      discoveryUrl: first,
      source: 'given-url',
      notes: [],
      options: discoverOptions,
    };
  }
}

// ---------------------------------------------------------------------------
// The exchange

export interface ClientCredentialsExchangerOptions extends IdpOptions {
  readonly exchange: ClientCredentialsExchange;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** One line for the gateway's log (never holds a secret or a token). */
  readonly log: (line: string) => void;
  readonly maxEntries?: number;
  /** How long refused credentials are remembered (0: not at all). */
  readonly negativeTtlMs?: number;
  readonly maxPending?: number;
}

export type ExchangeFailureReason = 'client_credentials_invalid' | 'idp_unavailable';

export type ExchangeResult =
  | {
      readonly ok: true;
      readonly accessToken: string;
      /** When the token expires (request time plus `expires_in`), ms since the epoch. */
      readonly expiresAtMs: number;
      /** Whether it came from the cache (no token request was made for this call). */
      readonly cached: boolean;
    }
  | {
      readonly ok: false;
      readonly reason: ExchangeFailureReason;
      /** For the log, not for the caller (REASONS has the caller's text). */
      readonly description: string;
    };

type Cached =
  | { readonly ok: true; readonly accessToken: string; readonly expiresAtMs: number }
  | { readonly ok: false; readonly description: string };

/** The cache lifetime of a token of `lifetimeMs`: until its expiry minus the margin. */
export function servedForMs(lifetimeMs: number): number {
  return lifetimeMs - Math.min(lifetimeMs * MARGIN_FRACTION, MAX_MARGIN_MS);
}

export class ClientCredentialsExchanger {
  private readonly cache: TtlLru<Cached>;
  private readonly pending = new Map<string, Promise<ExchangeResult>>();
  private readonly metadata: LazyIdpMetadata;
  private readonly hashKey = randomBytes(32);
  private readonly paramsText: string;
  /** Token requests sent to the IdP (for metrics and tests). */
  requests = 0;

  constructor(private readonly options: ClientCredentialsExchangerOptions) {
    const { exchange } = options;
    if (exchange.issuer === undefined && exchange.tokenEndpoint === undefined)
      throw new TypeError('ClientCredentialsExchange needs an issuer or a tokenEndpoint');
    this.cache = new TtlLru(options.maxEntries ?? DEFAULT_MAX_ENTRIES);
    this.metadata = new LazyIdpMetadata(
      exchange.issuer,
      { token_endpoint: exchange.tokenEndpoint },
      {
        ...options,
        fetch: boundedFetch(options.fetch, options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES),
      },
    );
    this.paramsText = JSON.stringify([
      exchange.scope ?? null,
      Object.entries(exchange.params).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    ]);
  }

  /** Entries in the cache (tokens and remembered refusals). */
  get cacheSize(): number {
    return this.cache.size;
  }

  private keyFor(clientId: string, clientSecret: string): string {
    return createHmac('sha256', this.hashKey)
      .update(JSON.stringify([clientId, clientSecret, this.paramsText]))
      .digest('base64url');
  }

  /**
   * A token for this caller: from the cache, from a request already under way
   * for the same credentials, or from a new token request. Never rejects.
   */
  exchange(clientId: string, clientSecret: string): Promise<ExchangeResult> {
    if (clientId.length === 0 || clientSecret.length === 0) {
      return Promise.resolve({
        ok: false,
        reason: 'client_credentials_invalid',
        description: 'empty client id or secret',
      });
    }
    const key = this.keyFor(clientId, clientSecret);
    const now = this.options.now();
    const hit = this.cache.get(key, now);
    if (hit) {
      return Promise.resolve(
        hit.ok
          ? { ok: true, accessToken: hit.accessToken, expiresAtMs: hit.expiresAtMs, cached: true }
          : {
              ok: false,
              reason: 'client_credentials_invalid',
              description: `${hit.description} (remembered)`,
            },
      );
    }
    const running = this.pending.get(key);
    if (running) return running.then((r) => (r.ok ? { ...r, cached: true } : r));
    if (this.pending.size >= (this.options.maxPending ?? DEFAULT_MAX_PENDING)) {
      return Promise.resolve({
        ok: false,
        reason: 'idp_unavailable',
        description: `too many token requests pending (${this.pending.size}): not asking the IdP`,
      });
    }
    const request = this.request(key, clientId, clientSecret)
      .catch((error: unknown): ExchangeResult => ({
        ok: false,
        reason: 'idp_unavailable',
        description: scrubSecrets(
          `token request failed: ${error instanceof Error ? error.message : String(error)}`,
          [clientSecret],
        ),
      }))
      .finally(() => this.pending.delete(key));
    this.pending.set(key, request);
    return request;
  }

  private async request(
    key: string,
    clientId: string,
    clientSecret: string,
  ): Promise<ExchangeResult> {
    const { exchange, log } = this.options;
    const who = `client ${JSON.stringify(printable(clientId, 80))}`;
    const fail = (reason: ExchangeFailureReason, text: string): ExchangeResult => {
      const description = scrubSecrets(text, [clientSecret]);
      log(`client credentials: ${who}: ${description}`);
      return { ok: false, reason, description };
    };
    let server: DiscoveredIssuer;
    try {
      server = await this.metadata.get();
    } catch (error) {
      return fail(
        'idp_unavailable',
        `cannot find the token endpoint: ${describeIdpFailure(error, 'discovery request')}`,
      );
    }
    const endpoint = server.metadata.token_endpoint;
    if (typeof endpoint !== 'string')
      return fail('idp_unavailable', `the metadata of ${server.issuer} names no token_endpoint`);
    const client = buildClient(server, {
      clientId,
      clientSecret,
      authMethod: exchange.authMethod === 'client_secret_post' ? 'post' : 'basic',
    });
    const startedAt = this.options.now();
    this.requests++;
    let response: oidc.TokenEndpointResponse;
    try {
      response = await oidc.clientCredentialsGrant(
        client.config,
        grantParameters({ scope: exchange.scope, params: exchange.params }),
      );
    } catch (error) {
      const status = statusOf(error);
      const text = describeIdpFailure(error, 'client credentials request', endpoint);
      if (status === 400 || status === 401 || status === 403) {
        const negativeTtl = this.options.negativeTtlMs ?? DEFAULT_NEGATIVE_TTL_MS;
        const result = fail('client_credentials_invalid', text);
        if (!result.ok) {
          const now = this.options.now();
          this.cache.set(
            key,
            { ok: false, description: result.description },
            now + negativeTtl,
            now,
          );
        }
        return result;
      }
      return fail('idp_unavailable', text);
    }
    const accessToken = response.access_token;
    if (typeof accessToken !== 'string' || accessToken.length === 0)
      return fail('idp_unavailable', `${endpoint} answered without an access_token`);
    const expiresIn = response.expires_in;
    const lifetimeSeconds = Math.min(
      typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0
        ? expiresIn
        : DEFAULT_TTL_SECONDS,
      MAX_TTL_SECONDS,
    );
    const lifetimeMs = lifetimeSeconds * 1000;
    const expiresAtMs = startedAt + lifetimeMs;
    this.cache.set(
      key,
      { ok: true, accessToken, expiresAtMs },
      startedAt + servedForMs(lifetimeMs),
      this.options.now(),
    );
    log(
      `client credentials: ${who}: token from ${endpoint}, expires in ${lifetimeSeconds} s${
        typeof expiresIn === 'number' ? '' : ' (no expires_in: assumed)'
      }`,
    );
    return { ok: true, accessToken, expiresAtMs, cached: false };
  }
}

/** One line about an IdP call's failure, from the project's wrapped error. */
export function describeIdpFailure(error: unknown, action: string, url?: string): string {
  const wrapped = wrapOAuthError(error, url === undefined ? { action } : { action, url });
  return printable(wrapped.message, 400);
}
