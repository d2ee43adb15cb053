#!/usr/bin/env node
// The oidc-gw command. CommonJS on purpose (bin/package.json): Node starts a
// CommonJS entry without its ES module loader.
//
// The bundle in dist/bundle (scripts/bundle.mjs) is loaded by the small module
// loader below instead of require(), for one reason: V8's code cache. Each
// bundle file may have a `FILE.cache` beside it, written at build time by
// scripts/code-cache.mjs after running the common commands, so that a run
// does not parse and compile the functions it calls again. A cache is used
// only with the exact source it was made from (checked here) and the same V8
// version and flags (checked by V8); otherwise it is ignored and the file is
// compiled as usual. Nothing is written at run time. V8 release builds do not
// checksum a cache's payload (--verify-snapshot-checksum, which would, cost
// about 2 ms a run): the caches are trusted as the JS files beside them are;
// deleting them or `npm run build` restores a damaged install. (Node 22's
// module.enableCompileCache() does the same for every module; Node 20 lacks it.)
'use strict';
const { readFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

/** Bundle files compiled so far: file -> vm.Script (scripts/code-cache.mjs reads it). */
const scripts = new Map();
const modules = new Map();

/**
 * The V8 code cache for a bundle file, or undefined. A cache file holds the
 * length of the source it was made from, that source, then V8's data: it is
 * used only for exactly that source (V8 itself compares lengths only).
 */
function cacheFor(file, raw) {
  let data;
  try {
    data = readFileSync(`${file}.cache`);
  } catch {
    return undefined;
  }
  if (data.length < 4) return undefined;
  const length = data.readUInt32LE(0);
  if (length !== raw.length || data.length <= 4 + length) return undefined;
  if (!data.subarray(4, 4 + length).equals(raw)) return undefined;
  return data.subarray(4 + length);
}

/** Loads a CommonJS bundle file; relative requires stay inside the bundle, others go to Node. */
function load(file) {
  const known = modules.get(file);
  if (known) return known.exports;
  const mod = { exports: {} };
  modules.set(file, mod);
  try {
    return run(file, mod);
  } catch (error) {
    // As Node's loader: a module that failed to load is not kept half made.
    modules.delete(file);
    throw error;
  }
}

function run(file, mod) {
  const raw = readFileSync(file);
  const source = raw.toString('utf8');
  const cachedData = cacheFor(file, raw);
  const script = new Script(
    `(function (exports, require, module, __filename, __dirname) {${source}\n})`,
    { filename: file, ...(cachedData ? { cachedData } : {}) },
  );
  scripts.set(file, script);
  const dir = dirname(file);
  let packageRequire;
  const localRequire = (id) => {
    if (id.startsWith('./') || id.startsWith('../')) return load(join(dir, id));
    if (id.startsWith('node:')) return require(id);
    packageRequire ??= createRequire(file);
    return packageRequire(id);
  };
  script.runInThisContext()(mod.exports, localRequire, mod, file, dir);
  return mod.exports;
}

const ENTRY = join(__dirname, '..', 'dist', 'bundle', 'cli.js');

module.exports = { load, scripts, ENTRY };

function start() {
  // The bundle loads ES-module-only dependencies (jose, openid-client...) with
  // require(esm): on by default from Node 20.19, off with
  // --no-experimental-require-module.
  if (!process.features.require_module) {
    process.stderr.write(
      `oidc-gw: error: this Node.js (${process.version}) cannot require() ES modules\nhint: use Node.js 20.19 or later, without --no-experimental-require-module\n`,
    );
    process.exitCode = 1;
    return;
  }
  let cli;
  try {
    cli = load(ENTRY);
  } catch (error) {
    if (error && error.code === 'ENOENT' && error.path === ENTRY) {
      process.stderr.write(
        'oidc-gw: error: the CLI is not built (dist/bundle/cli.js is missing)\nhint: run `npm run build`\n',
      );
      process.exitCode = 1;
      return;
    }
    throw error;
  }
  cli.run();
}

if (require.main === module) start();
