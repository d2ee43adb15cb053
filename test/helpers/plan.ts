/**
 * A plan from configuration files, as `serve --file` loads them, with the
 * settings the tests share: no environment, no named values, not strict, a
 * 5 s upstream timeout and 8 KiB tokens.
 */
import { loadPlan } from '../../src/gateway/load/index.js';
import type { Plan } from '../../src/gateway/plan.js';

export function loadTestPlan(files: string[]): Promise<Plan> {
  return loadPlan({
    files,
    env: {},
    namedValues: {},
    strict: false,
    defaults: { upstreamTimeoutMs: 5000, maxTokenBytes: 8192 },
  });
}
