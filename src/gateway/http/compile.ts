/**
 * A plan made ready to run: for each API its trust (keys fetched), its
 * verifier, its renderer, its upstream pool and its limit rules, and a
 * router over them. Everything a request needs is computed here, once per
 * plan (docs/architecture.md: hot-path work happens once per plan); a reload
 * compiles a new one and swaps it whole.
 */
import { Pool } from 'undici';
import { normalizeHeaderName } from '../../core/gateway/forward.js';
import { AUD_PATH, hasRequestRules } from '../../core/gateway/claims.js';
import type { FetchLike } from '../../core/issuer.js';
import type { RemoteKeySet } from '../../core/gateway/jwks.js';
import {
  HMAC_ALGS,
  keysFromFile,
  KeyFileError,
  secretKey,
  type KeyEntry,
} from '../../core/gateway/keys.js';
import { buildTrust } from '../../core/gateway/trust.js';
import {
  Verifier,
  type KeyedCredential,
  type KeyedCredentials,
  type Trust as CoreTrust,
} from '../../core/gateway/verify.js';
import { GwError } from '../../core/errors/index.js';
import { ALWAYS_RESERVED } from '../../http/gateway/headers.js';
import { rendererFor } from '../answer/index.js';
import type { Answer, Renderer } from '../answer/types.js';
import type { ClientCredentialsExchanger } from '../check/client-credentials.js';
import type { Introspector } from '../check/introspection.js';
import type { CompiledCondition, CompiledExpression, ExprContext } from '../load/apim-expr.js';
import type {
  ApiPlan,
  LimitKey,
  LimitRule,
  Plan,
  PublicKeyFile,
  SharedSecret,
  StyleOptions,
} from '../plan.js';
import { Router } from './router.js';

export interface CompileDeps {
  readonly fetch: FetchLike;
  readonly timeoutSeconds: number;
  readonly insecureHttp: boolean;
  readonly jwksMaxAgeMs: number;
  readonly jwksCooldownMs: number;
  readonly now: () => number;
  /** A line for the log. */
  readonly log: (line: string) => void;
  readonly onJwksFetch?: (uri: string, result: 'ok' | 'error') => void;
  /** Verified tokens kept per API (0: no cache). */
  readonly tokenCacheSize: number;
  /** Upstream pools by origin, shared across reloads (closed by the server). */
  readonly pools: Map<string, Pool>;
}

/** Where each limit rule's identity comes from, resolved once per plan. */
export interface IdentitySource {
  readonly key: LimitKey;
  /** For `claim` keys: the index of the claim in `Verified.kept`. */
  readonly keptIndex?: number;
}

export interface CompiledApi {
  readonly plan: ApiPlan;
  readonly verifier: Verifier;
  readonly renderer: Renderer;
  readonly answers: StyleOptions;
  readonly pool: Pool;
  /** Normalized header names a client may never send upstream (forwarded claims, consumer headers). */
  readonly reserved: ReadonlySet<string>;
  /** Per limit rule (same order as plan.limits): where its identity comes from. */
  readonly identities: readonly IdentitySource[];
  /** APIM limits written before validate-jwt: counted before the token is looked at. */
  readonly earlyLimits: readonly LimitRule[];
  /** The same for the rules of Tyk policies. */
  readonly ruleIdentities: ReadonlyMap<LimitRule, IdentitySource>;
  /** Tyk policies: indexes in `Verified.kept` of the claims tried in order for each role. */
  readonly policyClaims?: {
    readonly identity: readonly number[];
    readonly policy: readonly number[];
    readonly scope: readonly number[];
    readonly client?: number;
  };
  /** Index in `Verified.kept` of `client_id` (`azp` follows it). */
  readonly clientIdIndex: number;
  /** Index in `Verified.kept` of the plan's `credentialClaim`. */
  readonly credentialIndex?: number;
  /** APIM counter keys, compiled once. */
  readonly expressions: ReadonlyMap<string, CompiledExpression>;
  /** APIM increment-condition expressions, by source, compiled once. */
  readonly conditions: ReadonlyMap<string, CompiledCondition>;
  /** APIM's `AsJwt()` (decoded without verification), loaded only with expressions. */
  readonly asJwt?: ExprContext['jwt'];
  /** APIM check-header failures, rendered once. */
  readonly headerCheckAnswers: readonly Answer[];
  readonly exchanger?: ClientCredentialsExchanger;
  readonly introspector?: Introspector;
  /** Counters of APIs with the same scope are shared. */
  readonly counterScope: string;
  /**
   * Checks the verifier leaves to the request (core/gateway/claims.ts
   * checkRequestRules), with the indexes in `Verified.kept` of the claims
   * they read, by path array (AUD_PATH or the rule's own `claim`).
   */
  readonly requestChecks?: {
    readonly checks: ApiPlan['checks'];
    readonly index: ReadonlyMap<readonly string[], number>;
  };
}

export interface CompiledPlan {
  readonly plan: Plan;
  readonly router: Router<CompiledApi>;
  readonly apis: readonly CompiledApi[];
  readonly notFound: { readonly renderer: Renderer; readonly options: StyleOptions };
  /** Lines to tell the operator at start (trust, warnings of the key files...). */
  readonly notes: readonly string[];
  /** Every remote key set, for readiness and the background refresh. */
  remoteSets(): RemoteKeySet[];
}

const CONSUMER_HEADERS = [
  'x-consumer-id',
  'x-consumer-custom-id',
  'x-consumer-username',
  'x-credential-identifier',
  'x-anonymous-consumer',
];

function keyError(error: unknown, source: string): GwError {
  return new GwError(
    'ERR_INPUT_INVALID',
    `${source}: ${error instanceof Error ? error.message : String(error)}`,
    { hint: 'give a PEM public key or certificate, a JWK or a JWK Set' },
  );
}

/** The entries of a key file, narrowed to its algorithms and kid when the plan says so. */
async function publicKeyEntries(file: PublicKeyFile): Promise<KeyEntry[]> {
  let entries: readonly KeyEntry[];
  try {
    entries = (await keysFromFile(file.text, file.source)).entries;
  } catch (error) {
    if (error instanceof KeyFileError) throw keyError(error, file.source);
    throw error;
  }
  return entries.map((e) => {
    const algs = file.algorithms
      ? new Set([...e.algs].filter((a) => file.algorithms?.includes(a)))
      : e.algs;
    return file.kid === undefined && !file.algorithms
      ? e
      : {
          ...e,
          algs,
          kid: file.kid ?? e.kid,
          wildcard: file.kid === undefined ? e.wildcard : false,
        };
  });
}

function secretEntry(s: SharedSecret): KeyEntry {
  const entry = secretKey(s.secret, s.algorithms ?? HMAC_ALGS);
  return { ...entry, label: s.source, kid: s.kid, wildcard: s.kid === undefined };
}

async function keyedTrust(api: ApiPlan): Promise<KeyedCredentials | undefined> {
  const keyedBy = api.trust.keyedBy;
  if (!keyedBy) return undefined;
  const byValue = new Map<string, KeyedCredential>();
  for (const c of keyedBy.credentials) {
    const keys: KeyEntry[] = [];
    if (c.publicKey)
      keys.push(...(await publicKeyEntries({ ...c.publicKey, algorithms: [c.algorithm] })));
    if (c.secret) keys.push(secretEntry({ ...c.secret, algorithms: [c.algorithm] }));
    const info: Record<string, string> = { credential_id: c.credentialId, key: c.key };
    if (c.consumer) {
      info['consumer_id'] = c.consumer.id;
      if (c.consumer.username !== undefined) info['consumer_username'] = c.consumer.username;
      if (c.consumer.customId !== undefined) info['consumer_custom_id'] = c.consumer.customId;
    }
    byValue.set(c.key, { algorithm: c.algorithm, keys, info });
  }
  return { claim: keyedBy.claim, byValue };
}

function claimKey(path: readonly string[]): string {
  return JSON.stringify(path);
}

async function compileApi(
  api: ApiPlan,
  deps: CompileDeps,
  shared: Map<string, Promise<unknown>>,
  notes: string[],
): Promise<CompiledApi> {
  const late: { verifier?: Verifier } = {};
  const t = api.trust;
  const built = await buildTrust({
    issuers: t.issuers,
    jwksUris: t.jwksUris,
    publicKeys: [],
    fetch: deps.fetch,
    timeoutSeconds: deps.timeoutSeconds,
    insecureHttp: deps.insecureHttp,
    jwksMaxAgeMs: deps.jwksMaxAgeMs,
    jwksCooldownMs: deps.jwksCooldownMs,
    now: deps.now,
    log: deps.log,
    shared,
    ...(deps.onJwksFetch ? { onFetch: deps.onJwksFetch } : {}),
    onChange: () => late.verifier?.cache.clear(),
  });
  for (const n of built.notes) if (!notes.includes(n)) notes.push(n);
  const staticKeys: KeyEntry[] = [];
  for (const file of t.publicKeys) staticKeys.push(...(await publicKeyEntries(file)));
  for (const s of t.secrets) {
    if (s.secret.length < 32) {
      notes.push(
        `${api.name}: ${s.source} is ${s.secret.length} bytes: HS256 needs at least 32 (RFC 7518 §3.2); a short secret can be guessed`,
      );
    }
    staticKeys.push(secretEntry(s));
  }
  const keyed = await keyedTrust(api);
  const trust: CoreTrust = {
    issuers: built.trust.issuers,
    jwksSets: built.trust.jwksSets,
    staticKeys,
    ...(keyed ? { keyed } : {}),
  };

  // Claims the request path needs per token, kept with the verdict.
  const kept: string[][] = [];
  const keep = (path: readonly string[]): number => {
    const k = claimKey(path);
    const i = kept.findIndex((p) => claimKey(p) === k);
    if (i !== -1) return i;
    kept.push([...path]);
    return kept.length - 1;
  };
  const identities: IdentitySource[] = api.limits.map((rule) =>
    rule.key.by === 'claim'
      ? { key: rule.key, keptIndex: keep(rule.key.claim) }
      : { key: rule.key },
  );
  const clientIdIndex = keep(['client_id']);
  keep(['azp']);
  // Checks that depend on the request (the host as an audience, method-scoped rules).
  let requestChecks: CompiledApi['requestChecks'];
  if (hasRequestRules(api.checks)) {
    const index = new Map<readonly string[], number>();
    const paths = [
      ...(api.checks.audienceFromHost ? [AUD_PATH] : []),
      ...api.checks.claims.filter((r) => r.methods).map((r) => r.claim),
    ];
    for (const path of paths) index.set(path, keep(path));
    requestChecks = { checks: api.checks, index };
  }
  const credentialIndex = api.credentialClaim ? keep(api.credentialClaim) : undefined;
  let policyClaims: CompiledApi['policyClaims'];
  const ruleIdentities = new Map<LimitRule, IdentitySource>();
  if (api.policies) {
    const p = api.policies;
    // A dotted name is tried as one claim first, then as a nested path (Tyk).
    const names = (list: readonly string[]) =>
      list.flatMap((n) => (n.includes('.') ? [keep([n]), keep(n.split('.'))] : [keep([n])]));
    policyClaims = {
      identity: names(p.identityClaims ?? [p.identityClaim]),
      policy: names(p.policyClaims ?? (p.policyClaim ? [p.policyClaim] : [])),
      scope: p.scopeToPolicy ? names(p.scopeClaims ?? [p.scopeClaim ?? 'scope']) : [],
      ...(p.clientPolicies ? { client: keep([p.clientPolicies.claim]) } : {}),
    };
    for (const policy of Object.values(p.policies))
      for (const rule of policy.limits)
        ruleIdentities.set(
          rule,
          rule.key.by === 'claim'
            ? { key: rule.key, keptIndex: keep(rule.key.claim) }
            : { key: rule.key },
        );
  }
  const expressions = new Map<string, CompiledExpression>();
  const conditions = new Map<string, CompiledCondition>();
  let asJwt: ExprContext['jwt'] | undefined;
  const allRules = [
    ...api.limits,
    ...Object.values(api.policies?.policies ?? {}).flatMap((p) => p.limits),
  ];
  const expressionKeys = allRules.flatMap((r) => (r.key.by === 'expression' ? [r.key.source] : []));
  const conditionSources = allRules.flatMap((r) =>
    r.countWhen && 'expression' in r.countWhen ? [r.countWhen.expression] : [],
  );
  if (expressionKeys.length > 0 || conditionSources.length > 0) {
    const apimExpr = await import('../load/apim-expr.js');
    asJwt = apimExpr.asJwt;
    for (const source of expressionKeys)
      expressions.set(source, apimExpr.compileExpression(source));
    for (const source of conditionSources)
      conditions.set(source, apimExpr.compileCondition(source));
  }
  let headerCheckAnswers: Answer[] = [];
  if (api.headerChecks && api.headerChecks.length > 0) {
    const { apimMessageAnswer } = await import('../answer/apim.js');
    headerCheckAnswers = api.headerChecks.map((c) => apimMessageAnswer(c.status, c.message));
  }

  const verifier = new Verifier({
    trust,
    checks: api.checks,
    maxTokenBytes: api.checks.maxTokenBytes,
    cacheSize: deps.tokenCacheSize,
    forwardClaims: api.forward.claims,
    keepClaims: kept,
  });
  late.verifier = verifier;
  if (verifier.allowedAlgorithms().size === 0) {
    notes.push(`${api.name}: no usable key: every token will be refused`);
  }

  const upstream = new URL(api.upstream.url);
  let pool = deps.pools.get(upstream.origin);
  if (!pool) {
    const timeoutMs = api.upstream.timeoutMs;
    pool = new Pool(upstream.origin, {
      keepAliveTimeout: 10_000,
      connectTimeout: Math.min(10_000, timeoutMs),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    // An idle upstream socket that errors must never take the process down.
    pool.on('connectionError', () => {});
    deps.pools.set(upstream.origin, pool);
  }
  const reserved = new Set<string>([
    ...ALWAYS_RESERVED,
    ...api.forward.claims.map((f) => normalizeHeaderName(f.header)),
    ...(api.forward.consumerHeaders ? CONSUMER_HEADERS : []),
  ]);
  const idp = {
    fetch: deps.fetch,
    timeoutMs: deps.timeoutSeconds * 1000,
    insecureHttp: deps.insecureHttp,
    now: deps.now,
    log: deps.log,
  };
  // Loaded only by plans that use them (openid-client is heavy: start-up and memory).
  const cc = api.credentials.clientCredentials;
  const intro = api.credentials.introspection;
  const exchanger = cc
    ? new (await import('../check/client-credentials.js')).ClientCredentialsExchanger({
        ...idp,
        exchange: cc,
      })
    : undefined;
  const introspector = intro
    ? new (await import('../check/introspection.js')).Introspector({ ...idp, introspection: intro })
    : undefined;
  return {
    plan: api,
    verifier,
    renderer: await rendererFor(api.answers.style),
    answers: api.answers,
    pool,
    reserved,
    identities,
    earlyLimits: api.limits.filter((r) => r.beforeToken === true),
    ruleIdentities,
    ...(policyClaims ? { policyClaims } : {}),
    clientIdIndex,
    ...(credentialIndex !== undefined ? { credentialIndex } : {}),
    expressions,
    conditions,
    ...(requestChecks ? { requestChecks } : {}),
    headerCheckAnswers,
    ...(exchanger ? { exchanger } : {}),
    ...(introspector ? { introspector } : {}),
    ...(asJwt ? { asJwt } : {}),
    counterScope: api.counterScope ?? api.name,
  };
}

/** Fetches every API's keys and builds the router. Throws GwError (exit 2 or 3) when it cannot. */
export async function compilePlan(plan: Plan, deps: CompileDeps): Promise<CompiledPlan> {
  const shared = new Map<string, Promise<unknown>>();
  const notes: string[] = [];
  const apis = await Promise.all(plan.apis.map((api) => compileApi(api, deps, shared, notes)));
  const router = new Router(
    apis.map((a) => {
      const url = new URL(a.plan.upstream.url);
      return {
        prefix: a.plan.match.path,
        ...(a.plan.match.methods ? { methods: a.plan.match.methods } : {}),
        ...(a.plan.match.hosts ? { hosts: a.plan.match.hosts } : {}),
        stripPath: a.plan.match.stripPath,
        basePath: url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, ''),
        ...(a.plan.source.format === 'kong' ? { basePathAsWritten: url.pathname } : {}),
        value: a,
      };
    }),
  );
  const sets = new Set<RemoteKeySet>();
  for (const a of apis) for (const s of a.verifier.remoteSets()) sets.add(s);
  return {
    plan,
    router,
    apis,
    notFound: {
      renderer: await rendererFor(plan.notFoundStyle.style),
      options: plan.notFoundStyle,
    },
    notes,
    remoteSets: () => [...sets],
  };
}
