/**
 * `serve` keeps V8's young generation small.
 *
 * Under sustained load V8 grows the young generation (the two semi-spaces
 * where new objects live) from 1 MiB each up to its default maximum, 16 MiB
 * each: 30 MiB more resident memory for a gateway that keeps little. The
 * maximum can only be given when Node starts (`--max-semi-space-size`), but
 * V8 reads its growth factor each time it grows the space. So `serve` watches
 * the garbage collections and, once the young generation has reached
 * `YOUNG_GENERATION_CAP` (two 2 MiB semi-spaces, like
 * `node --max-semi-space-size=2`), sets the factor to 1: the space stays
 * there. Smaller is not better: with 1 MiB semi-spaces (the factor set to 1
 * from the start), objects of requests in flight are promoted to the old
 * generation, which grows instead, and verification throughput dropped
 * (docs/performance.md).
 *
 * An operator who sized the young generation (a semi-space flag in
 * NODE_OPTIONS or on node's command line) keeps that choice.
 */
export const YOUNG_GENERATION_CAP = 4 * 1024 * 1024;

const SEMI_SPACE_FLAG =
  /^--(?:max|min)[-_]semi[-_]space[-_]size\b|^--semi[-_]space[-_]growth[-_]factor\b/;

export interface HeapControl {
  /** Bytes of V8's young generation (new space) now. */
  youngGenerationSize(): number;
  setFlags(flags: string): void;
  /** Calls `onGc` after garbage collections until the returned function is called. */
  observeGc(onGc: () => void): () => void;
}

export type YoungGeneration = 'capped' | 'as configured';

export function capYoungGeneration(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
  heap: HeapControl,
): YoungGeneration {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  if (given.some((arg) => SEMI_SPACE_FLAG.test(arg))) return 'as configured';
  const full = () => heap.youngGenerationSize() >= YOUNG_GENERATION_CAP;
  if (full()) {
    heap.setFlags('--semi-space-growth-factor=1');
    return 'capped';
  }
  const stop = heap.observeGc(() => {
    if (!full()) return;
    heap.setFlags('--semi-space-growth-factor=1');
    stop();
  });
  return 'capped';
}

/** The real HeapControl, over node:v8 and node:perf_hooks. */
export async function nodeHeapControl(): Promise<HeapControl> {
  const [{ getHeapSpaceStatistics, setFlagsFromString }, { PerformanceObserver }] =
    await Promise.all([import('node:v8'), import('node:perf_hooks')]);
  return {
    youngGenerationSize: () =>
      getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0,
    setFlags: (flags) => setFlagsFromString(flags),
    observeGc(onGc) {
      const observer = new PerformanceObserver(() => onGc());
      observer.observe({ entryTypes: ['gc'] });
      return () => observer.disconnect();
    },
  };
}
