#!/usr/bin/env node
// Bundles the CLI for start-up time: the entry, commander and chalk go into
// one small module; each command's heavy code is a chunk loaded by its
// dynamic import; large runtime dependencies (openid-client, jose, undici,
// oidc-provider, Inquirer, open) stay external and load only when used.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

const BUNDLED = new Set(['commander', 'chalk']);
const outdir = 'dist/bundle';
rmSync(outdir, { recursive: true, force: true });

await build({
  entryPoints: { cli: 'src/cli/entry.ts' },
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.19',
  sourcemap: false,
  legalComments: 'none',
  minify: true,
  logLevel: 'warning',
  chunkNames: 'chunks/[name]-[hash]',
  // ESM output that contains bundled CommonJS (commander) needs a require().
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
  },
  plugins: [
    {
      // commander loads node:child_process (with net and dgram) at start only for
      // git-style executable subcommands, which oidc-gw does not use: load it on use.
      name: 'commander-lazy-child-process',
      setup(b) {
        b.onLoad({ filter: /commander[\\/]lib[\\/]command\.js$/ }, async (args) => {
          const source = await readFile(args.path, 'utf8');
          const eager = "const childProcess = require('node:child_process');";
          if (!source.includes(eager))
            throw new Error('commander changed: review the lazy child_process patch');
          const lazy =
            "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };";
          return { contents: source.replace(eager, lazy), loader: 'js' };
        });
      },
    },
    {
      name: 'external-heavy-deps',
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, (args) => {
          if (args.path.startsWith('node:')) return { external: true };
          const name = args.path.startsWith('@')
            ? args.path.split('/').slice(0, 2).join('/')
            : args.path.split('/')[0];
          if (BUNDLED.has(name) || args.path.startsWith('#')) return undefined;
          return { external: true };
        });
      },
    },
  ],
});
