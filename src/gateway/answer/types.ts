/**
 * What the gateway answers, as data: an outcome (why a request is refused,
 * with the facts a gateway's message may quote) and, per error style, a
 * renderer that turns it into status, headers and body bytes
 * (docs/gateways/). Logs and metrics use `reason`, never the style, so every
 * emulation logs the same codes.
 */
import type { StyleOptions } from '../plan.js';
import type { LimitState } from '../limits/types.js';

export interface Refused {
  /** oidc-gw's stable reason code (docs/commands/serve.md, "Reasons"). */
  readonly reason: string;
  /** The native (RFC 6750) answer: status, error code, description. */
  readonly status: number;
  readonly error: string;
  readonly description: string;
  /** insufficient_scope: the scopes required. */
  readonly scope?: string;
  /**
   * Facts a gateway's own message quotes (Tyk names the token's `iss`; APIM
   * names missing claims). Renderers JSON-escape what they put in a body and
   * never put any of it in a header.
   */
  readonly detail?: {
    readonly iss?: string;
    readonly aud?: readonly string[];
    readonly claim?: string;
    readonly claims?: readonly string[];
    readonly value?: string;
    /** Which library check failed, for APIM's LastError-like log field. */
    readonly check?: string;
  };
  /** For limit refusals: the state of the rule that refused, and of all rules checked. */
  readonly limits?: readonly LimitState[];
}

/** What the request looked like, for renderers that vary by it (Tyk XML, Kong Accept). */
export interface RequestFacts {
  readonly contentType?: string | undefined;
  readonly accept?: string | undefined;
  /** The gateway's id for this request (Kong 3.5+ puts it in bodies). */
  readonly requestId: string;
}

export interface Answer {
  readonly status: number;
  /** Header name (lower-case) -> value. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

export interface Renderer {
  /** The answer to a refused request. */
  refuse(options: StyleOptions, outcome: Refused, request: RequestFacts): Answer;
  /**
   * Headers added to a proxied response of an API with limits (Kong's
   * RateLimit-* and X-RateLimit-*-<Period>, Tyk's X-RateLimit-*, native RateLimit-*).
   */
  limitHeaders(
    options: StyleOptions,
    states: readonly LimitState[],
    nowMs: number,
  ): Readonly<Record<string, string>>;
  /** The answer when no API matches the path. */
  notFound(options: StyleOptions, request: RequestFacts): Answer;
  /** The gateway's own name for a refusal, for the log (APIM's TokenExpired...). */
  logReason?(options: StyleOptions, outcome: Refused): string | undefined;
}
