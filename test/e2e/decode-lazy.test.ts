/**
 * `decode` stays fast: without --verify it loads none of the heavy
 * dependencies (not even jose); with a local key it loads jose but nothing
 * that talks to the network.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, baseEnv } from '../helpers/cli.js';
import { claims, signingKey } from '../helpers/jwt-fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-decode-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let token: string;
let keyFile: string;

beforeAll(async () => {
  const key = await signingKey('ES256', 'lazy');
  token = await key.sign(claims(Math.floor(Date.now() / 1000)));
  keyFile = join(dir, 'key.json');
  writeFileSync(keyFile, JSON.stringify(key.publicJwk));
});

/** Besides commander and chalk (which the build may inline), nothing from node_modules. */
const LIGHT = new Set(['chalk', 'commander']);
const heavyOf = (packages: string[]) => packages.filter((p) => !LIGHT.has(p));

function loadedPackages(args: string[]): { packages: string[]; status: number | null } {
  const file = join(dir, `trace-${Math.random().toString(36).slice(2)}.txt`);
  const r = spawnSync(
    process.execPath,
    ['--import', join(ROOT, 'test/helpers/trace-imports.mjs'), BIN, ...args],
    {
      env: { ...baseEnv(dir), OIDC_GW_TRACE_IMPORTS: file },
      encoding: 'utf8',
      input: '',
    },
  );
  const urls = readFileSync(file, 'utf8').split('\n');
  // The trace works: it saw the CLI load its own modules.
  expect(urls.some((u) => u.includes('bin/oidc-gw.js -> node:vm'))).toBe(true);
  const names = new Set<string>();
  for (const url of urls) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m) names.add(m[1] as string);
  }
  return { packages: [...names].sort(), status: r.status };
}

describe('decode start-up', () => {
  it('`decode TOKEN` loads no dependency but commander and chalk', () => {
    const r = loadedPackages(['decode', token]);
    expect(r.status).toBe(0);
    expect(heavyOf(r.packages)).toEqual([]);
  });

  it('`decode --json TOKEN` and a malformed token: the same', () => {
    expect(heavyOf(loadedPackages(['decode', '--json', token]).packages)).toEqual([]);
    const bad = loadedPackages(['decode', 'eyJhbGciOiJSUzI1NiJ9.e30']);
    expect(bad.status).toBe(2);
    expect(heavyOf(bad.packages)).toEqual([]);
  });

  it('`decode --key FILE TOKEN` loads jose, and nothing for the network', () => {
    const r = loadedPackages(['decode', '--key', keyFile, token]);
    expect(r.status).toBe(0);
    expect(r.packages).toContain('jose');
    for (const heavy of ['openid-client', 'oauth4webapi', 'undici', 'oidc-provider']) {
      expect(r.packages).not.toContain(heavy);
    }
  });
});
