/**
 * The claim checks of `serve`, in SPEC order: exp (required), nbf and iat
 * (with skew), iss (exact), aud (any-of), required claims, required scopes.
 * Pure: the time is passed in.
 */
import { refusal, type Refusal } from './reasons.js';

export interface RequiredClaim {
  readonly name: string;
  readonly value: string;
}

export interface ClaimPolicy {
  /** Allowed `iss` values, compared exactly; empty: not checked. */
  readonly issuers: readonly string[];
  /** Allowed audiences, any-of; empty: not checked. */
  readonly audiences: readonly string[];
  readonly clockSkewSeconds: number;
  readonly requiredClaims: readonly RequiredClaim[];
  readonly requiredScopes: readonly string[];
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** A claim value as text for comparison: strings as is, numbers and booleans as JSON. */
function claimText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return JSON.stringify(value);
  return undefined;
}

/** True when `value` (a string, number or boolean claim, or an array of them) holds `expected`. */
export function claimMatches(value: unknown, expected: string): boolean {
  if (Array.isArray(value)) return value.some((v) => claimText(v) === expected);
  return claimText(value) === expected;
}

/** The token's scopes: space-separated `scope`, or `scp` as an array or a space-separated string. */
export function tokenScopes(payload: Record<string, unknown>): Set<string> {
  const scopes = new Set<string>();
  for (const name of ['scope', 'scp']) {
    const value = payload[name];
    if (typeof value === 'string') {
      for (const s of value.split(' ')) if (s) scopes.add(s);
    } else if (Array.isArray(value)) {
      for (const s of value) if (typeof s === 'string' && s) scopes.add(s);
    }
  }
  return scopes;
}

/** Checks the claims of a token whose signature is already verified. */
export function checkClaims(
  payload: Record<string, unknown>,
  nowMs: number,
  policy: ClaimPolicy,
): Refusal | undefined {
  const now = nowMs / 1000;
  const skew = policy.clockSkewSeconds;
  const { exp, nbf, iat } = payload;
  if (exp === undefined) return refusal('exp_missing');
  if (!isNumericDate(exp)) return refusal('claim_type', { description: 'exp is not a number' });
  if (nbf !== undefined && !isNumericDate(nbf)) {
    return refusal('claim_type', { description: 'nbf is not a number' });
  }
  if (iat !== undefined && !isNumericDate(iat)) {
    return refusal('claim_type', { description: 'iat is not a number' });
  }
  if (now - skew >= exp) return refusal('token_expired');
  if (nbf !== undefined && nbf > now + skew) return refusal('token_not_yet_valid');
  if (iat !== undefined && iat > now + skew) return refusal('iat_future');

  if (policy.issuers.length > 0) {
    const iss = payload['iss'];
    if (iss === undefined) return refusal('issuer_missing');
    if (typeof iss !== 'string' || !policy.issuers.includes(iss)) {
      return refusal('issuer_not_allowed');
    }
  }

  if (policy.audiences.length > 0) {
    const aud = payload['aud'];
    if (aud === undefined) return refusal('audience_missing');
    if (typeof aud === 'string') {
      if (!policy.audiences.includes(aud)) return refusal('audience_not_allowed');
    } else if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) {
      if (!aud.some((a) => policy.audiences.includes(a))) return refusal('audience_not_allowed');
    } else {
      return refusal('claim_type', { description: 'aud is not a string or an array of strings' });
    }
  }

  for (const { name, value } of policy.requiredClaims) {
    const actual = payload[name];
    if (actual === undefined) {
      return refusal('claim_missing', { description: `required claim ${name} missing` });
    }
    if (!claimMatches(actual, value)) {
      return refusal('claim_mismatch', { description: `required claim ${name} does not match` });
    }
  }

  if (policy.requiredScopes.length > 0) {
    const scopes = tokenScopes(payload);
    const missing = policy.requiredScopes.filter((s) => !scopes.has(s));
    if (missing.length > 0) {
      return refusal('insufficient_scope', {
        description: `missing required scope ${missing.join(' ')}`,
        scope: policy.requiredScopes.join(' '),
      });
    }
  }
  return undefined;
}
