/**
 * `oidc-gw completion`: the bash script printed by the built CLI is sourced
 * in a real bash, the function that `complete` registered for oidc-gw is
 * called with COMP_WORDS / COMP_CWORD set as bash sets them, and COMPREPLY
 * is asserted: commands, subcommands, flags, flag values (`--print`,
 * `--format`, choices), profile names read from the config file through the
 * CLI itself, file names. The zsh and fish scripts are checked by their own
 * shells when installed (`zsh -n`, fish's `complete -C`).
 */
import { spawn } from 'node:child_process';
import {
  accessSync,
  constants,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/program.js';
import { BIN, runCli, tempHome } from '../helpers/cli.js';

const home = tempHome();
const work = mkdtempSync(join(tmpdir(), 'oidc-gw-completion-'));
const binDir = join(work, 'bin');
const PRINT_VALUES = ['access_token', 'id_token', 'refresh_token'];

function which(program: string): boolean {
  return (process.env['PATH'] ?? '')
    .split(':')
    .some((dir) => dir !== '' && existsExecutable(join(dir, program)));
}
function existsExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

interface ShellRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function shell(
  program: string,
  args: readonly string[],
  env: Record<string, string>,
): Promise<ShellRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const q = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** The environment of a user: isolated HOME/XDG dirs, oidc-gw on the PATH. */
function userEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { ...home.env, PATH: `${binDir}:${process.env['PATH'] ?? ''}`, ...extra } as Record<
    string,
    string
  >;
}

let bashScript = '';
const bashFile = join(work, 'oidc-gw.bash');

/**
 * Completes `words` (the last one being completed, '' for a new word) in a
 * real bash: sources `scriptFile`, finds the function `complete` registered
 * for oidc-gw, runs it, prints COMPREPLY one per line.
 */
async function complete(
  words: readonly string[],
  options: { scriptFile?: string; env?: Record<string, string> } = {},
): Promise<string[]> {
  const program = [
    `source ${q(options.scriptFile ?? bashFile)}`,
    `spec="$(complete -p oidc-gw)" || exit 3`,
    `fn="\${spec##*-F }"; fn="\${fn%% *}"`,
    `COMP_WORDS=(${['oidc-gw', ...words].map(q).join(' ')})`,
    `COMP_CWORD=${words.length}`,
    `COMP_LINE="\${COMP_WORDS[*]}"; COMP_POINT=\${#COMP_LINE}`,
    `COMPREPLY=()`,
    `"$fn" oidc-gw ${q(words[words.length - 1] ?? '')} ${q(words.length > 1 ? (words[words.length - 2] as string) : 'oidc-gw')}`,
    `(( \${#COMPREPLY[@]} )) && printf '%s\\n' "\${COMPREPLY[@]}"`,
    `exit 0`,
  ].join('\n');
  const r = await shell('bash', ['--norc', '--noprofile', '-c', program], options.env ?? userEnv());
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout.split('\n').filter((l) => l !== '');
}

beforeAll(async () => {
  mkdirSync(binDir);
  symlinkSync(BIN, join(binDir, 'oidc-gw'));
  const configDir = join(home.env['XDG_CONFIG_HOME'] as string, 'oidc-gw');
  mkdirSync(configDir, { recursive: true });
  writeFileSync(
    join(configDir, 'config.json'),
    JSON.stringify({ profiles: { dev: { issuer: 'http://127.0.0.1:9000' }, prod: {} } }),
  );
  writeFileSync(join(work, 'other.json'), JSON.stringify({ profiles: { staging: {} } }));
  writeFileSync(join(work, 'broken.json'), '{ not json');
  const r = await runCli(['completion', 'bash'], { env: home.env });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  bashScript = r.stdout;
  writeFileSync(bashFile, bashScript);
});

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

describe('oidc-gw completion bash, in a real bash', () => {
  it('registers a completion function for oidc-gw with `complete`', async () => {
    const r = await shell(
      'bash',
      ['--norc', '--noprofile', '-c', `source ${q(bashFile)}; complete -p oidc-gw`],
      userEnv(),
    );
    expect(r.stdout.trim()).toBe('complete -F _oidc_gw oidc-gw');
  });

  it('completes every command and alias at the top level', async () => {
    const words = await complete(['']);
    const expected = COMMANDS.flatMap((c) => [c.name, ...c.aliases]);
    expect(words.sort()).toEqual([...expected].sort());
    expect(await complete(['to'])).toEqual(['token']);
    expect(await complete(['--'])).toEqual(['--version', '--help']);
  });

  it('completes a command flags, and the values of --print in every spelling', async () => {
    expect(await complete(['token', '--pri'])).toEqual(['--print', '--private-key']);
    expect(await complete(['token', '--print', ''])).toEqual(PRINT_VALUES);
    expect(await complete(['token', '--print', '=', ''])).toEqual(PRINT_VALUES);
    expect(await complete(['token', '--print', '=', 'id'])).toEqual(['id_token']);
    expect(await complete(['token', '--scope', 'read', '--print', 'r'])).toEqual(['refresh_token']);
    // after a flag that takes no value, a new flag
    expect(await complete(['token', '--force', '--client-c'])).toEqual(['--client-credentials']);
  });

  it('completes the choices of a flag and the subcommands and aliases', async () => {
    expect(await complete(['token', '--auth-method', 'p'])).toEqual(['post', 'private_key_jwt']);
    expect(await complete(['config', ''])).toEqual([
      'init',
      'list',
      'show',
      'set',
      'unset',
      'path',
    ]);
    expect(await complete(['config', 'init', '--st'])).toEqual(['--store-secret']);
    expect(await complete(['proxy', '--log-format', ''])).toEqual(['pretty', 'json']);
    expect(await complete(['completion', ''])).toEqual(['bash', 'zsh', 'fish']);
  });

  it('completes profile names from the config file, also one named by --config', async () => {
    expect(await complete(['token', '-p', ''])).toEqual(['dev', 'prod']);
    expect(await complete(['--json', 'call', '--profile', 'd'])).toEqual(['dev']);
    expect(await complete(['config', 'show', ''])).toEqual(['dev', 'prod']);
    const other = join(work, 'other.json');
    expect(await complete(['token', '--config', other, '--profile', ''])).toEqual(['staging']);
    expect(
      await complete(['token', '--profile', ''], { env: userEnv({ OIDC_GW_CONFIG: other }) }),
    ).toEqual(['staging']);
    // an invalid config file completes nothing and prints nothing
    expect(
      await complete(['token', '--profile', ''], {
        env: userEnv({ OIDC_GW_CONFIG: join(work, 'broken.json') }),
      }),
    ).toEqual([]);
  });

  it('completes file names for file flags', async () => {
    expect(await complete(['token', '--config', join(work, 'oth')])).toEqual([
      join(work, 'other.json'),
    ]);
  });

  it('completes the values of --format (gateway formats) and --print; a request --path is not a file', async () => {
    for (const command of ['serve', 'decode'])
      expect(await complete([command, '--format', ''])).toEqual(['oidc-gw', 'tyk', 'kong', 'apim']);
    expect(await complete(['token', '--print', ''])).toEqual(PRINT_VALUES);
    // decode --path takes a request path: no file names offered.
    expect(await complete(['decode', '--path', join(work, 'oth')])).toEqual([]);
  });
});

describe('oidc-gw completion', () => {
  it('lists the profile names one a line for the scripts', async () => {
    const r = await runCli(['completion', 'bash', '--list-profiles'], { env: home.env });
    expect(r).toMatchObject({ code: 0, stdout: 'dev\nprod\n', stderr: '' });
  });

  it('refuses a shell it does not know (usage, exit 2)', async () => {
    const r = await runCli(['completion', 'tcsh'], { env: home.env });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bash, zsh, fish/);
  });

  it('prints a zsh script built on the bash one (bashcompinit)', async () => {
    const r = await runCli(['completion', 'zsh'], { env: home.env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^autoload -U \+X bashcompinit && bashcompinit$/m);
    expect(r.stdout).toContain("'token|--print') REPLY='access_token id_token refresh_token'");
    expect(r.stdout).toContain('completion zsh --list-profiles');
  });

  it.skipIf(!which('zsh'))('zsh reads the zsh script', async () => {
    const file = join(work, 'oidc-gw.zsh');
    writeFileSync(file, (await runCli(['completion', 'zsh'], { env: home.env })).stdout);
    const r = await shell('zsh', ['-n', file], userEnv());
    expect(r).toMatchObject({ code: 0, stderr: '' });
  });

  it('prints a fish script of complete lines', async () => {
    const r = await runCli(['completion', 'fish'], { env: home.env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      "complete -c oidc-gw -n '__oidc_gw_in '\\''token'\\''' -l print -x -a 'access_token id_token refresh_token'",
    );
  });

  it.skipIf(!which('fish'))('fish completes with the fish script', async () => {
    const file = join(work, 'oidc-gw.fish');
    writeFileSync(file, (await runCli(['completion', 'fish'], { env: home.env })).stdout);
    const completeLine = async (line: string) => {
      const r = await shell(
        'fish',
        ['--no-config', '-c', `source ${q(file)}; complete -C ${q(line)}`],
        userEnv(),
      );
      expect(r.stderr).toBe('');
      return r.stdout
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.split('\t')[0]);
    };
    expect(await completeLine('oidc-gw token --print ')).toEqual(PRINT_VALUES);
    expect(await completeLine('oidc-gw config show ')).toEqual(['dev', 'prod']);
    expect(await completeLine('oidc-gw proxy --log-format ')).toEqual(['json', 'pretty']);
  });
});
