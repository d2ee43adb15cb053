import { getHeapSpaceStatistics } from 'node:v8';

/**
 * The gateway's metrics in the Prometheus text exposition format (0.0.4):
 * counters and histograms kept in plain objects, rendered on /metrics.
 */

const BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

export class Histogram {
  readonly counts = new Array<number>(BUCKETS.length).fill(0);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= (BUCKETS[i] as number)) {
        (this.counts[i] as number)++;
        return;
      }
    }
  }

  render(name: string, help: string): string {
    let text = `# HELP ${name} ${help}\n# TYPE ${name} histogram\n`;
    let cumulative = 0;
    for (let i = 0; i < BUCKETS.length; i++) {
      cumulative += this.counts[i] as number;
      text += `${name}_bucket{le="${BUCKETS[i]}"} ${cumulative}\n`;
    }
    text += `${name}_bucket{le="+Inf"} ${this.count}\n${name}_sum ${this.sum}\n${name}_count ${this.count}\n`;
    return text;
  }
}

function label(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export class GatewayMetrics {
  /** `status reason\u0000api` -> count. */
  private readonly requests = new Map<string, number>();
  /** `api\u0000rule` -> requests refused by a limit. */
  private readonly limited = new Map<string, number>();
  /** `ok` / `error` -> plan reloads. */
  private readonly reloads = new Map<string, number>();
  /** Limit-store failures (requests let through or refused while the store was lost). */
  limitStoreErrors = 0;
  /** 1 while the limit store answers (absent: no store). */
  limitStoreUp: boolean | undefined;
  /** `uri result` -> count. */
  private readonly jwksFetches = new Map<string, number>();
  readonly verification = new Histogram();
  readonly upstream = new Histogram();
  inflight = 0;

  request(status: number, reason: string | undefined, api?: string): void {
    const key = `${status} ${reason ?? ''}\u0000${api ?? ''}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  limitedRequest(api: string, rule: string): void {
    const key = `${api}\u0000${rule}`;
    this.limited.set(key, (this.limited.get(key) ?? 0) + 1);
  }

  reload(result: 'ok' | 'error'): void {
    this.reloads.set(result, (this.reloads.get(result) ?? 0) + 1);
  }

  jwksFetch(uri: string, result: 'ok' | 'error'): void {
    const key = `${result} ${uri}`;
    this.jwksFetches.set(key, (this.jwksFetches.get(key) ?? 0) + 1);
  }

  /** Fetches of `uri` so far (all results). */
  jwksFetchCount(uri?: string): number {
    let n = 0;
    for (const [key, count] of this.jwksFetches)
      if (uri === undefined || key.endsWith(` ${uri}`)) n += count;
    return n;
  }

  render(extra: {
    cacheHits: number;
    cacheMisses: number;
    cacheEntries: number;
    ready: boolean;
  }): string {
    let text =
      '# HELP oidc_gw_requests_total Requests handled, by HTTP status and refusal reason ("" when forwarded).\n';
    text += '# TYPE oidc_gw_requests_total counter\n';
    for (const [key, count] of [...this.requests].sort()) {
      const space = key.indexOf(' ');
      const nul = key.indexOf('\u0000');
      const api = key.slice(nul + 1);
      text += `oidc_gw_requests_total{status="${key.slice(0, space)}",reason="${label(key.slice(space + 1, nul))}"${api ? `,api="${label(api)}"` : ''}} ${count}\n`;
    }
    text +=
      '# HELP oidc_gw_limited_requests_total Requests refused by a rate limit or quota, by API and limit.\n# TYPE oidc_gw_limited_requests_total counter\n';
    for (const [key, count] of [...this.limited].sort()) {
      const nul = key.indexOf('\u0000');
      text += `oidc_gw_limited_requests_total{api="${label(key.slice(0, nul))}",limit="${label(key.slice(nul + 1))}"} ${count}\n`;
    }
    text +=
      '# HELP oidc_gw_reloads_total Configuration reloads, by result.\n# TYPE oidc_gw_reloads_total counter\n';
    for (const result of ['ok', 'error'] as const) {
      text += `oidc_gw_reloads_total{result="${result}"} ${this.reloads.get(result) ?? 0}\n`;
    }
    if (this.limitStoreUp !== undefined) {
      text +=
        '# HELP oidc_gw_limit_store_up 1 while the limit store (Redis) answers.\n# TYPE oidc_gw_limit_store_up gauge\n';
      text += `oidc_gw_limit_store_up ${this.limitStoreUp ? 1 : 0}\n`;
      text +=
        '# HELP oidc_gw_limit_store_errors_total Requests whose limits could not be counted (store lost).\n# TYPE oidc_gw_limit_store_errors_total counter\n';
      text += `oidc_gw_limit_store_errors_total ${this.limitStoreErrors}\n`;
    }
    text += this.verification.render(
      'oidc_gw_verification_duration_seconds',
      'Time to verify a token that was not in the verified-token cache.',
    );
    text += this.upstream.render(
      'oidc_gw_upstream_duration_seconds',
      'Time from sending a request upstream to its response headers.',
    );
    text +=
      '# HELP oidc_gw_jwks_fetches_total JWKS fetches, by URI and result.\n# TYPE oidc_gw_jwks_fetches_total counter\n';
    for (const [key, count] of [...this.jwksFetches].sort()) {
      const space = key.indexOf(' ');
      text += `oidc_gw_jwks_fetches_total{uri="${label(key.slice(space + 1))}",result="${key.slice(0, space)}"} ${count}\n`;
    }
    text +=
      '# HELP oidc_gw_token_cache_hits_total Verified-token cache hits.\n# TYPE oidc_gw_token_cache_hits_total counter\n';
    text += `oidc_gw_token_cache_hits_total ${extra.cacheHits}\n`;
    text +=
      '# HELP oidc_gw_token_cache_misses_total Verified-token cache misses.\n# TYPE oidc_gw_token_cache_misses_total counter\n';
    text += `oidc_gw_token_cache_misses_total ${extra.cacheMisses}\n`;
    text +=
      '# HELP oidc_gw_token_cache_entries Tokens in the verified-token cache.\n# TYPE oidc_gw_token_cache_entries gauge\n';
    text += `oidc_gw_token_cache_entries ${extra.cacheEntries}\n`;
    text +=
      '# HELP oidc_gw_inflight_requests Requests being handled.\n# TYPE oidc_gw_inflight_requests gauge\n';
    text += `oidc_gw_inflight_requests ${this.inflight}\n`;
    text +=
      '# HELP oidc_gw_ready 1 when the gateway has its keys and is not draining.\n# TYPE oidc_gw_ready gauge\n';
    text += `oidc_gw_ready ${extra.ready ? 1 : 0}\n`;
    const memory = process.memoryUsage();
    const gauge = (name: string, help: string, value: number) => {
      text += `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name} ${value}\n`;
    };
    gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', memory.rss);
    gauge('nodejs_heap_size_total_bytes', 'V8 heap size in bytes.', memory.heapTotal);
    gauge('nodejs_heap_size_used_bytes', 'V8 heap used in bytes.', memory.heapUsed);
    gauge(
      'nodejs_external_memory_bytes',
      'Memory of C++ objects bound to JavaScript objects, in bytes.',
      memory.external,
    );
    text +=
      '# HELP nodejs_heap_space_size_total_bytes V8 heap space size, by space, in bytes.\n# TYPE nodejs_heap_space_size_total_bytes gauge\n';
    for (const space of getHeapSpaceStatistics()) {
      text += `nodejs_heap_space_size_total_bytes{space="${label(space.space_name.replace(/_space$/, ''))}"} ${space.space_size}\n`;
    }
    return text;
  }
}
