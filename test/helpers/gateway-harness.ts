/**
 * The gateway in-process for integration tests: real trust building (real
 * HTTP to the test's JWKS server or IdP), the real Verifier, the real
 * node:http server and undici pool, on 127.0.0.1 at port 0. Log lines are
 * collected in memory (JSON lines) so tests can read them.
 */
import { Chalk } from 'chalk';
import { buildTrust } from '../../src/core/gateway/trust.js';
import { Verifier } from '../../src/core/gateway/verify.js';
import { AccessLog } from '../../src/http/gateway/access-log.js';
import { GatewayMetrics } from '../../src/http/gateway/metrics.js';
import { startGateway, type Gateway } from '../../src/http/gateway/server.js';

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
}

export interface TestGateway {
  url: string;
  port: number;
  adminUrl: string | undefined;
  gateway: Gateway;
  verifier: Verifier;
  metrics: GatewayMetrics;
  /** Every log line so far, parsed (JSON lines). */
  logs(): Array<Record<string, unknown>>;
  /** The raw log text. */
  logText(): string;
  close(): Promise<void>;
}

export async function startTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  let text = '';
  const now = options.now ?? Date.now;
  const log = new AccessLog((t) => (text += t), 'json', new Chalk({ level: 0 }), now);
  const metrics = new GatewayMetrics();
  const late: { verifier?: Verifier } = {};
  const fetchLike = (url: string, init: RequestInit) => fetch(url, init);
  const built = await buildTrust({
    issuers: options.issuers ?? [],
    jwksUris: options.jwksUris ?? [],
    publicKeys: options.publicKeys ?? [],
    secret: options.secret,
    fetch: fetchLike,
    timeoutSeconds: 5,
    insecureHttp: false,
    jwksMaxAgeMs: options.jwksMaxAgeMs ?? 600_000,
    jwksCooldownMs: options.jwksCooldownMs ?? 30_000,
    now,
    log: (line) => log.note(line),
    onFetch: (uri, result) => metrics.jwksFetch(uri, result),
    onChange: () => late.verifier?.cache.clear(),
  });
  const verifier = new Verifier({
    trust: built.trust,
    issuers: built.issuerIds,
    audiences: options.audiences ?? [],
    algorithms: options.algorithms,
    clockSkewSeconds: options.clockSkewSeconds ?? 30,
    requiredClaims: options.requiredClaims ?? [],
    requiredScopes: options.requiredScopes ?? [],
    maxTokenBytes: options.maxTokenBytes ?? 8192,
    cacheSize: options.cacheSize ?? 1000,
    forwardClaims: options.forwardClaims ?? [],
  });
  late.verifier = verifier;
  const gateway = await startGateway({
    upstream: new URL(options.upstream),
    host: '127.0.0.1',
    port: 0,
    adminPort: options.adminPort,
    verifier,
    stripAuthorization: options.stripAuthorization ?? false,
    upstreamTimeoutMs: options.upstreamTimeoutMs ?? 5000,
    log,
    metrics,
    now,
    drainMs: options.drainMs ?? 10_000,
  });
  const v = verifier;
  return {
    url: gateway.url,
    port: gateway.port,
    adminUrl: gateway.adminUrl,
    gateway,
    verifier: v,
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
      await gateway.shutdown();
    },
  };
}
