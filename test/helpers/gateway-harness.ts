/**
 * The gateway in-process for integration tests, through the same run step
 * as `serve` (services/serve.ts startGatewayService): a plan (from the same
 * flag-shaped options, or any plan), real trust building (real HTTP to the
 * test's JWKS server or IdP), the real verifier, server and undici pools, on
 * 127.0.0.1 at port 0. Log lines are collected in memory (JSON lines) so
 * tests can read them.
 */
import { Chalk } from 'chalk';
import type { Verifier } from '../../src/core/gateway/verify.js';
import type { LimitStore } from '../../src/gateway/limits/types.js';
import { planFromFlags, type FlagLimit } from '../../src/gateway/load/from-flags.js';
import type { LimitKey, Plan } from '../../src/gateway/plan.js';
import { AccessLog } from '../../src/http/gateway/access-log.js';
import { GatewayMetrics } from '../../src/http/gateway/metrics.js';
import { startGatewayService, type GatewayService } from '../../src/services/serve.js';

export interface TestGatewayOptions {
  upstream: string;
  issuers?: string[];
  jwksUris?: string[];
  publicKeys?: Array<{ text: string; source: string }>;
  secret?: Uint8Array;
  audiences?: string[];
  algorithms?: string[];
  clockSkewSeconds?: number;
  requiredClaims?: Array<{ name: string; value: string }>;
  requiredScopes?: string[];
  maxTokenBytes?: number;
  cacheSize?: number;
  forwardClaims?: Array<{ header: string; claim: string }>;
  stripAuthorization?: boolean;
  upstreamTimeoutMs?: number;
  adminPort?: number;
  drainMs?: number;
  jwksCooldownMs?: number;
  jwksMaxAgeMs?: number;
  now?: () => number;
  rateLimit?: FlagLimit;
  quota?: FlagLimit;
  limitBy?: LimitKey;
}

export interface TestGateway {
  url: string;
  port: number;
  adminUrl: string | undefined;
  /** The listener (shutdown, swap). */
  gateway: GatewayService['server'];
  service: GatewayService;
  /** The verifier of the first API. */
  verifier: Verifier;
  metrics: GatewayMetrics;
  /** Every log line so far, parsed (JSON lines). */
  logs(): Array<Record<string, unknown>>;
  /** The raw log text. */
  logText(): string;
  close(): Promise<void>;
}

export interface PlanGatewayOptions {
  adminPort?: number;
  drainMs?: number;
  jwksCooldownMs?: number;
  jwksMaxAgeMs?: number;
  cacheSize?: number;
  now?: () => number;
  store?: LimitStore;
  redisFailure?: 'open' | 'closed';
}

/** The gateway on any plan (a loaded file, an importer's output). */
export async function startPlanGateway(
  plan: Plan,
  options: PlanGatewayOptions = {},
): Promise<TestGateway> {
  let text = '';
  const now = options.now ?? Date.now;
  const log = new AccessLog((t) => (text += t), 'json', new Chalk({ level: 0 }), now);
  const metrics = new GatewayMetrics();
  const service = await startGatewayService({
    plan,
    host: '127.0.0.1',
    port: 0,
    adminPort: options.adminPort,
    log,
    metrics,
    fetch: (url: string, init: RequestInit) => fetch(url, init),
    timeoutSeconds: 5,
    insecureHttp: false,
    jwksMaxAgeMs: options.jwksMaxAgeMs ?? 600_000,
    jwksCooldownMs: options.jwksCooldownMs ?? 30_000,
    tokenCacheSize: options.cacheSize ?? 1000,
    now,
    drainMs: options.drainMs ?? 10_000,
    store: options.store,
    ...(options.redisFailure ? { redisFailure: options.redisFailure } : {}),
  });
  const server = service.server;
  return {
    url: server.url,
    port: server.port,
    adminUrl: server.adminUrl,
    gateway: server,
    service,
    get verifier() {
      return service.current().apis[0]?.verifier as Verifier;
    },
    metrics,
    logs: () => {
      log.flush();
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>);
    },
    logText: () => {
      log.flush();
      return text;
    },
    close: async () => {
      await service.stop();
    },
  };
}

export async function startTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const plan = planFromFlags({
    upstream: options.upstream,
    issuers: options.issuers ?? [],
    jwksUris: options.jwksUris ?? [],
    publicKeys: options.publicKeys ?? [],
    secret: options.secret,
    audiences: options.audiences ?? [],
    algorithms: options.algorithms,
    clockSkew: options.clockSkewSeconds ?? 30,
    requireClaims: options.requiredClaims ?? [],
    requireScopes: options.requiredScopes ?? [],
    maxTokenSize: options.maxTokenBytes ?? 8192,
    forwardClaims: options.forwardClaims ?? [],
    stripAuthorization: options.stripAuthorization ?? false,
    upstreamTimeoutMs: options.upstreamTimeoutMs ?? 5000,
    rateLimit: options.rateLimit,
    quota: options.quota,
    limitBy: options.limitBy,
  });
  return startPlanGateway(plan, {
    ...(options.adminPort !== undefined ? { adminPort: options.adminPort } : {}),
    drainMs: options.drainMs ?? 10_000,
    ...(options.jwksCooldownMs !== undefined ? { jwksCooldownMs: options.jwksCooldownMs } : {}),
    ...(options.jwksMaxAgeMs !== undefined ? { jwksMaxAgeMs: options.jwksMaxAgeMs } : {}),
    cacheSize: options.cacheSize ?? 1000,
    ...(options.now ? { now: options.now } : {}),
  });
}
