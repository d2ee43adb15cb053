/** The one loopback rule (src/core/loopback.ts) and the decisions that use it. */
import { describe, expect, test } from 'vitest';
import { isLoopbackHost } from '../../src/core/loopback.js';
import { checkUrl } from '../../src/core/issuer.js';
import { parseRedirectUri } from '../../src/http/loopback-receiver.js';

describe('isLoopbackHost', () => {
  test.each([
    // localhost, in any case
    ['localhost', true],
    ['LocalHost', true],
    // 127.0.0.0/8 as a dotted quad
    ['127.0.0.1', true],
    ['127.0.0.2', true],
    ['127.255.255.255', true],
    ['127.1.2.3', true],
    // ::1 in any spelling, with or without brackets
    ['::1', true],
    ['[::1]', true],
    ['0:0:0:0:0:0:0:1', true],
    ['[0000:0000:0000:0000:0000:0000:0000:0001]', true],
    // IPv4-mapped 127.0.0.0/8 (a dual-stack socket's peer address; a URL's hostname)
    ['::ffff:127.0.0.1', true],
    ['[::ffff:127.0.0.1]', true],
    ['[::ffff:7f00:1]', true],
    ['::FFFF:127.9.8.7', true],
    // strict: shorthand IPv4 forms are not accepted (write the dotted quad)
    ['127.1', false],
    ['127.0.1', false],
    ['2130706433', false],
    ['0x7f.0.0.1', false],
    ['0x7f000001', false],
    ['127.000.0.1', false],
    ['0177.0.0.1', false],
    ['127.0.0.256', false],
    ['127.0.0.1.', false],
    // strict: names a resolver may send to DNS
    ['localhost.', false],
    ['foo.localhost', false],
    ['localhost.example.com', false],
    ['127.0.0.1.nip.io', false],
    // every interface is not loopback
    ['0.0.0.0', false],
    ['::', false],
    ['[::]', false],
    // not loopback
    ['128.0.0.1', false],
    ['10.0.0.1', false],
    ['::2', false],
    ['::127.0.0.1', false],
    ['::ffff:128.0.0.1', false],
    ['::ffff:0:127.0.0.1', false],
    ['::1%lo', false],
    ['[::1', false],
    ['[[::1]]', false],
    ['', false],
    ['example.com', false],
  ])('%j -> %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback);
  });

  test('a URL hostname normalises shorthand forms, so a URL written with them is loopback', () => {
    expect(isLoopbackHost(new URL('http://127.1:8080/').hostname)).toBe(true);
    expect(isLoopbackHost(new URL('http://[::ffff:127.0.0.1]/').hostname)).toBe(true);
    expect(isLoopbackHost(new URL('http://0.0.0.0/').hostname)).toBe(false);
  });
});

describe('the decisions use it', () => {
  test('plain http for an issuer: allowed on loopback only', () => {
    expect(checkUrl('http://[::ffff:127.0.0.1]:8080/', 'issuer').url.port).toBe('8080');
    expect(checkUrl('http://127.0.0.2/', 'issuer').note).toBeUndefined();
    expect(() => checkUrl('http://0.0.0.0:8080/', 'issuer')).toThrow(/not loopback/);
    expect(() => checkUrl('http://localhost.:8080/', 'issuer')).toThrow(/not loopback/);
  });

  test("login's redirect URI: a loopback host it can listen on", () => {
    expect(parseRedirectUri('http://127.0.0.2:8765/cb', undefined).bindHost).toBe('127.0.0.2');
    expect(parseRedirectUri('http://[::1]:8765/cb', undefined).bindHost).toBe('::1');
    expect(parseRedirectUri('http://localhost:8765/cb', undefined).bindHost).toBe('127.0.0.1');
    expect(() => parseRedirectUri('http://0.0.0.0:8765/cb', undefined)).toThrow(/loopback/);
    expect(() => parseRedirectUri('http://localhost.:8765/cb', undefined)).toThrow(/loopback/);
    expect(() => parseRedirectUri('http://[::ffff:127.0.0.1]:8765/cb', undefined)).toThrow(
      /127\.0\.0\.1/,
    );
  });
});
