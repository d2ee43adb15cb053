import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Context } from '../context.js';
import {
  addCommonOptions,
  collect,
  nonNegativeInteger,
  positiveNumber,
  type CommandHost,
} from './host.js';

/** `serve` after its flags are checked (ARCHITECTURE.md: a parse step, then a run step). */
export interface ServeOptions {
  readonly upstream: URL;
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
}

function port(flag: string): (value: string) => number {
  const parse = nonNegativeInteger(flag);
  return (value: string) => {
    const n = parse(value);
    if (n > 65535)
      throw new InvalidArgumentError(`${flag} takes a port number up to 65535, not "${value}"`);
    return n;
  };
}

function positiveInteger(flag: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0)
      throw new InvalidArgumentError(`${flag} takes a positive whole number, not "${value}"`);
    return n;
  };
}

function seconds(flag: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isFinite(n) || n < 0)
      throw new InvalidArgumentError(`${flag} takes a number of seconds, not "${value}"`);
    return n;
  };
}

export function register(program: Command, host: CommandHost): void {
  const cmd = program
    .command('serve')
    .alias('proxy')
    .description('run a local verifying gateway in front of an upstream (alias: proxy)')
    .requiredOption('--upstream <url>', 'where verified requests go, e.g. http://127.0.0.1:3000')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .addOption(
      new Option('--port <n>', 'port to listen on (0: any free port)')
        .default(8080)
        .argParser(port('--port')),
    )
    .option(
      '--issuer <url>',
      'trust this issuer: keys by discovery, `iss` must match (repeatable; env OIDC_GW_ISSUER)',
      collect,
      [],
    )
    .option('--jwks-uri <url>', 'trust the keys of this JWK Set (repeatable)', collect, [])
    .option(
      '--public-key <file>',
      'trust this key: PEM, certificate, JWK or JWKS file (repeatable)',
      collect,
      [],
    )
    .option('--secret <secret>', 'HMAC secret: enables HS256/384/512 (never enabled otherwise)')
    .option('--secret-file <file>', 'like --secret, read from a file (keeps it out of `ps`)')
    .option(
      '--audience <aud>',
      'accepted audience, any-of (repeatable; env OIDC_GW_AUDIENCE)',
      collect,
      [],
    )
    .option(
      '--algs <list>',
      'accepted algorithms, comma separated (default: those of the trusted keys)',
    )
    .addOption(
      new Option('--clock-skew <seconds>', 'leeway for exp, nbf and iat')
        .default(30)
        .argParser(seconds('--clock-skew')),
    )
    .option(
      '--require-claim <name=value>',
      'a claim that must hold this value (repeatable)',
      collect,
      [],
    )
    .option(
      '--require-scope <scope>',
      'a scope the token must have, else 403 (repeatable)',
      collect,
      [],
    )
    .addOption(
      new Option('--max-token-size <bytes>', 'largest token accepted')
        .default(8192)
        .argParser(positiveInteger('--max-token-size')),
    )
    .option(
      '--forward-claim <header=claim>',
      'send a claim upstream as a header (repeatable)',
      collect,
      [],
    )
    .option('--strip-authorization', 'do not pass the Authorization header upstream')
    .addOption(
      new Option('--upstream-timeout <seconds>', '504 when the upstream has not answered by then')
        .default(30)
        .argParser(positiveNumber('--upstream-timeout')),
    )
    .addOption(
      new Option('--admin-port <n>', 'serve /healthz, /readyz, /metrics on 127.0.0.1:N').argParser(
        port('--admin-port'),
      ),
    )
    .addOption(
      new Option(
        '--log-format <format>',
        'request log on stderr (default: pretty on a terminal, json otherwise)',
      ).choices(['pretty', 'json']),
    )
    .addOption(
      new Option('--token-cache-size <n>', 'verified tokens kept in memory (0: no cache)')
        .default(10000)
        .argParser(nonNegativeInteger('--token-cache-size')),
    )
    .addOption(
      new Option(
        '--jwks-cache-ttl <seconds>',
        'lifetime of fetched key sets before a background refresh',
      )
        .default(600)
        .argParser(positiveNumber('--jwks-cache-ttl')),
    );
  addCommonOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  oidc-gw serve --upstream http://127.0.0.1:3000 --issuer https://TENANT.auth0.com/ --audience https://api.example.com/
  oidc-gw serve --upstream http://127.0.0.1:3000 --issuer http://127.0.0.1:9000 --audience https://api.local.test/ \\
      --require-scope read --forward-claim X-User=sub --admin-port 9100
  oidc-gw serve --upstream http://127.0.0.1:3000 --jwks-uri https://idp.example.com/keys --port 0

Refusals are RFC 6750 style (401, 400 invalid_request, 403 insufficient_scope) with a JSON body;
docs/commands/serve.md lists every reason. SIGINT/SIGTERM drain in-flight requests (up to 10 s), exit 0.`,
  );
  host.action(cmd, async (ctx, _args, opts) => runServe(ctx, await parseServeOptions(opts)));
}

function splitList(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(/[\s,]+/)).filter(Boolean);
}

function pairs(flag: string, values: readonly string[], what: string): Array<[string, string]> {
  return values.map((item) => {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`${flag} takes ${what}, not "${item}"`);
    return [item.slice(0, eq).trim(), item.slice(eq + 1)];
  });
}

/** Flags to a checked options object; no I/O besides lazy imports. */
export async function parseServeOptions(
  opts: Readonly<Record<string, unknown>>,
): Promise<ServeOptions> {
  const { GwError } = await import('../core/errors/index.js');
  const { isHeaderName } = await import('../core/gateway/forward.js');
  const { SUPPORTED_ALGS, HMAC_ALGS } = await import('../core/gateway/keys.js');
  const usage = (message: string, hint?: string) =>
    new GwError('ERR_USAGE', message, hint ? { hint } : {});
  const list = (name: string) => (Array.isArray(opts[name]) ? (opts[name] as string[]) : []);

  let upstream: URL;
  try {
    upstream = new URL(String(opts['upstream']));
  } catch {
    throw usage(
      `--upstream "${String(opts['upstream'])}" is not a URL`,
      'give a URL such as http://127.0.0.1:3000',
    );
  }
  if (upstream.protocol !== 'http:' && upstream.protocol !== 'https:') {
    throw usage(`--upstream must be an http:// or https:// URL, not ${upstream.protocol}`);
  }
  if (upstream.search || upstream.hash || upstream.username || upstream.password) {
    throw usage(
      '--upstream takes a scheme, host, port and optional base path: no query, fragment or credentials',
    );
  }

  let algs: string[] | undefined;
  if (typeof opts['algs'] === 'string') {
    algs = splitList([opts['algs']]);
    for (const alg of algs) {
      if (alg.toLowerCase() === 'none') throw usage('--algs: "none" can never be enabled');
      if (!SUPPORTED_ALGS.has(alg))
        throw usage(
          `--algs: unknown algorithm "${alg}"`,
          `use some of ${[...SUPPORTED_ALGS].join(', ')}`,
        );
    }
    if (algs.length === 0) throw usage('--algs is empty');
  }
  const hasSecret = opts['secret'] !== undefined || opts['secretFile'] !== undefined;
  if (opts['secret'] !== undefined && opts['secretFile'] !== undefined)
    throw usage('give --secret or --secret-file, not both');
  if (opts['secret'] === '') throw usage('--secret is empty');
  if (algs && !hasSecret && algs.some((a) => (HMAC_ALGS as readonly string[]).includes(a))) {
    throw usage(
      '--algs names an HS* algorithm, but HMAC needs --secret',
      'HS256/384/512 are enabled only with --secret',
    );
  }

  const requireClaims = pairs('--require-claim', list('requireClaim'), 'NAME=VALUE').map(
    ([name, value]) => {
      if (!name) throw usage(`--require-claim needs a claim name`);
      return { name, value };
    },
  );
  const forwardClaims = pairs('--forward-claim', list('forwardClaim'), 'HEADER=CLAIM').map(
    ([header, claim]) => {
      if (!isHeaderName(header))
        throw usage(`--forward-claim: "${header}" is not a valid header name`);
      if (!claim) throw usage(`--forward-claim ${header}= needs a claim name`);
      const lower = header.toLowerCase().replaceAll('_', '-');
      if (
        [
          'authorization',
          'host',
          'content-length',
          'transfer-encoding',
          'connection',
          'cookie',
        ].includes(lower) ||
        lower.startsWith('x-forwarded-')
      ) {
        throw usage(`--forward-claim cannot set the ${header} header`);
      }
      return { header, claim };
    },
  );
  const normalized = forwardClaims.map((f) => f.header.toLowerCase().replaceAll('_', '-'));
  if (new Set(normalized).size !== normalized.length)
    throw usage('--forward-claim names the same header twice');

  return Object.freeze({
    upstream,
    host: String(opts['host'] ?? '127.0.0.1'),
    port: opts['port'] as number,
    adminPort: opts['adminPort'] as number | undefined,
    issuers: list('issuer'),
    jwksUris: list('jwksUri'),
    publicKeys: list('publicKey'),
    secret: opts['secret'] as string | undefined,
    secretFile: opts['secretFile'] as string | undefined,
    audiences: list('audience'),
    algs,
    clockSkew: opts['clockSkew'] as number,
    requireClaims,
    requireScopes: splitList(list('requireScope')),
    maxTokenSize: opts['maxTokenSize'] as number,
    forwardClaims,
    stripAuthorization: opts['stripAuthorization'] === true,
    upstreamTimeout: opts['upstreamTimeout'] as number,
    logFormat: opts['logFormat'] as 'json' | 'pretty' | undefined,
    tokenCacheSize: opts['tokenCacheSize'] as number,
    jwksCacheTtl: opts['jwksCacheTtl'] as number,
  });
}

/** Builds the trust, starts the gateway, waits for SIGINT/SIGTERM, drains, returns 0. */
export async function runServe(ctx: Context, options: ServeOptions): Promise<number> {
  // First, before the load starts: memory stays flat (services/gateway-memory.ts).
  const { capYoungGeneration, nodeHeapControl, tightenOldGeneration } =
    await import('../services/gateway-memory.js');
  const heap = await nodeHeapControl();
  tightenOldGeneration(process.execArgv, ctx.env['NODE_OPTIONS'], heap.setFlags);
  const youngGeneration = capYoungGeneration(process.execArgv, ctx.env['NODE_OPTIONS'], heap);
  try {
    return await runGateway(ctx, options);
  } finally {
    youngGeneration.stop();
  }
}

async function runGateway(ctx: Context, options: ServeOptions): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const { GwError } = await import('../core/errors/index.js');
  const { buildTrust } = await import('../core/gateway/trust.js');
  const { Verifier } = await import('../core/gateway/verify.js');
  const { createHttpClient } = await import('../http/client.js');
  const { AccessLog } = await import('../http/gateway/access-log.js');
  const { GatewayMetrics } = await import('../http/gateway/metrics.js');
  const { startGateway } = await import('../http/gateway/server.js');

  const stderr = ctx.io.stderr;
  const format = options.logFormat ?? (stderr.isTTY ? 'pretty' : 'json');
  const log = new AccessLog((text) => stderr.write(text), format, ctx.out.style, ctx.now);
  const note = (message: string) => log.note(message);
  const warn = (message: string) => log.note(message, 'warn');

  const readText = async (file: string, flag: string): Promise<string> => {
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new GwError(
        'ERR_INPUT_INVALID',
        `${flag} ${file}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(error)}`,
      );
    }
  };

  // Settings that may also come from the environment or the profile (SPEC §1).
  let issuers = options.issuers;
  let audiences = options.audiences;
  const noTrustFlags =
    issuers.length === 0 &&
    options.jwksUris.length === 0 &&
    options.publicKeys.length === 0 &&
    options.secret === undefined &&
    options.secretFile === undefined;
  if (noTrustFlags || audiences.length === 0) {
    const { resolveSettings } = await import('../config/resolve.js');
    const settings = await resolveSettings({ opts: {}, env: ctx.env, globals: ctx.globals });
    const from = (name: 'issuer' | 'audience') =>
      settings.sources[name] === 'env'
        ? name === 'issuer'
          ? 'OIDC_GW_ISSUER'
          : 'OIDC_GW_AUDIENCE'
        : `profile "${settings.profile}"`;
    if (noTrustFlags && settings.issuer) {
      issuers = [settings.issuer];
      note(`issuer ${settings.issuer} (from ${from('issuer')})`);
    }
    if (audiences.length === 0 && settings.audience) {
      audiences = [settings.audience];
      note(`audience ${settings.audience} (from ${from('audience')})`);
    }
  }
  if (
    issuers.length === 0 &&
    options.jwksUris.length === 0 &&
    options.publicKeys.length === 0 &&
    options.secret === undefined &&
    options.secretFile === undefined
  ) {
    throw new GwError('ERR_SERVE_NO_TRUST', 'nothing to verify tokens with', {
      hint: 'give --issuer URL (keys by discovery), --jwks-uri URL, --public-key FILE or --secret',
    });
  }

  const publicKeys = await Promise.all(
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

  const metrics = new GatewayMetrics();
  const fetch = createHttpClient({
    timeoutSeconds: ctx.globals.timeout,
    ...(ctx.globals.verbose ? { log: (line: string) => log.note(line) } : {}),
  });
  const late: { verifier?: InstanceType<typeof Verifier> } = {};
  const built = await buildTrust({
    issuers,
    jwksUris: options.jwksUris,
    publicKeys,
    secret,
    fetch,
    timeoutSeconds: ctx.globals.timeout,
    insecureHttp: ctx.globals.insecureHttp,
    jwksMaxAgeMs: options.jwksCacheTtl * 1000,
    jwksCooldownMs: 30_000,
    now: ctx.now,
    log: note,
    onFetch: (uri, result) => metrics.jwksFetch(uri, result),
    onChange: () => late.verifier?.cache.clear(),
  }).finally(() => log.flush());
  for (const n of built.notes) warn(n);

  const verifier = new Verifier({
    trust: built.trust,
    issuers: built.issuerIds,
    audiences,
    algorithms: options.algs,
    clockSkewSeconds: options.clockSkew,
    requiredClaims: options.requireClaims,
    requiredScopes: options.requireScopes,
    maxTokenBytes: options.maxTokenSize,
    cacheSize: options.tokenCacheSize,
    forwardClaims: options.forwardClaims,
  });
  late.verifier = verifier;
  const allowed = verifier.allowedAlgorithms();
  if (allowed.size === 0) warn('no usable key: every token will be refused');
  const unusable = (options.algs ?? []).filter((a) => !allowed.has(a));
  if (unusable.length)
    warn(
      `--algs ${unusable.join(', ')}: no trusted key can verify ${unusable.length === 1 ? 'it' : 'them'}`,
    );

  for (const i of built.trust.issuers)
    note(`trusting issuer ${i.issuer}: ${i.keys.describe()} from ${i.keys.uri}`);
  for (const s of built.trust.jwksSets) note(`trusting JWKS ${s.uri}: ${s.describe()}`);
  for (const k of built.trust.staticKeys) note(`trusting ${k.label}`);
  if (built.issuerIds.length === 0) warn("no --issuer: the token's iss is not checked");
  if (audiences.length === 0)
    warn(
      'no --audience: the audience (aud) of tokens is not checked; any token from the trusted issuers passes',
    );
  else note(`audience ${audiences.join(' or ')}`);
  if (!['127.0.0.1', 'localhost', '::1'].includes(options.host)) {
    warn(`listening on ${options.host}: the gateway is reachable from other machines`);
  }

  const gateway = await startGateway({
    upstream: options.upstream,
    host: options.host,
    port: options.port,
    adminPort: options.adminPort,
    verifier,
    stripAuthorization: options.stripAuthorization,
    upstreamTimeoutMs: options.upstreamTimeout * 1000,
    log,
    metrics,
    now: ctx.now,
  });

  let signals = 0;
  const stopped = new Promise<void>((resolve) => {
    const off = ctx.onShutdown((signal) => {
      signals++;
      if (signals === 1) {
        note(`${signal}: stopping; letting in-flight requests finish (up to 10 s)`);
        void gateway.shutdown().then(({ drained }) => {
          note(drained ? 'stopped' : 'stopped (in-flight requests cut off after 10 s)');
          log.flush();
          off();
          resolve();
        });
      } else {
        gateway.abortDrain();
      }
    });
  });

  if (ctx.out.json) {
    ctx.out.printJson({
      url: gateway.url,
      admin_url: gateway.adminUrl ?? null,
      upstream: options.upstream.href,
      issuers: built.issuerIds,
      audiences,
      algorithms: [...verifier.allowedAlgorithms()].sort(),
    });
  }
  note(`upstream ${options.upstream.href}`);
  note(
    `listening on ${gateway.url}${gateway.adminUrl ? ` (admin: ${gateway.adminUrl}/metrics)` : ''}`,
  );
  log.flush();
  await stopped;
  return 0;
}
