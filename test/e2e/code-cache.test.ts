/**
 * The start-up code cache (bin/oidc-gw.js, scripts/code-cache.mjs): the built
 * caches are accepted by V8 for the files the fast commands load, and a cache
 * that does not belong to its source is ignored, never run.
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { craft } from '../helpers/jwt-fixtures.js';
import { BIN, ROOT, baseEnv, runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-code-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the built command (bin/ and dist/bundle/) that a test may damage. */
function copyOfTheBuild(name: string): string {
  const root = join(dir, name);
  cpSync(join(ROOT, 'bin'), join(root, 'bin'), { recursive: true });
  cpSync(join(ROOT, 'dist', 'bundle'), join(root, 'dist', 'bundle'), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  return root;
}

function run(bin: string, args: string[]) {
  return spawnSync(process.execPath, [bin, ...args], { env: baseEnv(dir), encoding: 'utf8' });
}

const now = Math.floor(Date.now() / 1000);
const token = craft(
  { alg: 'RS256', kid: 'k' },
  { iss: 'https://idp.example/', aud: 'api', sub: 'a', exp: now + 600, iat: now },
);

let helpText: string;
beforeAll(async () => {
  const r = await runCli(['--help'], { env: baseEnv(dir) });
  expect(r.code).toBe(0);
  helpText = r.stdout;
});

describe('code cache', () => {
  it('every bundle file `decode` loads has a cache, and V8 accepts each one', () => {
    // Load the bundle through the real loader, run decode in-process, and ask
    // each compiled script whether V8 took its cache.
    const probe = `
      const { load, scripts, ENTRY } = require(${JSON.stringify(BIN)});
      const { main } = load(ENTRY);
      const sink = { isTTY: false, write: () => true, on() { return this; } };
      main(['decode', ${JSON.stringify(token)}], { stdout: sink, stderr: sink, stdin: null, text: { stdout: sink, stderr: sink } }, { NO_COLOR: '1', HOME: ${JSON.stringify(dir)} })
        .then((code) => {
          const files = [...scripts].map(([file, s]) => ({ file, rejected: s.cachedDataRejected }));
          console.log(JSON.stringify({ code, files }));
        });
    `;
    const r = spawnSync(process.execPath, ['-e', probe], { env: baseEnv(dir), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const { code, files } = JSON.parse(r.stdout) as {
      code: number;
      files: { file: string; rejected: boolean | undefined }[];
    };
    expect(code).toBe(0);
    // The entry, commander's chunk, the decode command and its core at least.
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(files.some((f) => /decode-core-/.test(f.file))).toBe(true);
    // undefined would mean "no cache given": every one must be given and taken.
    expect(files.filter((f) => f.rejected !== false)).toEqual([]);
  });

  it('a cache made for another source is ignored: the command still runs right', () => {
    const root = copyOfTheBuild('stale');
    const cli = join(root, 'dist', 'bundle', 'cli.js');
    // Same length, different code: V8 alone would accept this cache (it compares lengths).
    const source = readFileSync(cli, 'utf8');
    const i = source.indexOf('0.1.0');
    expect(i).toBeGreaterThan(0);
    writeFileSync(cli, `${source.slice(0, i)}9.9.9${source.slice(i + 5)}`);
    const r = run(join(root, 'bin', 'oidc-gw.js'), ['--version']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // The edited source ran, not the cached code of the old one.
    expect(r.stdout.trim()).toBe('9.9.9');
  });

  it('damaged or truncated caches are ignored', () => {
    const root = copyOfTheBuild('damaged');
    const bundle = join(root, 'dist', 'bundle');
    const caches = [
      ...readdirSync(bundle).map((f) => join(bundle, f)),
      ...readdirSync(join(bundle, 'chunks')).map((f) => join(bundle, 'chunks', f)),
    ].filter((f) => f.endsWith('.cache'));
    expect(caches.length).toBeGreaterThan(3);
    caches.forEach((file, n) => {
      const data = readFileSync(file);
      if (n % 3 === 0)
        writeFileSync(file, data.subarray(0, data.length - 100)); // truncated
      else if (n % 3 === 1)
        writeFileSync(file, Buffer.alloc(data.length, 0xa5)); // garbage
      else writeFileSync(file, data.subarray(0, 2)); // shorter than its header
    });
    const help = run(join(root, 'bin', 'oidc-gw.js'), ['--help']);
    expect(help.stderr).toBe('');
    expect(help.status).toBe(0);
    expect(help.stdout).toBe(helpText);
    const decoded = run(join(root, 'bin', 'oidc-gw.js'), ['decode', '--json', token]);
    expect(decoded.status).toBe(0);
    expect(JSON.parse(decoded.stdout).payload.sub).toBe('a');
  });

  it('without any cache the command runs the same', () => {
    const root = copyOfTheBuild('none');
    const bundle = join(root, 'dist', 'bundle');
    for (const sub of [bundle, join(bundle, 'chunks')]) {
      for (const f of readdirSync(sub)) if (f.endsWith('.cache')) rmSync(join(sub, f));
    }
    const help = run(join(root, 'bin', 'oidc-gw.js'), ['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toBe(helpText);
  });

  it('a module that fails to load is not kept half made: loading it again fails again', () => {
    const broken = join(dir, 'broken');
    cpSync(join(ROOT, 'bin'), join(broken, 'bin'), { recursive: true });
    writeFileSync(
      join(dir, 'broken', 'bad.js'),
      "exports.before = 1; throw new Error('broken on load');",
    );
    const probe = `
      const { load } = require(${JSON.stringify(join(broken, 'bin', 'oidc-gw.js'))});
      const file = ${JSON.stringify(join(broken, 'bad.js'))};
      const outcomes = [];
      for (let i = 0; i < 2; i++) {
        try { outcomes.push(JSON.stringify(load(file))); } catch (e) { outcomes.push('threw: ' + e.message); }
      }
      console.log(JSON.stringify(outcomes));
    `;
    const r = spawnSync(process.execPath, ['-e', probe], { env: baseEnv(dir), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(['threw: broken on load', 'threw: broken on load']);
  });

  it('a Node without require(esm) gets a clear one-line error, not a crash', () => {
    const r = spawnSync(
      process.execPath,
      ['--no-experimental-require-module', BIN, 'decode', token],
      {
        env: baseEnv(dir),
        encoding: 'utf8',
      },
    );
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(
      /^oidc-gw: error: this Node\.js \(v[\d.]+\) cannot require\(\) ES modules\nhint: use Node\.js 20\.19 or later, without --no-experimental-require-module\n$/,
    );
  });

  it('an unbuilt checkout says so in one line', () => {
    const root = join(dir, 'unbuilt');
    cpSync(join(ROOT, 'bin'), join(root, 'bin'), { recursive: true });
    const r = run(join(root, 'bin', 'oidc-gw.js'), ['--help']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'oidc-gw: error: the CLI is not built (dist/bundle/cli.js is missing)\nhint: run `npm run build`\n',
    );
  });
});
