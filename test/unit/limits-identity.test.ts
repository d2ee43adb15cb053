/**
 * Counter keys (src/gateway/limits/identity.ts): secrets hashed, claim
 * values readable but escaped and bounded, the full Redis key layout.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { LimitRule } from '../../src/gateway/plan.js';
import {
  boundedKeyPart,
  counterKeyBase,
  escapeKeyPart,
  identityKey,
} from '../../src/gateway/limits/identity.js';

describe('identityKey', () => {
  it('hashes secret-like identities (SHA-256, base64url, 22 characters)', () => {
    const secret = 'my-client-id-0123456789';
    const key = identityKey('client_id', secret);
    const expected = createHash('sha256').update(secret).digest('base64url').slice(0, 22);
    expect(key).toBe(`client_id=sha256-${expected}`);
    expect(key).not.toContain(secret);
    for (const kind of ['credential', 'header', 'expression'] as const) {
      expect(identityKey(kind, secret)).not.toContain(secret);
    }
  });

  it('keeps claims readable, escaping the key separator, %, spaces, globs and non-ASCII', () => {
    expect(identityKey('claim', 'auth0|5f7c8ec7c33c6c004bbafe82')).toBe(
      'claim=auth0|5f7c8ec7c33c6c004bbafe82',
    );
    expect(identityKey('claim', 'alice@example.com')).toBe('claim=alice@example.com');
    expect(identityKey('ip', '::1')).toBe('ip=%3A%3A1');
    expect(escapeKeyPart('a b:c%d*e?f[g]\n')).toBe('a%20b%3Ac%25d%2Ae%3Ff%5Bg%5D%0A');
    expect(escapeKeyPart('é')).toBe('%C3%A9');
    // Escaping is injective: a value that looks escaped is escaped again.
    expect(identityKey('claim', '%3A')).not.toBe(identityKey('claim', ':'));
  });

  it('bounds long values with a hash of the whole value, never cutting an escape', () => {
    const long = 'x'.repeat(63) + ':' + 'y'.repeat(200);
    const a = boundedKeyPart(long);
    const b = boundedKeyPart(long + 'z');
    expect(a.length).toBeLessThanOrEqual(100);
    expect(a).not.toBe(b);
    expect(a).toMatch(/^x{63}~sha256-[A-Za-z0-9_-]{22}$/);
    expect(identityKey('claim', 'short')).toBe('claim=short');
  });

  it('builds oidcgw:<api>:<rule id>:<algorithm>:<identity>', () => {
    const rule = { id: 'kong-minute', algorithm: 'fixed_calendar' } as LimitRule;
    expect(counterKeyBase('orders api', rule, identityKey('claim', 'alice'))).toBe(
      'oidcgw:orders%20api:kong-minute:fixed_calendar:claim=alice',
    );
    // A raw identity with a separator in it is escaped rather than trusted.
    expect(counterKeyBase('a', rule, 'x:y')).toBe('oidcgw:a:kong-minute:fixed_calendar:x%3Ay');
  });
});
