#!/usr/bin/env node
// Rewrites the error table of docs/errors.md from the catalog in the code
// (run `npm run build` first). test/unit/errors-doc.test.ts fails when the two
// disagree, so a new error code cannot land undocumented.
import { readFileSync, writeFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';

const { CATALOG } = await import('../dist/core/errors/catalog.js');
const file = 'docs/errors.md';
const text = readFileSync(file, 'utf8');
const begin = '<!-- errors:begin -->';
const end = '<!-- errors:end -->';
const rows = Object.entries(CATALOG)
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([code, e]) => `| \`${code}\` | ${e.exit} | ${e.summary} |`);
const table = ['| code | exit | when |', '|---|---:|---|', ...rows].join('\n');
const i = text.indexOf(begin);
const j = text.indexOf(end);
if (i === -1 || j === -1) throw new Error(`${file} lacks the ${begin} / ${end} markers`);
const next = `${text.slice(0, i + begin.length)}\n\n${table}\n\n${text.slice(j)}`;
writeFileSync(file, await format(next, { ...(await resolveConfig(file)), filepath: file }));
console.log(`${file}: ${rows.length} error codes`);
