/**
 * One request through the gateway: match an API -> credentials (bearer,
 * client credentials, introspection) -> checks -> policies and limits ->
 * forward through undici's dispatch API (no AbortController per request:
 * the controller undici hands over cancels the upstream call when the
 * client goes away). Everything it needs comes in `ExchangeDeps` and the
 * compiled plan it started with: a reload swaps the plan for new requests,
 * this one finishes on its own.
 *
 * A refusal is data (`Refused`); the API's renderer turns it into the bytes
 * of its gateway (docs/gateways/). Logs and metrics use the reason code.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { checkRequestRules, hostName } from '../../core/gateway/claims.js';
import { refusal, type ReasonCode, type Refusal } from '../../core/gateway/reasons.js';
import type { Outcome, RefusalDetail, Verified } from '../../core/gateway/verify.js';
import type { AccessLog } from '../../http/gateway/access-log.js';
import { downstreamHeaders, upstreamHeaders } from '../../http/gateway/headers.js';
import type { GatewayMetrics } from '../../http/gateway/metrics.js';
import type { Answer, Refused, RequestFacts } from '../answer/types.js';
import { findCallerCredentials } from '../check/basic-auth.js';
import { extractToken, headerValues } from '../check/token-source.js';
import type { CountMode, LimitState, LimitStore } from '../limits/types.js';
import type { CompiledCondition, ExprContext } from '../load/apim-expr.js';
import type { HeaderCheck, LimitRule, PolicyBinding } from '../plan.js';
import type { CompiledApi, CompiledPlan } from './compile.js';

export interface LimitRunner {
  readonly store: LimitStore;
  /** Store lost: `open` lets requests through uncounted (Kong fault_tolerant), `closed` answers 503. */
  readonly failure: 'open' | 'closed';
}

export interface ExchangeDeps {
  readonly metrics: GatewayMetrics;
  readonly log: AccessLog;
  /** Milliseconds since the epoch. */
  readonly clock: () => number;
  /** True once shutdown began: responses close their connection. */
  readonly draining: () => boolean;
  /** WebSocket tunnels, closed at shutdown. */
  readonly tunnels: Set<Duplex>;
  /** Called when an exchange is finished (drain waiters). */
  readonly finished: () => void;
  readonly limits: LimitRunner | undefined;
}

const JSON_TYPE = 'application/json';
const PROCESS_ID = randomBytes(6).toString('hex');
let requestCounter = 0;

function upstreamFailure(error: unknown): { status: 502 | 504; reason: string } {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  ) {
    return { status: 504, reason: 'upstream_timeout' };
  }
  // The upstream answered, but not with valid HTTP/1.1 (undici's parser refused it).
  const name = (error as { name?: unknown } | undefined)?.name;
  if (
    name === 'HTTPParserError' ||
    code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' ||
    (typeof code === 'string' && code.startsWith('HPE_'))
  ) {
    return { status: 502, reason: 'upstream_bad_response' };
  }
  return { status: 502, reason: 'upstream_unreachable' };
}

/**
 * A request head the gateway will not pass on, whatever the API: two `Host`
 * headers (RFC 9112 §3.2: 400; which one would the upstream believe?), or a
 * transfer coding other than `chunked` (RFC 9112 §6.1: 501; the upstream
 * would get the body with the coding silently dropped).
 */
function framingProblem(
  req: IncomingMessage,
): { status: number; reason: string; body: Record<string, string> } | undefined {
  // From the raw list, in one pass (req.headers would build an object per request).
  let hosts = 0;
  let te: string | undefined;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length === 4 && n.toLowerCase() === 'host') hosts++;
    else if (n.length === 17 && n.toLowerCase() === 'transfer-encoding') {
      const v = raw[i + 1] as string;
      te = te === undefined ? v : `${te}, ${v}`; // joined as Node joins it
    }
  }
  if (hosts > 1) {
    return {
      status: 400,
      reason: 'duplicate_host',
      body: { error: 'invalid_request', error_description: 'more than one Host header' },
    };
  }
  if (te !== undefined && te.toLowerCase() !== 'chunked') {
    const codings = te.split(',').map((c) => c.trim().toLowerCase());
    const unknown = codings.some((c) => c !== 'chunked');
    return {
      status: unknown ? 501 : 400,
      reason: unknown ? 'transfer_coding_unsupported' : 'bad_transfer_encoding',
      body: unknown
        ? { error: 'not_implemented', error_description: 'transfer coding not supported' }
        : { error: 'invalid_request', error_description: 'chunked applied more than once' },
    };
  }
  return undefined;
}

function requestHasBody(req: IncomingMessage): boolean {
  const h = req.headers;
  return (
    h['transfer-encoding'] !== undefined ||
    (h['content-length'] !== undefined && h['content-length'] !== '0')
  );
}

/** A native refusal as the outcome renderers take. */
export function refusedOf(
  r: Refusal,
  detail?: RefusalDetail,
  limits?: readonly LimitState[],
): Refused {
  return {
    reason: r.reason,
    status: r.status,
    error: r.error,
    description: r.description,
    ...(r.scope !== undefined ? { scope: r.scope } : {}),
    ...(detail ? { detail } : {}),
    ...(limits ? { limits } : {}),
  };
}

/** An identity that is a secret (a client id) goes into logs and keys hashed. */
export function hashedIdentity(value: string): string {
  return `sha256:${createHash('sha256').update(value).digest('base64url').slice(0, 22)}`;
}

/** A claim value as a counter identity: a non-empty string (bounded), a number or a boolean. */
export function identityText(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value.slice(0, 256);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return undefined;
}

const ANONYMOUS: Verified = Object.freeze({
  sub: undefined,
  iss: undefined,
  kept: Object.freeze([]),
  forward: Object.freeze({ headers: Object.freeze([] as string[]) }),
});

/** The request target without the `client_id` and `client_secret` query parameters. */
export function withoutCredentials(target: string): string {
  const q = target.indexOf('?');
  if (q === -1) return target;
  const params = new URLSearchParams(target.slice(q + 1));
  params.delete('client_id');
  params.delete('client_secret');
  const rest = params.toString();
  return rest === '' ? target.slice(0, q) : `${target.slice(0, q)}?${rest}`;
}

function queryOf(target: string): URLSearchParams | undefined {
  const q = target.indexOf('?');
  return q === -1 ? undefined : new URLSearchParams(target.slice(q + 1));
}

/** APIM check-header: present, and one of the values when any are listed. */
function headerCheckPasses(req: IncomingMessage, check: HeaderCheck): boolean {
  const values = headerValues(req.rawHeaders, check.header);
  if (values.length === 0) return false;
  if (check.values.length === 0) return true;
  const value = values.join(',');
  return check.ignoreCase
    ? check.values.some((v) => v.toLowerCase() === value.toLowerCase())
    : check.values.includes(value);
}

function scopeValues(value: unknown): string[] {
  if (typeof value === 'string') return value.split(' ').filter(Boolean);
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return [];
}

/** Rules of one request that share a store call. */
interface CountGroup {
  readonly identity: string;
  readonly cost: number;
  readonly mode: CountMode;
  readonly rules: LimitRule[];
}

/** A conditional rule's count, waiting for the answer. */
interface DeferredCount {
  readonly rule: LimitRule;
  readonly identity: string;
  readonly cost: number;
  readonly scope: string;
  readonly condition: CompiledCondition;
}

/** A case-insensitive reader over a header object (a value list joined with `,`). */
function headerOf(
  headers: Readonly<Record<string, string | number | readonly string[] | undefined>>,
): (name: string) => string | undefined {
  return (name) => {
    const wanted = name.toLowerCase();
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() !== wanted) continue;
      const value = headers[key];
      if (value === undefined) return undefined;
      return Array.isArray(value) ? value.join(',') : String(value);
    }
    return undefined;
  };
}

export class Exchange implements Dispatcher.DispatchHandler {
  readonly started = performance.now();
  api: CompiledApi | undefined;
  sub: string | undefined;
  iss: string | undefined;
  reason: string | undefined;
  status: number | undefined;
  /** The limit that refused, and whose counter (for the log). */
  limitLabel: string | undefined;
  limitKey: string | undefined;
  /** A gateway's own name for the failure (APIM's TokenExpired...), for the log. */
  gatewayReason: string | undefined;
  finished = false;
  controller: Dispatcher.DispatchController | undefined;
  upstreamStarted = 0;
  /** The limit states of this request, for the response headers. */
  limitStates: readonly LimitState[] | undefined;
  /**
   * The client sent `Expect: 100-continue` (Node's 'checkContinue'): the
   * 100 is written only once the request is accepted, just before it is
   * forwarded; a refusal goes out without inviting the body.
   */
  continueOnForward = false;

  constructor(
    readonly deps: ExchangeDeps,
    readonly compiled: CompiledPlan,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly upgradeSocket?: Duplex,
    readonly head?: Buffer,
  ) {
    deps.metrics.inflight++;
    // `on`, not `once`: each fires at most once per request, `done` runs once
    // anyway, and the listeners go with the request (no wrapper to remove).
    res.on('close', this.done);
    // A pipelined request whose client left never sees its response close:
    // finish it when the request itself is torn down with its socket.
    req.on('close', this.requestClosed);
    if (upgradeSocket) res.on('finish', this.done);
  }

  private readonly requestClosed = (): void => {
    if (this.req.socket?.destroyed && !this.res.writableFinished) this.done();
  };

  /** Logs and counts the request once, when its response is over (or the client left). */
  readonly done = (): void => {
    if (this.finished) return;
    this.finished = true;
    const { res, deps } = this;
    if (!res.writableFinished) this.controller?.abort(new Error('the client went away'));
    deps.metrics.inflight--;
    const status = this.status ?? (res.headersSent ? res.statusCode : 499);
    const reason =
      this.reason ??
      (res.writableFinished || this.status !== undefined ? undefined : 'client_closed');
    const api = this.api?.plan.name;
    deps.metrics.request(status, reason, api);
    deps.log.request({
      method: this.req.method ?? '-',
      url: this.req.url ?? '-',
      status,
      durationMs: performance.now() - this.started,
      api,
      sub: this.sub,
      iss: this.iss,
      reason,
      limit: this.limitLabel,
      key: this.limitKey,
      gatewayReason: this.gatewayReason,
    });
    deps.finished();
  };

  run(): void {
    const { req } = this;
    try {
      const url = req.url ?? '';
      if (url.charCodeAt(0) !== 0x2f /* / */) {
        this.reason = 'bad_request_target';
        this.sendJson(400, {
          error: 'invalid_request',
          error_description: 'the request target must be a path',
        });
        return;
      }
      const framing = framingProblem(req);
      if (framing) {
        this.reason = framing.reason;
        this.res.setHeader('connection', 'close');
        this.sendJson(framing.status, framing.body);
        return;
      }
      const router = this.compiled.router;
      // The Host header only when a route names hosts (req.headers is built on first use).
      const match = router.match(url, req.method, router.needsHost ? req.headers.host : undefined);
      if (!match.ok) {
        const { renderer, options } = this.compiled.notFound;
        this.reason = match.reason;
        if (match.reason === 'route_not_found') {
          this.write(renderer.notFound(options, this.facts()));
        } else {
          this.write(renderer.refuse(options, refusedOf(refusal(match.reason)), this.facts()));
        }
        return;
      }
      const api = match.route.value;
      this.api = api;
      this.upstreamPath = match.upstreamPath;
      const checks = api.plan.headerChecks;
      if (checks) {
        for (let i = 0; i < checks.length; i++) {
          const check = checks[i] as HeaderCheck;
          if (!check.afterToken && !headerCheckPasses(req, check)) {
            this.reason = 'header_check_failed';
            return this.write(api.headerCheckAnswers[i] as Answer);
          }
        }
      }
      // APIM limits written before validate-jwt: counted before the token is looked at.
      const early = api.earlyLimits;
      if (early.length > 0 && this.deps.limits) {
        return this.countLimits(api, early, ANONYMOUS, undefined, (states) => {
          this.earlyStates = states;
          this.authenticate(api, url);
        });
      }
      this.authenticate(api, url);
    } catch (error) {
      this.internalError(error);
    }
  }

  /** The states of limits counted before the token (APIM), for the response headers. */
  private earlyStates: readonly LimitState[] | undefined;

  /** Credentials: none, client credentials, introspection or a bearer JWT. */
  private authenticate(api: CompiledApi, url: string): void {
    const req = this.req;
    try {
      const credentials = api.plan.credentials;
      // No credential at all (Tyk keyless, a Kong route without an auth plugin): proxied unchecked.
      if (
        api.plan.auth === 'none' ||
        (!credentials.bearer && !credentials.clientCredentials && !credentials.introspection) ||
        // Kong run_on_preflight: false: the auth plugin does not run on OPTIONS.
        (api.plan.preflightUnauthenticated === true && req.method === 'OPTIONS')
      ) {
        return this.accepted(api, ANONYMOUS, undefined);
      }
      if (credentials.clientCredentials && api.exchanger) {
        const caller = findCallerCredentials(
          { authorization: headerValues(req.rawHeaders, 'authorization'), query: queryOf(url) },
          credentials.clientCredentials.from.filter((f) => f !== 'body'),
        );
        if (caller.kind === 'malformed') {
          return this.authFailed(
            refusal('client_credentials_invalid', { description: 'malformed client credentials' }),
          );
        }
        if (caller.kind === 'credentials') {
          // The caller's secret never goes upstream: from the query, it is cut out of the path.
          if (caller.source === 'query') this.upstreamPath = withoutCredentials(this.upstreamPath);
          return this.exchangeCredentials(api, caller.clientId, caller.clientSecret);
        }
      }
      const extracted = extractToken(api.plan.token, req.rawHeaders, url);
      if ('refusal' in extracted) return this.authFailed(extracted.refusal);
      const token = extracted.token;
      if (api.introspector && (!credentials.bearer || !looksLikeJws(token))) {
        return this.introspect(api, token);
      }
      if (!credentials.bearer) return this.authFailed(refusal('missing_token'));
      this.verifyToken(api, token, undefined);
    } catch (error) {
      this.internalError(error);
    }
  }

  /**
   * Authentication failed: refused, or with Kong's `anonymous`, let through as
   * that consumer (the refusal is still the log's reason for why).
   */
  private authFailed(r: Refusal, detail?: RefusalDetail): void {
    const api = this.api;
    const anonymous = api?.plan.anonymous;
    if (!api || !anonymous) return this.fail(r, detail);
    this.gatewayReason = `anonymous (${r.reason})`;
    this.accepted(api, { ...ANONYMOUS, credential: anonymous }, undefined);
  }

  /** Path the upstream gets (the API's base path joined with the rest). */
  upstreamPath = '';

  private verifyToken(api: CompiledApi, token: string, authorization: string | undefined): void {
    const now = this.deps.clock();
    const hit = api.verifier.lookup(token, now);
    if (hit) return this.accepted(api, hit, authorization);
    const t0 = performance.now();
    api.verifier
      .verify(token, now)
      .then(
        (outcome) => {
          this.deps.metrics.verification.observe((performance.now() - t0) / 1000);
          this.settle(api, outcome, authorization);
        },
        (error: unknown) => this.internalError(error),
      )
      // A throw in the handlers above (a renderer, the forward) answers 500, never escapes.
      .catch((error: unknown) => this.internalError(error));
  }

  private settle(api: CompiledApi, outcome: Outcome, authorization: string | undefined): void {
    if (this.res.destroyed || this.finished) return;
    if (!outcome.ok) return this.authFailed(outcome.refusal, outcome.detail);
    this.accepted(api, outcome.verified, authorization);
  }

  private exchangeCredentials(api: CompiledApi, clientId: string, clientSecret: string): void {
    this.limitIdentityOverride = hashedIdentity(clientId);
    api.exchanger
      ?.exchange(clientId, clientSecret)
      .then(
        (result) => {
          if (this.res.destroyed || this.finished) return;
          if (!result.ok) {
            return this.authFailed(refusal(result.reason as ReasonCode));
          }
          this.verifyToken(api, result.accessToken, `Bearer ${result.accessToken}`);
        },
        (error: unknown) => this.internalError(error),
      )
      // A throw in the handlers above (a renderer, the forward) answers 500, never escapes.
      .catch((error: unknown) => this.internalError(error));
  }

  /** client_id limits of a client-credentials caller count by the caller's id. */
  private limitIdentityOverride: string | undefined;

  private introspect(api: CompiledApi, token: string): void {
    api.introspector
      ?.introspect(token)
      .then(
        (result) => {
          if (this.res.destroyed || this.finished) return;
          if ('error' in result) return this.authFailed(refusal('idp_unavailable'));
          if (!result.active) return this.authFailed(refusal('token_inactive'));
          const outcome = api.verifier.acceptClaims(result.claims, this.deps.clock());
          this.settle(api, outcome, undefined);
        },
        (error: unknown) => this.internalError(error),
      )
      // A throw in the handlers above (a renderer, the forward) answers 500, never escapes.
      .catch((error: unknown) => this.internalError(error));
  }

  private accepted(api: CompiledApi, v: Verified, authorization: string | undefined): void {
    this.sub = v.sub;
    this.iss = v.iss;
    // APIM check-header policies placed after validate-jwt.
    const checks = api.plan.headerChecks;
    for (let i = 0; checks && i < checks.length; i++) {
      const check = checks[i] as HeaderCheck;
      if (check.afterToken && !headerCheckPasses(this.req, check)) {
        this.reason = 'header_check_failed';
        return this.write(api.headerCheckAnswers[i] as Answer);
      }
    }
    if ('refusal' in v.forward) return this.fail(v.forward.refusal);
    // Checks that depend on this request (APIM: the host as an audience, a method in a choose).
    const rc = api.requestChecks;
    if (rc) {
      const problem = checkRequestRules(
        rc.checks,
        { method: this.req.method ?? 'GET', host: hostName(this.req.headers.host) },
        (path) => {
          const i = rc.index.get(path);
          return i === undefined ? undefined : v.kept[i];
        },
      );
      if (problem) return this.fail(problem.refusal, problem.detail);
    }
    let rules: readonly LimitRule[] = api.plan.limits;
    let identity: string | undefined;
    if (api.plan.policies && api.policyClaims) {
      const resolved = resolvePolicies(api, v);
      if ('refusal' in resolved) return this.fail(resolved.refusal, resolved.detail);
      rules = resolved.rules;
      identity = resolved.identity;
    }
    if (this.earlyStates) rules = rules.filter((r) => r.beforeToken !== true);
    if (rules.length === 0 || !this.deps.limits) {
      if (this.earlyStates) this.limitStates = this.earlyStates;
      return this.forward(api, v, authorization);
    }
    this.countLimits(api, rules, v, identity, (states) => {
      this.limitStates = this.earlyStates ? [...this.earlyStates, ...states] : states;
      this.forward(api, v, authorization);
    });
  }

  /**
   * Counts `rules` for this request: `allowed` gets their states when every
   * one lets it through; a refusal, a missing identity or a lost store
   * (`closed`) answers here. A lost store with `open` lets it through uncounted.
   */
  private countLimits(
    api: CompiledApi,
    rules: readonly LimitRule[],
    v: Verified,
    identity: string | undefined,
    allowed: (states: readonly LimitState[]) => void,
  ): void {
    if (!this.deps.limits) return allowed([]);
    // The rules of one request share one store call per identity, cost and counting mode
    // (a request has a handful of rules: a list, searched, is cheaper than a Map here).
    const groups: CountGroup[] = [];
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i] as LimitRule;
      const index = rules === api.plan.limits ? i : api.plan.limits.indexOf(rule);
      const id = this.identityFor(api, rule, index === -1 ? i : index, v, identity);
      if (id === undefined) {
        this.limitLabel = rule.label;
        return this.fail(
          rule.key.by === 'expression' ? refusal('limit_key_missing') : refusal('identity_missing'),
        );
      }
      const cost = rule.cost ?? 1;
      // An increment-condition: checked now, counted (or not) once the answer is known.
      const mode: CountMode = rule.countWhen ? 'check' : 'count';
      let group: CountGroup | undefined;
      for (const g of groups) {
        if (g.identity === id && g.cost === cost && g.mode === mode) {
          group = g;
          break;
        }
      }
      if (group) group.rules.push(rule);
      else groups.push({ identity: id, cost, mode, rules: [rule] });
    }
    const { store } = this.deps.limits;
    const now = this.deps.clock();
    const scope = api.counterScope;
    // One store call per group, in rule order; a refusal stops the rules after it, across
    // identities too (Tyk's identity rate and quota before the API-wide limit: a request refused
    // by the first never counts on the second; APIM's policies in document order).
    if (store.hitSync) {
      // An in-process store: decided now, without a promise.
      let states: LimitState[];
      try {
        states = [];
        for (const g of groups) {
          const some = store.hitSync(
            { api: scope, identity: g.identity },
            g.rules,
            now,
            g.cost,
            g.mode,
          );
          for (const s of some) states.push(s);
          if (some.some((s) => !s.allowed)) break;
        }
      } catch {
        return this.limitStoreFailed(allowed);
      }
      return this.limitsCounted(api, groups, states, scope, allowed);
    }
    const hitInOrder = async (): Promise<LimitState[]> => {
      const all: LimitState[] = [];
      for (const g of groups) {
        const states = await store.hit(
          { api: scope, identity: g.identity },
          g.rules,
          now,
          g.cost,
          g.mode,
        );
        all.push(...states);
        if (states.some((s) => !s.allowed)) break;
      }
      return all;
    };
    hitInOrder()
      .then(
        (states) => {
          if (this.res.destroyed || this.finished) return;
          this.limitsCounted(api, groups, states, scope, allowed);
        },
        () => {
          if (this.res.destroyed || this.finished) {
            this.deps.metrics.limitStoreErrors++;
            return;
          }
          this.limitStoreFailed(allowed);
        },
      )
      // A throw in the handlers above (a renderer, the forward) answers 500, never escapes.
      .catch((error: unknown) => this.internalError(error));
  }

  /** The store could not answer: refused (`closed`) or let through uncounted (`open`). */
  private limitStoreFailed(allowed: (states: readonly LimitState[]) => void): void {
    this.deps.metrics.limitStoreErrors++;
    if (this.deps.limits?.failure === 'closed') return this.fail(refusal('limits_unavailable'));
    allowed([]);
  }

  /** The store answered: a refusal is answered here; otherwise `allowed` gets the states. */
  private limitsCounted(
    api: CompiledApi,
    groups: readonly CountGroup[],
    states: readonly LimitState[],
    scope: string,
    allowed: (states: readonly LimitState[]) => void,
  ): void {
    // Conditional rules that let the request through are counted when it is answered.
    for (const g of groups) {
      if (g.mode !== 'check') continue;
      for (const rule of g.rules) {
        const when = rule.countWhen;
        if (!when || !('expression' in when)) continue;
        if (!states.some((s) => s.rule === rule && s.allowed)) continue;
        const condition = api.conditions.get(when.expression);
        if (!condition) continue;
        (this.deferred ??= []).push({ rule, identity: g.identity, cost: g.cost, scope, condition });
      }
    }
    let refusedBy: LimitState | undefined;
    for (const s of states) {
      if (!s.allowed) {
        refusedBy = s;
        break;
      }
    }
    if (refusedBy) {
      const rule = refusedBy.rule;
      // Set now: a client that leaves during Kong's header read below is logged as limited.
      this.reason = rule.kind === 'quota' ? 'quota_exceeded' : 'rate_limited';
      this.limitLabel = rule.label;
      for (const g of groups) if (g.rules.includes(rule)) this.limitKey = g.identity;
      this.deps.metrics.limitedRequest(api.plan.name, rule.label);
      const refuse = (all: readonly LimitState[]) =>
        this.fail(
          refusal(rule.kind === 'quota' ? 'quota_exceeded' : 'rate_limited'),
          undefined,
          all,
        );
      // Kong's 429 carries every period's headers: the periods after the one that refused
      // were not counted; they are read (checked, not counted) for their headers.
      if (api.answers.style === 'kong') return this.withUnread(groups, states, scope, refuse);
      return refuse(states);
    }
    allowed(states);
  }

  /** `states` and those of the rules not reached, read without counting, for the headers. */
  private withUnread(
    groups: readonly CountGroup[],
    states: readonly LimitState[],
    scope: string,
    then: (all: readonly LimitState[]) => void,
  ): void {
    const store = this.deps.limits?.store;
    const unread: Array<{ group: CountGroup; rule: LimitRule }> = [];
    for (const group of groups)
      for (const rule of group.rules)
        if (!states.some((s) => s.rule === rule)) unread.push({ group, rule });
    if (!store || unread.length === 0) return then(states);
    const now = this.deps.clock();
    const read = (u: { group: CountGroup; rule: LimitRule }) =>
      store.hit({ api: scope, identity: u.group.identity }, [u.rule], now, u.group.cost, 'check');
    Promise.all(unread.map(read))
      .then(
        (more) => {
          if (this.res.destroyed || this.finished) return;
          then([...states, ...more.flat()]);
        },
        () => {
          if (this.res.destroyed || this.finished) return;
          then(states);
        },
      )
      // A throw in the handlers above (a renderer, the forward) answers 500, never escapes.
      .catch((error: unknown) => this.internalError(error));
  }

  /** Rules whose increment-condition is decided by the answer (APIM), until it is known. */
  private deferred: DeferredCount[] | undefined;

  /**
   * The answer is known (its status and headers are about to go out): each
   * deferred rule whose condition holds is counted now, before the client
   * can see the answer and send its next request. Once per request.
   */
  private countDeferred(status: number, header: (name: string) => string | undefined): void {
    const deferred = this.deferred;
    if (!deferred || !this.deps.limits) return;
    this.deferred = undefined;
    const store = this.deps.limits.store;
    const ctx: ExprContext = { ...this.expressionContext(), response: { status, header } };
    const now = this.deps.clock();
    for (const d of deferred) {
      if (!d.condition(ctx)) continue;
      store.hit({ api: d.scope, identity: d.identity }, [d.rule], now, d.cost, 'add').catch(() => {
        this.deps.metrics.limitStoreErrors++;
      });
    }
  }

  /**
   * The counter identity of one rule for this request, or undefined when
   * there is none. `policyIdentity` is Tyk's session identity (claim-keyed
   * and `consumer` rules of its policies count by it).
   */
  private identityFor(
    api: CompiledApi,
    rule: LimitRule,
    index: number,
    v: Verified,
    policyIdentity: string | undefined,
  ): string | undefined {
    const key = rule.key;
    switch (key.by) {
      case 'claim': {
        if (policyIdentity !== undefined) return policyIdentity;
        const source = api.ruleIdentities.get(rule) ?? api.identities[index];
        const value = source?.keptIndex === undefined ? undefined : v.kept[source.keptIndex];
        return identityText(value);
      }
      case 'client_id': {
        if (this.limitIdentityOverride) return this.limitIdentityOverride;
        const id =
          identityText(v.kept[api.clientIdIndex]) ?? identityText(v.kept[api.clientIdIndex + 1]);
        return id === undefined ? undefined : hashedIdentity(id);
      }
      case 'ip':
        return this.clientAddress();
      case 'header': {
        // A header may carry an API key: counted and logged by its hash. Without it, Kong's
        // rate-limiting falls back to the client IP ("cannot be determined: falls back to ip").
        const value = this.req.headers[key.header.toLowerCase()];
        return typeof value === 'string' && value !== ''
          ? hashedIdentity(value)
          : this.clientAddress();
      }
      case 'consumer':
        return (
          policyIdentity ??
          v.credential?.['consumer_id'] ??
          v.credential?.['credential_id'] ??
          this.credentialClaim(api, v) ??
          this.clientAddress()
        );
      case 'credential':
        return (
          v.credential?.['credential_id'] ?? this.credentialClaim(api, v) ?? this.clientAddress()
        );
      case 'api':
        return '*';
      case 'expression': {
        const compiled = api.expressions.get(key.source);
        if (!compiled) return undefined;
        const value = compiled(this.expressionContext());
        return value === null || value === '' ? undefined : value.slice(0, 512);
      }
    }
  }

  private credentialClaim(api: CompiledApi, v: Verified): string | undefined {
    return api.credentialIndex === undefined
      ? undefined
      : identityText(v.kept[api.credentialIndex]);
  }

  private expressionContext(): ExprContext {
    const req = this.req;
    return {
      ip: this.clientAddress() ?? '',
      header: (name: string) => {
        const values = headerValues(req.rawHeaders, name.toLowerCase());
        return values.length === 0 ? undefined : values.join(',');
      },
      jwt: this.api?.asJwt ?? (() => null),
      method: req.method ?? 'GET',
    };
  }

  private clientAddress(): string | undefined {
    const ip = this.req.socket.remoteAddress;
    return ip?.startsWith('::ffff:') ? ip.slice(7) : ip;
  }

  facts(): RequestFacts {
    const h = this.req.headers;
    return {
      contentType: h['content-type'],
      accept: h['accept'],
      requestId: `${PROCESS_ID}${(++requestCounter).toString(16).padStart(8, '0')}`,
    };
  }

  /** Writes a rendered answer (a refusal, a 404). */
  write(answer: Answer): void {
    const { res } = this;
    if (res.headersSent || res.destroyed) return;
    this.status = answer.status;
    const headers: Record<string, string | number> = {
      ...answer.headers,
      'content-length': Buffer.byteLength(answer.body),
    };
    // Do not read an unauthenticated request body just to keep the connection.
    if (requestHasBody(this.req) || this.deps.draining()) headers['connection'] = 'close';
    if (this.deferred) this.countDeferred(answer.status, headerOf(answer.headers));
    res.writeHead(answer.status, headers);
    res.end(answer.body);
  }

  fail(r: Refusal, detail?: RefusalDetail, limits?: readonly LimitState[]): void {
    this.reason = r.reason;
    const api = this.api;
    if (!api) {
      this.write(
        this.compiled.notFound.renderer.refuse(
          this.compiled.notFound.options,
          refusedOf(r, detail, limits),
          this.facts(),
        ),
      );
      return;
    }
    const refused = refusedOf(r, detail, limits);
    this.gatewayReason = api.renderer.logReason?.(api.answers, refused);
    this.write(api.renderer.refuse(api.answers, refused, this.facts()));
  }

  sendJson(status: number, value: Record<string, string>): void {
    const body = JSON.stringify(value);
    const headers: Record<string, string | number | string[]> = {
      'content-type': JSON_TYPE,
      'content-length': Buffer.byteLength(body),
      'cache-control': 'no-store',
    };
    // Counted already (an upstream that fails after the limits passed): the limit headers too.
    if (this.limitStates && this.api) {
      Object.assign(
        headers,
        this.api.renderer.limitHeaders(this.api.answers, this.limitStates, this.deps.clock()),
      );
    }
    if (this.deps.draining()) headers['connection'] = 'close';
    this.status = status;
    if (this.deferred) this.countDeferred(status, headerOf(headers));
    this.res.writeHead(status, headers);
    this.res.end(body);
  }

  internalError(error: unknown): void {
    this.reason = 'internal_error';
    this.deps.log.note(
      `internal error: ${error instanceof Error ? error.message : String(error)}`,
      'warn',
    );
    if (!this.res.headersSent && !this.res.destroyed) {
      this.sendJson(500, { error: 'internal_error' });
    } else {
      this.res.destroy();
    }
  }

  forward(api: CompiledApi, v: Verified, authorization: string | undefined): void {
    const { req, upgradeSocket } = this;
    const forwarded = v.forward as { readonly headers: readonly string[] };
    let extra = forwarded.headers;
    if (v.credential && (api.plan.forward.consumerHeaders || v.credential['anonymous'])) {
      const c = v.credential;
      const more: string[] = [...extra];
      if (c['consumer_id'] !== undefined) more.push('x-consumer-id', c['consumer_id']);
      if (c['consumer_custom_id'] !== undefined)
        more.push('x-consumer-custom-id', c['consumer_custom_id']);
      if (c['consumer_username'] !== undefined)
        more.push('x-consumer-username', c['consumer_username']);
      if (c['credential_id'] !== undefined)
        more.push('x-credential-identifier', c['credential_id']);
      if (c['anonymous'] !== undefined) more.push('x-anonymous-consumer', 'true');
      extra = more;
    }
    const stripAuthorization = api.plan.forward.stripAuthorization || authorization !== undefined;
    if (authorization !== undefined && !api.plan.forward.stripAuthorization) {
      extra = [...extra, 'authorization', authorization];
    }
    const up = upstreamHeaders(req.rawHeaders, {
      reserved: api.reserved,
      stripAuthorization,
      clientAddress: req.socket.remoteAddress,
      extra,
    });
    if (upgradeSocket && up.upgrade !== undefined) {
      if (/(^|[\s,])websocket($|[\s,/])/i.test(up.upgrade)) {
        return this.tunnel(api, up.headers);
      }
      if (up.hasBody) {
        // Node does not parse a body after an upgrade request: refuse rather than guess.
        this.reason = 'upgrade_with_body';
        this.sendJson(400, {
          error: 'invalid_request',
          error_description: 'an Upgrade request other than WebSocket cannot carry a body',
        });
        return;
      }
    }
    if (this.continueOnForward && !this.res.headersSent) this.res.writeContinue();
    this.upstreamStarted = performance.now();
    const timeoutMs = api.plan.upstream.timeoutMs;
    api.pool.dispatch(
      {
        path: this.upstreamPath,
        method: req.method as string,
        headers: up.headers,
        body: up.hasBody ? req : null,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      },
      this,
    );
  }

  // undici DispatchHandler -------------------------------------------------

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.finished) controller.abort(new Error('the client went away'));
  }

  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    if (statusCode < 200) return; // 1xx: Node sends its own 100 Continue
    this.deps.metrics.upstream.observe((performance.now() - this.upstreamStarted) / 1000);
    const out = downstreamHeaders(headers);
    if (this.limitStates && this.api) {
      Object.assign(
        out,
        this.api.renderer.limitHeaders(this.api.answers, this.limitStates, this.deps.clock()),
      );
    }
    if (this.deps.draining() || this.upgradeSocket) out['connection'] = 'close';
    if (this.deferred) this.countDeferred(statusCode, headerOf(headers));
    try {
      this.res.writeHead(statusCode, out);
    } catch {
      // A status or header Node will not send (an invalid character, say): the
      // upstream's answer cannot be relayed as is.
      this.reason = 'upstream_bad_response';
      this.status = 502;
      controller.abort(new Error('the upstream response cannot be relayed'));
      if (!this.res.headersSent) this.sendJson(502, { error: 'bad_gateway' });
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.reason === 'upstream_bad_response') return;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    if (this.reason !== 'upstream_bad_response') this.res.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    const res = this.res;
    if (this.finished || this.reason === 'upstream_bad_response') return; // answered already, or nobody to answer
    const failure = upstreamFailure(error);
    this.reason = failure.reason;
    if (!res.headersSent && !res.destroyed) {
      this.status = failure.status;
      this.sendJson(failure.status, {
        error: failure.status === 504 ? 'gateway_timeout' : 'bad_gateway',
      });
    } else {
      res.destroy();
    }
  }

  /**
   * A verified WebSocket upgrade, through the same dispatch as any request:
   * the upstream's 101 is relayed and the two sockets joined
   * (onRequestUpgrade); any other answer (a 403, a 426...) is relayed as it
   * is by onResponseStart/Data/End, on the client socket, then closed.
   */
  tunnel(api: CompiledApi, headers: string[]): void {
    this.upstreamStarted = performance.now();
    const timeoutMs = api.plan.upstream.timeoutMs;
    api.pool.dispatch(
      {
        path: this.upstreamPath,
        method: this.req.method as string,
        headers,
        upgrade: 'websocket',
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      },
      this,
    );
  }

  onRequestUpgrade(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
    upSocket: Duplex,
  ): void {
    const socket = this.upgradeSocket as Duplex;
    this.deps.metrics.upstream.observe((performance.now() - this.upstreamStarted) / 1000);
    this.status = statusCode;
    if (this.deferred) this.countDeferred(statusCode, headerOf(headers));
    // The upstream call is over: nothing is left to cancel when the log line is written.
    this.controller = undefined;
    if (socket.destroyed) {
      upSocket.destroy();
      this.done();
      return;
    }
    let headText = `HTTP/1.1 ${statusCode} ${http.STATUS_CODES[statusCode] ?? 'Switching Protocols'}\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) headText += `${name}: ${v}\r\n`;
    }
    socket.write(`${headText}\r\n`);
    const first = this.head ?? Buffer.alloc(0);
    if (first.length > 0) upSocket.write(first);
    const tunnels = this.deps.tunnels;
    tunnels.add(socket);
    const close = () => {
      tunnels.delete(socket);
      socket.destroy();
      upSocket.destroy();
    };
    upSocket.on('error', close);
    socket.on('error', close);
    upSocket.on('close', close);
    socket.on('close', close);
    socket.pipe(upSocket);
    upSocket.pipe(socket);
    this.done();
  }
}

/** True when `token` has the compact JWS shape (two dots): introspection is for the others. */
export function looksLikeJws(token: string): boolean {
  const first = token.indexOf('.');
  if (first === -1) return false;
  const second = token.indexOf('.', first + 1);
  return second !== -1 && token.indexOf('.', second + 1) === -1;
}

/** Whether rule `a` allows more than `b` (same kind): requests per ms for a rate, requests for a quota. */
function allowsMore(a: LimitRule, b: LimitRule): boolean {
  return a.kind === 'rate' ? a.limit / a.periodMs > b.limit / b.periodMs : a.limit > b.limit;
}

/**
 * Tyk: which policies apply to this token (the policy claim, else the
 * scope mapping, else the default policies; the OpenID Connect middleware:
 * the token's client), whether one opens this API, and their limits
 * (docs/gateways/tyk.md). Several policies merge as Tyk merges them: the
 * highest rate and the highest quota apply.
 */
export function resolvePolicies(
  api: CompiledApi,
  v: Verified,
): { rules: LimitRule[]; identity: string } | { refusal: Refusal; detail?: RefusalDetail } {
  const binding = api.plan.policies as PolicyBinding;
  const claims = api.policyClaims as NonNullable<CompiledApi['policyClaims']>;
  const first = (indexes: readonly number[]) => {
    for (const i of indexes) {
      const value = v.kept[i];
      if (value !== undefined && value !== null && value !== '') return value;
    }
    return undefined;
  };
  let identity = identityText(first(claims.identity));
  if (identity === undefined) return { refusal: refusal('identity_missing') };
  let ids: string[] = [];
  if (binding.clientPolicies && claims.client !== undefined) {
    const aud = v.kept[claims.client];
    const candidates = typeof aud === 'string' ? [aud] : scopeValues(aud);
    const client = candidates.find((c) => Object.hasOwn(binding.clientPolicies!.byClient, c));
    if (client === undefined) {
      return { refusal: refusal('policy_not_found'), detail: { check: 'client' } };
    }
    ids = [binding.clientPolicies.byClient[client] as string];
    if (binding.segregateByClient) identity = `${client}:${identity}`;
  } else {
    ids = scopeValues(first(claims.policy));
    if (ids.length === 0 && binding.scopeToPolicy && claims.scope.length > 0) {
      const mapping = binding.scopeToPolicy;
      ids = scopeValues(first(claims.scope)).flatMap((s) =>
        Object.hasOwn(mapping, s) ? [mapping[s] as string] : [],
      );
      if (ids.length === 0 && binding.defaultPolicies.length === 0) {
        return { refusal: refusal('policy_not_found'), detail: { check: 'scope' } };
      }
    }
    if (ids.length === 0) ids = [...binding.defaultPolicies];
  }
  if (ids.length === 0) return { refusal: refusal('policy_not_found') };
  const known = ids.filter((id) => Object.hasOwn(binding.policies, id));
  if (known.length === 0) {
    return { refusal: refusal('policy_not_found'), detail: { check: 'policy_unknown' } };
  }
  const opening = known.filter((id) => binding.policies[id]?.allowsApi);
  if (opening.length === 0) return { refusal: refusal('api_not_allowed') };
  // Several policies merge as Tyk merges them into one session: the highest rate (per
  // second) and the highest quota (an unlimited one, quota_max -1, above all).
  const rules: LimitRule[] = [];
  let unlimitedQuota = false;
  for (const id of opening) {
    const policy = binding.policies[id];
    if (policy?.unlimitedQuota) unlimitedQuota = true;
    for (const rule of policy?.limits ?? []) {
      const at = rules.findIndex((r) => r.id === rule.id);
      if (at === -1) rules.push(rule);
      else if (allowsMore(rule, rules[at] as LimitRule)) rules[at] = rule;
    }
  }
  if (unlimitedQuota) {
    for (let i = rules.length - 1; i >= 0; i--) if (rules[i]?.kind === 'quota') rules.splice(i, 1);
  }
  // The policies' rate and quota first, the API-wide limit after them, as Tyk's
  // RateLimitAndQuotaCheck runs before RateLimitForAPI.
  return { rules: [...rules, ...api.plan.limits], identity };
}
