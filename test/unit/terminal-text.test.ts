/**
 * The one terminal sanitizer (src/core/terminal-text.ts), and the paths that
 * put outside text on a terminal: a bidi control or an escape sequence from a
 * token or an IdP's answer never reaches the terminal raw.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, test } from 'vitest';
import { renderError } from '../../src/cli/render-error.js';
import type { Io } from '../../src/context.js';
import { wrapOAuthError } from '../../src/core/oauth-errors.js';
import { inspectToken } from '../../src/core/jwt/inspect.js';
import { renderReport, type Style } from '../../src/core/jwt/report-text.js';
import { escapeControls, printableLine } from '../../src/core/terminal-text.js';
import { callbackError, summaryLines } from '../../src/services/login.js';

/** Every character the sanitizer must escape, one of each kind. */
const BIDI = ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e'];
const ISOLATES = ['\u2066', '\u2067', '\u2068', '\u2069'];
const HOSTILE = `\u001b[2J\u001b]0;pwned\u0007\u009b31m${BIDI.join('')}${ISOLATES.join('')}\u2028\u2029x`;
const RAW =
  // eslint-disable-next-line no-control-regex -- what must never reach a terminal
  /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/;

describe('escapeControls', () => {
  test.each([
    ['plain text, accents and emoji kept: café ☕', 'plain text, accents and emoji kept: café ☕'],
    ['a\u001b[2Jb', 'a\\u001b[2Jb'],
    ['\u0000\u0007\u007f\u009b', '\\u0000\\u0007\\u007f\\u009b'],
    ['line\nnext\rx\ty', 'line\\nnext\\rx\\ty'],
    ['abc\u202egnp.exe', 'abc\\u202egnp.exe'],
    ['\u2066\u2067\u2068\u2069', '\\u2066\\u2067\\u2068\\u2069'],
    ['\u200e\u200f\u061c', '\\u200e\\u200f\\u061c'],
    ['\u2028\u2029', '\\u2028\\u2029'],
    ['zero\u200bwidth space is not a control', 'zero\u200bwidth space is not a control'],
    ['a backslash \\u001b stays text', 'a backslash \\u001b stays text'],
  ])('%j', (input, output) => {
    expect(escapeControls(input)).toBe(output);
  });

  test('no raw control or bidi character survives', () => {
    for (let c = 0; c < 0x3000; c++) {
      const out = escapeControls(`a${String.fromCharCode(c)}b`);
      expect(out, `U+${c.toString(16)}`).not.toMatch(RAW);
    }
  });

  test('an escaped JSON string is still JSON with the same value', () => {
    const value = `v\u202e\u009b\u2066`;
    expect(JSON.parse(escapeControls(JSON.stringify(value)))).toBe(value);
  });
});

describe('printableLine', () => {
  test('one line, trimmed, cut, escaped', () => {
    expect(printableLine('  line1\r\n  line2 ', 8)).toBe('line1 li…');
    expect(printableLine('a\u2028b')).toBe('a b');
    expect(printableLine('x\u202ey')).toBe('x\\u202ey');
    expect(printableLine('x'.repeat(1000)).length).toBe(301);
  });
});

describe('outside text reaches the terminal escaped', () => {
  test("login: an IdP's error_description on the callback", () => {
    const error = callbackError('access_denied', `nope${HOSTILE}`);
    expect(error.message).not.toMatch(RAW);
    expect(error.message).toContain('\\u202e');
    expect(JSON.stringify(error.details)).not.toMatch(RAW);
  });

  test("login: the summary's claims and scopes", () => {
    const lines = summaryLines(
      {
        tokens: {
          access_token: 'at',
          scope: `openid${HOSTILE}`,
          issuer: 'https://idp.example/',
          client_id: 'cli',
          grant: 'authorization_code',
          obtained_at: 0,
        },
        claims: { sub: `s${HOSTILE}`, name: `Eve${HOSTILE}`, email: `e${HOSTILE}@x` },
      },
      'default',
      0,
    );
    const text = lines.join('\n');
    expect(text).not.toMatch(RAW);
    expect(text).toContain('Eve\\u001b[2J');
    expect(text).toContain('\\u2066');
  });

  test('decode: a token whose claims carry bidi controls', () => {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const token = `${b64({ alg: 'RS256', typ: 'JWT', kid: `k${HOSTILE}` })}.${b64({
      iss: `https://i${HOSTILE}`,
      sub: HOSTILE,
      [`claim${HOSTILE}`]: [HOSTILE],
    })}.c2ln`;
    const id = (t: string) => t;
    const plain: Style = {
      bold: id,
      dim: id,
      red: id,
      green: id,
      yellow: id,
      cyan: id,
      magenta: id,
    };
    const text = renderReport(inspectToken(token, { now: 1_750_000_000_000 }), plain, {
      verifyRequested: false,
    });
    expect(text).not.toMatch(RAW);
    expect(text).toContain('\\u202e');
    expect(text).toContain('\\u061c');
  });

  test("the error line: an IdP's OAuth error answer quoted in a message", async () => {
    const stderr = new PassThrough();
    const stdout = new PassThrough();
    const chunks: string[] = [];
    stderr.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
    const io: Io = {
      stdout,
      stderr,
      stdin: new PassThrough(),
      text: { stdout, stderr },
    };
    const error = wrapOAuthError(
      { error: 'invalid_grant', error_description: `bad${HOSTILE}`, status: 400 },
      { action: 'token request' },
    );
    await renderError(io, error, { json: false, debug: false, noColor: true, env: {} });
    const text = chunks.join('');
    expect(text).toContain('oidc-gw: error:');
    expect(text).toContain('bad\\u001b[2J');
    expect(text).not.toMatch(RAW);
  });
});
