/** `oidc-gw config` through the real CLI. */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempHome } from '../helpers/cli.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';

let idp: TestIdp;
const home = tempHome();
beforeAll(async () => {
  idp = await startTestIdp();
});
afterAll(async () => {
  await idp?.close();
  home.cleanup();
});

describe('config', () => {
  it('set creates the file (0600) and profile under XDG_CONFIG_HOME; show masks secrets', async () => {
    const env = home.env;
    expect((await runCli(['config', 'set', 'issuer', idp.issuer], { env })).code).toBe(0);
    expect(
      (await runCli(['config', 'set', 'clientSecret', 'very-secret-value-123'], { env })).code,
    ).toBe(0);
    expect(
      (await runCli(['config', 'set', 'params.prompt', 'consent', '--profile', 'other'], { env }))
        .code,
    ).toBe(0);
    const file = join(home.dir, '.config', 'oidc-gw', 'config.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      profiles: {
        default: { issuer: idp.issuer, clientSecret: 'very-secret-value-123' },
        other: { params: { prompt: 'consent' } },
      },
    });
    const show = await runCli(['config', 'show'], { env });
    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/clientSecret\s+very-\S{0,1}…/);
    expect(show.stdout + show.stderr).not.toContain('very-secret-value-123');
    const json = await runCli(['config', 'show', '--json'], {
      env: { ...env, OIDC_GW_ISSUER: 'https://env.example/' },
    });
    const body = JSON.parse(json.stdout) as {
      effective: Record<string, { value: string; source: string }>;
    };
    expect(body.effective['issuer']).toEqual({ value: 'https://env.example/', source: 'env' });
    const list = await runCli(['config', 'list', '--json'], { env });
    expect(JSON.parse(list.stdout).profiles.map((p: { name: string }) => p.name)).toEqual([
      'default',
      'other',
    ]);
    expect((await runCli(['config', 'unset', 'clientSecret'], { env })).code).toBe(0);
    expect(JSON.parse(readFileSync(file, 'utf8')).profiles.default).toEqual({ issuer: idp.issuer });
  });

  it('refuses unknown keys and bad values with exit 2', async () => {
    const r = await runCli(['config', 'set', 'isuer', 'x'], { env: home.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown key "isuer"/);
    expect((await runCli(['config', 'set', 'authMethod', 'magic'], { env: home.env })).code).toBe(
      2,
    );
  });

  it('an invalid config file: exit 2 naming the file and key, for any command', async () => {
    const file = join(home.dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ profiles: { default: { issuer: 42 } } }));
    const r = await runCli(['token', '--config', file], { env: home.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`config file ${file}: "profiles.default.issuer" must be a string`);
    writeFileSync(file, '{');
    expect((await runCli(['config', 'list', '--config', file], { env: home.env })).code).toBe(2);
  });

  it('init without a terminal takes every answer from flags, checking the issuer by discovery', async () => {
    const file = join(home.dir, 'init.json');
    const r = await runCli(
      [
        'config',
        'init',
        '--config',
        file,
        '--name',
        'svc',
        '--issuer',
        idp.issuer,
        '--client-id',
        idp.clients.basic.clientId,
        '--client-secret',
        idp.clients.basic.clientSecret,
        '--store-secret',
        '--audience',
        idp.audience,
        '--scope',
        'a,b',
      ],
      { env: home.env },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ok discovered/);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.profiles.svc).toEqual({
      issuer: idp.issuer,
      clientId: idp.clients.basic.clientId,
      clientSecret: idp.clients.basic.clientSecret,
      audience: idp.audience,
      scope: 'a b',
    });
    // The profile works.
    const token = await runCli(['token', '--client-credentials', '--config', file, '-p', 'svc'], {
      env: { ...home.env, OIDC_GW_CACHE_DIR: join(home.dir, 'c') },
    });
    expect(token.code, token.stderr).toBe(0);
    // Without a terminal and without the required flags: exit 2, no prompt.
    const missing = await runCli(['config', 'init', '--config', file, '--name', 'x'], {
      env: home.env,
    });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no issuer URL given\nhint: give --issuer/);
    // An issuer that does not answer discovery is refused.
    const dead = await runCli(
      [
        'config',
        'init',
        '--config',
        file,
        '--name',
        'x',
        '--issuer',
        'http://127.0.0.1:9',
        '--client-id',
        'c',
      ],
      { env: home.env },
    );
    expect(dead.code).toBe(3);
  });
});
