/** Commands are loaded lazily: `--help` must not load openid-client, undici, Inquirer, jose or oidc-provider. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, baseEnv } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-trace-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function loadedPackages(args: string[]): string[] {
  const file = join(dir, `trace-${Math.random().toString(36).slice(2)}.txt`);
  const r = spawnSync(
    process.execPath,
    ['--import', join(ROOT, 'test/helpers/trace-imports.mjs'), BIN, ...args],
    {
      env: { ...baseEnv(dir), OIDC_GW_TRACE_IMPORTS: file },
      encoding: 'utf8',
    },
  );
  expect(r.status, r.stderr).toBe(0);
  const urls = readFileSync(file, 'utf8').split('\n');
  const names = new Set<string>();
  for (const url of urls) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
    if (m) names.add(m[1]!);
  }
  return [...names].sort();
}

const HEAVY = [
  'openid-client',
  'oauth4webapi',
  'undici',
  '@inquirer/prompts',
  '@inquirer/core',
  'jose',
  'oidc-provider',
  'koa',
  'open',
];

describe('start-up', () => {
  it('`oidc-gw --help` loads no dependency at all (commander and chalk are bundled in)', () => {
    const loaded = loadedPackages(['--help']);
    expect(loaded).toEqual([]);
  });

  it.each(['token', 'login', 'serve', 'decode', 'call', 'idp'])(
    '`oidc-gw %s --help` loads none of the heavy modules',
    (cmd) => {
      const loaded = loadedPackages([cmd, '--help']);
      for (const heavy of HEAVY) expect(loaded).not.toContain(heavy);
    },
  );
});
