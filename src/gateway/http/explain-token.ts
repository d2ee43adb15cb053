/**
 * `decode TOKEN --file FILE [--path P]` (docs/commands/decode.md: "What a gateway
 * configuration would answer"): for each API of a compiled plan (or the one
 * the path selects), what it would answer to this token, with the same
 * verification, policies and renderers as `serve` — accepted (and under
 * which identity its limits would count it), or the status, headers, body
 * and reason. Nothing is counted and nothing is forwarded.
 */
import { refusal, type Refusal } from '../../core/gateway/reasons.js';
import type { Outcome, RefusalDetail, Verified } from '../../core/gateway/verify.js';
import type { Answer } from '../answer/types.js';
import { limitText } from '../explain.js';
import type { LimitRule } from '../plan.js';
import type { CompiledApi, CompiledPlan } from './compile.js';
import {
  hashedIdentity,
  identityText,
  looksLikeJws,
  refusedOf,
  resolvePolicies,
} from './exchange.js';

export interface TokenVerdict {
  readonly api: string;
  readonly path: string;
  readonly format: string;
  readonly source: string;
  readonly accepted: boolean;
  /** The answer the client would get (refused only). */
  readonly answer?: Answer;
  /** oidc-gw's reason code (refused only). */
  readonly reason?: string;
  /** The emulated gateway's own name for it (APIM). */
  readonly gatewayReason?: string;
  /** Accepted: the counters this request would count against. */
  readonly counted: ReadonlyArray<{ readonly limit: string; readonly key: string }>;
  /** Accepted: where it would go. */
  readonly upstream?: string;
  /** A sentence for people. */
  readonly note?: string;
}

/** The counter key a rule would use for this token, in words when it depends on the request. */
function counterKey(
  api: CompiledApi,
  rule: LimitRule,
  index: number,
  v: Verified,
  policyIdentity?: string,
): string {
  const key = rule.key;
  switch (key.by) {
    case 'claim': {
      if (policyIdentity !== undefined) return `${key.claim.join('.')}=${policyIdentity}`;
      const source = api.ruleIdentities.get(rule) ?? api.identities[index];
      const value =
        source?.keptIndex === undefined ? undefined : identityText(v.kept[source.keptIndex]);
      return value === undefined
        ? `no ${key.claim.join('.')} claim: refused`
        : `${key.claim.join('.')}=${value}`;
    }
    case 'client_id': {
      const id =
        identityText(v.kept[api.clientIdIndex]) ?? identityText(v.kept[api.clientIdIndex + 1]);
      return id === undefined
        ? 'no client_id/azp claim: refused'
        : `client_id ${hashedIdentity(id)}`;
    }
    case 'ip':
      return "the client's IP address";
    case 'header':
      return `the ${key.header} header (without it, the client's IP address)`;
    case 'api':
      return 'one counter for everyone';
    case 'consumer':
    case 'credential': {
      // In the order the exchange tries them (exchange.ts identityFor).
      if (key.by === 'consumer' && policyIdentity !== undefined)
        return `identity ${policyIdentity}`;
      const id =
        (key.by === 'consumer' ? v.credential?.['consumer_id'] : undefined) ??
        v.credential?.['credential_id'] ??
        (api.credentialIndex === undefined ? undefined : identityText(v.kept[api.credentialIndex]));
      return id !== undefined ? `${key.by} ${id}` : `${key.by}: the client's IP address`;
    }
    case 'expression':
      return `expression ${key.source} (evaluated on the request)`;
  }
}

async function decide(
  api: CompiledApi,
  token: string,
  nowMs: number,
): Promise<Outcome | { refusal: Refusal; ok: false; detail?: RefusalDetail }> {
  const c = api.plan.credentials;
  if (api.introspector && (!c.bearer || !looksLikeJws(token))) {
    const result = await api.introspector.introspect(token);
    if ('error' in result) return { ok: false, refusal: refusal('idp_unavailable') };
    if (!result.active) return { ok: false, refusal: refusal('token_inactive') };
    return api.verifier.acceptClaims({ ...result.claims }, nowMs);
  }
  if (!c.bearer) return { ok: false, refusal: refusal('missing_token') };
  return api.verifier.verify(token, nowMs);
}

async function explainApi(api: CompiledApi, token: string, nowMs: number): Promise<TokenVerdict> {
  const base = {
    api: api.plan.name,
    path: api.plan.match.path,
    format: api.plan.source.format,
    source: `${api.plan.source.file}${api.plan.source.path ? ` ${api.plan.source.path}` : ''}`,
  };
  const c = api.plan.credentials;
  if (api.plan.auth === 'none' || (!c.bearer && !c.clientCredentials && !c.introspection)) {
    return {
      ...base,
      accepted: true,
      counted: [],
      upstream: api.plan.upstream.url,
      note: 'this API takes no credential: every request is forwarded',
    };
  }
  const refuse = (r: Refusal, detail?: RefusalDetail): TokenVerdict => {
    const refused = refusedOf(r, detail);
    const answer = api.renderer.refuse(api.answers, refused, { requestId: 'decode' });
    const gatewayReason = api.renderer.logReason?.(api.answers, refused);
    return {
      ...base,
      accepted: false,
      answer,
      reason: r.reason,
      ...(gatewayReason ? { gatewayReason } : {}),
      counted: [],
    };
  };
  if (c.clientCredentials && !c.bearer && !c.introspection) {
    return {
      ...refuse(refusal('missing_token')),
      note: "this API takes the caller's client id and secret (HTTP Basic) and obtains the token itself",
    };
  }
  const outcome = await decide(api, token, nowMs);
  if (!outcome.ok && api.plan.anonymous) {
    // Kong's anonymous: the refused token goes on as that consumer.
    return {
      ...base,
      accepted: true,
      counted: [],
      upstream: api.plan.upstream.url,
      note: `refused (${outcome.refusal.reason}), so it goes on as the anonymous consumer ${api.plan.anonymous['consumer_username'] ?? api.plan.anonymous['consumer_id']}`,
    };
  }
  if (!outcome.ok) return refuse(outcome.refusal, outcome.detail);
  const v = outcome.verified;
  if ('refusal' in v.forward) return refuse(v.forward.refusal);
  let rules: readonly LimitRule[] = api.plan.limits;
  let identity: string | undefined;
  if (api.plan.policies && api.policyClaims) {
    const resolved = resolvePolicies(api, v);
    if ('refusal' in resolved) return refuse(resolved.refusal, resolved.detail);
    rules = resolved.rules;
    identity = resolved.identity;
  }
  const counted = rules.map((rule, i) => ({
    limit: limitText(rule),
    key: counterKey(api, rule, i, v, identity),
  }));
  const perRequest = requestChecksText(api);
  return {
    ...base,
    accepted: true,
    counted,
    upstream: api.plan.upstream.url,
    ...(perRequest ? { note: perRequest } : {}),
  };
}

/** The checks `serve` makes per request that a token alone cannot decide (APIM), in words. */
function requestChecksText(api: CompiledApi): string | undefined {
  const checks = api.requestChecks?.checks;
  if (!checks) return undefined;
  const parts: string[] = [];
  if (checks.audienceFromHost)
    parts.push('aud must also name the host the client calls (context.Request.OriginalUrl.Host)');
  for (const rule of checks.claims)
    if (rule.methods) parts.push(`${rule.methods.join(', ')} requests: ${rule.label}`);
  return `checked per request by serve, not here: ${parts.join('; ')}`;
}

/** What each API (or the one `path` selects) would answer to `token`. */
export async function explainToken(
  compiled: CompiledPlan,
  token: string,
  options: { path?: string | undefined; nowMs: number },
): Promise<TokenVerdict[]> {
  if (options.path !== undefined) {
    const target = options.path.startsWith('/') ? options.path : `/${options.path}`;
    const match = compiled.router.match(target);
    if (!match.ok) {
      const { renderer, options: style } = compiled.notFound;
      const answer =
        match.reason === 'route_not_found'
          ? renderer.notFound(style, { requestId: 'decode' })
          : renderer.refuse(style, refusedOf(refusal(match.reason)), { requestId: 'decode' });
      return [
        {
          api: '-',
          path: target,
          format: '-',
          source: '-',
          accepted: false,
          answer,
          reason: match.reason,
          counted: [],
          note: `no API serves ${target}`,
        },
      ];
    }
    return [await explainApi(match.route.value, token, options.nowMs)];
  }
  return Promise.all(compiled.apis.map((api) => explainApi(api, token, options.nowMs)));
}
