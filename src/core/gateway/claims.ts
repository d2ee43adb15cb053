/**
 * The claim checks of a gateway API, after the signature is verified:
 * exp / nbf / iat (each required, checked when present, or not checked, with
 * its own leeway), a maximum lifetime, iss (exact), aud (any-of), then the
 * claim rules (required claims, scopes, a gateway's `*_required` groups), in
 * that order. Pure: the time is passed in.
 *
 * `serve`'s flags are one set of checks (exp required, nbf/iat when present,
 * one skew); an imported configuration describes what its gateway checks, no
 * more and no less (docs/gateway-config.md).
 */
import { refusal, type Refusal } from './reasons.js';

export interface RequiredClaim {
  readonly name: string;
  readonly value: string;
}

/** The flag-shaped policy of `serve` (kept for its callers; compiled into `Checks`). */
export interface ClaimPolicy {
  /** Allowed `iss` values, compared exactly; empty: not checked. */
  readonly issuers: readonly string[];
  /** Allowed audiences, any-of; empty: not checked. */
  readonly audiences: readonly string[];
  /**
   * The request's host name (its Host header without the port) is an
   * allowed audience too (APIM `<audience>@(context.Request.OriginalUrl.Host)</audience>`).
   * The audience then depends on the request: the verifier leaves it to the
   * gateway (`checkRequestRules`).
   */
  readonly audienceFromHost?: boolean;
  readonly clockSkewSeconds: number;
  readonly requiredClaims: readonly RequiredClaim[];
  readonly requiredScopes: readonly string[];
}

/**
 * A claim rule. `claim` is a path into the payload (`['realm_access', 'roles']`);
 * the claim's values are the string (split on `separator` when given), the
 * array's strings, or a number/boolean as JSON text.
 *  - `present`: the claim exists;
 *  - `any`: at least one of `values` is among the claim's values;
 *  - `all`: every one of `values` is;
 *  - `any_group`: Kong's `*_required`: each entry of `groups` is an AND of
 *    its values, the entries are OR'ed.
 * `failure` picks the refusal: `claim` (401 claim_missing / claim_mismatch),
 * `forbidden` (403 claim_forbidden), `scope` (403 insufficient_scope; the
 * claim's values are the token's scopes: `scope` or `scp`).
 */
export interface ClaimRule {
  readonly claim: readonly string[];
  readonly match: 'present' | 'any' | 'all' | 'any_group';
  readonly values: readonly string[];
  readonly groups?: readonly (readonly string[])[];
  readonly separator?: string;
  readonly failure: 'claim' | 'forbidden' | 'scope';
  /** Where it came from, for --check (`required_claims.role`). */
  readonly label: string;
  /**
   * Only for these request methods (upper case; APIM's `choose` testing
   * `context.Request.Method`). Such a rule depends on the request, so the
   * verifier (whose verdicts are cached per token) leaves it to the gateway:
   * `checkRequestRules`. Not for `scope` rules.
   */
  readonly methods?: readonly string[];
}

export type TimeCheck = 'required' | 'if_present' | 'off';

export interface Checks {
  /** Explicit algorithm list; undefined: those of the trusted keys. `none` is never one. */
  readonly algorithms?: readonly string[] | undefined;
  readonly exp: TimeCheck;
  readonly nbf: TimeCheck;
  readonly iat: TimeCheck;
  /** Seconds of leeway for each time claim. */
  readonly skew: { readonly exp: number; readonly nbf: number; readonly iat: number };
  /** Kong `maximum_expiration`: exp at most this many seconds from now (0: off). */
  readonly maxExpirationSeconds: number;
  /**
   * Allowed `iss`, exact; empty: the identifiers of the issuers trusted by
   * discovery, if any; else not checked.
   */
  readonly issuers: readonly string[];
  /** Allowed audiences, any-of; empty: not checked. */
  readonly audiences: readonly string[];
  /**
   * The request's host name (its Host header without the port) is an
   * allowed audience too (APIM `<audience>@(context.Request.OriginalUrl.Host)</audience>`).
   * The audience then depends on the request: the verifier leaves it to the
   * gateway (`checkRequestRules`).
   */
  readonly audienceFromHost?: boolean;
  readonly claims: readonly ClaimRule[];
  /** Largest token accepted, bytes. */
  readonly maxTokenBytes: number;
}

/** The checks `serve`'s flags describe. */
export function checksFromPolicy(
  policy: ClaimPolicy,
  extra: { algorithms?: readonly string[] | undefined; maxTokenBytes?: number } = {},
): Checks {
  const claims: ClaimRule[] = policy.requiredClaims.map(({ name, value }) => ({
    claim: [name],
    match: 'any',
    values: [value],
    failure: 'claim',
    label: `required claim ${name}`,
  }));
  if (policy.requiredScopes.length > 0) {
    claims.push({
      claim: ['scope'],
      match: 'all',
      values: [...policy.requiredScopes],
      failure: 'scope',
      label: 'required scopes',
    });
  }
  const s = policy.clockSkewSeconds;
  return {
    algorithms: extra.algorithms,
    exp: 'required',
    nbf: 'if_present',
    iat: 'if_present',
    skew: { exp: s, nbf: s, iat: s },
    maxExpirationSeconds: 0,
    issuers: policy.issuers,
    audiences: policy.audiences,
    claims,
    maxTokenBytes: extra.maxTokenBytes ?? 8192,
  };
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

/** The value at `path` in the payload (own properties only), or undefined. */
export function claimAt(payload: Record<string, unknown>, path: readonly string[]): unknown {
  let value: unknown = payload;
  for (const name of path) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    if (!Object.hasOwn(value, name)) return undefined;
    value = (value as Record<string, unknown>)[name];
  }
  return value;
}

/** A claim's values as text: the string (split on `separator`), the array's strings, a number as JSON. */
export function claimValues(value: unknown, separator?: string): string[] {
  const one = (v: unknown): string[] => {
    const text = claimText(v);
    if (text === undefined) return [];
    return separator && typeof v === 'string' ? text.split(separator).filter(Boolean) : [text];
  };
  return Array.isArray(value) ? value.flatMap(one) : one(value);
}

function ruleRefusal(rule: ClaimRule, missing: boolean, name: string): Refusal {
  if (rule.failure === 'scope') {
    return refusal('insufficient_scope', {
      description: `missing required scope ${rule.values.join(' ')}`,
      scope: rule.values.join(' '),
    });
  }
  if (rule.failure === 'forbidden') {
    return refusal('claim_forbidden', {
      description: missing
        ? `required claim ${name} missing`
        : `required claim ${name} does not match`,
    });
  }
  return missing
    ? refusal('claim_missing', { description: `required claim ${name} missing` })
    : refusal('claim_mismatch', { description: `required claim ${name} does not match` });
}

/** Checks one rule; undefined when it holds. */
export function checkRule(payload: Record<string, unknown>, rule: ClaimRule): Refusal | undefined {
  if (rule.failure === 'scope') {
    const scopes = tokenScopes(payload);
    const missing = rule.values.filter((s) => !scopes.has(s));
    if (rule.match === 'any' ? missing.length === rule.values.length : missing.length > 0) {
      return refusal('insufficient_scope', {
        description: `missing required scope ${missing.join(' ')}`,
        scope: rule.values.join(' '),
      });
    }
    return undefined;
  }
  return checkRuleValue(claimAt(payload, rule.claim), rule);
}

/** Checks one claim rule (not a scope rule) against the claim's value. */
export function checkRuleValue(value: unknown, rule: ClaimRule): Refusal | undefined {
  const name = rule.claim.join('.');
  if (value === undefined || value === null) return ruleRefusal(rule, true, name);
  if (rule.match === 'present') return undefined;
  const have = new Set(claimValues(value, rule.separator));
  let ok: boolean;
  if (rule.match === 'any') ok = rule.values.some((v) => have.has(v));
  else if (rule.match === 'all') ok = rule.values.every((v) => have.has(v));
  else ok = (rule.groups ?? []).some((group) => group.every((v) => have.has(v)));
  return ok ? undefined : ruleRefusal(rule, false, name);
}

/** What failed in a claim check, with the facts a gateway's message may quote. */
export interface ClaimFailure {
  readonly refusal: Refusal;
  readonly detail?: {
    readonly iss?: string;
    readonly aud?: readonly string[];
    /** The failing rule's claim path, dotted. */
    readonly claim?: string;
    /** The failing rule's label. */
    readonly check?: string;
    /** The claim's value when it is a string (bounded), for gateways that quote it. */
    readonly value?: string;
  };
}

/**
 * Checks the claims of a token whose signature is already verified.
 * `issuers` is the effective list (Checks.issuers, or the trusted issuers' ids).
 */
export function checkPlanClaims(
  payload: Record<string, unknown>,
  nowMs: number,
  checks: Checks,
  issuers: readonly string[],
): ClaimFailure | undefined {
  const now = nowMs / 1000;
  const { exp, nbf, iat } = payload;
  if (checks.exp !== 'off') {
    if (exp === undefined) {
      if (checks.exp === 'required') return { refusal: refusal('exp_missing') };
    } else if (!isNumericDate(exp)) {
      return { refusal: refusal('claim_type', { description: 'exp is not a number' }) };
    }
  }
  if (checks.nbf !== 'off' && nbf !== undefined && !isNumericDate(nbf)) {
    return { refusal: refusal('claim_type', { description: 'nbf is not a number' }) };
  }
  if (checks.iat !== 'off' && iat !== undefined && !isNumericDate(iat)) {
    return { refusal: refusal('claim_type', { description: 'iat is not a number' }) };
  }
  if (checks.nbf === 'required' && nbf === undefined) {
    return { refusal: refusal('claim_missing', { description: 'required claim nbf missing' }) };
  }
  if (checks.iat === 'required' && iat === undefined) {
    return { refusal: refusal('claim_missing', { description: 'required claim iat missing' }) };
  }
  if (checks.exp !== 'off' && isNumericDate(exp) && now - checks.skew.exp >= exp) {
    return { refusal: refusal('token_expired') };
  }
  if (checks.nbf !== 'off' && isNumericDate(nbf) && nbf > now + checks.skew.nbf) {
    return { refusal: refusal('token_not_yet_valid') };
  }
  if (checks.iat !== 'off' && isNumericDate(iat) && iat > now + checks.skew.iat) {
    return { refusal: refusal('iat_future') };
  }
  if (
    checks.maxExpirationSeconds > 0 &&
    isNumericDate(exp) &&
    exp > now + checks.maxExpirationSeconds
  ) {
    return { refusal: refusal('exp_too_far') };
  }

  if (issuers.length > 0) {
    const iss = payload['iss'];
    if (iss === undefined) return { refusal: refusal('issuer_missing') };
    if (typeof iss !== 'string' || !issuers.includes(iss)) {
      return {
        refusal: refusal('issuer_not_allowed'),
        ...(typeof iss === 'string' ? { detail: { iss } } : {}),
      };
    }
  }

  if (checks.audiences.length > 0 && !checks.audienceFromHost) {
    const problem = audienceProblem(payload['aud'], checks.audiences);
    if (problem) return problem;
  }

  for (const rule of checks.claims) {
    if (rule.methods) continue; // the gateway's, per request (checkRequestRules)
    const problem = checkRule(payload, rule);
    if (problem)
      return ruleFailure(
        problem,
        rule,
        rule.failure === 'scope' ? undefined : claimAt(payload, rule.claim),
      );
  }
  return undefined;
}

/** A failed rule with the facts a gateway's message may quote (the value when a string, bounded). */
function ruleFailure(problem: Refusal, rule: ClaimRule, value: unknown): ClaimFailure {
  return {
    refusal: problem,
    detail: {
      claim: rule.claim.join('.'),
      check: rule.label,
      ...(typeof value === 'string' ? { value: value.slice(0, 256) } : {}),
    },
  };
}

/** `aud` against the allowed audiences (any-of); undefined when it holds. */
function audienceProblem(aud: unknown, allowed: readonly string[]): ClaimFailure | undefined {
  if (aud === undefined) return { refusal: refusal('audience_missing') };
  if (typeof aud === 'string') {
    return allowed.includes(aud)
      ? undefined
      : { refusal: refusal('audience_not_allowed'), detail: { aud: [aud] } };
  }
  if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) {
    return aud.some((a) => allowed.includes(a))
      ? undefined
      : { refusal: refusal('audience_not_allowed'), detail: { aud } };
  }
  return {
    refusal: refusal('claim_type', { description: 'aud is not a string or an array of strings' }),
  };
}

/** The path `checkRequestRules` reads `aud` by (the same array each time: a gateway may index by it). */
export const AUD_PATH: readonly string[] = Object.freeze(['aud']);

/** What a request-dependent check reads of the request. */
export interface RequestFacts {
  readonly method: string;
  /** The Host header's host name (no port), lower case; undefined when absent. */
  readonly host: string | undefined;
}

/** True when `checks` hold a check that depends on the request (see checkRequestRules). */
export function hasRequestRules(checks: Checks): boolean {
  return checks.audienceFromHost === true || checks.claims.some((r) => r.methods !== undefined);
}

/**
 * The checks the verifier leaves to the gateway because they depend on the
 * request: the audience when the host is one (`audienceFromHost`), then the
 * method-scoped rules, in order. `claim(path)` gives a claim of the verified
 * token; `path` is AUD_PATH or a rule's own `claim` array. Undefined when they hold.
 */
export function checkRequestRules(
  checks: Checks,
  request: RequestFacts,
  claim: (path: readonly string[]) => unknown,
): ClaimFailure | undefined {
  if (checks.audienceFromHost) {
    const allowed =
      request.host === undefined ? checks.audiences : [...checks.audiences, request.host];
    const problem = audienceProblem(claim(AUD_PATH), allowed);
    if (problem) return problem;
  }
  for (const rule of checks.claims) {
    if (!rule.methods || !rule.methods.includes(request.method)) continue;
    const value = claim(rule.claim);
    const problem = checkRuleValue(value, rule);
    if (problem) return ruleFailure(problem, rule, value);
  }
  return undefined;
}

/** The host name of a Host header value: the port cut off, lower case (`[::1]` keeps its brackets). */
export function hostName(host: string | undefined): string | undefined {
  if (host === undefined || host === '') return undefined;
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/** Checks the claims against `serve`'s flag-shaped policy. */
export function checkClaims(
  payload: Record<string, unknown>,
  nowMs: number,
  policy: ClaimPolicy,
): Refusal | undefined {
  return checkPlanClaims(payload, nowMs, checksFromPolicy(policy), policy.issuers)?.refusal;
}
