import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config-file.js';
import { cacheDirPath, configFilePath } from '../../src/config/paths.js';
import { normalizeScope, parseParams, resolveSettings } from '../../src/config/resolve.js';
import type { GlobalOptions } from '../../src/context.js';
import { GwError } from '../../src/core/errors/index.js';

const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-resolve-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const globals = (g: Partial<GlobalOptions> = {}): GlobalOptions => ({
  json: false,
  verbose: false,
  noColor: true,
  profile: undefined,
  config: undefined,
  insecureHttp: false,
  timeout: 30,
  ...g,
});

function configWith(profiles: unknown): string {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ profiles }));
  return file;
}

describe('settings precedence: flag > environment > profile > default', () => {
  const file = configWith({
    default: {
      issuer: 'https://profile/',
      clientId: 'p-client',
      scope: 'a,b',
      resource: 'https://r/',
      params: { x: '1', y: '2' },
    },
    work: { issuer: 'https://work/' },
  });

  it('takes the profile when nothing else is given', async () => {
    const s = await resolveSettings({ opts: {}, env: {}, globals: globals({ config: file }) });
    expect(s.issuer).toBe('https://profile/');
    expect(s.scope).toBe('a b');
    expect(s.resource).toEqual(['https://r/']);
    expect(s.sources.issuer).toBe('profile');
    expect(Object.isFrozen(s)).toBe(true);
  });

  it('lets the environment beat the profile and a flag beat both', async () => {
    const env = { OIDC_GW_ISSUER: 'https://env/', OIDC_GW_CLIENT_ID: 'env-client' };
    const s1 = await resolveSettings({ opts: {}, env, globals: globals({ config: file }) });
    expect([s1.issuer, s1.clientId, s1.sources.issuer]).toEqual([
      'https://env/',
      'env-client',
      'env',
    ]);
    const s2 = await resolveSettings({
      opts: { issuer: 'https://flag/', param: ['y=3'] },
      env,
      globals: globals({ config: file }),
    });
    expect([s2.issuer, s2.clientId, s2.sources.issuer]).toEqual([
      'https://flag/',
      'env-client',
      'flag',
    ]);
    expect(s2.params).toEqual({ x: '1', y: '3' });
  });

  it('selects the profile by flag or OIDC_GW_PROFILE and the file by OIDC_GW_CONFIG', async () => {
    const s = await resolveSettings({
      opts: {},
      env: { OIDC_GW_PROFILE: 'work', OIDC_GW_CONFIG: file },
      globals: globals(),
    });
    expect(s.issuer).toBe('https://work/');
    expect(s.profile).toBe('work');
    // A profile that is not in the file is empty: its tokens are cached under its name.
    const empty = await resolveSettings({
      opts: { issuer: 'https://x/' },
      env: {},
      globals: globals({ config: file, profile: 'nope' }),
    });
    expect([empty.profile, empty.profileExists, empty.issuer, empty.clientId]).toEqual([
      'nope',
      false,
      'https://x/',
      undefined,
    ]);
  });

  it('uses XDG paths by default and OIDC_GW_CACHE_DIR for the cache', () => {
    expect(configFilePath({ HOME: '/h' })).toBe('/h/.config/oidc-gw/config.json');
    expect(configFilePath({ HOME: '/h', XDG_CONFIG_HOME: '/x' })).toBe('/x/oidc-gw/config.json');
    expect(configFilePath({ HOME: '/h', XDG_CONFIG_HOME: 'relative' })).toBe(
      '/h/.config/oidc-gw/config.json',
    );
    expect(cacheDirPath({ HOME: '/h' })).toBe('/h/.cache/oidc-gw');
    expect(cacheDirPath({ HOME: '/h', OIDC_GW_CACHE_DIR: '/c' })).toBe('/c');
  });
});

describe('config file validation', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return error instanceof GwError ? `${error.code}: ${error.message}` : String(error);
    }
    return 'ok';
  };
  it('names the file and the bad key', () => {
    expect(code(() => parseConfig('/f.json', '{"profiles":{"a":{"isuer":"x"}}}'))).toBe(
      'ERR_CONFIG_INVALID: config file /f.json: unknown key "profiles.a.isuer"',
    );
    expect(code(() => parseConfig('/f.json', '{"profiles":{"a":{"authMethod":"magic"}}}'))).toMatch(
      /profiles\.a\.authMethod/,
    );
    expect(code(() => parseConfig('/f.json', '{"profiles":{"a":{"params":{"k":1}}}}'))).toMatch(
      /profiles\.a\.params/,
    );
    expect(code(() => parseConfig('/f.json', '{"profiles":[]}'))).toMatch(
      /"profiles" must be an object/,
    );
    expect(code(() => parseConfig('/f.json', '{"profile":{}}'))).toMatch(/unknown key "profile"/);
    expect(code(() => parseConfig('/f.json', '{oops'))).toMatch(
      /ERR_CONFIG_INVALID: config file \/f\.json: not valid JSON/,
    );
  });

  it('normalises scopes and parses params', () => {
    expect(normalizeScope(' openid,profile  email ')).toBe('openid profile email');
    expect(parseParams(['a=1', 'b=x=y', 'c='])).toEqual({ a: '1', b: 'x=y', c: '' });
    expect(() => parseParams(['novalue'])).toThrow(/KEY=VALUE/);
  });
});
