#!/usr/bin/env node
// Bundles the CLI for start-up time (docs/performance.md, "Start-up").
//
// 1. esbuild bundles src/cli/entry.ts with code splitting: the entry, commander
//    and chalk form one small module; each command's code is a chunk loaded by
//    its dynamic import; large runtime dependencies (openid-client, jose,
//    undici, oidc-provider, Inquirer, open) stay external and load only on use.
// 2. Every output file is then turned into CommonJS, dynamic imports of chunks
//    into require(). Node starts a CommonJS entry without its ES module loader,
//    and require('node:fs') does not build an ES namespace of every builtin
//    export (an ES import of node:process or node:fs evaluates their lazy
//    getters: streams, fs/promises, readline...). Measured: an empty ES module
//    costs about 1.17x `node -e 0`, an empty CommonJS file 1.0x.
//    The ES-module-only dependencies are then loaded with require(esm), which
//    Node enables by default from 20.19 (our engines floor).
import { build, transform } from 'esbuild';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

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

// Step 2: ES module chunks to CommonJS, in place.
const files = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : [join(dir, entry.name)],
  );
for (const file of files(outdir)) {
  if (!file.endsWith('.js')) continue;
  const source = readFileSync(file, 'utf8');
  if (/\bimport\.meta\b/.test(source)) throw new Error(`${file}: import.meta has no CommonJS form`);
  const result = await transform(source, {
    format: 'cjs',
    platform: 'node',
    target: 'node20.19',
    minify: true,
    loader: 'js',
    // import('./chunk.js') becomes a require() in a promise: same order, no ES loader.
    supported: { 'dynamic-import': false, 'top-level-await': false },
    logLevel: 'warning',
  });
  if (result.warnings.length > 0) throw new Error(`${file}: ${result.warnings[0].text}`);
  // bin/oidc-gw.js loads these files with a minimal CommonJS loader: a plain
  // require(id), module, exports, __filename and __dirname; nothing else.
  const unsupported =
    /\bimport\(|\brequire\.(?:resolve|main|cache|extensions)\b|\bmodule\.(?:parent|children|paths)\b/.exec(
      result.code,
    );
  if (unsupported)
    throw new Error(`${file}: \`${unsupported[0]}\` is not supported by bin/oidc-gw.js`);
  writeFileSync(file, result.code);
}
writeFileSync(join(outdir, 'package.json'), '{ "type": "commonjs" }\n');
