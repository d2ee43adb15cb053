/**
 * MemoryStore (src/gateway/limits/memory-store.ts): rules in order, a
 * refusal stops the rules after it, identities and APIs are separate, and
 * memory stays flat: expired entries are swept a bounded number per hit.
 */
import { describe, expect, it } from 'vitest';
import type { LimitAlgorithm, LimitRule } from '../../src/gateway/plan.js';
import { MemoryStore } from '../../src/gateway/limits/memory-store.js';

function rule(
  id: string,
  algorithm: LimitAlgorithm,
  limit: number,
  periodMs: number,
  extra: Partial<LimitRule> = {},
): LimitRule {
  return {
    id,
    kind: id === 'quota' ? 'quota' : 'rate',
    algorithm,
    limit,
    periodMs,
    countRefused: false,
    key: { by: 'claim', claim: ['sub'] },
    label: id,
    ...extra,
  };
}

describe('MemoryStore', () => {
  it('checks rules in order; a refusing rule stops the ones after it (not counted)', async () => {
    const store = new MemoryStore();
    const rate = rule('rate', 'sliding_window', 2, 1000);
    const quota = rule('quota', 'fixed_first_request', 10, 86_400_000);
    const key = { api: 'orders', identity: 'claim=alice' };
    const a = await store.hit(key, [rate, quota], 0);
    expect(a.map((s) => [s.rule.id, s.allowed, s.remaining])).toEqual([
      ['rate', true, 1],
      ['quota', true, 9],
    ]);
    await store.hit(key, [rate, quota], 1);
    const refused = await store.hit(key, [rate, quota], 2);
    expect(refused.map((s) => [s.rule.id, s.allowed])).toEqual([['rate', false]]);
    // The quota saw two requests, not three.
    const later = await store.hit(key, [rate, quota], 5000);
    expect(later.map((s) => s.remaining)).toEqual([1, 7]);
  });

  it("counting modes: 'check' answers without writing, 'add' counts whatever the answer", async () => {
    const store = new MemoryStore();
    const rate = rule('rate', 'fixed_calendar', 2, 60_000, { calendar: 'minute' });
    const quota = rule('quota', 'fixed_first_request', 10, 86_400_000);
    const key = { api: 'orders', identity: 'claim=alice' };
    // Checks alone never use the limit up.
    for (let i = 0; i < 5; i += 1) {
      const checked = await store.hit(key, [rate, quota], 1000 + i, 1, 'check');
      expect(checked.map((s) => [s.allowed, s.remaining])).toEqual([
        [true, 2],
        [true, 10],
      ]);
    }
    expect(store.size).toBe(0);
    // Two adds use it up; a check then says refused, and the quota is not reached.
    await store.hit(key, [rate, quota], 2000, 1, 'add');
    await store.hit(key, [rate, quota], 2001, 1, 'add');
    const full = await store.hit(key, [rate, quota], 2002, 1, 'check');
    expect(full.map((s) => [s.rule.id, s.allowed, s.remaining])).toEqual([['rate', false, 0]]);
    // 'add' past the limit still counts, on every rule (a refusal stops none).
    const over = await store.hit(key, [rate, quota], 2003, 1, 'add');
    expect(over.map((s) => [s.rule.id, s.allowed, s.remaining])).toEqual([
      ['rate', false, 0],
      ['quota', true, 7],
    ]);
    // The next window starts afresh.
    const next = await store.hit(key, [rate], 60_000, 1, 'count');
    expect(next.map((s) => [s.allowed, s.remaining])).toEqual([[true, 1]]);
  });

  it('keeps identities and APIs apart', async () => {
    const store = new MemoryStore();
    const r = rule('rate', 'fixed_calendar', 1, 60_000, { calendar: 'minute' });
    expect((await store.hit({ api: 'a', identity: 'claim=x' }, [r], 0))[0]!.allowed).toBe(true);
    expect((await store.hit({ api: 'a', identity: 'claim=y' }, [r], 0))[0]!.allowed).toBe(true);
    expect((await store.hit({ api: 'b', identity: 'claim=x' }, [r], 0))[0]!.allowed).toBe(true);
    expect((await store.hit({ api: 'a', identity: 'claim=x' }, [r], 0))[0]!.allowed).toBe(false);
  });

  it('is atomic: 1000 concurrent hits with limit 100 let exactly 100 through', async () => {
    const store = new MemoryStore();
    const r = rule('rate', 'sliding_log', 100, 60_000);
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => store.hit({ api: 'a', identity: 'claim=z' }, [r], 10)),
    );
    expect(results.filter((s) => s[0]!.allowed)).toHaveLength(100);
  });

  it('rejects an invalid cost before counting anything', async () => {
    const store = new MemoryStore();
    const r = rule('rate', 'sliding_window', 5, 1000);
    await expect(store.hit({ api: 'a', identity: 'claim=q' }, [r], 0, 0)).rejects.toThrow(
      RangeError,
    );
    expect(store.size).toBe(0);
  });

  it(
    'stays flat: 100k identities, their windows end, 100k others come; expired entries go',
    {
      timeout: 120_000,
    },
    () => {
      const store = new MemoryStore();
      const rules = [rule('rate', 'sliding_window', 10, 60_000)];
      const n = 100_000;
      for (let i = 0; i < n; i += 1)
        store.hitSync({ api: 'a', identity: `claim=u${i}` }, rules, 1000);
      expect(store.size).toBe(n);
      // A sliding window's state matters until two buckets later (120000).
      let peak = 0;
      for (let i = 0; i < n; i += 1) {
        store.hitSync({ api: 'a', identity: `claim=v${i}` }, rules, 200_000);
        if (store.size > peak) peak = store.size;
      }
      // Every hit added one entry and swept eight: the old ones are all gone.
      expect(peak).toBeLessThanOrEqual(n + 1);
      expect(store.size).toBe(n);
      // An entry past its window counts as absent even before it is swept.
      const again = store.hitSync({ api: 'a', identity: 'claim=v0' }, rules, 400_000);
      expect(again.map((s) => s.remaining)).toEqual([9]);
      const held = store.size;
      expect(store.prune(10_000_000)).toBe(held);
      expect(store.size).toBe(0);
    },
  );

  it('an idle store can be pruned at once; a never-renewing quota is kept', async () => {
    const store = new MemoryStore();
    await store.hit({ api: 'a', identity: 'ip=1' }, [rule('q', 'fixed_from_start', 5, 0)], 0);
    await store.hit({ api: 'a', identity: 'ip=2' }, [rule('r', 'sliding_log', 5, 1000)], 0);
    expect(store.prune(5000)).toBe(1);
    expect(store.size).toBe(1);
    await store.close();
    expect(store.size).toBe(0);
  });
});
