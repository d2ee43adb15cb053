import { describe, expect, it } from 'vitest';
import {
  capYoungGeneration,
  YOUNG_GENERATION_CAP,
  type HeapControl,
} from '../../src/services/young-generation.js';

/** A heap whose young generation the test grows, with the GC callbacks it fires. */
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

describe('capYoungGeneration', () => {
  it('lets the young generation grow to the cap, then stops its growth and the watching', () => {
    const { heap, state, gc } = fakeHeap(2 * MiB);
    expect(capYoungGeneration([], undefined, heap)).toBe('capped');
    expect(state.flags).toEqual([]);
    expect(state.observers).toBe(1);
    gc(2 * MiB);
    gc(YOUNG_GENERATION_CAP / 2);
    expect(state.flags).toEqual([]);
    gc(YOUNG_GENERATION_CAP);
    expect(state.flags).toEqual(['--semi-space-growth-factor=1']);
    expect(state.observers).toBe(0);
    gc(YOUNG_GENERATION_CAP); // no observer left: nothing more is set
    expect(state.flags).toHaveLength(1);
  });

  it('already at the cap: stops the growth at once, without watching', () => {
    const { heap, state } = fakeHeap(YOUNG_GENERATION_CAP * 2);
    expect(capYoungGeneration(['--enable-source-maps'], '--max-old-space-size=512', heap)).toBe(
      'capped',
    );
    expect(state.flags).toEqual(['--semi-space-growth-factor=1']);
    expect(state.observers).toBe(0);
  });

  it.each([
    [['--max-semi-space-size=8'], undefined],
    [['--min-semi-space-size=2'], undefined],
    [[], '--max-semi-space-size=16'],
    [[], '--require ./x.cjs  --max_semi_space_size=4'],
    [['--semi-space-growth-factor=4'], undefined],
  ])('leaves an operator-sized young generation alone (%j, %j)', (execArgv, nodeOptions) => {
    const { heap, state } = fakeHeap(2 * MiB);
    expect(capYoungGeneration(execArgv, nodeOptions, heap)).toBe('as configured');
    expect(state).toEqual({ size: 2 * MiB, flags: [], observers: 0 });
  });
});
