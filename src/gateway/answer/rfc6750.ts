/**
 * oidc-gw's own answers (docs/commands/serve.md: Refusals): RFC 6750 errors with a JSON
 * body `{"error", "error_description"}` and `WWW-Authenticate: Bearer
 * realm="oidc-gw", ...` on 400/401/403; 429 `rate_limited` /
 * `quota_exceeded` with `Retry-After`; `RateLimit-Limit`, `-Remaining`,
 * `-Reset` (delta seconds, as the IETF draft's first versions and Kong
 * write them) on every response of a limited API (docs/limits.md).
 */
import { refusalBody, wwwAuthenticate } from '../../core/gateway/reasons.js';
import type { LimitState } from '../limits/types.js';
import type { Answer, Refused, Renderer } from './types.js';

const JSON_TYPE = 'application/json';

/** The state the RateLimit-* headers describe: the one with the fewest requests left (ties: the later reset). */
export function tightest(states: readonly LimitState[]): LimitState | undefined {
  let best: LimitState | undefined;
  for (const s of states) {
    if (
      best === undefined ||
      s.remaining < best.remaining ||
      (s.remaining === best.remaining && s.resetMs > best.resetMs)
    )
      best = s;
  }
  return best;
}

function rateLimitHeaders(states: readonly LimitState[], nowMs: number): Record<string, string> {
  const s = tightest(states);
  if (!s) return {};
  return {
    'ratelimit-limit': String(s.limit),
    'ratelimit-remaining': String(Math.max(0, s.remaining)),
    'ratelimit-reset': String(Math.max(0, Math.ceil((s.resetMs - nowMs) / 1000))),
  };
}

export const rfc6750Renderer: Renderer = {
  refuse(_options, outcome: Refused): Answer {
    const headers: Record<string, string> = {
      'content-type': JSON_TYPE,
      'cache-control': 'no-store',
    };
    const { status } = outcome;
    if (status === 400 || status === 401 || status === 403) {
      headers['www-authenticate'] = wwwAuthenticate(outcome);
    }
    if (outcome.limits && outcome.limits.length > 0) {
      const refusedBy = outcome.limits.find((l) => !l.allowed);
      if (refusedBy) {
        headers['retry-after'] = String(refusedBy.retryAfterSeconds);
        headers['ratelimit-limit'] = String(refusedBy.limit);
        headers['ratelimit-remaining'] = '0';
        headers['ratelimit-reset'] = String(refusedBy.retryAfterSeconds);
      }
    }
    if (status === 503) headers['retry-after'] = '1';
    return { status, headers, body: refusalBody(outcome) };
  },
  limitHeaders(_options, states, nowMs) {
    return rateLimitHeaders(states, nowMs);
  },
  notFound(): Answer {
    return {
      status: 404,
      headers: { 'content-type': JSON_TYPE, 'cache-control': 'no-store' },
      body: JSON.stringify({ error: 'not_found', error_description: 'no API at this path' }),
    };
  },
};
