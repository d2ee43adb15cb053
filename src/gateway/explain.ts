/**
 * A plan in words (`serve --check`, the start-up banner) and as JSON
 * (`serve --check --json`): per API, path -> upstream, who is trusted,
 * which checks run and which the original gateway skips, credentials,
 * limits, error style; then the warnings the loaders produced.
 */
import type { ClaimRule, TimeCheck } from '../core/gateway/claims.js';
import type { ApiPlan, LimitKey, LimitRule, Plan, Warning } from './plan.js';

function keyText(key: LimitKey): string {
  switch (key.by) {
    case 'claim':
      return `claim ${key.claim.join('.')}`;
    case 'header':
      return `header ${key.header}`;
    case 'expression':
      return `expression ${key.source}`;
    case 'api':
      return 'everyone (one counter for the API)';
    default:
      return key.by;
  }
}

function period(ms: number): string {
  if (ms === 0) return 'never renewed';
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const ALGORITHM_WORDS: Readonly<Record<LimitRule['algorithm'], string>> = {
  sliding_log: 'rolling window (sliding log)',
  sliding_window: 'sliding window',
  fixed_calendar: 'calendar window (UTC)',
  fixed_first_request: 'window from the first request',
  fixed_from_start: 'fixed periods',
};

export function limitText(rule: LimitRule): string {
  const per =
    rule.algorithm === 'fixed_calendar' && rule.calendar
      ? `1 ${rule.calendar}`
      : period(rule.periodMs);
  return `${rule.kind} ${rule.limit} per ${per}, ${ALGORITHM_WORDS[rule.algorithm]}, by ${keyText(rule.key)}${rule.countRefused ? ', refused requests count' : ''}${countWhenText(rule)}`;
}

function countWhenText(rule: LimitRule): string {
  const when = rule.countWhen;
  if (!when) return '';
  if ('never' in when) return ', checked but never counted (increment-condition false)';
  return `, counted once answered when ${when.expression}`;
}

function timeText(name: string, check: TimeCheck, skew: number): string {
  if (check === 'off') return `${name} not checked`;
  return `${name} ${check === 'required' ? 'required' : 'checked when present'} (leeway ${skew} s)`;
}

function ruleText(rule: ClaimRule): string {
  const only = rule.methods ? `, ${rule.methods.join('|')} requests only` : '';
  return `${ruleWords(rule)}${only}`;
}

function ruleWords(rule: ClaimRule): string {
  const name = rule.claim.join('.');
  const status = rule.failure === 'claim' ? '401' : '403';
  switch (rule.match) {
    case 'present':
      return `${name} present (${status})`;
    case 'any':
      return `${name} one of ${rule.values.join(', ')} (${status})`;
    case 'all':
      return rule.failure === 'scope'
        ? `scopes ${rule.values.join(' ')} (403 insufficient_scope)`
        : `${name} all of ${rule.values.join(', ')} (${status})`;
    case 'any_group':
      return `${name}: ${(rule.groups ?? []).map((g) => g.join(' and ')).join(', or ')} (${status})`;
  }
}

/** One API in words: a heading line, then indented lines. */
export function describeApi(api: ApiPlan): string[] {
  const lines: string[] = [];
  const strip =
    (api.match.stripPath ? ' (prefix stripped)' : '') +
    (api.match.methods ? ` ${api.match.methods.join('|')}` : '') +
    (api.match.hosts ? ` host ${api.match.hosts.join('|')}` : '');
  lines.push(
    `${api.name}: ${api.match.path}${strip} -> ${api.upstream.url}   [${api.source.format}, ${api.source.file}${api.source.path ? ` ${api.source.path}` : ''}]`,
  );
  const out = (text: string) => lines.push(`  ${text}`);
  const c = api.credentials;
  if (api.auth === 'none' || (!c.bearer && !c.clientCredentials && !c.introspection)) {
    out('credentials: none: every request is forwarded without a token');
  } else {
    const creds = [
      c.bearer ? 'bearer JWT' : undefined,
      c.clientCredentials
        ? `client credentials exchanged at ${c.clientCredentials.tokenEndpoint ?? c.clientCredentials.issuer}${
            Object.keys(c.clientCredentials.params).length
              ? ` with ${Object.entries(c.clientCredentials.params)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(' ')}`
              : ''
          }`
        : undefined,
      c.introspection
        ? `opaque tokens introspected at ${c.introspection.endpoint ?? c.introspection.issuer}`
        : undefined,
    ].filter(Boolean);
    out(`credentials: ${creds.join('; ')}`);
    if (api.anonymous)
      out(
        `a request that fails authentication goes on as consumer ${api.anonymous['consumer_username'] ?? api.anonymous['consumer_id']} (Kong anonymous)`,
      );
    if (api.preflightUnauthenticated) out('OPTIONS requests are not authenticated');
    const t = api.token;
    const where = [
      ...t.headers.map((h) => `header ${h}${t.scheme === 'required' ? ' (Bearer)' : ''}`),
      ...t.query.map((q) => `query ${q}`),
      ...t.cookies.map((k) => `cookie ${k}`),
    ];
    out(`token from: ${where.join(', ')}`);
    const tr = api.trust;
    const trusted = [
      ...tr.issuers.map((i) => `issuer ${i} (keys by discovery)`),
      ...tr.jwksUris.map((u) => `JWKS ${u}`),
      ...tr.publicKeys.map((k) => `key ${k.source}`),
      ...tr.secrets.map((s) => `shared secret ${s.source}`),
      ...(tr.keyedBy
        ? [
            `credentials selected by the token's ${tr.keyedBy.claim}: ${tr.keyedBy.credentials.map((k) => `${k.key} (${k.algorithm})`).join(', ')}`,
          ]
        : []),
    ];
    out(`trusts: ${trusted.length ? trusted.join('; ') : 'nothing (every token is refused)'}`);
    const k = api.checks;
    out(
      `algorithms: ${k.algorithms ? k.algorithms.join(', ') : 'those of the trusted keys'} (never none)`,
    );
    out(
      `${timeText('exp', k.exp, k.skew.exp)}; ${timeText('nbf', k.nbf, k.skew.nbf)}; ${timeText('iat', k.iat, k.skew.iat)}`,
    );
    if (k.maxExpirationSeconds > 0) out(`exp at most ${k.maxExpirationSeconds} s ahead`);
    out(
      `iss: ${k.issuers.length ? `one of ${k.issuers.join(', ')}` : tr.issuers.length ? 'the trusted issuers' : 'NOT CHECKED'}`,
    );
    const audRule = k.claims.some((r) => r.claim.length === 1 && r.claim[0] === 'aud');
    out(
      `aud: ${k.audienceFromHost ? `the host the client calls${k.audiences.length ? ` or one of ${k.audiences.join(', ')}` : ''} (per request)` : k.audiences.length ? `one of ${k.audiences.join(', ')}` : audRule ? 'by the rule below' : 'NOT CHECKED'}`,
    );
    for (const rule of k.claims) out(`requires ${ruleText(rule)}`);
    for (const h of api.headerChecks ?? [])
      out(
        `header ${h.header} ${h.values.length ? `one of ${h.values.join(', ')}` : 'present'} (else ${h.status})`,
      );
    if (api.policies) {
      const p = api.policies;
      out(
        `identity: ${(p.identityClaims ?? [p.identityClaim]).join(', then ')}; policies from ${[p.policyClaim ? `claim ${p.policyClaim}` : undefined, p.scopeToPolicy ? 'scope mapping' : undefined, p.clientPolicies ? `client (${p.clientPolicies.claim})` : undefined, p.defaultPolicies.length ? `defaults ${p.defaultPolicies.join(', ')}` : undefined].filter(Boolean).join(', else ') || 'nothing'}`,
      );
      for (const [id, policy] of Object.entries(p.policies)) {
        out(
          `policy ${id}: ${policy.allowsApi ? 'opens this API' : 'does not open this API'}${policy.limits.length ? `; ${policy.limits.map(limitText).join('; ')}` : ''}`,
        );
      }
    }
  }
  for (const rule of api.limits) out(`limit: ${limitText(rule)}`);
  const f = api.forward;
  if (f.claims.length) out(`forwards: ${f.claims.map((x) => `${x.header}=${x.claim}`).join(', ')}`);
  if (f.stripAuthorization) out('Authorization removed before the upstream');
  if (f.consumerHeaders)
    out(
      'consumer headers sent upstream (X-Consumer-ID, X-Consumer-Username, X-Credential-Identifier)',
    );
  out(
    `answers: ${api.answers.style}${api.answers.style === 'rfc6750' ? ' (oidc-gw)' : ''}; upstream timeout ${api.upstream.timeoutMs / 1000} s`,
  );
  return lines;
}

export function warningText(w: Warning): string {
  const kind =
    w.kind === 'ignored' ? 'ignored' : w.kind === 'skipped_check' ? 'not checked' : 'note';
  // As SPEC's example writes it (`ignored: apis[0].foo — not supported`), the file after it.
  return w.path
    ? `${kind}: ${w.path} — ${w.message} (${w.file})`
    : `${kind}: ${w.file} — ${w.message}`;
}

/** The whole plan in words. */
export function describePlan(plan: Plan): string[] {
  const lines: string[] = [];
  for (const api of plan.apis) lines.push(...describeApi(api), '');
  if (plan.warnings.length) {
    lines.push(`${plan.warnings.length} warning${plan.warnings.length === 1 ? '' : 's'}:`);
    for (const w of plan.warnings) lines.push(`  ${warningText(w)}`);
  } else {
    lines.push('no warnings');
  }
  return lines;
}

/** The plan as JSON (`serve --check --json`): stable snake_case fields; secrets never included. */
export function planJson(plan: Plan): unknown {
  return {
    valid: true,
    files: plan.files,
    apis: plan.apis.map((a) => ({
      name: a.name,
      format: a.source.format,
      file: a.source.file,
      source_path: a.source.path,
      path: a.match.path,
      strip_path: a.match.stripPath,
      ...(a.match.methods ? { methods: a.match.methods } : {}),
      ...(a.match.hosts ? { hosts: a.match.hosts } : {}),
      ...(a.anonymous ? { anonymous_consumer: a.anonymous['consumer_id'] } : {}),
      ...(a.preflightUnauthenticated ? { preflight_unauthenticated: true } : {}),
      upstream: a.upstream.url,
      upstream_timeout_ms: a.upstream.timeoutMs,
      auth: a.auth === 'none' ? 'none' : 'required',
      credentials: {
        bearer: a.credentials.bearer,
        client_credentials: a.credentials.clientCredentials
          ? {
              issuer: a.credentials.clientCredentials.issuer ?? null,
              token_endpoint: a.credentials.clientCredentials.tokenEndpoint ?? null,
              params: a.credentials.clientCredentials.params,
            }
          : null,
        introspection: a.credentials.introspection
          ? {
              issuer: a.credentials.introspection.issuer ?? null,
              endpoint: a.credentials.introspection.endpoint ?? null,
              client_id: a.credentials.introspection.clientId,
            }
          : null,
      },
      token: a.token,
      trust: {
        issuers: a.trust.issuers,
        jwks_uris: a.trust.jwksUris,
        public_keys: a.trust.publicKeys.map((k) => k.source),
        secrets: a.trust.secrets.map((s) => s.source),
        keyed_by: a.trust.keyedBy
          ? {
              claim: a.trust.keyedBy.claim,
              keys: a.trust.keyedBy.credentials.map((c) => ({
                key: c.key,
                algorithm: c.algorithm,
              })),
            }
          : null,
      },
      checks: {
        algorithms: a.checks.algorithms ?? null,
        exp: a.checks.exp,
        nbf: a.checks.nbf,
        iat: a.checks.iat,
        skew: a.checks.skew,
        max_expiration_seconds: a.checks.maxExpirationSeconds,
        issuers: a.checks.issuers,
        audiences: a.checks.audiences,
        ...(a.checks.audienceFromHost ? { audience_from_host: true } : {}),
        claims: a.checks.claims.map((c) => ({
          claim: c.claim.join('.'),
          match: c.match,
          values: c.values,
          ...(c.groups ? { groups: c.groups } : {}),
          ...(c.methods ? { methods: c.methods } : {}),
          failure: c.failure,
        })),
        max_token_bytes: a.checks.maxTokenBytes,
      },
      limits: a.limits.map((l) => ({
        id: l.id,
        kind: l.kind,
        algorithm: l.algorithm,
        limit: l.limit,
        period_ms: l.periodMs,
        ...(l.calendar ? { calendar: l.calendar } : {}),
        by: l.key,
        count_refused: l.countRefused,
        ...(l.cost !== undefined ? { cost: l.cost } : {}),
        ...(l.countWhen
          ? { count_when: 'never' in l.countWhen ? false : l.countWhen.expression }
          : {}),
        description: limitText(l),
      })),
      policies: a.policies
        ? Object.fromEntries(
            Object.entries(a.policies.policies).map(([id, p]) => [
              id,
              { opens_api: p.allowsApi, limits: p.limits.map(limitText) },
            ]),
          )
        : null,
      forward_claims: a.forward.claims,
      strip_authorization: a.forward.stripAuthorization,
      errors: a.answers.style,
      description: describeApi(a),
    })),
    warnings: plan.warnings.map((w) => ({
      file: w.file,
      path: w.path,
      kind: w.kind,
      message: w.message,
    })),
  };
}
