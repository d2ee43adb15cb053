/**
 * `serve` keeps its memory flat under load: two V8 settings, each left alone
 * when the operator chose it (in NODE_OPTIONS or on node's command line).
 *
 * 1. The old generation is collected when it has grown by half since the
 *    last full collection (`--heap-growing-percent=50`) rather than V8's
 *    dynamic factor, which lets a small heap double or more between
 *    collections: under load the gateway's old generation is mostly garbage
 *    promoted from requests, and that slack was 15 MiB of resident memory.
 *    V8 reads the flag each time it sets the next limit, so it applies when
 *    set at run time.
 * 2. The young generation is capped, as follows.
 *
 * Young generation:
 *
 * Under sustained load V8 grows the young generation (the two semi-spaces
 * where new objects live) from 1 MiB each up to its default maximum, 16 MiB
 * each: 30 MiB more resident memory for a gateway that keeps little. The
 * maximum can only be given when Node starts (`--max-semi-space-size`), but
 * V8 reads its growth factor each time it grows the space. So `serve` watches
 * the garbage collections: while the young generation is at
 * `YOUNG_GENERATION_CAP` (two 2 MiB semi-spaces, like
 * `node --max-semi-space-size=2`) the factor is 1, so the space stays there;
 * below it, V8's default (2). Smaller is not better: with 1 MiB semi-spaces
 * (the factor set to 1 from the start), objects of requests in flight are
 * promoted to the old generation, which grows instead, and verification
 * throughput dropped (docs/performance.md).
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

const OLD_GENERATION_FLAG = /^--heap[-_]growing[-_]percent\b/;

/** Setting 1 above; returns whether it was applied. */
export function tightenOldGeneration(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
  setFlags: (flags: string) => void,
): boolean {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  if (given.some((arg) => OLD_GENERATION_FLAG.test(arg))) return false;
  setFlags('--heap-growing-percent=50');
  return true;
}

export interface YoungGenerationCap {
  readonly mode: 'capped' | 'as configured';
  /** Stops watching (on shutdown). */
  stop(): void;
}

/**
 * Caps the young generation unless the operator sized it. The watch stays on
 * for the life of the gateway and works both ways: V8 also shrinks the space
 * when the load goes away (memory-reducing collections when idle), and with
 * the factor left at 1 it could then never grow back to the cap.
 */
export function capYoungGeneration(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
  heap: HeapControl,
): YoungGenerationCap {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)];
  if (given.some((arg) => SEMI_SPACE_FLAG.test(arg))) {
    return { mode: 'as configured', stop: () => {} };
  }
  let held = false;
  const check = () => {
    const full = heap.youngGenerationSize() >= YOUNG_GENERATION_CAP;
    if (full === held) return;
    held = full;
    heap.setFlags(full ? '--semi-space-growth-factor=1' : '--semi-space-growth-factor=2');
  };
  check();
  const stop = heap.observeGc(check);
  return { mode: 'capped', stop };
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
