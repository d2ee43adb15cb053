/**
 * `serve`'s run step (docs/commands/serve.md): the plan from flags or
 * files, its keys fetched, the limit store (memory or Redis), the gateway
 * started, reload on SIGHUP and on a change to a `--file`, and the drain on
 * SIGINT/SIGTERM. `serve --check` stops after the plan, with no port
 * opened. The test harness starts the gateway through `startGatewayService`
 * too, so tests run the same wiring as the CLI.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import type { Pool } from 'undici';
import type { Context } from '../context.js';
import { GwError, isGwError } from '../core/errors/index.js';
import type { FetchLike } from '../core/issuer.js';
import { isLoopbackHost } from '../core/loopback.js';
import type { CompiledPlan } from '../gateway/http/compile.js';
import type { LimitRunner } from '../gateway/http/exchange.js';
import type { GatewayServer } from '../gateway/http/server.js';
import type { LimitStore } from '../gateway/limits/types.js';
import {
  hasLimits,
  PlanError,
  type Plan,
  type PublicKeyFile,
  type SourceFormat,
  type LimitKey,
} from '../gateway/plan.js';
import type { FlagLimit } from '../gateway/load/from-flags.js';
import { AccessLog } from '../http/gateway/access-log.js';
import { GatewayMetrics } from '../http/gateway/metrics.js';

/** `serve` after its flags are checked. */
export interface ServeOptions {
  readonly upstream: URL | undefined;
  readonly host: string;
  readonly port: number;
  readonly adminPort: number | undefined;
  readonly issuers: readonly string[];
  readonly jwksUris: readonly string[];
  readonly publicKeys: readonly string[];
  readonly secret: string | undefined;
  readonly secretFile: string | undefined;
  readonly audiences: readonly string[];
  readonly algs: readonly string[] | undefined;
  readonly clockSkew: number;
  readonly requireClaims: ReadonlyArray<{ name: string; value: string }>;
  readonly requireScopes: readonly string[];
  readonly maxTokenSize: number;
  readonly forwardClaims: ReadonlyArray<{ header: string; claim: string }>;
  readonly stripAuthorization: boolean;
  readonly upstreamTimeout: number;
  readonly logFormat: 'json' | 'pretty' | undefined;
  readonly tokenCacheSize: number;
  readonly jwksCacheTtl: number;
  // Plans and limits (docs/gateway-config.md, docs/limits.md).
  readonly files: readonly string[];
  readonly format: SourceFormat | undefined;
  readonly path: string | undefined;
  readonly namedValues: Readonly<Record<string, string>>;
  readonly strict: boolean;
  readonly check: boolean;
  readonly rateLimit: FlagLimit | undefined;
  readonly quota: FlagLimit | undefined;
  readonly limitBy: LimitKey | undefined;
  readonly redis: string | undefined;
  readonly redisFailure: 'open' | 'closed';
  /** Flags given on the command line that describe a flag API (a conflict with --file). */
  readonly trustFlagsGiven: readonly string[];
  /** `--workers N`: processes sharing the port (services/workers.ts); 1 when absent. */
  readonly workers?: number;
}

/** A PlanError as the CLI reports it (exit 2, `FILE: PATH: what is wrong`). */
export function configError(error: PlanError): GwError {
  return new GwError('ERR_CONFIG_INVALID', error.message, {
    hint: 'docs/gateway-config.md and docs/gateways/ describe each format',
  });
}

async function readText(file: string, flag: string): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new GwError(
      'ERR_INPUT_INVALID',
      `${flag} ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(error)}`,
    );
  }
}

/**
 * The plan: from `--file` (any format), or from the flags (one API at `/`,
 * issuer and audience falling back to the environment and the profile).
 * `note` receives lines for the operator.
 */
export async function buildPlan(
  ctx: Context,
  options: ServeOptions,
  note: (line: string) => void,
): Promise<Plan> {
  if (options.files.length > 0) {
    if (options.trustFlagsGiven.length > 0) {
      throw new GwError(
        'ERR_USAGE',
        `${options.trustFlagsGiven.join(', ')} cannot be combined with --file: the file says who is trusted and how`,
        { hint: 'put the setting in the file, or run without --file' },
      );
    }
    const { loadPlan } = await import('../gateway/load/index.js');
    try {
      return await loadPlan({
        files: options.files,
        format: options.format,
        env: ctx.env,
        upstream: options.upstream?.href,
        path: options.path,
        namedValues: options.namedValues,
        strict: options.strict,
        defaults: {
          upstreamTimeoutMs: options.upstreamTimeout * 1000,
          maxTokenBytes: options.maxTokenSize,
        },
      });
    } catch (error) {
      if (error instanceof PlanError) throw configError(error);
      throw error;
    }
  }
  if (!options.upstream) {
    throw new GwError('ERR_USAGE', 'serve needs --upstream URL (or --file FILE)', {
      hint: 'oidc-gw serve --upstream http://127.0.0.1:3000 --issuer URL, or oidc-gw serve --file gateway.yaml',
    });
  }
  // Settings that may also come from the environment or the profile (docs/configuration.md).
  let issuers = options.issuers;
  let audiences = options.audiences;
  const noTrust = () =>
    issuers.length === 0 &&
    options.jwksUris.length === 0 &&
    options.publicKeys.length === 0 &&
    options.secret === undefined &&
    options.secretFile === undefined;
  if (noTrust() || audiences.length === 0) {
    const { resolveSettings } = await import('../config/resolve.js');
    const settings = await resolveSettings({ opts: {}, env: ctx.env, globals: ctx.globals });
    const from = (name: 'issuer' | 'audience') =>
      settings.sources[name] === 'env'
        ? name === 'issuer'
          ? 'OIDC_GW_ISSUER'
          : 'OIDC_GW_AUDIENCE'
        : `profile "${settings.profile}"`;
    if (noTrust() && settings.issuer) {
      issuers = [settings.issuer];
      note(`issuer ${settings.issuer} (from ${from('issuer')})`);
    }
    if (audiences.length === 0 && settings.audience) {
      audiences = [settings.audience];
      note(`audience ${settings.audience} (from ${from('audience')})`);
    }
  }
  if (noTrust()) {
    throw new GwError('ERR_SERVE_NO_TRUST', 'nothing to verify tokens with', {
      hint: 'give --issuer URL (keys by discovery), --jwks-uri URL, --public-key FILE or --secret',
    });
  }
  const publicKeys: PublicKeyFile[] = await Promise.all(
    options.publicKeys.map(async (file) => ({
      text: await readText(file, '--public-key'),
      source: file,
    })),
  );
  let secret: Uint8Array | undefined;
  if (options.secret !== undefined) secret = new TextEncoder().encode(options.secret);
  if (options.secretFile !== undefined) {
    const text = (await readText(options.secretFile, '--secret-file')).replace(/\r?\n$/, '');
    if (text === '')
      throw new GwError('ERR_INPUT_INVALID', `--secret-file ${options.secretFile} is empty`);
    secret = new TextEncoder().encode(text);
  }
  const { planFromFlags } = await import('../gateway/load/from-flags.js');
  return planFromFlags({
    upstream: options.upstream.href,
    issuers,
    jwksUris: options.jwksUris,
    publicKeys,
    secret,
    audiences,
    algorithms: options.algs,
    clockSkew: options.clockSkew,
    requireClaims: options.requireClaims,
    requireScopes: options.requireScopes,
    maxTokenSize: options.maxTokenSize,
    forwardClaims: options.forwardClaims,
    stripAuthorization: options.stripAuthorization,
    upstreamTimeoutMs: options.upstreamTimeout * 1000,
    rateLimit: options.rateLimit,
    quota: options.quota,
    limitBy: options.limitBy,
  });
}

export interface GatewayServiceOptions {
  readonly plan: Plan;
  readonly host: string;
  readonly port: number;
  readonly adminPort?: number | undefined;
  readonly log: AccessLog;
  readonly metrics?: GatewayMetrics;
  readonly fetch: FetchLike;
  readonly timeoutSeconds: number;
  readonly insecureHttp: boolean;
  readonly jwksMaxAgeMs: number;
  /** Minimum time between two fetches of one JWKS (injectable: tests need not wait 30 s). */
  readonly jwksCooldownMs: number;
  readonly tokenCacheSize: number;
  readonly now: () => number;
  readonly drainMs?: number;
  /** The limit store; a memory store is made when the plan has limits and none is given. */
  readonly store?: LimitStore | undefined;
  readonly redisFailure?: 'open' | 'closed';
  readonly refreshIntervalMs?: number;
}

export interface GatewayService {
  readonly server: GatewayServer;
  readonly metrics: GatewayMetrics;
  readonly store: LimitStore | undefined;
  current(): CompiledPlan;
  /** Compiles `plan` and swaps it in; throws (the old plan keeps serving) when it cannot. */
  reload(plan: Plan): Promise<CompiledPlan>;
  /** Drains and closes everything, the store included. */
  stop(): Promise<{ drained: boolean }>;
}

/** Starts the gateway on a plan (what `serve` and the tests run). */
export async function startGatewayService(options: GatewayServiceOptions): Promise<GatewayService> {
  // Loaded here, not with this module: `serve` caps V8's young generation
  // first (gateway-memory.ts), and loading undici and jose in one
  // synchronous burst before the cap grows it past 4 MiB.
  const [{ compilePlan }, { startGatewayServer }] = await Promise.all([
    import('../gateway/http/compile.js'),
    import('../gateway/http/server.js'),
  ]);
  const metrics = options.metrics ?? new GatewayMetrics();
  const pools = new Map<string, Pool>();
  const compileDeps = {
    fetch: options.fetch,
    timeoutSeconds: options.timeoutSeconds,
    insecureHttp: options.insecureHttp,
    jwksMaxAgeMs: options.jwksMaxAgeMs,
    jwksCooldownMs: options.jwksCooldownMs,
    now: options.now,
    log: (line: string) => options.log.note(line),
    onJwksFetch: (uri: string, result: 'ok' | 'error') => metrics.jwksFetch(uri, result),
    tokenCacheSize: options.tokenCacheSize,
    pools,
  };
  const compiled = await compilePlan(options.plan, compileDeps);
  let store = options.store;
  if (!store) {
    // Also without limits now: a reload may bring some, and the store must be there for them.
    const { MemoryStore } = await import('../gateway/limits/memory-store.js');
    store = new MemoryStore();
  }
  const limits: LimitRunner | undefined = store
    ? { store, failure: options.redisFailure ?? 'open' }
    : undefined;
  let server: GatewayServer;
  try {
    server = await startGatewayServer({
      host: options.host,
      port: options.port,
      adminPort: options.adminPort,
      compiled,
      pools,
      log: options.log,
      metrics,
      limits,
      now: options.now,
      ...(options.drainMs !== undefined ? { drainMs: options.drainMs } : {}),
      ...(options.refreshIntervalMs !== undefined
        ? { refreshIntervalMs: options.refreshIntervalMs }
        : {}),
    });
  } catch (error) {
    await Promise.all([...pools.values()].map((p) => p.destroy().catch(() => {})));
    throw error;
  }
  return {
    server,
    metrics,
    store,
    current: () => server.current(),
    async reload(plan) {
      const next = await compilePlan(plan, compileDeps);
      server.swap(next);
      return next;
    },
    async stop() {
      const result = await server.shutdown();
      await store?.close().catch(() => {});
      return result;
    },
  };
}

/**
 * Watches the files of a plan: `onChange` once per burst of changes
 * (debounced), also when an editor replaces a file by renaming a new one
 * over it (the folder is watched, not the inode).
 */
export function watchFiles(
  files: readonly string[],
  onChange: () => void,
  debounceMs = 200,
): () => void {
  const watchers: FSWatcher[] = [];
  let timer: NodeJS.Timeout | undefined;
  const fire = () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, debounceMs);
  };
  const byDir = new Map<string, Set<string>>();
  for (const f of files) {
    const abs = resolve(f);
    const dir = dirname(abs);
    if (!byDir.has(dir)) byDir.set(dir, new Set());
    byDir.get(dir)?.add(basename(abs));
  }
  for (const [dir, names] of byDir) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        if (name === null || names.has(String(name))) fire();
      });
      w.on('error', () => {});
      watchers.push(w);
    } catch {
      // A folder that cannot be watched: SIGHUP still reloads.
    }
  }
  return () => {
    clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}

/**
 * What a start refuses before listening, whatever the plan's files say, so
 * that `--check` refuses it too (exit 2): limits shared by several workers
 * without Redis, and a `--redis` that is not a Redis URL (not connected to
 * here: `--check` opens no connection).
 */
export async function startProblems(plan: Plan, options: ServeOptions): Promise<void> {
  const count = options.workers ?? 1;
  if (count > 1 && hasLimits(plan) && options.redis === undefined) {
    throw new GwError(
      'ERR_USAGE',
      `--workers ${count} with rate limits or quotas needs --redis: each worker would keep its own counters, letting through up to ${count} times the limit`,
      {
        hint: 'give --redis redis://HOST:PORT (or OIDC_GW_REDIS_URL), or run one worker (--workers 1)',
      },
    );
  }
  if (options.redis !== undefined) {
    const { normalizeRedisUrl } = await import('../gateway/limits/redis-store.js');
    const { isLimitStoreUnavailable } = await import('../gateway/limits/errors.js');
    try {
      normalizeRedisUrl(options.redis);
    } catch (error) {
      if (!isLimitStoreUnavailable(error)) throw error;
      throw new GwError('ERR_USAGE', `--redis: ${error.message}`, {
        hint: 'check the URL (redis://HOST:PORT, rediss://..., unix:///path/to/socket)',
      });
    }
  }
}

/** `serve --check`: the effective plan in words (or JSON), exit 0; invalid: exit 2. No port is opened. */
export async function checkServe(ctx: Context, options: ServeOptions): Promise<number> {
  const notes: string[] = [];
  const plan = await buildPlan(ctx, options, (line) => notes.push(line));
  await startProblems(plan, options);
  const { describePlan, planJson } = await import('../gateway/explain.js');
  if (ctx.out.json) {
    ctx.out.printJson(planJson(plan));
    return 0;
  }
  for (const n of notes) ctx.out.info(n);
  ctx.out.data(`${describePlan(plan).join('\n')}\n`);
  return 0;
}

/** Builds the plan, starts the gateway, reloads on SIGHUP and file changes, drains on SIGINT/SIGTERM. */
export async function runServe(ctx: Context, options: ServeOptions): Promise<number> {
  if (options.check) return checkServe(ctx, options);
  // First, before the load starts: memory stays flat (services/gateway-memory.ts).
  const { capYoungGeneration, nodeHeapControl, tightenOldGeneration } =
    await import('./gateway-memory.js');
  const heap = await nodeHeapControl();
  tightenOldGeneration(process.execArgv, ctx.env['NODE_OPTIONS'], heap.setFlags);
  const youngGeneration = capYoungGeneration(process.execArgv, ctx.env['NODE_OPTIONS'], heap);
  try {
    if ((options.workers ?? 1) > 1) {
      const { runWorkers } = await import('./workers.js');
      return await runWorkers(ctx, options, (o, onStarted) => runGateway(ctx, o, onStarted));
    }
    return await runGateway(ctx, options);
  } finally {
    youngGeneration.stop();
  }
}

async function runGateway(
  ctx: Context,
  options: ServeOptions,
  onStarted?: (service: GatewayService, failure: 'open' | 'closed') => void,
): Promise<number> {
  const { createHttpClient } = await import('../http/client.js');
  const stderr = ctx.io.stderr;
  const format = options.logFormat ?? (stderr.isTTY ? 'pretty' : 'json');
  const log = new AccessLog((text) => stderr.write(text), format, ctx.out.style, ctx.now);
  const note = (message: string) => log.note(message);
  const warn = (message: string) => log.note(message, 'warn');

  const plan = await buildPlan(ctx, options, note).finally(() => log.flush());
  const { describeApi, warningText } = await import('../gateway/explain.js');
  for (const w of plan.warnings) warn(warningText(w));

  const metrics = new GatewayMetrics();
  const fetch = createHttpClient({
    timeoutSeconds: ctx.globals.timeout,
    ...(ctx.globals.verbose ? { log: (line: string) => log.note(line) } : {}),
  });

  let store: LimitStore | undefined;
  if (options.redis !== undefined) {
    const { connectRedisStore } = await import('../gateway/limits/redis-store.js');
    const { isLimitStoreUnavailable } = await import('../gateway/limits/errors.js');
    try {
      store = await connectRedisStore({
        url: options.redis,
        onHealthChange: (healthy) => {
          metrics.limitStoreUp = healthy;
          if (healthy) note('limit store (Redis) is back: counting resumes');
          else
            warn(
              `limit store (Redis) lost: requests are ${options.redisFailure === 'open' ? 'let through uncounted' : 'refused with 503'} until it returns (--redis-failure ${options.redisFailure})`,
            );
        },
      });
    } catch (error) {
      if (isLimitStoreUnavailable(error)) {
        throw new GwError(
          error.reason === 'invalid_url' ? 'ERR_USAGE' : 'ERR_LIMIT_STORE',
          `--redis: ${error.message}`,
          {
            hint: 'start Redis, or check the URL (redis://HOST:PORT, rediss://..., unix:///path/to/socket)',
          },
        );
      }
      throw error;
    }
    metrics.limitStoreUp = true;
  }

  let service: GatewayService;
  try {
    service = await startGatewayService({
      plan,
      host: options.host,
      port: options.port,
      adminPort: options.adminPort,
      log,
      metrics,
      fetch,
      timeoutSeconds: ctx.globals.timeout,
      insecureHttp: ctx.globals.insecureHttp,
      jwksMaxAgeMs: options.jwksCacheTtl * 1000,
      jwksCooldownMs: 30_000,
      tokenCacheSize: options.tokenCacheSize,
      now: ctx.now,
      store,
      redisFailure: options.redisFailure,
    });
  } catch (error) {
    await store?.close().catch(() => {});
    log.flush();
    if (error instanceof PlanError) throw configError(error);
    throw error;
  }
  const compiled = service.current();
  for (const n of compiled.notes) warn(n);
  for (const api of compiled.apis) {
    for (const i of api.verifier.options.trust.issuers)
      note(
        `${api.plan.name}: trusting issuer ${i.issuer}: ${i.keys.describe()} from ${i.keys.uri}`,
      );
    for (const s of api.verifier.options.trust.jwksSets)
      note(`${api.plan.name}: trusting JWKS ${s.uri}: ${s.describe()}`);
    for (const k of api.verifier.options.trust.staticKeys)
      note(`${api.plan.name}: trusting ${k.label}`);
  }
  if (options.files.length === 0) {
    const api = compiled.apis[0];
    const verifier = api?.verifier;
    if (verifier) {
      const allowed = verifier.allowedAlgorithms();
      const unusable = (options.algs ?? []).filter((a) => !allowed.has(a));
      if (unusable.length)
        warn(
          `--algs ${unusable.join(', ')}: no trusted key can verify ${unusable.length === 1 ? 'it' : 'them'}`,
        );
      if (verifier.issuers.length === 0) warn("no --issuer: the token's iss is not checked");
      if (verifier.checks.audiences.length === 0)
        warn(
          'no --audience: the audience (aud) of tokens is not checked; any token from the trusted issuers passes',
        );
      else note(`audience ${verifier.checks.audiences.join(' or ')}`);
    }
  } else {
    for (const api of plan.apis) for (const line of describeApi(api)) note(line);
  }
  if (!isLoopbackHost(options.host)) {
    warn(`listening on ${options.host}: the gateway is reachable from other machines`);
  }
  const gateway = service.server;

  // Reload: SIGHUP, and a change to any --file.
  let reloading: Promise<void> | undefined;
  let again = false;
  const reload = (why: string) => {
    if (reloading) {
      again = true;
      return;
    }
    reloading = (async () => {
      try {
        const next = await buildPlan(ctx, options, note);
        await startProblems(next, options);
        const compiledNext = await service.reload(next);
        metrics.reload('ok');
        for (const w of next.warnings) warn(warningText(w));
        for (const n of compiledNext.notes) warn(n);
        note(`reloaded (${why}): ${next.apis.length} API${next.apis.length === 1 ? '' : 's'}`);
      } catch (error) {
        metrics.reload('error');
        warn(
          `reload (${why}) failed, the previous configuration keeps serving: ${isGwError(error) || error instanceof Error ? error.message : String(error)}`,
        );
      } finally {
        reloading = undefined;
        log.flush();
        if (again) {
          again = false;
          reload('change during reload');
        }
      }
    })();
  };
  const offReload = options.files.length > 0 ? ctx.onReload?.(() => reload('SIGHUP')) : undefined;
  const unwatch =
    options.files.length > 0 ? watchFiles(options.files, () => reload('file changed')) : undefined;

  let signals = 0;
  const stopped = new Promise<void>((resolveStop) => {
    const off = ctx.onShutdown((signal) => {
      signals++;
      if (signals === 1) {
        note(`${signal}: stopping; letting in-flight requests finish (up to 10 s)`);
        unwatch?.();
        offReload?.();
        void service.stop().then(({ drained }) => {
          note(drained ? 'stopped' : 'stopped (in-flight requests cut off after 10 s)');
          log.flush();
          off();
          resolveStop();
        });
      } else {
        gateway.abortDrain();
      }
    });
  });

  if (ctx.out.json) {
    const first = compiled.apis[0];
    ctx.out.printJson({
      url: gateway.url,
      admin_url: gateway.adminUrl ?? null,
      upstream: first?.plan.upstream.url ?? null,
      issuers: first?.verifier.issuers ?? [],
      audiences: first?.verifier.checks.audiences ?? [],
      algorithms: first ? [...first.verifier.allowedAlgorithms()].sort() : [],
      apis: compiled.apis.map((a) => ({
        name: a.plan.name,
        path: a.plan.match.path,
        upstream: a.plan.upstream.url,
      })),
    });
  }
  if (options.files.length === 0) note(`upstream ${compiled.apis[0]?.plan.upstream.url ?? ''}`);
  note(
    `listening on ${gateway.url}${gateway.adminUrl ? ` (admin: ${gateway.adminUrl}/metrics)` : ''}`,
  );
  log.flush();
  onStarted?.(service, options.redisFailure);
  await stopped;
  return 0;
}
