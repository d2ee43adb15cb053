import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './helpers/cli.js';

/** End-to-end tests run the built CLI: `npm test` builds first; a bare `vitest` needs `npm run build`. */
export default function setup(): void {
  if (!existsSync(join(ROOT, 'dist', 'cli', 'entry.js'))) {
    throw new Error('dist/ is missing: run `npm run build` (npm test does it) before the tests');
  }
}
