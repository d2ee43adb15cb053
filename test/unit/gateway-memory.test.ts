import { describe, expect, it } from 'vitest';
import {
  capYoungGeneration,
  tightenOldGeneration,
  YOUNG_GENERATION_CAP,
  type HeapControl,
} from '../../src/services/gateway-memory.js';

/** A heap whose young generation the test resizes, with the GC callbacks it fires. */
function fakeHeap(startSize: number) {
  const state = { size: startSize, flags: [] as string[], observers: 0 };
  let onGc: (() => void) | undefined;
  const heap: HeapControl = {
    youngGenerationSize: () => state.size,
    setFlags: (flags) => state.flags.push(flags),
    observeGc(callback) {
      onGc = callback;
      state.observers++;
      return () => {
        onGc = undefined;
        state.observers--;
      };
    },
  };
  const gc = (size: number) => {
    state.size = size;
    onGc?.();
  };
  return { heap, state, gc };
}

const MiB = 1024 * 1024;
const HOLD = '--semi-space-growth-factor=1';
const GROW = '--semi-space-growth-factor=2';

describe('capYoungGeneration', () => {
  it('lets the young generation grow to the cap, then holds it there', () => {
    const { heap, state, gc } = fakeHeap(2 * MiB);
    const cap = capYoungGeneration([], undefined, heap);
    expect(cap.mode).toBe('capped');
    expect(state.flags).toEqual([]);
    expect(state.observers).toBe(1);
    gc(2 * MiB);
    gc(YOUNG_GENERATION_CAP / 2);
    expect(state.flags).toEqual([]);
    gc(YOUNG_GENERATION_CAP);
    expect(state.flags).toEqual([HOLD]);
    gc(YOUNG_GENERATION_CAP); // no change, no new flag
    expect(state.flags).toEqual([HOLD]);
    cap.stop();
    expect(state.observers).toBe(0);
  });

  it('when V8 shrinks the space (idle), lets it grow back to the cap', () => {
    const { heap, state, gc } = fakeHeap(2 * MiB);
    capYoungGeneration([], undefined, heap);
    gc(YOUNG_GENERATION_CAP);
    gc(1 * MiB); // memory-reducing collections while idle
    expect(state.flags).toEqual([HOLD, GROW]);
    gc(YOUNG_GENERATION_CAP);
    expect(state.flags).toEqual([HOLD, GROW, HOLD]);
  });

  it('already at the cap: holds it at once', () => {
    const { heap, state } = fakeHeap(YOUNG_GENERATION_CAP * 2);
    const cap = capYoungGeneration(['--enable-source-maps'], '--max-old-space-size=512', heap);
    expect(cap.mode).toBe('capped');
    expect(state.flags).toEqual([HOLD]);
  });

  it.each([
    [['--max-semi-space-size=8'], undefined],
    [['--min-semi-space-size=2'], undefined],
    [[], '--max-semi-space-size=16'],
    [[], '--require ./x.cjs  --max_semi_space_size=4'],
    [['--semi-space-growth-factor=4'], undefined],
  ])('leaves an operator-sized young generation alone (%j, %j)', (execArgv, nodeOptions) => {
    const { heap, state } = fakeHeap(2 * MiB);
    expect(capYoungGeneration(execArgv, nodeOptions, heap).mode).toBe('as configured');
    expect(state).toEqual({ size: 2 * MiB, flags: [], observers: 0 });
  });
});

describe('tightenOldGeneration', () => {
  it('collects the old generation once it has grown by half, unless the operator chose', () => {
    const set: string[] = [];
    expect(tightenOldGeneration([], '--require ./x.cjs', (f) => set.push(f))).toBe(true);
    expect(set).toEqual(['--heap-growing-percent=50']);
    expect(tightenOldGeneration(['--heap-growing-percent=30'], undefined, (f) => set.push(f))).toBe(
      false,
    );
    expect(tightenOldGeneration([], '--heap_growing_percent=80', (f) => set.push(f))).toBe(false);
    expect(set).toHaveLength(1);
  });
});
