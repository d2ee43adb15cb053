/**
 * One Tyk API, whatever its document (classic definition or Tyk OAS), as
 * the facts the plan needs, and their assembly into an `ApiPlan`. Both
 * document kinds read into `TykApiFacts`; this module adds what is the same
 * for both: Tyk's time checks (each only when present, with its own skew),
 * the warnings about checks Tyk skips, the policy binding and the counters'
 * key (docs/gateways/tyk.md).
 */
import type {
  ApiPlan,
  Checks,
  ClaimRule,
  LimitRule,
  PolicyBinding,
  StyleOptions,
  TokenSource,
  Trust,
} from '../plan.js';
import type { LoadContext } from './types.js';
import {
  bindPolicies,
  EMPTY_TRUST,
  identityKey,
  type TykFile,
  type TykPolicy,
} from './tyk-common.js';

export const SKIPPED_ISS_AUD =
  'this API accepts tokens from any issuer for any audience signed by its key source';
export const SKIPPED_EXP = 'this API accepts tokens without exp';

export interface TykJwtFacts {
  readonly kind: 'jwt';
  readonly trust: Trust;
  readonly algorithms: readonly string[] | undefined;
  readonly token: TokenSource;
  readonly skew: { readonly exp: number; readonly nbf: number; readonly iat: number };
  readonly issuers: readonly string[];
  readonly audiences: readonly string[];
  readonly claims: readonly ClaimRule[];
  /** Whether the document can check iss/aud at all (Tyk OAS >= 5.10); classic never does. */
  readonly canCheckIssAud: boolean;
  readonly identityClaims: readonly string[];
  readonly policyClaims: readonly string[];
  readonly defaultPolicies: readonly string[];
  readonly scopeToPolicy: Readonly<Record<string, string>>;
  readonly scopeClaims: readonly string[];
  /** Where policies are named in the document, for warnings about unknown ones. */
  readonly policyRefs: ReadonlyArray<{ id: string; path: string }>;
  /** Path of the auth settings, for the skipped-check warnings. */
  readonly authPath: string;
}

export interface TykOidcFacts {
  readonly kind: 'openid';
  readonly issuers: readonly string[];
  readonly byClient: Readonly<Record<string, string>>;
  readonly segregateByClient: boolean;
  readonly policyRefs: ReadonlyArray<{ id: string; path: string }>;
  readonly authPath: string;
}

export interface TykApiFacts {
  readonly apiId: string;
  readonly orgId: string | undefined;
  readonly name: string;
  readonly path: string;
  readonly listenPath: string;
  readonly strip: boolean;
  readonly target: string;
  readonly auth: TykJwtFacts | TykOidcFacts | { readonly kind: 'keyless' };
  readonly disableRateLimit: boolean;
  readonly disableQuota: boolean;
  readonly global: LimitRule | undefined;
  readonly stripAuthorization: boolean;
}

const KEYLESS_TOKEN: TokenSource = { headers: [], scheme: 'optional', query: [], cookies: [] };

/** The ApiPlan of one Tyk API. */
export function assembleApi(
  tf: TykFile,
  facts: TykApiFacts,
  policies: ReadonlyMap<string, TykPolicy>,
  ctx: LoadContext,
): ApiPlan {
  const auth = facts.auth;
  const answers: StyleOptions = {
    style: 'tyk',
    hideGenerator: false,
    limitHeaderSource: 'quotas',
    tykAuth: auth.kind,
  };
  const base = {
    name: facts.name,
    source: { format: 'tyk' as const, file: tf.file, path: facts.path },
    match: { path: facts.listenPath, stripPath: facts.strip },
    upstream: { url: facts.target, timeoutMs: ctx.defaults.upstreamTimeoutMs },
    forward: { claims: [], stripAuthorization: facts.stripAuthorization, consumerHeaders: false },
    limits: facts.global ? [facts.global] : [],
    answers,
  };
  if (auth.kind === 'keyless') {
    return {
      ...base,
      token: KEYLESS_TOKEN,
      trust: EMPTY_TRUST,
      checks: timeChecks(ctx, undefined, { exp: 0, nbf: 0, iat: 0 }, [], [], []),
      credentials: { bearer: false },
      auth: 'none',
    };
  }
  // Tyk's JWT and OIDC sessions are keyed by org and identity: every API of
  // an organisation counts one identity's requests together.
  const counterScope = `tyk:${facts.orgId ?? ''}`;
  const limitFacts = {
    apiId: facts.apiId,
    orgId: facts.orgId,
    disableRateLimit: facts.disableRateLimit,
    disableQuota: facts.disableQuota,
  };
  if (auth.kind === 'openid') {
    const key = identityKey(['sub'], auth.segregateByClient);
    const binding: PolicyBinding = {
      identityClaim: 'sub',
      defaultPolicies: [],
      clientPolicies: { claim: 'aud', byClient: auth.byClient },
      segregateByClient: auth.segregateByClient,
      policies: bindPolicies(tf, policies, { ...limitFacts, key }, auth.policyRefs),
    };
    const audiences = [...new Set(Object.keys(auth.byClient))];
    if (ctx.strict) {
      tf.warn(auth.authPath, '--strict: exp is required (Tyk accepts tokens without exp)', 'note');
    } else {
      tf.warn(auth.authPath, SKIPPED_EXP, 'skipped_check');
    }
    return {
      ...base,
      token: { headers: ['authorization'], scheme: 'required', query: [], cookies: [] },
      trust: { ...EMPTY_TRUST, issuers: [...auth.issuers] },
      // iss: one of the providers (trusted by discovery); aud: one of their client ids.
      checks: timeChecks(ctx, undefined, { exp: 0, nbf: 0, iat: 0 }, [], audiences, []),
      credentials: { bearer: true },
      policies: binding,
      counterScope,
    };
  }
  const key = identityKey(auth.identityClaims, false);
  const [identityClaim = 'sub'] = auth.identityClaims;
  const binding: PolicyBinding = {
    identityClaim,
    ...(auth.identityClaims.length > 1 ? { identityClaims: auth.identityClaims } : {}),
    ...(auth.policyClaims[0] !== undefined ? { policyClaim: auth.policyClaims[0] } : {}),
    ...(auth.policyClaims.length > 1 ? { policyClaims: auth.policyClaims } : {}),
    defaultPolicies: auth.defaultPolicies,
    ...(Object.keys(auth.scopeToPolicy).length > 0
      ? {
          scopeToPolicy: auth.scopeToPolicy,
          scopeClaim: auth.scopeClaims[0] ?? 'scope',
          ...(auth.scopeClaims.length > 1 ? { scopeClaims: auth.scopeClaims } : {}),
        }
      : {}),
    policies: bindPolicies(tf, policies, { ...limitFacts, key }, auth.policyRefs),
  };
  if (
    auth.policyClaims.length === 0 &&
    auth.defaultPolicies.length === 0 &&
    Object.keys(auth.scopeToPolicy).length === 0
  ) {
    tf.warn(
      auth.authPath,
      'no policy claim, default policies or scope mapping: Tyk refuses every token with 403 "key not authorized: no matching policy found"',
      'note',
    );
  }
  if (ctx.strict) {
    tf.warn(auth.authPath, '--strict: exp is required (Tyk accepts tokens without exp)', 'note');
  } else {
    tf.warn(auth.authPath, SKIPPED_EXP, 'skipped_check');
  }
  if (auth.issuers.length === 0 && auth.audiences.length === 0) {
    tf.warn(
      auth.authPath,
      auth.canCheckIssAud
        ? `${SKIPPED_ISS_AUD} (no allowedIssuers or allowedAudiences)`
        : `${SKIPPED_ISS_AUD} (classic Tyk API definitions never compare iss or aud)`,
      'skipped_check',
    );
  } else if (auth.issuers.length === 0) {
    tf.warn(
      auth.authPath,
      'this API accepts tokens from any issuer signed by its key source',
      'skipped_check',
    );
  } else if (auth.audiences.length === 0) {
    tf.warn(
      auth.authPath,
      'this API accepts tokens for any audience signed by its key source',
      'skipped_check',
    );
  }
  return {
    ...base,
    token: auth.token,
    trust: auth.trust,
    checks: timeChecks(ctx, auth.algorithms, auth.skew, auth.issuers, auth.audiences, auth.claims),
    credentials: { bearer: true },
    policies: binding,
    counterScope,
  };
}

/** Tyk checks exp, nbf and iat only when present; `--strict` requires exp. */
function timeChecks(
  ctx: LoadContext,
  algorithms: readonly string[] | undefined,
  skew: { readonly exp: number; readonly nbf: number; readonly iat: number },
  issuers: readonly string[],
  audiences: readonly string[],
  claims: readonly ClaimRule[],
): Checks {
  return {
    algorithms,
    exp: ctx.strict ? 'required' : 'if_present',
    nbf: 'if_present',
    iat: 'if_present',
    skew: { exp: skew.exp, nbf: skew.nbf, iat: skew.iat },
    maxExpirationSeconds: 0,
    issuers,
    audiences,
    claims,
    maxTokenBytes: ctx.defaults.maxTokenBytes,
  };
}
