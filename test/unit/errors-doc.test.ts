/** docs/errors.md and the error catalog must agree (a code cannot land undocumented). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CATALOG } from '../../src/core/errors/catalog.js';
import { EXIT } from '../../src/core/errors/types.js';
import { ROOT } from '../helpers/cli.js';

describe('docs/errors.md', () => {
  const doc = readFileSync(join(ROOT, 'docs', 'errors.md'), 'utf8');
  const documented = new Map<string, { exit: number; summary: string }>();
  for (const m of doc.matchAll(/^\|\s*`(ERR_[A-Z0-9_]+)`\s*\|\s*(\d+)\s*\|\s*(.*?)\s*\|$/gm)) {
    documented.set(m[1]!, { exit: Number(m[2]), summary: m[3]! });
  }

  it('lists every code of the catalog with its exit code and summary, and nothing else', () => {
    const expected = Object.fromEntries(
      Object.entries(CATALOG).map(([code, e]) => [code, { exit: e.exit, summary: e.summary }]),
    );
    expect(Object.fromEntries(documented)).toEqual(expected);
  });

  it('maps only to the documented exit codes (docs/errors.md)', () => {
    const allowed = new Set<number>(Object.values(EXIT));
    for (const [code, e] of Object.entries(CATALOG)) expect(allowed.has(e.exit), code).toBe(true);
  });
});
