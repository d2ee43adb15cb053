import { describe, expect, test } from 'vitest';
import {
  bearerChallenge,
  parseWwwAuthenticate,
  WwwAuthenticateError,
} from '../../src/core/call/www-authenticate.js';

describe('parseWwwAuthenticate', () => {
  test('reads a Bearer challenge with quoted and token parameters', () => {
    const [c] = parseWwwAuthenticate(
      'Bearer realm="example", error=invalid_token, error_description="The access token expired"',
    );
    expect(c).toEqual({
      scheme: 'Bearer',
      params: {
        realm: 'example',
        error: 'invalid_token',
        error_description: 'The access token expired',
      },
    });
  });

  test('reads several challenges in one value and across values, parameter names lower-cased', () => {
    const cs = parseWwwAuthenticate([
      'Basic realm="a", Bearer REALM="b", scope="read write"',
      'DPoP algs="ES256 PS256"',
    ]);
    expect(cs.map((c) => c.scheme)).toEqual(['Basic', 'Bearer', 'DPoP']);
    expect(cs[1]?.params).toEqual({ realm: 'b', scope: 'read write' });
    expect(cs[2]?.params).toEqual({ algs: 'ES256 PS256' });
  });

  test('a scheme alone, empty list elements and spaces around "=" are accepted', () => {
    const cs = parseWwwAuthenticate(' , Bearer ,, Basic realm = "x" ,');
    expect(cs).toEqual([
      { scheme: 'Bearer', params: {} },
      { scheme: 'Basic', params: { realm: 'x' } },
    ]);
  });

  test('token68 after the scheme', () => {
    const [a, b] = parseWwwAuthenticate('Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXagMDAu==, Bearer');
    expect(a).toEqual({
      scheme: 'Negotiate',
      token68: 'YIIBhgYGKwYBBQUCoIIBejCCAXagMDAu==',
      params: {},
    });
    expect(b?.scheme).toBe('Bearer');
  });

  test('quoted-pair escapes are undone', () => {
    const [c] = parseWwwAuthenticate('Bearer error_description="say \\"hi\\" \\\\ bye"');
    expect(c?.params['error_description']).toBe('say "hi" \\ bye');
  });

  test.each([
    ['Bearer realm="x" error="y"', 'expected "," between parameters'],
    ['Bearer realm="x', 'unterminated quoted string'],
    ['Bearer realm="a", realm="b"', 'appears twice'],
    ['Bearer a="1", b=', 'expected a value'],
    ['Bearer realm="a\u0001b"', 'control character'],
    ['Bearer realm="a\\\u0001"', 'bad escape'],
    ['="x"', 'expected an authentication scheme'],
    ['Bearer "x"', 'expected a parameter name'],
    ['Bearer realm "x"', 'expected "="'],
  ])('refuses %j', (value, message) => {
    expect(() => parseWwwAuthenticate(value)).toThrow(WwwAuthenticateError);
    expect(() => parseWwwAuthenticate(value)).toThrow(message);
  });

  test('the error says where parsing stopped', () => {
    try {
      parseWwwAuthenticate('Bearer a="1" b="2"');
      expect.unreachable();
    } catch (error) {
      expect((error as WwwAuthenticateError).position).toBe(13);
    }
  });
});

describe('bearerChallenge', () => {
  test('reads RFC 6750 parameters, scope split on spaces', () => {
    const b = bearerChallenge(
      parseWwwAuthenticate(
        'Basic realm="x", Bearer realm="api", error="insufficient_scope", scope="orders:read orders:write", error_uri="https://e/x"',
      ),
    );
    expect(b).toMatchObject({
      realm: 'api',
      error: 'insufficient_scope',
      scope: ['orders:read', 'orders:write'],
      errorUri: 'https://e/x',
      problems: [],
    });
  });

  test('is undefined without a Bearer challenge; the scheme matches case-insensitively', () => {
    expect(bearerChallenge(parseWwwAuthenticate('Basic realm="x"'))).toBeUndefined();
    expect(bearerChallenge(parseWwwAuthenticate('bEaReR realm="x"'))?.realm).toBe('x');
  });

  test('notes departures from RFC 6750 without failing', () => {
    const b = bearerChallenge(
      parseWwwAuthenticate('Bearer error="token_revoked", error_description="caf\u00e9", foo=bar'),
    );
    expect(b?.error).toBe('token_revoked');
    expect(b?.other).toEqual({ foo: 'bar' });
    expect(b?.problems).toEqual([
      expect.stringContaining('"token_revoked" is not one of'),
      'error_description has characters RFC 6750 does not allow',
    ]);
    const s = bearerChallenge(parseWwwAuthenticate('Bearer error="insufficient_scope"'));
    expect(s?.problems).toEqual([expect.stringContaining('without a scope')]);
    const t = bearerChallenge(parseWwwAuthenticate('Bearer scope="a  b"'));
    expect(t?.problems).toEqual([expect.stringContaining('space-separated')]);
  });
});

test('a lone "name=" after the scheme is a token68, as the grammar says; bearerChallenge notes it', () => {
  const cs = parseWwwAuthenticate('Bearer realm=');
  expect(cs).toEqual([{ scheme: 'Bearer', token68: 'realm=', params: {} }]);
  expect(bearerChallenge(cs)?.problems).toEqual([expect.stringContaining('token68')]);
});
