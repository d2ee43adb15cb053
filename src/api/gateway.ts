/**
 * startGateway: the gateway of `oidc-gw serve` (src/services/serve.ts
 * `startGatewayService`: the same plan loaders, verifier, limits, answers,
 * listener and admin port) started inside a test suite or a tool, from
 * gateway files, a plan object, or flag-like options.
 *
 * As a library it has no process-wide effects: no signal handlers, no
 * exit, no file watching, nothing written to stdout or stderr (log lines go
 * to the caller's `log` only), no profile or environment read for trust
 * settings; `stop()` drains and closes the listener, the admin port, the
 * upstream pools, the key fetcher's connections and the limit store.
 *
 * Only types and the error class are imported at load: the gateway itself
 * (src/gateway, undici, yaml, redis) is imported on the first start, so
 * `import 'oidc-gw'` stays light.
 */
import { GwError, isGwError } from '../core/errors/index.js';
import { isLoopbackHost } from '../core/loopback.js';
import type { GatewayService } from '../services/serve.js';
import type { LimitKey, Plan, SourceFormat, Warning } from '../gateway/plan.js';
import type { FlagLimit } from '../gateway/load/from-flags.js';
import type { LimitStore } from '../gateway/limits/types.js';
import type { Jwks, PublicJwk } from './keys.js';
import type { AccessLog as AccessLogType } from '../http/gateway/access-log.js';

export type {
  ApiPlan as GatewayApiPlan,
  Plan as GatewayPlan,
  Warning as GatewayWarning,
} from '../gateway/plan.js';

/** The gateway formats of `serve --format`. */
export type GatewayFileFormat = Exclude<SourceFormat, 'flags'>;

/** Where and how the gateway listens; fixed for its lifetime (reload keeps them). */
export interface GatewayListenOptions {
  /** Port (default 0: a free one). */
  readonly port?: number;
  /** Address to listen on (default 127.0.0.1). Any other gets a `warn` log line. */
  readonly host?: string;
  /** Serve /healthz, /readyz and /metrics on 127.0.0.1 at this port (0: a free one). Default: none. */
  readonly adminPort?: number;
  /** Receives each log line as an object (the JSON lines of `serve --log-format json`). Default: none. */
  readonly log?: (line: GatewayLogLine) => void;
  /** Limit counters in Redis (redis://, rediss://, unix:///path), shared with other gateways. Default: memory. */
  readonly redis?: string;
  /** When Redis is lost: `open` lets requests through uncounted, `closed` answers 503 (default open). */
  readonly redisFailure?: 'open' | 'closed';
  /** Seconds in-flight requests may take to finish on stop() (default 10). */
  readonly drainSeconds?: number;
  /** Seconds before a request to an IdP (discovery, JWKS) is abandoned (default 30). */
  readonly timeout?: number;
  /** Lifetime of fetched key sets before a background refresh, seconds (default 600). */
  readonly jwksCacheTtl?: number;
  /** Verified tokens kept in memory (default 10000; 0: no cache). */
  readonly tokenCacheSize?: number;
  /** Milliseconds since the epoch, for token times and limit windows (default Date.now). */
  readonly now?: () => number;
  /** Allow plain-http IdP URLs off loopback (as the CLI's --insecure-http). Default false. */
  readonly insecureHttp?: boolean;
}

/** Settings that belong to the flag-like form only. */
interface FlagSettings {
  /** Trust this issuer: keys by discovery, `iss` must match (any of them). */
  readonly issuers?: readonly string[];
  /** Trust the keys of these JWK Sets (any issuer). */
  readonly jwksUris?: readonly string[];
  /** Trust these keys: a JWK, a JWK Set, or PEM / JWK / JWKS text. */
  readonly publicKeys?: ReadonlyArray<PublicJwk | Jwks | string>;
  /** HMAC secret: enables HS256/384/512 (never enabled otherwise). */
  readonly secret?: string | Uint8Array;
  /** Accepted audiences (any of them). Without: `aud` is not checked. */
  readonly audiences?: readonly string[];
  /** Accepted algorithms (default: those of the trusted keys). */
  readonly algorithms?: readonly string[];
  /** Leeway for exp, nbf and iat, seconds (default 30). */
  readonly clockSkew?: number;
  /** Claims that must hold a value: `{ tenant: 't-1' }`. */
  readonly requiredClaims?: Readonly<Record<string, string>>;
  /** Scopes the token must have, else 403. */
  readonly requiredScopes?: readonly string[];
  /** Claims sent upstream as headers: `{ 'X-User': 'sub' }`. */
  readonly forwardClaims?: Readonly<Record<string, string>>;
  /** Do not pass the Authorization header upstream. */
  readonly stripAuthorization?: boolean;
  /** Largest token accepted, bytes (default 8192). */
  readonly maxTokenSize?: number;
  /** 504 when the upstream has not answered by then, seconds (default 30). */
  readonly upstreamTimeout?: number;
  /** Per-identity rate limit, `N/PERIOD`: `100/1m` (sliding window). */
  readonly rateLimit?: string;
  /** Per-identity quota, `N/PERIOD`: `10000/1d`. */
  readonly quota?: string;
  /** What limits count by: `claim:NAME` (default `claim:sub`), `client_id` or `ip`. */
  readonly limitBy?: string;
}

/** Settings that belong to the file form only. */
interface FileSettings {
  /** Gateway configuration files: oidc-gw YAML/JSON, Tyk, Kong or APIM (their format told from their content). */
  readonly file: string | readonly string[];
  /** Force the files' format. */
  readonly format?: GatewayFileFormat;
  /** An APIM policy: its upstream. */
  readonly upstream?: string;
  /** An APIM policy: the path prefix it applies to (default /). */
  readonly path?: string;
  /** An APIM policy: its named values `{{name}}`. */
  readonly namedValues?: Readonly<Record<string, string>>;
  /** Variables for `${NAME}` in the files (default: none; pass `process.env` to use the environment). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Add oidc-gw's own checks (exp required, iss and aud when known) to the emulated gateway's. */
  readonly strict?: boolean;
}

type Never<T> = { readonly [K in keyof T]?: never };

/** The gateway of `serve --file FILE...`. */
export type GatewayFileSource = FileSettings & Never<FlagSettings> & { readonly plan?: never };

/** The gateway on a plan (what every format compiles into: src/gateway/plan.ts). */
export type GatewayPlanSource = { readonly plan: Plan; readonly file?: never } & Never<
  Omit<FileSettings, 'file'>
> &
  Never<FlagSettings>;

/** The gateway of `serve --upstream URL --issuer ...`: one API at `/`. */
export type GatewayFlagSource = FlagSettings & {
  /** Where verified requests go (http:// or https://, optional base path). */
  readonly upstream: string;
  readonly file?: never;
  readonly plan?: never;
} & Never<Omit<FileSettings, 'file' | 'upstream'>>;

/** What the gateway runs: files, a plan, or flag-like settings. */
export type GatewaySource = GatewayFileSource | GatewayPlanSource | GatewayFlagSource;

export type StartGatewayOptions = GatewaySource & GatewayListenOptions;

/** One log line: a request (method ... status) or a note (level, message). */
export interface GatewayLogLine {
  readonly time: string;
  readonly level?: 'info' | 'warn';
  readonly message?: string;
  readonly method?: string;
  readonly path?: string;
  readonly status?: number;
  readonly duration_ms?: number;
  readonly api?: string;
  readonly sub?: string;
  readonly iss?: string;
  /** Why a request was refused (docs/commands/serve.md lists the reasons). */
  readonly reason?: string;
  readonly gateway_reason?: string;
  readonly limit?: string;
  readonly key?: string;
  readonly [field: string]: unknown;
}

export interface Gateway {
  /** http://HOST:PORT */
  readonly url: string;
  readonly port: number;
  /** http://127.0.0.1:PORT of /healthz, /readyz, /metrics; undefined without `adminPort`. */
  readonly adminUrl: string | undefined;
  /** What the running plan's loaders said (fields ignored, checks the emulated gateway skips). */
  readonly warnings: readonly Warning[];
  /**
   * Builds the plan again and swaps it in (in-flight requests finish on the
   * old one): without `next`, from the same source (files re-read, keys
   * fetched again); with `next`, from that source. The listen options are
   * fixed at start. When it throws, the previous plan keeps serving.
   */
  reload(next?: GatewaySource | StartGatewayOptions): Promise<void>;
  /** Drains in-flight requests, closes every connection and the limit store. Safe to call twice. */
  stop(): Promise<void>;
}

const LISTEN_KEYS = [
  'port',
  'host',
  'adminPort',
  'log',
  'redis',
  'redisFailure',
  'drainSeconds',
  'timeout',
  'jwksCacheTtl',
  'tokenCacheSize',
  'now',
  'insecureHttp',
] as const;

const FLAG_KEYS = [
  'issuers',
  'jwksUris',
  'publicKeys',
  'secret',
  'audiences',
  'algorithms',
  'clockSkew',
  'requiredClaims',
  'requiredScopes',
  'forwardClaims',
  'stripAuthorization',
  'maxTokenSize',
  'upstreamTimeout',
  'rateLimit',
  'quota',
  'limitBy',
] as const;

const FILE_KEYS = ['format', 'path', 'namedValues', 'env', 'strict'] as const;

/**
 * The log's terminal style, for the type only: JSON lines are never styled,
 * and the library does not load chalk. Any style called returns the text.
 */
type LogStyle = ConstructorParameters<typeof AccessLogType>[2];
const UNSTYLED: LogStyle = new Proxy(() => {}, {
  get: () => UNSTYLED,
  apply: (_target, _this, args: unknown[]) => args.map(String).join(' '),
}) as unknown as LogStyle;

const usage = (message: string, hint?: string) =>
  new GwError('ERR_USAGE', message, hint ? { hint } : {});

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function given(options: Readonly<Record<string, unknown>>, keys: readonly string[]): string[] {
  return keys.filter((k) => options[k] !== undefined);
}

function seconds(options: Readonly<Record<string, unknown>>, key: string, fallback: number) {
  const v = options[key];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
    throw usage(`${key} takes a number of seconds, not ${JSON.stringify(v)}`);
  return v;
}

function portOf(value: unknown, key: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 65535)
    throw usage(`${key} takes a port number from 0 to 65535, not ${JSON.stringify(value)}`);
  return value;
}

function strings(options: Readonly<Record<string, unknown>>, key: string): string[] {
  const v = options[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))
    throw usage(`${key} takes a list of strings`);
  return v as string[];
}

function httpUrl(text: unknown, key: string, plain: boolean): string {
  if (typeof text !== 'string' || !URL.canParse(text))
    throw usage(
      `${key} ${JSON.stringify(text)} is not a URL`,
      'give a URL such as http://127.0.0.1:3000',
    );
  const u = new URL(text);
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw usage(`${key} must be an http:// or https:// URL, not ${u.protocol}`);
  if (plain && (u.search || u.hash || u.username || u.password))
    throw usage(
      `${key} takes a scheme, host, port and optional base path: no query, fragment or credentials`,
    );
  return u.href;
}

/** The plan of a source: files loaded, a plan taken as is, or flag-like settings checked as `serve` checks its flags. */
async function planOf(source: Readonly<Record<string, unknown>>): Promise<Plan> {
  const { PlanError } = await import('../gateway/plan.js');
  const { configError } = await import('../services/serve.js');
  try {
    if (source['file'] !== undefined) return await planFromFiles(source);
    if (source['plan'] !== undefined) return checkedPlan(source);
    return await planFromSettings(source);
  } catch (error) {
    if (error instanceof PlanError) throw configError(error);
    throw error;
  }
}

async function planFromFiles(source: Readonly<Record<string, unknown>>): Promise<Plan> {
  const mixed = given(source, [...FLAG_KEYS, 'plan']);
  if (mixed.length > 0)
    throw usage(
      `${mixed.join(', ')} cannot be combined with file: the file says who is trusted and how`,
      'put the setting in the file, or give the flag-like options without file',
    );
  const raw = source['file'];
  const files = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? (raw as unknown[]) : [];
  if (files.length === 0 || files.some((f) => typeof f !== 'string' || f === ''))
    throw usage('file takes a file name or a list of file names');
  const format = source['format'];
  if (format !== undefined && !['oidc-gw', 'tyk', 'kong', 'apim'].includes(String(format)))
    throw usage(`format is one of oidc-gw, tyk, kong, apim, not ${JSON.stringify(format)}`);
  const namedValues = source['namedValues'] ?? {};
  if (!isObject(namedValues) || Object.values(namedValues).some((v) => typeof v !== 'string'))
    throw usage('namedValues takes an object of strings');
  const env = source['env'] ?? {};
  if (!isObject(env)) throw usage('env takes an object of strings');
  const { loadPlan } = await import('../gateway/load/index.js');
  return loadPlan({
    files: files as string[],
    format: format as GatewayFileFormat | undefined,
    env: env as Record<string, string | undefined>,
    upstream:
      source['upstream'] === undefined ? undefined : httpUrl(source['upstream'], 'upstream', true),
    path: source['path'] as string | undefined,
    namedValues: namedValues as Record<string, string>,
    strict: source['strict'] === true,
    defaults: { upstreamTimeoutMs: 30_000, maxTokenBytes: 8192 },
  });
}

function checkedPlan(source: Readonly<Record<string, unknown>>): Plan {
  const mixed = given(source, [...FLAG_KEYS, ...FILE_KEYS, 'upstream']);
  if (mixed.length > 0)
    throw usage(`${mixed.join(', ')} cannot be combined with plan: the plan says everything`);
  const plan = source['plan'];
  if (!isObject(plan) || !Array.isArray(plan['apis']) || plan['apis'].length === 0)
    throw new GwError('ERR_CONFIG_INVALID', 'plan: expected a plan with at least one API in apis', {
      hint: 'a plan is what loadPlan and the importers return (src/gateway/plan.ts)',
    });
  const raw = plan as unknown as Partial<Plan> & Pick<Plan, 'apis'>;
  return {
    apis: raw.apis,
    warnings: raw.warnings ?? [],
    notFoundStyle: raw.notFoundStyle ?? { style: 'rfc6750' },
    files: raw.files ?? [],
  };
}

async function planFromSettings(source: Readonly<Record<string, unknown>>): Promise<Plan> {
  const misplaced = given(source, FILE_KEYS);
  if (misplaced.length > 0) throw usage(`${misplaced.join(', ')} goes with file`);
  if (source['upstream'] === undefined)
    throw usage(
      'startGateway needs upstream (with issuers, jwksUris, publicKeys or secret), file or plan',
      "startGateway({ upstream: 'http://127.0.0.1:3000', issuers: [idp.issuer] })",
    );
  const upstream = httpUrl(source['upstream'], 'upstream', true);
  const [{ forwardHeaderProblem }, { SUPPORTED_ALGS, algorithmProblem }, flags] = await Promise.all(
    [
      import('../core/gateway/forward.js'),
      import('../core/gateway/keys.js'),
      import('../gateway/load/from-flags.js'),
    ],
  );

  const issuers = strings(source, 'issuers').map((i) => httpUrl(i, 'issuers', false));
  const jwksUris = strings(source, 'jwksUris').map((u) => httpUrl(u, 'jwksUris', false));
  const rawKeys = source['publicKeys'] ?? [];
  if (!Array.isArray(rawKeys)) throw usage('publicKeys takes a list of keys');
  const publicKeys = (rawKeys as unknown[]).map((k, n) => {
    if (typeof k === 'string') return { text: k, source: `publicKeys[${n}]` };
    if (isObject(k)) return { text: JSON.stringify(k), source: `publicKeys[${n}]` };
    throw usage(`publicKeys[${n}] is not a JWK, a JWK Set or PEM text`);
  });
  let secret: Uint8Array | undefined;
  const rawSecret = source['secret'];
  if (rawSecret !== undefined) {
    secret =
      typeof rawSecret === 'string'
        ? new TextEncoder().encode(rawSecret)
        : rawSecret instanceof Uint8Array
          ? rawSecret
          : undefined;
    if (!secret || secret.length === 0) throw usage('secret is empty or not a string');
  }
  if (issuers.length + jwksUris.length + publicKeys.length === 0 && !secret)
    throw new GwError('ERR_SERVE_NO_TRUST', 'nothing to verify tokens with', {
      hint: 'give issuers (keys by discovery), jwksUris, publicKeys or secret',
    });

  let algorithms: string[] | undefined;
  if (source['algorithms'] !== undefined) {
    algorithms = strings(source, 'algorithms');
    if (algorithms.length === 0) throw usage('algorithms is empty');
    for (const alg of algorithms) {
      const problem = algorithmProblem(alg, secret !== undefined);
      if (problem === 'none') throw usage('algorithms: "none" can never be enabled');
      if (problem === 'unknown')
        throw usage(
          `algorithms: unknown algorithm "${alg}"`,
          `use some of ${[...SUPPORTED_ALGS].join(', ')}`,
        );
      if (problem === 'needs_secret') throw usage(`algorithms names ${alg}, but HMAC needs secret`);
    }
  }

  const record = (key: string): Array<[string, string]> => {
    const v = source[key] ?? {};
    if (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string'))
      throw usage(`${key} takes an object of strings`);
    return Object.entries(v as Record<string, string>);
  };
  const requireClaims = record('requiredClaims').map(([name, value]) => ({ name, value }));
  const forwardClaims = record('forwardClaims').map(([header, claim]) => {
    const problem = forwardHeaderProblem(header);
    if (problem === 'name') throw usage(`forwardClaims: "${header}" is not a valid header name`);
    if (!claim) throw usage(`forwardClaims.${header} needs a claim name`);
    if (problem === 'reserved') throw usage(`forwardClaims cannot set the ${header} header`);
    return { header, claim };
  });
  const normalized = forwardClaims.map((f) => f.header.toLowerCase().replaceAll('_', '-'));
  if (new Set(normalized).size !== normalized.length)
    throw usage('forwardClaims names the same header twice');

  const limit = (key: string): FlagLimit | undefined => {
    const text = source[key];
    if (text === undefined) return undefined;
    const parsed = typeof text === 'string' ? flags.parseLimit(text) : undefined;
    if (!parsed)
      throw usage(`${key} takes N/PERIOD such as 100/1m or 10000/1d, not ${JSON.stringify(text)}`);
    return parsed;
  };
  let limitBy: LimitKey | undefined;
  if (source['limitBy'] !== undefined) {
    limitBy =
      typeof source['limitBy'] === 'string' ? flags.parseLimitBy(source['limitBy']) : undefined;
    if (!limitBy)
      throw usage(
        `limitBy takes claim:NAME, client_id or ip, not ${JSON.stringify(source['limitBy'])}`,
      );
  }
  const maxTokenSize = source['maxTokenSize'] ?? 8192;
  if (typeof maxTokenSize !== 'number' || !Number.isInteger(maxTokenSize) || maxTokenSize < 1)
    throw usage('maxTokenSize takes a positive whole number of bytes');
  const upstreamTimeout = seconds(source, 'upstreamTimeout', 30);
  if (upstreamTimeout === 0) throw usage('upstreamTimeout takes a positive number of seconds');

  return flags.planFromFlags({
    upstream,
    issuers,
    jwksUris,
    publicKeys,
    secret,
    audiences: strings(source, 'audiences'),
    algorithms,
    clockSkew: seconds(source, 'clockSkew', 30),
    requireClaims,
    requireScopes: strings(source, 'requiredScopes').flatMap((s) =>
      s.split(/[\s,]+/).filter(Boolean),
    ),
    maxTokenSize,
    forwardClaims,
    stripAuthorization: source['stripAuthorization'] === true,
    upstreamTimeoutMs: upstreamTimeout * 1000,
    rateLimit: limit('rateLimit'),
    quota: limit('quota'),
    limitBy,
  });
}

/** Starts the gateway of `oidc-gw serve` in this process (port 0 unless told). */
export async function startGateway(options: StartGatewayOptions): Promise<Gateway> {
  if (!isObject(options)) throw usage('startGateway takes an options object');
  const opts = options as unknown as Readonly<Record<string, unknown>>;
  const host = opts['host'] === undefined ? '127.0.0.1' : String(opts['host']);
  const port = opts['port'] === undefined ? 0 : portOf(opts['port'], 'port');
  const adminPort =
    opts['adminPort'] === undefined ? undefined : portOf(opts['adminPort'], 'adminPort');
  const sink = opts['log'];
  if (sink !== undefined && typeof sink !== 'function') throw usage('log takes a function');
  const redisFailure = opts['redisFailure'] ?? 'open';
  if (redisFailure !== 'open' && redisFailure !== 'closed')
    throw usage('redisFailure is open or closed');
  const timeout = seconds(opts, 'timeout', 30);
  const jwksCacheTtl = seconds(opts, 'jwksCacheTtl', 600);
  const drainSeconds = seconds(opts, 'drainSeconds', 10);
  const tokenCacheSize = opts['tokenCacheSize'] ?? 10_000;
  if (typeof tokenCacheSize !== 'number' || !Number.isInteger(tokenCacheSize) || tokenCacheSize < 0)
    throw usage('tokenCacheSize takes a whole number');
  const now = (opts['now'] as (() => number) | undefined) ?? Date.now;
  if (typeof now !== 'function') throw usage('now takes a function');

  let plan = await planOf(opts);

  const [serve, explain, { AccessLog }, { GatewayMetrics }, { EnvHttpProxyAgent }, client] =
    await Promise.all([
      import('../services/serve.js'),
      import('../gateway/explain.js'),
      import('../http/gateway/access-log.js'),
      import('../http/gateway/metrics.js'),
      import('undici'),
      import('../http/client.js'),
    ]);

  // Log lines to the caller's sink, one object each; without a sink, nowhere.
  const deliver = sink as ((line: GatewayLogLine) => void) | undefined;
  const log = new AccessLog(
    (text) => {
      if (!deliver) return;
      for (const line of text.split('\n')) {
        if (line === '') continue;
        try {
          deliver(JSON.parse(line) as GatewayLogLine);
        } catch {
          // A throwing sink must not break the gateway.
        }
      }
    },
    'json',
    UNSTYLED,
    now,
  );
  const warn = (message: string) => log.note(message, 'warn');
  const note = (message: string) => log.note(message);

  const redis = opts['redis'];
  if (redis !== undefined && typeof redis !== 'string') throw usage('redis takes a URL');

  // Our own connections to IdPs, closed on stop() (proxies from the environment, as `serve`).
  const agent = new EnvHttpProxyAgent({ proxyTunnel: false } as ConstructorParameters<
    typeof EnvHttpProxyAgent
  >[0]);
  const fetch = client.createHttpClient({ timeoutSeconds: timeout, dispatcher: agent });
  const metrics = new GatewayMetrics();

  let store: LimitStore | undefined;
  if (redis !== undefined) {
    const [{ connectRedisStore }, { isLimitStoreUnavailable }] = await Promise.all([
      import('../gateway/limits/redis-store.js'),
      import('../gateway/limits/errors.js'),
    ]);
    try {
      store = await connectRedisStore({
        url: redis,
        onHealthChange: (healthy) => {
          metrics.limitStoreUp = healthy;
          if (healthy) note('limit store (Redis) is back: counting resumes');
          else
            warn(
              `limit store (Redis) lost: requests are ${redisFailure === 'open' ? 'let through uncounted' : 'refused with 503'} until it returns (redisFailure ${redisFailure})`,
            );
        },
      });
    } catch (error) {
      await agent.destroy().catch(() => {});
      if (isLimitStoreUnavailable(error)) {
        throw new GwError(
          error.reason === 'invalid_url' ? 'ERR_USAGE' : 'ERR_LIMIT_STORE',
          `redis: ${error.message}`,
          { hint: 'start Redis, or check the URL (redis://HOST:PORT, rediss://..., unix:///path)' },
        );
      }
      throw error;
    }
    metrics.limitStoreUp = true;
  }

  let service: GatewayService;
  try {
    service = await serve.startGatewayService({
      plan,
      host,
      port,
      adminPort,
      log,
      metrics,
      fetch,
      timeoutSeconds: timeout,
      insecureHttp: opts['insecureHttp'] === true,
      jwksMaxAgeMs: jwksCacheTtl * 1000,
      jwksCooldownMs: 30_000,
      tokenCacheSize,
      now,
      drainMs: drainSeconds * 1000,
      store,
      redisFailure,
    });
  } catch (error) {
    await store?.close().catch(() => {});
    await agent.destroy().catch(() => {});
    log.flush();
    throw await asGwError(error);
  }
  for (const w of plan.warnings) warn(explain.warningText(w));
  for (const n of service.current().notes) warn(n);
  if (!isLoopbackHost(host))
    warn(`listening on ${host}: the gateway is reachable from other machines`);
  note(
    `listening on ${service.server.url}${service.server.adminUrl ? ` (admin: ${service.server.adminUrl}/metrics)` : ''}`,
  );

  let source: Readonly<Record<string, unknown>> = opts;
  let reloading: Promise<void> = Promise.resolve();
  let stopped: Promise<void> | undefined;

  const reloadOnce = async (next: unknown): Promise<void> => {
    if (stopped) throw usage('the gateway is stopped');
    let nextSource = source;
    if (next !== undefined) {
      if (!isObject(next)) throw usage('reload takes an options object, or nothing');
      const changed = LISTEN_KEYS.filter((k) => next[k] !== undefined && next[k] !== opts[k]);
      if (changed.length > 0)
        throw usage(
          `reload cannot change ${changed.join(', ')}: they are fixed at start`,
          'stop() this gateway and start another',
        );
      nextSource = next;
    }
    try {
      const nextPlan = await planOf(nextSource);
      const compiled = await service.reload(nextPlan);
      plan = nextPlan;
      source = nextSource;
      metrics.reload('ok');
      for (const w of nextPlan.warnings) warn(explain.warningText(w));
      for (const n of compiled.notes) warn(n);
      note(`reloaded: ${nextPlan.apis.length} API${nextPlan.apis.length === 1 ? '' : 's'}`);
    } catch (error) {
      metrics.reload('error');
      throw await asGwError(error);
    } finally {
      log.flush();
    }
  };

  return {
    url: service.server.url,
    port: service.server.port,
    adminUrl: service.server.adminUrl,
    get warnings() {
      return plan.warnings;
    },
    reload(next) {
      const run = reloading.then(() => reloadOnce(next));
      reloading = run.catch(() => {});
      return run;
    },
    stop() {
      stopped ??= (async () => {
        await reloading;
        await service.stop();
        await agent.destroy().catch(() => {});
        log.flush();
      })();
      return stopped;
    },
  };
}

/** A PlanError from compiling the plan as the CLI reports it; GwErrors as they are. */
async function asGwError(error: unknown): Promise<unknown> {
  if (isGwError(error)) return error;
  const { PlanError } = await import('../gateway/plan.js');
  if (error instanceof PlanError) return (await import('../services/serve.js')).configError(error);
  return error;
}
