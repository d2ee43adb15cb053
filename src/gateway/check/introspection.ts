/**
 * RFC 7662 token introspection for the gateway (Kong openid-connect
 * `auth_methods: [introspection]`, an oidc-gw API's `introspection:`): an
 * opaque token is sent to the IdP's introspection endpoint, the gateway
 * authenticating with its own client id and secret (client_secret_basic or
 * client_secret_post), through openid-client. One introspector per API plan.
 *
 * The endpoint is the plan's `endpoint`, or the `introspection_endpoint` of
 * the issuer's metadata, discovered once on first use (a failed discovery is
 * not remembered). Responses are read with a byte bound (64 KiB by default).
 * The request carries `token_type_hint=access_token`.
 *
 * What counts as active: `active: true`, and `exp` (when present) still in
 * the future, and `nbf` (when present) not in the future, and not marked as
 * a refresh token (`token_type: refresh_token`, or Keycloak's `typ: Refresh`):
 * a refresh token is not a credential for an API. Everything else is
 * `{active: false}`; so is a token longer than `maxTokenLength` (16 KiB by
 * default), which is not sent to the IdP at all, and a token the IdP refuses
 * to introspect with the OAuth error `unsupported_token_type` or
 * `invalid_token` (oidc-provider does so for its JWT access tokens: those are
 * for the bearer check, not for introspection).
 *
 * Caching rules (the integrator documents these for users):
 *  - Key: SHA-256 of the token (the token itself is not kept).
 *  - An active answer is kept until its `exp`, and at most `maxTtlSeconds`
 *    after the answer (when there is no `exp`: `maxTtlSeconds`). A token
 *    revoked at the IdP is therefore still accepted for up to `maxTtlSeconds`.
 *    `maxTtlSeconds: 0` turns the cache of active answers off.
 *  - An inactive answer (or a refusal about the token) is kept
 *    `negativeTtlSeconds` (0: not at all).
 *  - Failures (network, timeout, HTTP errors, a malformed or oversized answer,
 *    the IdP refusing the gateway's own credentials) are never cached.
 *  - At most 10,000 entries (`maxEntries`), least recently used dropped first.
 *  - Concurrent introspections of one token share one request (single-flight).
 *    At most 256 requests are pending at once (`maxPending`); beyond that a
 *    token is answered idp_unavailable without asking the IdP.
 *
 * Log lines and descriptions never hold the token or the gateway's secret.
 */
import * as oidc from 'openid-client';
import { buildClient, type Client } from '../../core/client.js';
import type { DiscoveredIssuer } from '../../core/issuer.js';
import { tokenKey } from '../../core/gateway/verify.js';
import type { Introspection } from '../plan.js';
import {
  boundedFetch,
  DEFAULT_MAX_PENDING,
  DEFAULT_MAX_RESPONSE_BYTES,
  describeIdpFailure,
  LazyIdpMetadata,
  scrubSecrets,
  statusOf,
  TtlLru,
  type FetchLike,
  type IdpOptions,
} from './client-credentials.js';

export type { FetchLike };

export const DEFAULT_INTROSPECTION_MAX_ENTRIES = 10_000;
/** Longest token sent to the IdP; longer ones are inactive without asking. */
export const DEFAULT_MAX_TOKEN_LENGTH = 16 * 1024;

export interface IntrospectorOptions extends IdpOptions {
  readonly introspection: Introspection;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /** One line for the gateway's log (never holds a token or a secret). */
  readonly log?: (line: string) => void;
  readonly maxEntries?: number;
  readonly maxPending?: number;
  readonly maxTokenLength?: number;
}

export type IntrospectionResult =
  | { readonly active: true; readonly claims: Readonly<Record<string, unknown>> }
  | { readonly active: false }
  | {
      readonly error: 'idp_unavailable';
      readonly description: string;
      /** The IdP answered, with an HTTP error (it refused the request), rather than not at all. */
      readonly refusedByIdp?: true;
    };

const INACTIVE: IntrospectionResult = Object.freeze({ active: false });

/**
 * OAuth errors of an introspection endpoint that are about the token, not the
 * IdP: answered inactive. oidc-provider refuses to introspect its structured
 * (JWT) access tokens with 400 `unsupported_token_type`.
 */
const TOKEN_REFUSALS: ReadonlySet<string> = new Set(['unsupported_token_type', 'invalid_token']);

/** The `error` of an OAuth error response (openid-client's ResponseBodyError). */
function oauthErrorCode(error: unknown): string | undefined {
  const code = (error as { error?: unknown } | undefined)?.error;
  return typeof code === 'string' ? code : undefined;
}

/** The answer of an introspection endpoint, judged at `nowMs`: active (with its claims) or not. */
export function judgeIntrospection(
  answer: Readonly<Record<string, unknown>>,
  nowMs: number,
): IntrospectionResult {
  if (answer['active'] !== true) return INACTIVE;
  const exp = answer['exp'];
  if (typeof exp === 'number' && exp * 1000 <= nowMs) return INACTIVE;
  const nbf = answer['nbf'];
  if (typeof nbf === 'number' && nbf * 1000 > nowMs) return INACTIVE;
  const tokenType = answer['token_type'];
  if (typeof tokenType === 'string' && tokenType.toLowerCase() === 'refresh_token') return INACTIVE;
  if (answer['typ'] === 'Refresh') return INACTIVE;
  return Object.freeze({ active: true, claims: Object.freeze({ ...answer }) });
}

export class Introspector {
  private readonly cache: TtlLru<IntrospectionResult>;
  private readonly pending = new Map<string, Promise<IntrospectionResult>>();
  private readonly metadata: LazyIdpMetadata;
  private client: Client | undefined;
  /** Introspection requests sent to the IdP (for metrics and tests). */
  requests = 0;

  constructor(private readonly options: IntrospectorOptions) {
    const { introspection } = options;
    if (introspection.issuer === undefined && introspection.endpoint === undefined)
      throw new TypeError('Introspection needs an issuer or an endpoint');
    this.cache = new TtlLru(options.maxEntries ?? DEFAULT_INTROSPECTION_MAX_ENTRIES);
    this.metadata = new LazyIdpMetadata(
      introspection.issuer,
      { introspection_endpoint: introspection.endpoint },
      {
        ...options,
        fetch: boundedFetch(options.fetch, options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES),
      },
    );
  }

  get cacheSize(): number {
    return this.cache.size;
  }

  /** Whether the IdP calls this token active, with its claims. Never rejects. */
  introspect(token: string): Promise<IntrospectionResult> {
    if (
      token.length === 0 ||
      token.length > (this.options.maxTokenLength ?? DEFAULT_MAX_TOKEN_LENGTH)
    )
      return Promise.resolve(INACTIVE);
    const key = tokenKey(token);
    const now = this.options.now();
    const hit = this.cache.get(key, now);
    // A cached active answer is judged again: its exp may have passed since.
    if (hit)
      return Promise.resolve(
        'active' in hit && hit.active ? judgeIntrospection(hit.claims, now) : hit,
      );
    const running = this.pending.get(key);
    if (running) return running;
    if (this.pending.size >= (this.options.maxPending ?? DEFAULT_MAX_PENDING)) {
      return Promise.resolve({
        error: 'idp_unavailable',
        description: `too many introspection requests pending (${this.pending.size}): not asking the IdP`,
      });
    }
    const request = this.request(key, token)
      .catch((error: unknown): IntrospectionResult => ({
        error: 'idp_unavailable',
        description: this.scrub(
          `introspection failed: ${error instanceof Error ? error.message : String(error)}`,
          token,
        ),
      }))
      .finally(() => this.pending.delete(key));
    this.pending.set(key, request);
    return request;
  }

  private scrub(text: string, token: string): string {
    return scrubSecrets(text, [this.options.introspection.clientSecret, token]);
  }

  private async clientFor(): Promise<Client> {
    if (this.client) return this.client;
    const server: DiscoveredIssuer = await this.metadata.get();
    const { introspection } = this.options;
    this.client = buildClient(server, {
      clientId: introspection.clientId,
      clientSecret: introspection.clientSecret,
      authMethod: introspection.authMethod === 'client_secret_post' ? 'post' : 'basic',
    });
    return this.client;
  }

  private async request(key: string, token: string): Promise<IntrospectionResult> {
    const unavailable = (text: string, refusedByIdp = false): IntrospectionResult => {
      const description = this.scrub(text, token);
      this.options.log?.(`introspection: ${description}`);
      return refusedByIdp
        ? { error: 'idp_unavailable', description, refusedByIdp }
        : { error: 'idp_unavailable', description };
    };
    let client: Client;
    try {
      client = await this.clientFor();
    } catch (error) {
      return unavailable(
        `cannot find the introspection endpoint: ${describeIdpFailure(error, 'discovery request')}`,
      );
    }
    const endpoint = client.issuer.metadata.introspection_endpoint;
    if (typeof endpoint !== 'string')
      return unavailable(`the metadata of ${client.issuer.issuer} names no introspection_endpoint`);
    this.requests++;
    let answer: Readonly<Record<string, unknown>>;
    try {
      answer = await oidc.tokenIntrospection(client.config, token, {
        token_type_hint: 'access_token',
      });
    } catch (error) {
      const status = statusOf(error);
      const code = oauthErrorCode(error);
      const text = describeIdpFailure(error, 'introspection request', endpoint);
      if (code !== undefined && TOKEN_REFUSALS.has(code)) {
        // An answer about the token, not about the IdP: it will not become introspectable.
        this.options.log?.(
          `introspection: the IdP does not introspect this token: ${this.scrub(text, token)}`,
        );
        const now = this.options.now();
        this.cache.set(
          key,
          INACTIVE,
          now + this.options.introspection.negativeTtlSeconds * 1000,
          now,
        );
        return INACTIVE;
      }
      return unavailable(
        status === 401 || status === 403 || code === 'invalid_client'
          ? `the IdP refused the gateway's own client credentials: ${text}`
          : text,
        status !== undefined || code !== undefined,
      );
    }
    const now = this.options.now();
    const result = judgeIntrospection(answer, now);
    const { maxTtlSeconds, negativeTtlSeconds } = this.options.introspection;
    if ('active' in result && result.active) {
      const exp = answer['exp'];
      const bound = now + maxTtlSeconds * 1000;
      this.cache.set(
        key,
        result,
        typeof exp === 'number' ? Math.min(exp * 1000, bound) : bound,
        now,
      );
    } else {
      this.cache.set(key, INACTIVE, now + negativeTtlSeconds * 1000, now);
    }
    return result;
  }
}
