/** Regression: --forward-claim reads only the token's own claims (a review finding). */
import { describe, expect, it } from 'vitest';
import { encodeClaimValue, forwardedHeaders } from '../../src/core/gateway/forward.js';

describe('forwarded claims', () => {
  it('ignores inherited members such as constructor and __proto__', () => {
    const claims = JSON.parse('{"sub":"alice"}') as Record<string, unknown>;
    const result = forwardedHeaders(claims, [
      { header: 'X-C', claim: 'constructor' },
      { header: 'X-P', claim: '__proto__' },
      { header: 'X-T', claim: 'toString' },
      { header: 'X-User', claim: 'sub' },
    ]);
    expect(result).toEqual({ headers: ['X-User', 'alice'] });
  });

  it('sends nothing for a value with no JSON form', () => {
    expect(encodeClaimValue(() => 1)).toBeUndefined();
    expect(encodeClaimValue(Symbol('x'))).toBeUndefined();
    expect(encodeClaimValue({ a: 1 })).toEqual({ value: '{"a":1}' });
  });
});
