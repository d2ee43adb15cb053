import { describe, expect, it } from 'vitest';
import { CompactError, isCanonicalBase64url, parseCompact } from '../../src/core/jwt/compact.js';

const b64 = (v: unknown) =>
  Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const jws = (h: unknown, p: unknown, s = 'c2ln') => `${b64(h)}.${b64(p)}.${s}`;

function problem(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(CompactError);
    return (error as CompactError).problem;
  }
}

describe('parseCompact', () => {
  it('parses a JWS', () => {
    const t = parseCompact(jws({ alg: 'RS256', kid: 'k1' }, { sub: 'alice' }));
    expect(t.kind).toBe('JWS');
    expect(t.header).toEqual({ alg: 'RS256', kid: 'k1' });
    if (t.kind === 'JWS') expect(t.payload).toEqual({ sub: 'alice' });
  });

  it('recognises a JWE by its five parts', () => {
    const t = parseCompact(`${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.a2V5.aXY.Y3Q.dGFn`);
    expect(t.kind).toBe('JWE');
    expect(t.header['enc']).toBe('A256GCM');
  });

  it('names each problem', () => {
    expect(problem(() => parseCompact(''))).toBe('empty');
    expect(problem(() => parseCompact('a.b'))).toBe('parts');
    expect(problem(() => parseCompact('a.b.c.d'))).toBe('parts');
    expect(problem(() => parseCompact(`${b64({ alg: 'RS256' })}.${b64({ a: 1 })}.c2ln=`))).toBe(
      'base64url',
    );
    expect(problem(() => parseCompact(`${b64({ alg: 'RS256' })}+.${b64({ a: 1 })}.c2ln`))).toBe(
      'base64url',
    );
    // 'c2lo' and 'c2ln' decode to the same bytes only if padding bits differ: 'c2m' has non-zero trailing bits.
    expect(problem(() => parseCompact(`${b64({ alg: 'RS256' })}.${b64({ a: 1 })}.c2m`))).toBe(
      'non_canonical',
    );
    expect(problem(() => parseCompact(`${b64('not json')}.${b64({ a: 1 })}.c2ln`))).toBe(
      'header_json',
    );
    expect(problem(() => parseCompact(`${b64([1])}.${b64({ a: 1 })}.c2ln`))).toBe('header_json');
    expect(problem(() => parseCompact(`${b64({ alg: 'RS256' })}.${b64('foo')}.c2ln`))).toBe(
      'payload_json',
    );
    expect(
      problem(() => parseCompact(`${b64('{"alg":"RS256","alg":"none"}')}.${b64({ a: 1 })}.c2ln`)),
    ).toBe('duplicate_member');
    expect(
      problem(() => parseCompact(`${b64({ alg: 'RS256' })}.${b64('{"sub":"a","sub":"b"}')}.c2ln`)),
    ).toBe('duplicate_member');
  });

  it('accepts a non-JSON payload when asked (raw JWS)', () => {
    const t = parseCompact(`${b64({ alg: 'HS256' })}.${b64('foo')}.c2ln`, {
      requireJsonPayload: false,
    });
    expect(t.kind === 'JWS' && t.payload).toBe(undefined);
    expect(t.kind === 'JWS' && t.payloadBytes.toString()).toBe('foo');
  });

  it('checks canonical base64url', () => {
    expect(isCanonicalBase64url('c2ln')).toBe(true);
    expect(isCanonicalBase64url('')).toBe(true);
    expect(isCanonicalBase64url('c2m')).toBe(false);
    expect(isCanonicalBase64url('c2lu')).toBe(true);
    expect(isCanonicalBase64url('c2ln=')).toBe(false);
    expect(isCanonicalBase64url('a')).toBe(false);
    expect(isCanonicalBase64url('ab/c')).toBe(false);
  });
});
