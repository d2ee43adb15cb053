/**
 * `oidc-gw config init` as a person runs it: on a real pseudo-terminal
 * (util-linux `script` gives the CLI one), answering Inquirer's prompts one
 * by one as they appear, against the real test IdP for the discovery check.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, tempHome } from '../helpers/cli.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';

const SCRIPT = '/usr/bin/script';
let idp: TestIdp;
const home = tempHome('oidc-gw-init-tty-');

beforeAll(async () => {
  idp = await startTestIdp();
});
afterAll(async () => {
  await idp?.close();
  home.cleanup();
});

/** What the terminal showed, without ANSI escapes and carriage returns. */
const plain = (text: string) => stripVTControlCharacters(text).replace(/\r/g, '');

interface Step {
  /** Waits until the screen shows this (after the previous step's answer)... */
  readonly prompt: RegExp;
  /** ...then types this. */
  readonly keys: string;
}

/** Runs `oidc-gw ARGS` on a pseudo-terminal, typing each step's keys when its prompt shows. */
function onTerminal(args: string[], steps: Step[], env: Record<string, string>) {
  const command = [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn(SCRIPT, ['-qfec', command, '/dev/null'], {
    cwd: ROOT,
    env: { ...env, TERM: 'xterm', COLUMNS: '100', LINES: '40' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let screen = '';
  let seenUpTo = 0;
  let step = 0;
  const typed: string[] = [];
  const advance = () => {
    const next = steps[step];
    if (!next) return;
    const rest = plain(screen).slice(seenUpTo);
    const m = next.prompt.exec(rest);
    if (!m) return;
    seenUpTo += m.index + m[0].length;
    step++;
    typed.push(next.keys);
    child.stdin.write(next.keys);
    advance();
  };
  child.stdout.on('data', (d: Buffer) => {
    screen += d.toString('utf8');
    advance();
  });
  child.stderr.on('data', (d: Buffer) => (screen += d.toString('utf8')));
  return new Promise<{ code: number | null; screen: string; answered: number }>(
    (resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(
          new Error(`stuck at step ${step + 1} of ${steps.length}; screen:\n${plain(screen)}`),
        );
      }, 20_000);
      child.on('exit', (code) => {
        clearTimeout(timer);
        child.stdin.end();
        resolve({ code, screen: plain(screen), answered: step });
      });
    },
  );
}

beforeAll(() => {
  if (!existsSync(SCRIPT)) {
    throw new Error(
      `${SCRIPT} is missing: this test needs a pseudo-terminal from util-linux's script (apt-get install bsdutils, as .ci/run does)`,
    );
  }
});

describe('config init on a terminal', () => {
  it('asks each question, checks the issuer by discovery, masks the secret, saves 0600', async () => {
    const secret = 'tty-secret-:%+value';
    const result = await onTerminal(
      ['config', 'init'],
      [
        { prompt: /profile name/, keys: 'tty\r' },
        { prompt: /issuer URL/, keys: `${idp.issuer}\r` },
        { prompt: /client id/, keys: 'oidc-gw-service\r' },
        { prompt: /client secret/, keys: `${secret}\r` },
        { prompt: /store the secret/, keys: 'y\r' },
        { prompt: /default scopes/, keys: 'read write\r' },
        { prompt: /default audience/, keys: 'https://api.example.test/\r' },
      ],
      home.env,
    );
    expect(result.answered).toBe(7);
    expect(result.code, result.screen).toBe(0);
    expect(result.screen).toContain(`discovered ${idp.issuer}`);
    expect(result.screen).toContain('saved profile "tty"');
    // The secret was typed, but the terminal only ever showed a mask.
    expect(result.screen).not.toContain(secret);
    expect(result.screen).toContain('*'.repeat(secret.length));
    const file = join(home.dir, '.config', 'oidc-gw', 'config.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8')).profiles.tty).toEqual({
      issuer: idp.issuer,
      clientId: 'oidc-gw-service',
      clientSecret: secret,
      scope: 'read write',
      audience: 'https://api.example.test/',
    });
  });

  it('an issuer that cannot be discovered is asked again, not saved', async () => {
    const result = await onTerminal(
      ['config', 'init', '--name', 'retry'],
      [
        { prompt: /issuer URL/, keys: 'http://127.0.0.1:9/\r' },
        { prompt: /try again/, keys: '' },
        { prompt: /issuer URL/, keys: `${idp.issuer}\r` },
        { prompt: /client id/, keys: 'cli\r' },
        { prompt: /client secret/, keys: '\r' },
        { prompt: /default scopes/, keys: '\r' },
        { prompt: /default audience/, keys: '\r' },
      ],
      home.env,
    );
    expect(result.code, result.screen).toBe(0);
    const file = join(home.dir, '.config', 'oidc-gw', 'config.json');
    expect(JSON.parse(readFileSync(file, 'utf8')).profiles.retry).toEqual({
      issuer: idp.issuer,
      clientId: 'cli',
    });
  });
});
