import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  addCommonOptions,
  collect,
  nonNegativeInteger,
  positiveNumber,
  type CommandHost,
} from './host.js';

import type { ServeOptions } from '../services/serve.js';

export type { ServeOptions };

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
    .option(
      '--upstream <url>',
      'where verified requests go, e.g. http://127.0.0.1:3000 (with --file: an APIM policy only)',
    )
    .option(
      '-f, --file <file>',
      'a gateway configuration: oidc-gw YAML/JSON, Tyk API definition or policies, Kong declarative file, APIM policy (repeatable)',
      collect,
      [],
    )
    .addOption(
      new Option(
        '--format <format>',
        "the files' format (default: told from their content)",
      ).choices(['oidc-gw', 'tyk', 'kong', 'apim']),
    )
    .option(
      '--check',
      'load and validate, print the effective plan per API and exit (no port opened)',
    )
    .option(
      '--strict',
      "with --file: add oidc-gw's own checks (exp required, iss and aud when known) to the gateway's",
    )
    .option('--path <prefix>', 'with an APIM policy: the path prefix it applies to (default /)')
    .option(
      '--named-value <name=value>',
      'with an APIM policy: a named value {{name}} (repeatable)',
      collect,
      [],
    )
    .option('--rate-limit <n/period>', 'per-identity rate limit, e.g. 100/1m (sliding window)')
    .option('--quota <n/period>', 'per-identity quota, e.g. 10000/1d')
    .option(
      '--limit-by <key>',
      'what limits count by: claim:NAME (default claim:sub), client_id or ip',
    )
    .option(
      '--redis <url>',
      'keep limit counters in Redis, shared by replicas: redis://, rediss://, unix:///path (env OIDC_GW_REDIS_URL)',
    )
    .addOption(
      new Option(
        '--redis-failure <mode>',
        'when Redis is lost: open lets requests through, closed answers 503',
      )
        .choices(['open', 'closed'])
        .default('open'),
    )
    .addOption(
      new Option(
        '--workers <n>',
        'processes sharing the port (limits with more than 1 need --redis)',
      )
        .default(1)
        .argParser(positiveInteger('--workers')),
    )
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
      new Option(
        '--upstream-timeout <seconds>',
        '504 when the upstream has not answered by then; also the longest gap between body chunks',
      )
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
  oidc-gw serve --file gateway.yaml                 # several APIs (docs/gateway-config.md)
  oidc-gw serve --file api.json --file policies.json --check   # a Tyk API definition, explained
  oidc-gw serve --file kong.yaml --redis redis://127.0.0.1:6379
  oidc-gw serve --file policy.xml --upstream http://127.0.0.1:3000   # an APIM policy
  oidc-gw serve --upstream http://127.0.0.1:3000 --issuer http://127.0.0.1:9000 --audience https://api.local.test/ \\
      --require-scope read --forward-claim X-User=sub --admin-port 9100
  oidc-gw serve --upstream http://127.0.0.1:3000 --jwks-uri https://idp.example.com/keys --port 0

Refusals are RFC 6750 style (401, 400 invalid_request, 403 insufficient_scope) with a JSON body;
docs/commands/serve.md lists every reason. With --file, each API answers as its gateway does
(docs/gateways/). SIGHUP or a change to a --file reloads; SIGINT/SIGTERM drain in-flight requests
(up to 10 s), exit 0.`,
  );
  host.action(cmd, async (ctx, _args, opts) => {
    const { runServe } = await import('../services/serve.js');
    return runServe(ctx, await parseServeOptions(opts, ctx.env, cmd));
  });
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
  env: Readonly<Record<string, string | undefined>> = {},
  cmd?: { getOptionValueSource(key: string): string | undefined },
): Promise<ServeOptions> {
  const { GwError } = await import('../core/errors/index.js');
  const { forwardHeaderProblem } = await import('../core/gateway/forward.js');
  const { SUPPORTED_ALGS, algorithmProblem } = await import('../core/gateway/keys.js');
  const usage = (message: string, hint?: string) =>
    new GwError('ERR_USAGE', message, hint ? { hint } : {});
  const list = (name: string) => (Array.isArray(opts[name]) ? (opts[name] as string[]) : []);

  const files = list('file');
  let upstream: URL | undefined;
  if (opts['upstream'] !== undefined) {
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
  } else if (files.length === 0) {
    throw usage(
      'serve needs --upstream URL, or --file FILE',
      'oidc-gw serve --upstream http://127.0.0.1:3000 --issuer URL; or oidc-gw serve --file gateway.yaml',
    );
  }

  let algs: string[] | undefined;
  if (typeof opts['algs'] === 'string') {
    algs = splitList([opts['algs']]);
    for (const alg of algs) {
      const problem = algorithmProblem(alg, true);
      if (problem === 'none') throw usage('--algs: "none" can never be enabled');
      if (problem === 'unknown')
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
  if (algs && algs.some((a) => algorithmProblem(a, hasSecret) === 'needs_secret')) {
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
      const problem = forwardHeaderProblem(header);
      if (problem === 'name')
        throw usage(`--forward-claim: "${header}" is not a valid header name`);
      if (!claim) throw usage(`--forward-claim ${header}= needs a claim name`);
      if (problem === 'reserved') throw usage(`--forward-claim cannot set the ${header} header`);
      return { header, claim };
    },
  );
  const normalized = forwardClaims.map((f) => f.header.toLowerCase().replaceAll('_', '-'));
  if (new Set(normalized).size !== normalized.length)
    throw usage('--forward-claim names the same header twice');

  const { parseLimit, parseLimitBy } = await import('../gateway/load/from-flags.js');
  const limitFlag = (name: string, flag: string) => {
    const text = opts[name];
    if (text === undefined) return undefined;
    const parsed = parseLimit(String(text));
    if (!parsed)
      throw usage(`${flag} takes N/PERIOD such as 100/1m or 10000/1d, not "${String(text)}"`);
    return parsed;
  };
  const rateLimit = limitFlag('rateLimit', '--rate-limit');
  const quota = limitFlag('quota', '--quota');
  let limitBy;
  if (opts['limitBy'] !== undefined) {
    limitBy = parseLimitBy(String(opts['limitBy']));
    if (!limitBy)
      throw usage(`--limit-by takes claim:NAME, client_id or ip, not "${String(opts['limitBy'])}"`);
  }
  const namedValues: Record<string, string> = {};
  for (const [name, value] of pairs('--named-value', list('namedValue'), 'NAME=VALUE'))
    namedValues[name] = value;
  const redis = (opts['redis'] as string | undefined) ?? env['OIDC_GW_REDIS_URL'];
  // Flags that describe a flag API: with --file they would be silently ignored.
  const given = (key: string) => {
    const source = cmd?.getOptionValueSource(key);
    return source === 'cli' || source === 'env';
  };
  const trustFlags: Array<[string, string]> = [
    ['issuer', '--issuer'],
    ['jwksUri', '--jwks-uri'],
    ['publicKey', '--public-key'],
    ['secret', '--secret'],
    ['secretFile', '--secret-file'],
    ['audience', '--audience'],
    ['algs', '--algs'],
    ['requireClaim', '--require-claim'],
    ['requireScope', '--require-scope'],
    ['forwardClaim', '--forward-claim'],
    ['stripAuthorization', '--strip-authorization'],
    ['rateLimit', '--rate-limit'],
    ['quota', '--quota'],
    ['limitBy', '--limit-by'],
    ['clockSkew', '--clock-skew'],
  ];
  const trustFlagsGiven =
    files.length === 0
      ? []
      : trustFlags
          .filter(([key]) => {
            const v = opts[key];
            if (cmd) return given(key);
            return Array.isArray(v) ? v.length > 0 : v !== undefined && key !== 'clockSkew';
          })
          .map(([, flag]) => flag);
  if (files.length === 0) {
    for (const [key, flag] of [
      ['format', '--format'],
      ['path', '--path'],
      ['strict', '--strict'],
    ] as const) {
      if (opts[key] !== undefined) throw usage(`${flag} goes with --file`);
    }
    if (list('namedValue').length > 0)
      throw usage('--named-value goes with --file (an APIM policy)');
  }

  return Object.freeze({
    files,
    format: opts['format'] as ServeOptions['format'],
    path: opts['path'] as string | undefined,
    namedValues,
    strict: opts['strict'] === true,
    check: opts['check'] === true,
    rateLimit,
    quota,
    limitBy,
    redis,
    redisFailure: (opts['redisFailure'] as 'open' | 'closed' | undefined) ?? 'open',
    workers: (opts['workers'] as number | undefined) ?? 1,
    trustFlagsGiven,
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
