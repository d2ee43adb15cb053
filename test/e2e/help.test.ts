/**
 * The `--help` text of every command, asserted against a committed copy
 * (test/e2e/help/*.txt): a change to flags or descriptions shows up in review,
 * and docs/commands/*.md must follow. Update with `npx vitest run test/e2e/help.test.ts -u`.
 */
import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { buildProgram, COMMANDS } from '../../src/cli/program.js';
import { runCli, tempHome } from '../helpers/cli.js';

const home = tempHome();
const HELP_COMMANDS = [
  '',
  'login',
  'logout',
  'token',
  'decode',
  'serve',
  'call',
  'discover',
  'config',
  'config init',
  'idp',
  'demo',
  'completion',
];

describe('--help', () => {
  it.each(HELP_COMMANDS)('oidc-gw %s --help', async (command) => {
    const args = [...command.split(' ').filter(Boolean), '--help'];
    const r = await runCli(args, { env: { ...home.env, COLUMNS: '100' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    await expect(r.stdout).toMatchFileSnapshot(
      `help/${command.replace(' ', '-') || 'oidc-gw'}.txt`,
    );
  });

  it('lists every command at the top level', async () => {
    const r = await runCli(['--help'], { env: home.env });
    for (const c of [
      'login',
      'logout',
      'token',
      'decode',
      'serve',
      'call',
      'discover',
      'config',
      'idp',
      'demo',
      'completion',
    ]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    }
  });

  it('the start-up listing of each command matches what its module registers', async () => {
    const [stdout, stderr] = [new PassThrough(), new PassThrough()];
    const io = { stdout, stderr, stdin: new PassThrough(), text: { stdout, stderr } };
    const signals = { controller: new AbortController(), handlers: new Set<() => void>() };
    for (const entry of COMMANDS) {
      const program = await buildProgram([entry.name], io, {}, signals, { exitCode: 0 });
      const real = program.commands.find((c) => c.name() === entry.name);
      expect(real?.description(), entry.name).toBe(entry.description);
      expect(real?.aliases(), entry.name).toEqual(entry.aliases);
      const args = real?.registeredArguments
        .map((a) => (a.required ? `<${a.name()}>` : `[${a.name()}]`))
        .join(' ');
      expect(args || undefined, entry.name).toBe(entry.args);
      // Only the named command is registered in full: the others carry no real options
      // (except for `completion`, which describes them all).
      if (entry.name === 'completion') continue;
      const others = program.commands.filter((c) => c.name() !== entry.name && c.name() !== 'help');
      for (const other of others) expect(other.options.filter((o) => !o.hidden)).toEqual([]);
    }
  });

  it('`proxy` is an alias of `serve`', async () => {
    const serve = await runCli(['serve', '--help'], { env: home.env });
    const proxy = await runCli(['proxy', '--help'], { env: home.env });
    expect(proxy.code).toBe(0);
    expect(proxy.stdout.replace(/^Usage: oidc-gw proxy/m, 'Usage: oidc-gw serve')).toBe(
      serve.stdout,
    );
  });

  it('prints the version', async () => {
    const r = await runCli(['--version'], { env: home.env });
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
