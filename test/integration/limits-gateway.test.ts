/**
 * Per-identity limits through the whole gateway (issue 12): the dev IdP
 * signs real tokens, the gateway runs through the same service as `serve`
 * (flags `--rate-limit`, `--quota`, `--limit-by` as a plan), and an echo
 * upstream counts what reached it. Covers the native answers (RateLimit-*
 * on every response, 429 rate_limited / quota_exceeded with Retry-After),
 * the log line and metric of a limited request, re-issued tokens keeping
 * their counters, each --limit-by, and atomicity under 1,000 concurrent
 * requests (in memory and in a real Redis).
 */
import { Pool } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startIdp, type Idp } from '../../src/api/idp.js';
import { LimitStoreUnavailable } from '../../src/gateway/limits/errors.js';
import { connectRedisStore } from '../../src/gateway/limits/redis-store.js';
import type { LimitStore } from '../../src/gateway/limits/types.js';
import { parseLimit, parseLimitBy, planFromFlags } from '../../src/gateway/load/from-flags.js';
import type { LimitKey } from '../../src/gateway/plan.js';
import {
  startPlanGateway,
  startTestGateway,
  type TestGateway,
} from '../helpers/gateway-harness.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import { runCall, type CallOptions } from '../../src/services/call.js';
import { captureContext } from '../helpers/call-context.js';

let idp: Idp;
let upstream: Upstream;
const gateways: TestGateway[] = [];

beforeAll(async () => {
  idp = await startIdp();
  upstream = await startUpstream();
});

afterAll(async () => {
  await upstream?.close();
  await idp?.stop();
});

afterEach(async () => {
  while (gateways.length > 0) await gateways.pop()?.close();
  upstream.requests.length = 0;
});

/** A fixed clock: windows cannot roll over in the middle of a test. */
const NOW = Date.now();

/** `serve --issuer IDP --audience API --upstream UPSTREAM` as planFromFlags takes it. */
const FLAGS = {
  get upstream() {
    return upstream.url;
  },
  get issuers() {
    return [idp.issuer];
  },
  jwksUris: [],
  publicKeys: [],
  secret: undefined,
  get audiences() {
    return [idp.audience];
  },
  algorithms: undefined,
  clockSkew: 30,
  requireClaims: [],
  requireScopes: [],
  maxTokenSize: 8192,
  forwardClaims: [],
  stripAuthorization: false,
  upstreamTimeoutMs: 5000,
  rateLimit: undefined,
  quota: undefined,
  limitBy: undefined,
};

function limit(text: string) {
  const parsed = parseLimit(text);
  if (!parsed) throw new Error(`bad limit ${text}`);
  return parsed;
}

async function gateway(options: {
  rateLimit?: string;
  quota?: string;
  limitBy?: string;
  adminPort?: number;
}): Promise<TestGateway> {
  const gw = await startTestGateway({
    upstream: upstream.url,
    issuers: [idp.issuer],
    audiences: [idp.audience],
    ...(options.rateLimit ? { rateLimit: limit(options.rateLimit) } : {}),
    ...(options.quota ? { quota: limit(options.quota) } : {}),
    ...(options.limitBy ? { limitBy: parseLimitBy(options.limitBy) as LimitKey } : {}),
    ...(options.adminPort !== undefined ? { adminPort: options.adminPort } : {}),
    now: () => NOW,
  });
  gateways.push(gw);
  return gw;
}

async function get(gw: TestGateway, token: string): Promise<Response> {
  return fetch(`${gw.url}/orders`, { headers: { authorization: `Bearer ${token}` } });
}

function limited(gw: TestGateway): Array<Record<string, unknown>> {
  return gw.logs().filter((l) => l['status'] === 429);
}

describe('native answers of a limited API', () => {
  it('RateLimit-* on every response; the 4th of 3/1h is 429 rate_limited with Retry-After, never upstream', async () => {
    const gw = await gateway({ rateLimit: '3/1h', adminPort: 0 });
    const token = await idp.token({ user: 'alice' });
    const remaining: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await get(gw, token);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      expect(res.headers.get('ratelimit-limit')).toBe('3');
      remaining.push(res.headers.get('ratelimit-remaining') ?? '');
      const reset = Number(res.headers.get('ratelimit-reset'));
      expect(reset).toBeGreaterThan(0);
      expect(reset).toBeLessThanOrEqual(3600);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    expect(upstream.requests).toHaveLength(3);

    const refused = await get(gw, token);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await refused.json()) as Record<string, unknown>;
    expect(body['error']).toBe('rate_limited');
    expect(typeof body['error_description']).toBe('string');
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    // An exact sliding log (3 is under 1,000): the oldest request leaves within the hour.
    expect(retryAfter).toBeLessThanOrEqual(3600);
    expect(refused.headers.get('ratelimit-limit')).toBe('3');
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    expect(refused.headers.get('ratelimit-reset')).toBe(String(retryAfter));
    // Refused: the upstream saw nothing more.
    expect(upstream.requests).toHaveLength(3);

    const [line] = limited(gw);
    expect(line?.['reason']).toBe('rate_limited');
    expect(String(line?.['limit'])).toContain('rate_limit 3/1h');
    expect(line?.['key']).toBe('alice');

    const metrics = await (await fetch(`${gw.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /^oidc_gw_limited_requests_total\{api="[^"]*",limit="[^"]*rate_limit 3\/1h[^"]*"\} 1$/m,
    );
  });

  it('an upstream that fails after the limits passed: 502 with the RateLimit-* headers, and counted', async () => {
    const { closedPort } = await import('../helpers/gateway-servers.js');
    const gw = await startTestGateway({
      upstream: `http://127.0.0.1:${await closedPort()}`,
      issuers: [idp.issuer],
      audiences: [idp.audience],
      rateLimit: limit('2/1h'),
      now: () => NOW,
    });
    gateways.push(gw);
    const token = await idp.token({ user: 'carol' });
    const answers: Array<[number, string | null, string | null]> = [];
    for (let i = 0; i < 3; i++) {
      const res = await get(gw, token);
      await res.arrayBuffer();
      answers.push([
        res.status,
        res.headers.get('ratelimit-limit'),
        res.headers.get('ratelimit-remaining'),
      ]);
    }
    expect(answers).toEqual([
      [502, '2', '1'],
      [502, '2', '0'],
      [429, '2', '0'],
    ]);
    // Refused for its token: no counter moved, no RateLimit-* header.
    const anonymous = await fetch(`${gw.url}/orders`);
    await anonymous.arrayBuffer();
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('ratelimit-limit')).toBeNull();
  });

  it('limits a reload brings are enforced (the gateway started without any)', async () => {
    const gw = await gateway({});
    const token = await idp.token({ user: 'dora' });
    for (let i = 0; i < 3; i++) expect((await get(gw, token)).status).toBe(200);
    const limited = planFromFlags({ ...FLAGS, rateLimit: limit('1/1h') });
    await gw.service.reload(limited);
    const first = await get(gw, token);
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBe('1');
    expect((await get(gw, token)).status).toBe(429);
  });

  it('a store that cannot answer: 503 limits_unavailable with closed, let through uncounted with open', async () => {
    const broken: LimitStore = {
      healthy: false,
      hit: () => Promise.reject(new LimitStoreUnavailable('lost', 'Redis is unreachable')),
      close: () => Promise.resolve(),
    };
    const plan = planFromFlags({ ...FLAGS, rateLimit: limit('5/1m') });
    const token = await idp.token({ user: 'erin' });
    for (const failure of ['closed', 'open'] as const) {
      const gw = await startPlanGateway(plan, {
        store: broken,
        redisFailure: failure,
        now: () => NOW,
      });
      gateways.push(gw);
      const before = upstream.requests.length;
      const res = await get(gw, token);
      const body = await res.text();
      if (failure === 'closed') {
        expect(res.status).toBe(503);
        expect(JSON.parse(body)).toMatchObject({ error: 'temporarily_unavailable' });
        expect(upstream.requests.length).toBe(before);
        expect(gw.logs().at(-1)).toMatchObject({ status: 503, reason: 'limits_unavailable' });
      } else {
        expect(res.status).toBe(200);
        expect(res.headers.get('ratelimit-limit')).toBeNull();
        expect(upstream.requests.length).toBe(before + 1);
      }
    }
  });

  it('a quota refusal is 429 quota_exceeded with Retry-After', async () => {
    const gw = await gateway({ quota: '2/1d' });
    const token = await idp.token({ user: 'alice' });
    for (let i = 0; i < 2; i++) {
      const res = await get(gw, token);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      expect(res.headers.get('ratelimit-limit')).toBe('2');
    }
    const refused = await get(gw, token);
    expect(refused.status).toBe(429);
    expect(((await refused.json()) as { error: string }).error).toBe('quota_exceeded');
    const retryAfter = Number(refused.headers.get('retry-after'));
    // The quota's day is aligned to the epoch: the retry is within a day.
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(86_400);
    expect(retryAfter).toBe(Math.ceil((86_400_000 - (NOW % 86_400_000)) / 1000));
    expect(upstream.requests).toHaveLength(2);
    expect(String(limited(gw)[0]?.['limit'])).toContain('quota 2/1d');
  });

  it('a rate limit refusal does not use up the quota', async () => {
    const gw = await gateway({ rateLimit: '1/1h', quota: '5/1d' });
    const token = await idp.token({ user: 'alice' });
    const first = await get(gw, token);
    await first.arrayBuffer();
    // Headers describe the tightest rule: the rate limit, 0 left.
    expect(first.headers.get('ratelimit-limit')).toBe('1');
    expect(first.headers.get('ratelimit-remaining')).toBe('0');
    for (let i = 0; i < 3; i++) {
      const res = await get(gw, token);
      expect(res.status).toBe(429);
      expect(((await res.json()) as { error: string }).error).toBe('rate_limited');
    }
    const state = await gw.service.store?.hit(
      { api: gw.service.current().apis[0]!.counterScope, identity: 'alice' },
      gw.service.current().apis[0]!.plan.limits.filter((r) => r.kind === 'quota'),
      NOW,
    );
    // One counted so far by the quota (this hit is the second).
    expect(state?.[0]?.remaining).toBe(3);
  });
});

describe('whose counter', () => {
  it('a re-issued token for the same sub is still limited; another sub is not', async () => {
    const gw = await gateway({ rateLimit: '2/1h' });
    for (let i = 0; i < 2; i++) {
      const res = await get(gw, await idp.token({ user: 'alice' }));
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    const reissued = await idp.token({ user: 'alice' });
    const res = await get(gw, reissued);
    expect(res.status).toBe(429);
    await res.arrayBuffer();
    const bob = await get(gw, await idp.token({ user: 'bob' }));
    expect(bob.status).toBe(200);
    expect(bob.headers.get('ratelimit-remaining')).toBe('1');
    await bob.arrayBuffer();
    expect(upstream.requests).toHaveLength(3);
  });

  it('--limit-by client_id: users of one client share it; the key is logged hashed', async () => {
    const gw = await gateway({ rateLimit: '2/1h', limitBy: 'client_id' });
    const alice = await idp.token({ user: 'alice', claims: { client_id: 'shared-app' } });
    const bob = await idp.token({ user: 'bob', claims: { client_id: 'shared-app' } });
    const other = await idp.token({ user: 'bob', claims: { client_id: 'other-app' } });
    expect((await get(gw, alice)).status).toBe(200);
    expect((await get(gw, bob)).status).toBe(200);
    expect((await get(gw, alice)).status).toBe(429);
    expect((await get(gw, other)).status).toBe(200);
    const [line] = limited(gw);
    expect(line?.['key']).toMatch(/^sha256:[A-Za-z0-9_-]{22}$/);
    expect(gw.logText()).not.toContain('shared-app');
  });

  it('--limit-by ip: every caller from one address shares it', async () => {
    const gw = await gateway({ rateLimit: '2/1h', limitBy: 'ip' });
    expect((await get(gw, await idp.token({ user: 'alice' }))).status).toBe(200);
    expect((await get(gw, await idp.token({ user: 'bob' }))).status).toBe(200);
    expect((await get(gw, await idp.token({ user: 'carol' }))).status).toBe(429);
    expect(limited(gw)[0]?.['key']).toBe('127.0.0.1');
  });

  it('--limit-by claim:NAME counts by that claim', async () => {
    const gw = await gateway({ rateLimit: '1/1h', limitBy: 'claim:tenant' });
    const t1 = await idp.token({ user: 'alice', claims: { tenant: 't-1' } });
    const t1b = await idp.token({ user: 'bob', claims: { tenant: 't-1' } });
    const t2 = await idp.token({ user: 'bob', claims: { tenant: 't-2' } });
    expect((await get(gw, t1)).status).toBe(200);
    expect((await get(gw, t1b)).status).toBe(429);
    expect((await get(gw, t2)).status).toBe(200);
    // No such claim: refused, never counted against anyone.
    const none = await get(gw, await idp.token({ user: 'carol' }));
    expect(none.status).toBe(403);
    expect(upstream.requests).toHaveLength(2);
  });
});

describe('atomicity: 1,000 concurrent requests for one identity, limit 100', () => {
  async function flood(gw: TestGateway): Promise<Map<number, number>> {
    const token = await idp.token({ user: 'alice' });
    const pool = new Pool(gw.url, { connections: 64 });
    try {
      const statuses = await Promise.all(
        Array.from({ length: 1000 }, async () => {
          const res = await pool.request({
            path: '/orders',
            method: 'GET',
            headers: { authorization: `Bearer ${token}` },
          });
          await res.body.dump();
          return res.statusCode;
        }),
      );
      const counts = new Map<number, number>();
      for (const s of statuses) counts.set(s, (counts.get(s) ?? 0) + 1);
      return counts;
    } finally {
      await pool.close();
    }
  }

  it('in memory: exactly 100 reach the upstream', async () => {
    const gw = await gateway({ rateLimit: '100/1h' });
    const counts = await flood(gw);
    expect(counts.get(200)).toBe(100);
    expect(counts.get(429)).toBe(900);
    expect(upstream.requests).toHaveLength(100);
  }, 60_000);

  describe('in Redis', () => {
    let redis: RedisServer;
    beforeAll(async () => {
      redis = await startRedis();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('exactly 100 reach the upstream', async () => {
      const plan = planFromFlags({
        upstream: upstream.url,
        issuers: [idp.issuer],
        jwksUris: [],
        publicKeys: [],
        audiences: [idp.audience],
        clockSkew: 30,
        requireClaims: [],
        requireScopes: [],
        maxTokenSize: 8192,
        forwardClaims: [],
        stripAuthorization: false,
        upstreamTimeoutMs: 5000,
        rateLimit: limit('100/1h'),
      });
      const store = await connectRedisStore({ url: redis.url });
      const gw = await startPlanGateway(plan, { store });
      gateways.push(gw);
      const counts = await flood(gw);
      expect(counts.get(200)).toBe(100);
      expect(counts.get(429)).toBe(900);
      expect(upstream.requests).toHaveLength(100);
    }, 60_000);
  });
});

describe('call against a limited API', () => {
  function callOptions(url: string, token: string): CallOptions {
    return {
      url,
      headers: [],
      data: [],
      include: false,
      silent: false,
      fail: false,
      failWithBody: false,
      location: false,
      maxRedirs: 20,
      insecure: false,
      clientCredentials: false,
      idToken: false,
      noAuth: false,
      token,
      settingsOpts: {},
    };
  }

  it('shows the limit headers in its summary, and on 429 when to retry', async () => {
    const gw = await gateway({ rateLimit: '2/1h' });
    const token = await idp.token({ user: 'alice' });
    const url = `${gw.url}/orders`;
    const first = captureContext({ stderrTty: true, now: () => NOW });
    expect(await runCall(first.ctx, callOptions(url, token))).toBe(0);
    expect(first.stderr()).toMatch(/^200 OK · .* · limit 2, 1 left, resets in \d+ (s|min|h)/m);

    const second = captureContext({ stderrTty: true, now: () => NOW });
    await runCall(second.ctx, callOptions(url, token));
    expect(second.stderr()).toContain('limit 2, 0 left');

    // Refused: a warning says when to retry (terminal or not), from Retry-After.
    const refused = captureContext({ stderrTty: false, now: () => NOW });
    expect(await runCall(refused.ctx, callOptions(url, token))).toBe(0);
    expect(refused.stderr()).toMatch(
      /^warning: 429 Too Many Requests: retry in \d+ (s|min|h)( \d+ (s|min))?, at \d\d:\d\d:\d\d UTC \(Retry-After\)$/m,
    );
    expect(JSON.parse(refused.stdout().toString()).error).toBe('rate_limited');
    expect(upstream.requests).toHaveLength(2);
  });
});
