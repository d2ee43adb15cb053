import { describe, expect, test } from 'vitest';
import { isJsonType, prettyJson } from '../../src/core/call/pretty-json.js';
import { escapeControls, printableLine } from '../../src/core/terminal-text.js';
import {
  formatBytes,
  progressLine,
  summaryLine,
  wantsProgress,
} from '../../src/core/call/progress.js';
import { nextHop, sameOrigin } from '../../src/core/call/redirect.js';
import {
  checkMethod,
  dataSource,
  joinBody,
  parseHeaderArg,
  type DataArg,
} from '../../src/core/call/request.js';
import { GwError } from '../../src/core/errors/index.js';

describe('prettyJson', () => {
  test('re-indents without touching literals', () => {
    const text =
      '{"big":12345678901234567890,"s":"caf\\u00e9 \\"q\\"","a":[1,2.50,{"x":null}],"e":{},"f":[],"t":true}';
    expect(prettyJson(text)).toBe(
      '{\n  "big": 12345678901234567890,\n  "s": "caf\\u00e9 \\"q\\"",\n  "a": [\n    1,\n    2.50,\n    {\n      "x": null\n    }\n  ],\n  "e": {},\n  "f": [],\n  "t": true\n}\n',
    );
  });

  test('refuses what is not one JSON value', () => {
    for (const bad of [
      '',
      '{',
      '{"a":1,}',
      '[1 2]',
      '{"a":1} x',
      'nul',
      '"\u0001"',
      '{a:1}',
      '01',
    ]) {
      expect(prettyJson(bad), bad).toBeUndefined();
    }
  });

  test('scalars and deep nesting limits', () => {
    expect(prettyJson(' 42 ')).toBe('42\n');
    expect(prettyJson('['.repeat(300) + ']'.repeat(300))).toBeUndefined();
  });

  test('isJsonType', () => {
    expect(isJsonType('application/json; charset=utf-8')).toBe(true);
    expect(isJsonType('application/problem+json')).toBe(true);
    expect(isJsonType('text/html')).toBe(false);
    expect(isJsonType(undefined)).toBe(false);
  });
});

describe('redirect policy', () => {
  const u = (s: string) => new URL(s);
  test('origins: scheme, host and port', () => {
    expect(sameOrigin(u('http://127.0.0.1:80/a'), u('http://127.0.0.1/b'))).toBe(true);
    expect(sameOrigin(u('http://127.0.0.1:8080/'), u('http://127.0.0.1:8081/'))).toBe(false);
    expect(sameOrigin(u('https://a.example/'), u('http://a.example/'))).toBe(false);
    expect(sameOrigin(u('http://A.example/'), u('http://a.example/'))).toBe(true);
    expect(sameOrigin(u('http://localhost/'), u('http://127.0.0.1/'))).toBe(false);
  });

  test('methods: 303 -> GET, 301/302 after POST -> GET, 307/308 keep method and body', () => {
    const from = u('http://h/a');
    expect(nextHop(from, 303, 'PUT', '/b')).toMatchObject({
      follow: true,
      method: 'GET',
      keepBody: false,
    });
    expect(nextHop(from, 302, 'POST', '/b')).toMatchObject({ method: 'GET', keepBody: false });
    expect(nextHop(from, 301, 'DELETE', '/b')).toMatchObject({ method: 'DELETE', keepBody: true });
    expect(nextHop(from, 307, 'POST', 'http://x/c#frag')).toMatchObject({
      method: 'POST',
      keepBody: true,
    });
    const d = nextHop(from, 308, 'POST', '../c?q=1');
    expect(d.follow && d.url.href).toBe('http://h/c?q=1');
  });

  test('never follows to other schemes, nor without Location', () => {
    expect(nextHop(u('http://h/'), 302, 'GET', 'file:///etc/passwd')).toMatchObject({
      follow: false,
    });
    expect(nextHop(u('http://h/'), 302, 'GET', undefined)).toMatchObject({ follow: false });
    expect(nextHop(u('http://h/'), 200, 'GET', '/x')).toMatchObject({ follow: false });
  });
});

describe('request building', () => {
  test('-H forms as curl reads them', () => {
    expect(parseHeaderArg('X-A: 1: 2')).toEqual({ kind: 'set', name: 'X-A', value: '1: 2' });
    expect(parseHeaderArg('Accept:')).toEqual({ kind: 'remove', name: 'Accept' });
    expect(parseHeaderArg('X-Empty;')).toEqual({ kind: 'empty', name: 'X-Empty' });
    expect(parseHeaderArg('X-B: a;b')).toEqual({ kind: 'set', name: 'X-B', value: 'a;b' });
  });

  test('-H refuses line breaks, bad names and no colon', () => {
    for (const bad of ['X-A: 1\r\nEvil: 2', 'Bad Name: x', 'novalue', ': x']) {
      expect(() => parseHeaderArg(bad), bad).toThrow(GwError);
    }
    expect(() => checkMethod('GE T')).toThrow('-X takes an HTTP method');
    expect(checkMethod('PATCH')).toBe('PATCH');
  });

  test('data sources and joining', () => {
    const arg = (kind: DataArg['kind'], value: string, seq = 0): DataArg => ({ kind, value, seq });
    expect(dataSource(arg('data', '@-'))).toEqual({ from: 'stdin' });
    expect(dataSource(arg('binary', '@f.bin'))).toEqual({ from: 'file', path: 'f.bin' });
    expect(dataSource(arg('raw', '@f'))).toEqual({ from: 'inline', text: '@f' });
    expect(() => dataSource(arg('data', '@'))).toThrow(GwError);
    const body = joinBody([
      { arg: arg('data', 'a=1'), bytes: Buffer.from('a=1'), fromFile: false },
      { arg: arg('data', '@f'), bytes: Buffer.from('b=2\r\nc=3\n'), fromFile: true },
      { arg: arg('binary', '@g'), bytes: Buffer.from('x\ny'), fromFile: true },
    ]);
    expect(body?.toString()).toBe('a=1&b=2c=3&x\ny');
    const json = joinBody([
      { arg: arg('json', '{"a":'), bytes: Buffer.from('{"a":'), fromFile: false },
      { arg: arg('json', '1}'), bytes: Buffer.from('1}'), fromFile: false },
    ]);
    expect(json?.toString()).toBe('{"a":1}');
    expect(() =>
      joinBody([
        { arg: arg('json', '{}'), bytes: Buffer.from('{}'), fromFile: false },
        { arg: arg('data', 'a'), bytes: Buffer.from('a'), fromFile: false },
      ]),
    ).toThrow('--json cannot be combined');
    expect(joinBody([])).toBeUndefined();
  });
});

describe('progress and summary', () => {
  test('bytes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 * 1024)).toBe('5.0 MiB');
    expect(formatBytes(200 * 1024 * 1024)).toBe('200 MiB');
  });

  test('bar with and without a known length', () => {
    const line = progressLine({
      received: 512 * 1024,
      total: 1024 * 1024,
      elapsedMs: 1000,
      columns: 80,
    });
    expect(line).toMatch(/^\[#+\.+\] +50% {2}512 KiB \/ 1\.0 MiB {2}512 KiB\/s$/);
    expect(line.length).toBeLessThanOrEqual(80);
    expect(progressLine({ received: 2048, total: undefined, elapsedMs: 2000 })).toBe(
      '2.0 KiB  1.0 KiB/s',
    );
    expect(wantsProgress(undefined)).toBe(true);
    expect(wantsProgress(100)).toBe(false);
    expect(wantsProgress(10 * 1024 * 1024)).toBe(true);
  });

  test('summary line', () => {
    expect(summaryLine(200, 'OK', 35.2, 1234)).toBe('200 OK · 35 ms · 1.2 KiB');
    expect(summaryLine(404, '', 2500, 0)).toBe('404 · 2.50 s · 0 B');
  });
});

describe('printable', () => {
  test('escapes terminal controls and bidi overrides, keeps text', () => {
    expect(escapeControls('a\u001b[2Jb\u202ec\té')).toBe('a\\u001b[2Jb\\u202ec\\té');
    expect(printableLine('line1\r\nline2', 8)).toBe('line1 li…');
  });
});
