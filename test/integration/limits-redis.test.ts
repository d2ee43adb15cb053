/**
 * RedisStore against a real redis-server (test/helpers/redis.ts, a unix
 * socket): the Lua scripts give the same answers as the in-memory
 * algorithms, replicas share one count, the count is atomic, keys are laid
 * out and expire as docs/limits.md says, and an outage is reported fast and
 * recovered from.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LimitAlgorithm, LimitRule } from '../../src/gateway/plan.js';
import {
  LimitStoreUnavailable,
  MemoryStore,
  calendarWindow,
  connectRedisStore,
  type CountMode,
  identityKey,
  type LimitState,
  type RedisStore,
  type RedisStoreOptions,
} from '../../src/gateway/limits/index.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

let nextId = 0;
function rule(
  algorithm: LimitAlgorithm,
  limit: number,
  periodMs: number,
  extra: Partial<LimitRule> = {},
): LimitRule {
  nextId += 1;
  return {
    id: `r${nextId}`,
    kind: 'rate',
    algorithm,
    limit,
    periodMs,
    countRefused: false,
    key: { by: 'claim', claim: ['sub'] },
    label: `test ${nextId}`,
    ...extra,
  };
}

/** A small deterministic generator (xorshift32), so failures replay. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 4_294_967_296;
  };
}

/** Times that walk across several windows, landing exactly on some boundaries (none when 0). */
function sequence(seed: number, base: number, step: number, boundary: number, count: number) {
  const rand = prng(seed);
  const out: Array<{ t: number; cost: number }> = [];
  let t = base;
  for (let i = 0; i < count; i += 1) {
    const r = boundary > 0 ? rand() : 1;
    if (r < 0.15)
      t = (Math.floor(t / boundary) + 1) * boundary; // exactly the next boundary
    else if (r < 0.25)
      t = (Math.floor(t / boundary) + 1) * boundary - 1; // the last ms before it
    else t += Math.floor(rand() * step);
    out.push({ t, cost: rand() < 0.2 ? 2 : 1 });
  }
  return out;
}

const brief = (s: LimitState) => ({
  allowed: s.allowed,
  remaining: s.remaining,
  resetMs: s.resetMs,
  retryAfterSeconds: s.retryAfterSeconds,
});

describe('RedisStore on a live server', () => {
  let server: RedisServer;
  const stores: RedisStore[] = [];
  async function store(options: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
    const s = await connectRedisStore({ url: server.url, commandTimeoutMs: 20_000, ...options });
    stores.push(s);
    return s;
  }

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    for (const s of stores) await s.close();
    await server?.stop();
  });

  it('every algorithm gives the same answers as memory for the same sequence (injected clock)', async () => {
    const redis = await store({ clock: 'caller', ttlGraceMs: 600_000 });
    const day = 86_400_000;
    const jan31 = Date.parse('2027-01-31T23:59:59.990Z');
    const dec31 = Date.parse('2027-12-31T23:59:59.990Z');
    const feb28leap = Date.parse('2028-02-28T23:59:59.000Z');
    const cases: Array<{ rule: LimitRule; seq: Array<{ t: number; cost: number }> }> = [];
    for (const countRefused of [false, true]) {
      cases.push(
        {
          rule: rule('sliding_log', 5, 1000, { countRefused }),
          seq: sequence(1, 1e12, 300, 1000, 80),
        },
        {
          rule: rule('sliding_window', 7, 1000, { countRefused }),
          seq: sequence(2, 1e12, 120, 1000, 120),
        },
        {
          rule: rule('fixed_calendar', 3, 1000, { calendar: 'second', countRefused }),
          seq: sequence(3, 1e12, 200, 1000, 80),
        },
        {
          rule: rule('fixed_calendar', 4, 60_000, { calendar: 'minute', countRefused }),
          seq: sequence(4, 1e12, 9000, 60_000, 80),
        },
        {
          rule: rule('fixed_calendar', 4, 3_600_000, { calendar: 'hour', countRefused }),
          seq: sequence(5, 1e12, 600_000, 3_600_000, 60),
        },
        {
          rule: rule('fixed_calendar', 4, day, { calendar: 'day', countRefused }),
          seq: sequence(6, 1e12, 10_000_000, day, 60),
        },
        {
          rule: rule('fixed_calendar', 2, 0, { calendar: 'month', countRefused }),
          seq: [
            ...sequence(7, jan31, 3, 0, 20),
            ...sequence(8, feb28leap, day / 3, 0, 20),
            ...sequence(13, dec31, 3, 0, 20),
          ],
        },
        {
          rule: rule('fixed_calendar', 2, 0, { calendar: 'year', countRefused }),
          seq: sequence(9, dec31, 3, 0, 20),
        },
        {
          rule: rule('fixed_first_request', 3, 500, { countRefused }),
          seq: sequence(10, 1e12, 150, 500, 80),
        },
        {
          rule: rule('fixed_from_start', 3, 700, { startMs: 1e12 + 123, countRefused }),
          seq: sequence(11, 1e12, 200, 700, 80),
        },
        {
          rule: rule('fixed_from_start', 6, 0, { startMs: 1e12, countRefused }),
          seq: sequence(12, 1e12, 1e9, 0, 12),
        },
      );
    }
    // The brief's own boundary: Jan 31 23:59:59.999 is January, Feb 1 00:00 is February.
    cases.push({
      rule: rule('fixed_calendar', 1, 0, { calendar: 'month' }),
      seq: [
        { t: Date.parse('2027-01-31T23:59:59.999Z'), cost: 1 },
        { t: Date.parse('2027-01-31T23:59:59.999Z'), cost: 1 },
        { t: Date.parse('2027-02-01T00:00:00.000Z'), cost: 1 },
      ],
    });
    const changedByModes = new Set<string>();
    for (const c of cases) {
      const memory = new MemoryStore();
      const key = { api: 'eq', identity: identityKey('claim', `user-${c.rule.id}`) };
      const fromMemory: unknown[] = [];
      const fromRedis: unknown[] = [];
      for (const { t, cost } of c.seq) {
        fromMemory.push((await memory.hit(key, [c.rule], t, cost)).map(brief));
        fromRedis.push((await redis.hit(key, [c.rule], t, cost)).map(brief));
      }
      expect({ rule: c.rule.label, answers: fromRedis }).toEqual({
        rule: c.rule.label,
        answers: fromMemory,
      });
      // The sequence exercised both outcomes.
      const allowed = fromMemory.flat().map((s) => (s as LimitState).allowed);
      if (c.seq.length > 3) expect(new Set(allowed)).toEqual(new Set([true, false]));

      // The counting modes (CountMode: check writes nothing, add counts even a refusal),
      // interleaved with plain counts, on a counter of their own.
      const modes: CountMode[] = ['count', 'check', 'count', 'add', 'check', 'count', 'add'];
      const key2 = { api: 'eq-modes', identity: key.identity };
      const memory2 = new MemoryStore();
      const modedMemory: unknown[] = [];
      const modedRedis: unknown[] = [];
      for (const [i, { t, cost }] of c.seq.entries()) {
        const mode = modes[i % modes.length];
        modedMemory.push((await memory2.hit(key2, [c.rule], t, cost, mode)).map(brief));
        modedRedis.push((await redis.hit(key2, [c.rule], t, cost, mode)).map(brief));
      }
      expect({ rule: c.rule.label, answers: modedRedis }).toEqual({
        rule: c.rule.label,
        answers: modedMemory,
      });
      // The modes changed the answers (a check-only request leaves room for the next).
      if (JSON.stringify(modedMemory) !== JSON.stringify(fromMemory))
        changedByModes.add(c.rule.algorithm);
    }
    expect([...changedByModes].sort()).toEqual([
      'fixed_calendar',
      'fixed_first_request',
      'fixed_from_start',
      'sliding_log',
      'sliding_window',
    ]);
    const jan = cases[cases.length - 1]!;
    const memory = new MemoryStore();
    const answers = [];
    for (const { t } of jan.seq)
      answers.push((await memory.hit({ api: 'x', identity: 'y' }, [jan.rule], t))[0]!);
    expect(answers.map((s) => s.allowed)).toEqual([true, false, true]);
  });

  it('uses the server clock by default: nowMs is ignored, windows follow Redis TIME', async () => {
    const redis = await store();
    const algorithms: Array<[LimitRule, number]> = [
      [rule('sliding_log', 3, 86_400_000), 86_400_000],
      [rule('sliding_window', 3, 86_400_000), 0],
      [rule('fixed_calendar', 3, 0, { calendar: 'year' }), 0],
      [rule('fixed_first_request', 3, 86_400_000), 86_400_000],
      [rule('fixed_from_start', 3, 86_400_000, { startMs: 0 }), 0],
    ];
    for (const [r] of algorithms) {
      const memory = new MemoryStore();
      const key = { api: 'clock', identity: identityKey('claim', 'bob') };
      const before = Date.now();
      const fromRedis: LimitState[] = [];
      const fromMemory: LimitState[] = [];
      for (let i = 0; i < 5; i += 1) {
        fromRedis.push((await redis.hit(key, [r], 0))[0]!);
        fromMemory.push((await memory.hit(key, [r], Date.now()))[0]!);
      }
      const after = Date.now();
      expect(fromRedis.map((s) => [s.allowed, s.remaining])).toEqual(
        fromMemory.map((s) => [s.allowed, s.remaining]),
      );
      const first = fromRedis[0]!;
      if (r.algorithm === 'sliding_log' || r.algorithm === 'fixed_first_request') {
        // Reset one period after the server's now, not after the nowMs of 0 we passed.
        expect(first.resetMs).toBeGreaterThanOrEqual(before + r.periodMs - 5);
        expect(first.resetMs).toBeLessThanOrEqual(after + r.periodMs + 5);
      } else if (r.algorithm === 'fixed_calendar') {
        expect(first.resetMs).toBe(calendarWindow('year', before).end);
      } else {
        expect(first.resetMs).toBe(Math.floor(before / 86_400_000) * 86_400_000 + 86_400_000);
      }
      expect(fromRedis[4]!.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    }
  });

  it('two clients on one server enforce one limit together (10 per minute, 5 via each)', async () => {
    const a = await store();
    const b = await store();
    for (const algorithm of ['sliding_window', 'sliding_log', 'fixed_first_request'] as const) {
      const r = rule(algorithm, 10, 60_000);
      const key = { api: 'shared', identity: identityKey('claim', 'carol') };
      for (let i = 0; i < 5; i += 1) {
        expect((await a.hit(key, [r], 0))[0]!.allowed).toBe(true);
        expect((await b.hit(key, [r], 0))[0]!.allowed).toBe(true);
      }
      const onA = (await a.hit(key, [r], 0))[0]!;
      const onB = (await b.hit(key, [r], 0))[0]!;
      expect([algorithm, onA.allowed, onB.allowed]).toEqual([algorithm, false, false]);
      expect(onA.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    }
  });

  it('is atomic: 1000 concurrent hits (two clients) with limit 100 let exactly 100 through', async () => {
    const a = await store();
    const b = await store();
    for (const algorithm of ['sliding_log', 'sliding_window', 'fixed_first_request'] as const) {
      const r = rule(algorithm, 100, 3_600_000);
      const key = { api: 'atomic', identity: identityKey('client_id', 'secret-client') };
      const results = await Promise.all(
        Array.from({ length: 1000 }, (_, i) => (i % 2 === 0 ? a : b).hit(key, [r], 0)),
      );
      expect([algorithm, results.filter((s) => s[0]!.allowed).length]).toEqual([algorithm, 100]);
    }
  });

  it('lays keys out as oidcgw:<api>:<rule>:<algorithm>:<identity>[:<window start>] with TTLs', async () => {
    const redis = await store({ clock: 'caller' });
    const { createClient } = await import('redis');
    const raw = createClient({ url: server.url });
    raw.on('error', () => {});
    await raw.connect();
    try {
      const minute = rule('fixed_calendar', 5, 60_000, { id: 'kong-minute', calendar: 'minute' });
      const quota = rule('fixed_first_request', 5, 60_000, { id: 'quota' });
      const log = rule('sliding_log', 5, 1000, { id: 'rate' });
      const now = Date.parse('2027-05-05T10:20:30.000Z');
      await redis.hit(
        { api: 'orders', identity: identityKey('claim', 'auth0|abc') },
        [minute, quota, log],
        now,
      );
      await redis.hit(
        { api: 'orders', identity: identityKey('client_id', 'top-secret') },
        [log],
        now,
      );
      const keys = (await raw.keys('oidcgw:orders:*')).sort();
      const minuteStart = Date.parse('2027-05-05T10:20:00.000Z');
      expect(keys).toHaveLength(4);
      expect(keys).toContain(
        `oidcgw:orders:kong-minute:fixed_calendar:claim=auth0|abc:${minuteStart}`,
      );
      expect(keys).toContain('oidcgw:orders:quota:fixed_first_request:claim=auth0|abc');
      expect(keys).toContain('oidcgw:orders:rate:sliding_log:claim=auth0|abc');
      expect(keys.join('\n')).not.toContain('top-secret');
      expect(
        keys.some((k) => /^oidcgw:orders:rate:sliding_log:client_id=sha256-[\w-]{22}$/.test(k)),
      ).toBe(true);
      for (const k of keys) {
        const ttl = await raw.pTTL(k);
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(60_000 + 1000);
      }
    } finally {
      raw.destroy();
    }
  });

  it('a command that gets no answer in time rejects with timeout (server paused)', async () => {
    const redis = await store({ commandTimeoutMs: 300 });
    const r = rule('sliding_window', 5, 60_000);
    const key = { api: 'slow', identity: 'claim=dave' };
    expect((await redis.hit(key, [r], 0))[0]!.allowed).toBe(true);
    const pid = server.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const err = await redis.hit(key, [r], 0).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LimitStoreUnavailable);
      expect((err as LimitStoreUnavailable).reason).toBe('timeout');
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect((await redis.hit(key, [r], 0))[0]!.allowed).toBe(true);
  });
});

describe('RedisStore start-up failures', () => {
  it('an unreachable server is LimitStoreUnavailable(unreachable), quickly', async () => {
    const started = Date.now();
    const err = await connectRedisStore({ url: 'unix:///nonexistent/oidcgw-test.sock' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LimitStoreUnavailable);
    expect((err as LimitStoreUnavailable).reason).toBe('unreachable');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('a URL that is not Redis is invalid_url; a password never shows', async () => {
    const err = await connectRedisStore({ url: 'http://user:hunter2@localhost/' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LimitStoreUnavailable);
    expect((err as LimitStoreUnavailable).reason).toBe('invalid_url');
    expect((err as Error).message).not.toContain('hunter2');
    const refused = await connectRedisStore({
      url: 'redis://user:hunter2@127.0.0.1:1/',
      connectTimeoutMs: 500,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((refused as LimitStoreUnavailable).reason).toBe('unreachable');
    expect((refused as Error).message).not.toContain('hunter2');
    expect((refused as Error).message).toContain('***');
  });
});

describe('RedisStore through an outage', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('killed: hit rejects fast and healthy is false; restarted: counting resumes, one event each way', async () => {
    const events: boolean[] = [];
    let notify: (() => void) | undefined;
    const next = (timeoutMs: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no health change in ${timeoutMs} ms`)),
          timeoutMs,
        );
        notify = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    const redis = await connectRedisStore({
      url: server.url.replace(/^unix:/, 'redis+unix:'),
      commandTimeoutMs: 500,
      reconnectMinMs: 20,
      reconnectMaxMs: 200,
      onHealthChange: (healthy) => {
        events.push(healthy);
        notify?.();
      },
    });
    try {
      const r = rule('sliding_log', 2, 60_000);
      const key = { api: 'outage', identity: identityKey('ip', '127.0.0.1') };
      expect((await redis.hit(key, [r], 0))[0]!.allowed).toBe(true);
      expect(redis.healthy).toBe(true);

      const lost = next(10_000);
      await server.kill();
      let started = Date.now();
      const err = await redis.hit(key, [r], 0).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(LimitStoreUnavailable);
      expect(Date.now() - started).toBeLessThan(3000);
      await lost;
      expect(redis.healthy).toBe(false);
      // While it is down, a hit is refused at once, without waiting for a timeout.
      started = Date.now();
      await expect(redis.hit(key, [r], 0)).rejects.toMatchObject({ reason: 'lost' });
      expect(Date.now() - started).toBeLessThan(400);

      const back = next(15_000);
      await server.restart();
      await back;
      expect(redis.healthy).toBe(true);
      // A fresh server (no persistence, no cached scripts): counting starts over.
      const answers = [];
      for (let i = 0; i < 3; i += 1) answers.push((await redis.hit(key, [r], 0))[0]!.allowed);
      expect(answers).toEqual([true, true, false]);
      expect(events).toEqual([false, true]);
    } finally {
      await redis.close();
    }
  });
});
