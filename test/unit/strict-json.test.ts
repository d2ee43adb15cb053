import { describe, expect, it } from 'vitest';
import { DuplicateMemberError, parseStrictJson } from '../../src/core/jwt/strict-json.js';

describe('parseStrictJson', () => {
  it('parses JSON as JSON.parse does', () => {
    expect(parseStrictJson('{"a":1,"b":[{"a":2},{"a":3}],"c":{"a":"}{,\\""}}')).toEqual({
      a: 1,
      b: [{ a: 2 }, { a: 3 }],
      c: { a: '}{,"' },
    });
    expect(parseStrictJson('[1,"x",null]')).toEqual([1, 'x', null]);
  });

  it.each([
    ['{"a":1,"a":2}', 'a'],
    ['{"sub":"x","b":{"c":1},"sub":"y"}', 'sub'],
    ['{"o":{"k":1,"k":1}}', 'k'],
    ['{"a":1,"\\u0061":2}', 'a'],
    ['[{"x":1},{"y":1,"y":2}]', 'y'],
  ])('refuses duplicate members: %s', (text, member) => {
    expect(() => parseStrictJson(text)).toThrow(DuplicateMemberError);
    try {
      parseStrictJson(text);
    } catch (error) {
      expect((error as DuplicateMemberError).member).toBe(member);
    }
  });

  it('does not confuse values or nested objects with keys', () => {
    expect(parseStrictJson('{"a":"a","b":{"a":"a"},"c":["a","a"]}')).toBeTruthy();
  });

  it('throws SyntaxError on invalid JSON', () => {
    expect(() => parseStrictJson('{"a":')).toThrow(SyntaxError);
  });
});
