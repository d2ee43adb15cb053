/**
 * `decode` hardening (issue 16, items 10 and 15): a three-part token whose
 * payload is a JSON object but whose header is not JSON is a broken JWT
 * (exit 2 with the reason), not an opaque token; an opaque token says why
 * Auth0 gives one (no `audience`) as `call` does; a time check that fails
 * only because decode's leeway (0) is smaller than serve's (30 s) says so.
 */
import { describe, expect, it } from 'vitest';
import { exitCodeOf, inspectToken, type Report } from '../../src/core/jwt/inspect.js';
import { isGwError } from '../../src/core/errors/index.js';
import { b64u, claims, craft } from '../helpers/jwt-fixtures.js';

const NOW_S = 1_750_000_000;
const NOW = NOW_S * 1000;
const RS = { alg: 'RS256', typ: 'at+jwt', kid: 'k1' };
const SIG = Buffer.alloc(32, 7).toString('base64url');

function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (isGwError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected an error');
}

const message = (r: Report, name: string) => r.checks.find((c) => c.name === name)?.message ?? '';

describe('item 10: a JSON payload behind a header that is not JSON is a broken JWT', () => {
  const payload = b64u(claims(NOW_S));
  for (const [label, header, reason] of [
    ['text', b64u('not json at all'), 'the header is not JSON'],
    ['empty', '', 'the header is empty'],
    ['a JSON array', b64u([1, 2]), 'the header is not JSON'],
    ['five characters (not decodable)', 'abcde', 'the header is not base64url'],
  ] as const) {
    it(`header ${label}: ERR_TOKEN_MALFORMED (exit 2) with the reason`, () => {
      const e = thrown(() => inspectToken(`${header}.${payload}.${SIG}`, { now: NOW }));
      expect(e.code).toBe('ERR_TOKEN_MALFORMED');
      expect(e.message).toContain(reason);
      expect(e.message).toContain('a broken JWT, not an opaque token');
    });
  }

  it('dotted opaque tokens stay opaque (Google ya29., three words that are not JSON)', () => {
    for (const token of [
      'ya29.a0AfB_byDzQ-xyz',
      'ya29.a0AfB_byDzQ.c3VwZXI',
      'abc.def.ghi',
      `abc.${b64u('[1,2]')}.ghi`,
      `abc.${b64u('"a string"')}.ghi`,
    ]) {
      expect(inspectToken(token, { now: NOW }).kind, token).toBe('opaque');
    }
  });
});

describe('item 15: an opaque token says what call says about Auth0', () => {
  it('names the missing audience and the flags that get a JWT', () => {
    const r = inspectToken('2YotnFZFEjr1zCsicMWpAA', { now: NOW });
    const format = message(r, 'format');
    expect(format).toContain('Auth0 gives opaque access tokens when no audience is asked for');
    expect(format).toContain('--audience API (Auth0) or --resource API (RFC 8707)');
    expect(exitCodeOf(r)).toBe(0);
  });
});

describe("item 15: decode's leeway (0) against serve's default (30 s)", () => {
  it('expired by 10 s: FAIL, and says serve would still accept it by default', () => {
    const r = inspectToken(craft(RS, claims(NOW_S, { exp: NOW_S - 10 }), SIG), { now: NOW });
    expect(exitCodeOf(r)).toBe(1);
    expect(message(r, 'exp')).toContain('within the 30s leeway oidc-gw serve allows by default');
    expect(message(r, 'exp')).toContain("decode's --clock-skew defaults to 0");
  });

  it('not yet valid by 5 s: the same note; by 2 minutes: no note', () => {
    const soon = inspectToken(craft(RS, claims(NOW_S, { nbf: NOW_S + 5 }), SIG), { now: NOW });
    expect(message(soon, 'nbf')).toContain('within the 30s leeway');
    const later = inspectToken(craft(RS, claims(NOW_S, { iat: NOW_S + 120 }), SIG), {
      now: NOW,
    });
    expect(message(later, 'iat')).not.toContain('leeway');
  });

  it('expired long ago, or a --clock-skew of 30 or more given: no note', () => {
    const old = inspectToken(craft(RS, claims(NOW_S, { exp: NOW_S - 3600 }), SIG), { now: NOW });
    expect(message(old, 'exp')).not.toContain('leeway');
    const skewed = inspectToken(craft(RS, claims(NOW_S, { exp: NOW_S - 40 }), SIG), {
      now: NOW,
      clockSkew: 30,
    });
    expect(message(skewed, 'exp')).toContain('clock skew allowed: 30s');
    expect(message(skewed, 'exp')).not.toContain('oidc-gw serve allows');
  });
});
