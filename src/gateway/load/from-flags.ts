/**
 * `serve`'s flags as a plan: one oidc-gw API at `/` (docs/commands/serve.md), with the
 * same checks as ever (exp required, nbf and iat when present, one skew,
 * issuers by discovery, audiences any-of, required claims and scopes) and,
 * with `--rate-limit` / `--quota`, per-identity limits (docs/limits.md).
 */
import { checksFromPolicy } from '../../core/gateway/claims.js';
import {
  BEARER_HEADER,
  freezePlan,
  slidingAlgorithm,
  type LimitKey,
  type LimitRule,
  type Plan,
  type PublicKeyFile,
} from '../plan.js';

export interface FlagLimit {
  readonly limit: number;
  readonly periodMs: number;
  /** As written (`100/1m`), for --check and logs. */
  readonly text: string;
}

export interface FlagInput {
  readonly upstream: string;
  readonly issuers: readonly string[];
  readonly jwksUris: readonly string[];
  readonly publicKeys: readonly PublicKeyFile[];
  readonly secret?: Uint8Array | undefined;
  readonly audiences: readonly string[];
  readonly algorithms?: readonly string[] | undefined;
  readonly clockSkew: number;
  readonly requireClaims: ReadonlyArray<{ name: string; value: string }>;
  readonly requireScopes: readonly string[];
  readonly maxTokenSize: number;
  readonly forwardClaims: ReadonlyArray<{ header: string; claim: string }>;
  readonly stripAuthorization: boolean;
  readonly upstreamTimeoutMs: number;
  readonly rateLimit?: FlagLimit | undefined;
  readonly quota?: FlagLimit | undefined;
  readonly limitBy?: LimitKey | undefined;
}

/** `claim:NAME` | `client_id` | `ip` (docs/commands/serve.md: --limit-by). */
export function parseLimitBy(text: string): LimitKey | undefined {
  if (text === 'client_id') return { by: 'client_id' };
  if (text === 'ip') return { by: 'ip' };
  if (text.startsWith('claim:') && text.length > 6)
    return { by: 'claim', claim: text.slice(6).split('.') };
  return undefined;
}

const UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** `60s`, `1m`, `1h`, `1d`, `500ms` -> milliseconds; a bare number is seconds. */
export function parsePeriod(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * (UNITS[m[2] ?? 's'] as number);
  return Number.isFinite(ms) && ms >= 1 ? Math.round(ms) : undefined;
}

/** `N/PERIOD` (`100/1m`) -> limit and period; undefined when malformed. */
export function parseLimit(text: string): FlagLimit | undefined {
  const slash = text.indexOf('/');
  if (slash <= 0) return undefined;
  const limit = Number(text.slice(0, slash));
  const periodMs = parsePeriod(text.slice(slash + 1));
  if (!Number.isInteger(limit) || limit < 1 || periodMs === undefined) return undefined;
  return { limit, periodMs, text };
}

export function limitKeyText(key: LimitKey): string {
  switch (key.by) {
    case 'claim':
      return `claim:${key.claim.join('.')}`;
    case 'header':
      return `header:${key.header}`;
    case 'expression':
      return `expression ${key.source}`;
    default:
      return key.by;
  }
}

/**
 * The native limit rules: the rate limit is a sliding window (no burst of
 * 2N across a window edge; exact up to SLIDING_LOG_MAX requests), the quota fixed windows aligned to the epoch
 * (a `1d` quota renews at 00:00 UTC); refused requests are not counted.
 */
export function nativeLimits(
  rate: FlagLimit | undefined,
  quota: FlagLimit | undefined,
  key: LimitKey,
  where: string,
): LimitRule[] {
  const rules: LimitRule[] = [];
  const by = limitKeyText(key);
  if (rate) {
    rules.push({
      id: 'rate',
      kind: 'rate',
      algorithm: slidingAlgorithm(rate.limit),
      limit: rate.limit,
      periodMs: rate.periodMs,
      countRefused: false,
      key,
      label: `${where}rate_limit ${rate.text} by ${by}`,
    });
  }
  if (quota) {
    rules.push({
      id: 'quota',
      kind: 'quota',
      algorithm: 'fixed_from_start',
      limit: quota.limit,
      periodMs: quota.periodMs,
      startMs: 0,
      countRefused: false,
      key,
      label: `${where}quota ${quota.text} by ${by}`,
    });
  }
  return rules;
}

export function planFromFlags(input: FlagInput): Plan {
  const checks = checksFromPolicy(
    {
      issuers: [],
      audiences: input.audiences,
      clockSkewSeconds: input.clockSkew,
      requiredClaims: input.requireClaims,
      requiredScopes: input.requireScopes,
    },
    { algorithms: input.algorithms, maxTokenBytes: input.maxTokenSize },
  );
  const key = input.limitBy ?? { by: 'claim', claim: ['sub'] };
  return freezePlan({
    apis: [
      {
        name: 'default',
        source: { format: 'flags', file: 'flags', path: '' },
        match: { path: '/', stripPath: false },
        upstream: { url: input.upstream, timeoutMs: input.upstreamTimeoutMs },
        token: BEARER_HEADER,
        trust: {
          issuers: input.issuers,
          jwksUris: input.jwksUris,
          publicKeys: input.publicKeys,
          secrets: input.secret ? [{ secret: input.secret, source: '--secret' }] : [],
        },
        checks,
        credentials: { bearer: true },
        forward: {
          claims: input.forwardClaims,
          stripAuthorization: input.stripAuthorization,
          consumerHeaders: false,
        },
        limits: nativeLimits(input.rateLimit, input.quota, key, ''),
        answers: { style: 'rfc6750' },
      },
    ],
    warnings: [],
    notFoundStyle: { style: 'rfc6750' },
    files: [],
  });
}
