import { Option, type Command } from 'commander';
import type { Context, InStream } from '../context.js';
import { addCommonOptions, collect, nonNegativeInteger, type CommandHost } from './host.js';

/** What the flags say, validated (the parse step). */
export interface DecodeOptions {
  /**
   * `stdin`: the argument was `-` (empty stdin is an error); `piped`: no
   * argument and stdin is not a terminal (empty stdin, e.g. </dev/null,
   * falls back to the cache); `cache`: no argument, stdin is a terminal.
   */
  readonly input:
    { kind: 'argument'; value: string } | { kind: 'stdin' } | { kind: 'piped' } | { kind: 'cache' };
  readonly verify: boolean;
  readonly issuer: string | undefined;
  readonly audiences: readonly string[];
  readonly jwksUri: string | undefined;
  readonly keyFile: string | undefined;
  readonly secret: string | undefined;
  readonly clockSkew: number;
  readonly idToken: boolean;
  /** --introspect: ask the issuer (RFC 7662) with the profile's client. */
  readonly introspect:
    | { readonly clientId: string | undefined; readonly clientSecret: string | undefined }
    | undefined;
  /** --file: what each API of these gateway files would answer (services/decode-file.ts). */
  readonly files: readonly string[];
  readonly fileOptions: {
    readonly format: 'oidc-gw' | 'tyk' | 'kong' | 'apim' | undefined;
    readonly path: string | undefined;
    readonly upstream: string | undefined;
    readonly namedValues: Readonly<Record<string, string>>;
    readonly strict: boolean;
  };
}

/** The most stdin may carry: far more than any token, far less than a mistake like piping a file. */
const STDIN_LIMIT = 1024 * 1024;

export function register(program: Command, host: CommandHost): void {
  const cmd = program
    .command('decode')
    .argument(
      '[token]',
      'the token, `Bearer TOKEN`, or an `Authorization: Bearer TOKEN` line; `-` for stdin',
    )
    .description('inspect a JWT: header, claims, and what a gateway will check')
    .option(
      '--verify',
      "verify the signature (keys from --issuer, --jwks-uri, --key, --secret, or the token's iss)",
    )
    .option(
      '--issuer <url>',
      'expected issuer: compared exactly with iss; with --verify, its JWKS is used',
    )
    .option(
      '--audience <aud>',
      'expected audience (repeatable: any of them in aud passes)',
      collect,
    )
    .option('--jwks-uri <url>', 'verify with the JWKS at this URL (implies --verify)')
    .option(
      '--key <file>',
      'verify with this key: PEM (public key, certificate), JWK or JWKS (implies --verify)',
    )
    .option(
      '--secret <secret>',
      'verify an HS256/384/512 token with this shared secret (implies --verify)',
    )
    .addOption(
      new Option(
        '--clock-skew <seconds>',
        'leeway for exp, nbf and iat; decode checks exactly, serve allows 30 by default',
      )
        .default(0)
        .argParser(nonNegativeInteger('--clock-skew')),
    )
    .option('--id-token', "decode the profile's cached ID token instead of its access token")
    .option(
      '-f, --file <file>',
      'a gateway configuration (as serve --file): say what each of its APIs would answer to this token (repeatable)',
      collect,
    )
    .option('--path <path>', 'with --file: only the API that serves this request path')
    .addOption(
      new Option(
        '--format <format>',
        "with --file: the files' format (default: from their content)",
      ).choices(['oidc-gw', 'tyk', 'kong', 'apim']),
    )
    .option('--upstream <url>', 'with --file and an APIM policy: where the policy applies')
    .option('--named-value <name=value>', 'with --file and an APIM policy: a named value', collect)
    .option(
      '--strict',
      "with --file: add oidc-gw's own checks to the gateway's (as serve --strict)",
    )
    .option(
      '--introspect',
      "ask the issuer's introspection endpoint (RFC 7662) whether the token is active (opaque tokens)",
    )
    .option('--client-id <id>', 'with --introspect: the client that asks (env OIDC_GW_CLIENT_ID)')
    .option(
      '--client-secret <secret>',
      'with --introspect: its secret (env OIDC_GW_CLIENT_SECRET)',
    );
  addCommonOptions(cmd);
  cmd.addHelpText(
    'after',
    `
The token comes from the argument, from stdin when the argument is \`-\` or
stdin is piped, or else (no argument, stdin a terminal or empty) from the
profile's token cache: the access token, or the ID token with --id-token.

Exit status: 0 no check failed, 1 a check failed, 2 the input is not a token.
With --file: 0 when every selected API accepts the token, 1 otherwise.

Examples:
  oidc-gw decode eyJhbGciOiJSUzI1NiIs...
  pbpaste | oidc-gw decode
  oidc-gw decode 'Authorization: Bearer eyJhbGciOi...'
  oidc-gw decode --issuer https://TENANT.auth0.com/ --audience https://api.example.com/ --verify TOKEN
  oidc-gw decode --key public.pem TOKEN
  oidc-gw decode TOKEN --file kong.yaml --path /orders      # what Kong would answer, and why
  oidc-gw decode OPAQUE_TOKEN --introspect --issuer https://TENANT.auth0.com/
  oidc-gw token --client-credentials | oidc-gw decode --json`,
  );
  host.action(cmd, async (ctx, args, opts) => runDecode(ctx, await parseOptions(ctx, args, opts)));
}

async function parseOptions(
  ctx: Context,
  args: readonly unknown[],
  opts: Readonly<Record<string, unknown>>,
): Promise<DecodeOptions> {
  // Errors are loaded only when there is one: the usual path stays short.
  const usage = async (message: string) => {
    const { GwError } = await import('../core/errors/index.js');
    return new GwError('ERR_USAGE', message);
  };
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const arg = str(args[0]);
  const keyFile = str(opts['key']);
  const secret = str(opts['secret']);
  const jwksUri = str(opts['jwksUri']);
  const given = [
    keyFile && '--key',
    secret !== undefined && '--secret',
    jwksUri && '--jwks-uri',
  ].filter(Boolean);
  if (given.length > 1) {
    throw await usage(`give one source of keys, not ${given.join(' and ')}`);
  }
  const issuer = str(opts['issuer']);
  if (issuer !== undefined && issuer.trim() === '') throw await usage('--issuer is empty');
  const audiences = (Array.isArray(opts['audience']) ? (opts['audience'] as unknown[]) : []).filter(
    (a): a is string => typeof a === 'string',
  );
  if (audiences.some((a) => a === '')) throw await usage('--audience is empty');
  const files = (Array.isArray(opts['file']) ? (opts['file'] as unknown[]) : []).filter(
    (f): f is string => typeof f === 'string',
  );
  if (files.length === 0) {
    for (const [key, flag] of [
      ['path', '--path'],
      ['format', '--format'],
      ['upstream', '--upstream'],
      ['namedValue', '--named-value'],
      ['strict', '--strict'],
    ] as const) {
      if (opts[key] !== undefined) throw await usage(`${flag} goes with --file`);
    }
  } else if (opts['verify'] === true || given.length > 0) {
    throw await usage(
      '--file says which keys each API trusts: it cannot be combined with --verify, --key, --jwks-uri or --secret',
    );
  }
  const introspect =
    opts['introspect'] === true
      ? { clientId: str(opts['clientId']), clientSecret: str(opts['clientSecret']) }
      : undefined;
  if (introspect && (files.length > 0 || opts['verify'] === true || given.length > 0)) {
    throw await usage(
      '--introspect asks the issuer: it cannot be combined with --file, --verify, --key, --secret or --jwks-uri',
    );
  }
  if (!introspect && (opts['clientId'] !== undefined || opts['clientSecret'] !== undefined)) {
    throw await usage('--client-id and --client-secret go with --introspect');
  }
  const namedValues: Record<string, string> = {};
  for (const item of Array.isArray(opts['namedValue']) ? (opts['namedValue'] as string[]) : []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw await usage(`--named-value takes NAME=VALUE, not "${item}"`);
    namedValues[item.slice(0, eq)] = item.slice(eq + 1);
  }
  let input: DecodeOptions['input'];
  if (arg !== undefined && arg !== '-') input = { kind: 'argument', value: arg };
  else if (arg === '-') input = { kind: 'stdin' };
  else if (!ctx.io.stdin.isTTY) input = { kind: 'piped' };
  else input = { kind: 'cache' };
  return {
    input,
    verify: opts['verify'] === true || given.length > 0,
    issuer,
    audiences,
    jwksUri,
    keyFile,
    secret,
    clockSkew: typeof opts['clockSkew'] === 'number' ? opts['clockSkew'] : 0,
    idToken: opts['idToken'] === true,
    introspect,
    files,
    fileOptions: {
      format: str(opts['format']) as DecodeOptions['fileOptions']['format'],
      path: str(opts['path']),
      upstream: str(opts['upstream']),
      namedValues,
      strict: opts['strict'] === true,
    },
  };
}

async function readStdin(stdin: InStream, signal: AbortSignal): Promise<string> {
  const { GwError } = await import('../core/errors/index.js');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.off('error', onError);
      signal.removeEventListener('abort', onAbort);
    };
    const onData = (chunk: Buffer | string) => {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      size += buf.length;
      if (size > STDIN_LIMIT) {
        cleanup();
        stdin.destroy();
        reject(
          new GwError('ERR_TOKEN_MALFORMED', 'stdin carries more than 1 MiB: that is not a token'),
        );
        return;
      }
      chunks.push(buf);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (error: Error) => {
      cleanup();
      reject(
        new GwError('ERR_INPUT_INVALID', `cannot read stdin: ${error.message}`, { cause: error }),
      );
    };
    const onAbort = () => {
      cleanup();
      stdin.destroy();
      reject(new GwError('ERR_INTERRUPTED', 'interrupted while reading the token from stdin'));
    };
    if (signal.aborted) {
      onAbort();
      return;
    }
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    stdin.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** The profile's cached access token (or ID token), as stored: decode never refreshes it. */
async function cachedToken(ctx: Context, idToken: boolean): Promise<string> {
  const [{ GwError }, services] = await Promise.all([
    import('../core/errors/index.js'),
    import('../services/session.js'),
  ]);
  const session = await services.openSession(ctx, {});
  const profile = session.settings.profile;
  const user = await services.readUserTokens(session);
  const client = idToken ? undefined : await session.store.readClient(profile);
  const token = idToken ? user?.id_token : (user?.access_token ?? client?.access_token);
  if (!token) {
    throw new GwError(
      'ERR_NO_TOKEN',
      idToken
        ? `no cached ID token for profile "${profile}", and no token given`
        : `no cached token for profile "${profile}", and no token given`,
      {
        hint: idToken
          ? 'run `oidc-gw login` (ID tokens come from a sign-in), or pass the token as an argument'
          : 'pass the token as an argument or on stdin, or run `oidc-gw login` or `oidc-gw token --client-credentials`',
      },
    );
  }
  ctx.out.info(`decoding the cached ${idToken ? 'ID' : 'access'} token of profile "${profile}"`);
  return token;
}

export async function runDecode(ctx: Context, options: DecodeOptions): Promise<number> {
  // One small module, free of jose: decode without --verify stays fast.
  const core = await import('../core/jwt/decode-core.js');
  let raw: string;
  if (options.input.kind === 'argument') raw = options.input.value;
  else if (options.input.kind === 'stdin') raw = await readStdin(ctx.io.stdin, ctx.signal);
  else if (options.input.kind === 'piped') {
    raw = await readStdin(ctx.io.stdin, ctx.signal);
    if (raw.trim() === '') raw = await cachedToken(ctx, options.idToken);
  } else raw = await cachedToken(ctx, options.idToken);
  const { token, form } = core.extractToken(raw, { idToken: options.idToken });
  if (options.introspect) {
    const { introspectWithProfile } = await import('../services/decode-file.js');
    return introspectWithProfile(
      ctx,
      { issuer: options.issuer, authMethod: undefined, ...options.introspect },
      token,
    );
  }
  if (options.files.length > 0) {
    const { decodeWithFiles } = await import('../services/decode-file.js');
    return decodeWithFiles(ctx, { files: options.files, ...options.fileOptions }, token);
  }
  const inspectOptions = {
    now: ctx.now(),
    clockSkew: options.clockSkew,
    ...(options.issuer === undefined
      ? {}
      : { issuer: core.issuerFromInput(options.issuer.trim()) }),
    audiences: options.audiences,
    idToken: options.idToken,
  };
  let report = core.inspectToken(token, inspectOptions);
  let verification: Verification | null = null;
  if (options.verify) {
    const outcome = await verifyReport(ctx, core, options, token, report, inspectOptions);
    report = outcome.report;
    verification = outcome.verification;
  }
  if (ctx.out.json) {
    ctx.out.printJson({
      kind: report.kind,
      header: report.header,
      payload: report.payload,
      checks: report.checks,
      verified: report.verified,
      input_form: form,
      claims: report.claims,
      gateway: report.gateway,
      verification,
    });
  } else {
    ctx.out.data(
      core.renderReport(report, ctx.out.styleOut, {
        verifyRequested: options.verify,
        ...(verification ? { keySource: verification.key_source } : {}),
      }),
    );
  }
  return core.exitCodeOf(report);
}

interface Verification {
  /** Where the keys came from, in words ("the JWKS at https://...", "public.pem"). */
  key_source: string;
  jwks_uri: string | null;
  discovery_url: string | null;
  /** Why verification failed (unknown_kid, bad_signature, alg_mismatch, ...), or null. */
  cause: string | null;
}

type Core = typeof import('../core/jwt/decode-core.js');
type Report = import('../core/jwt/decode-core.js').Report;
type InspectOptions = import('../core/jwt/decode-core.js').InspectOptions;

/**
 * --verify: finds the keys (--secret, --key, --jwks-uri, --issuer or the
 * configured issuer, else the token's own iss with a warning), verifies with
 * jose, and records the outcome in the report.
 */
async function verifyReport(
  ctx: Context,
  inspect: Core,
  options: DecodeOptions,
  token: string,
  initial: Report,
  inspectOptions: InspectOptions,
): Promise<{ report: Report; verification: Verification }> {
  let report = initial;
  const done = (message: string, cause: string, keySource: string) => {
    inspect.applySignature(report, { ok: false, message });
    return {
      report,
      verification: { key_source: keySource, jwks_uri: null, discovery_url: null, cause },
    };
  };
  if (report.kind === 'opaque') {
    return done(
      'an opaque token has no signature to verify: ask its issuer (the introspection endpoint, RFC 7662)',
      'not_jws',
      'none',
    );
  }
  if (report.kind === 'JWE') {
    return done(
      'an encrypted JWE cannot be verified without decrypting it first',
      'not_jws',
      'none',
    );
  }
  const alg = typeof report.header?.['alg'] === 'string' ? report.header['alg'] : undefined;
  if (alg !== undefined && alg.toLowerCase() === 'none') {
    return done(`alg "${alg}": an unsigned token never verifies`, 'alg_none', 'none');
  }
  const isHmac = alg !== undefined && /^HS(256|384|512)$/.test(alg);
  if (isHmac && options.secret === undefined && options.keyFile === undefined) {
    return done(
      `algorithm mismatch: ${alg} is verified with the shared secret, never with an issuer's published keys: give it with --secret`,
      'alg_mismatch',
      'none',
    );
  }
  const [keys, verify] = await Promise.all([
    import('../core/jwt/keys.js'),
    import('../core/jwt/verify.js'),
  ]);
  let source: import('../core/jwt/keys.js').KeySource;
  let trust: import('../core/jwt/decode-core.js').Check | undefined;
  let jwksUri: string | null = null;
  let discoveryUrl: string | null = null;
  let fetch: import('../core/jwt/verify.js').FetchLike | undefined;
  if (options.secret !== undefined) {
    source = keys.secretSource(options.secret);
  } else if (options.keyFile !== undefined) {
    const { readFile } = await import('node:fs/promises');
    let text: string;
    try {
      text = await readFile(options.keyFile, 'utf8');
    } catch (error) {
      const { GwError } = await import('../core/errors/index.js');
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      throw new GwError('ERR_INPUT_INVALID', `cannot read --key ${options.keyFile} (${code})`, {
        cause: error,
      });
    }
    source = keys.parseKeyFile(text, options.keyFile);
  } else {
    const services = await import('../services/session.js');
    const session = await services.openSession(
      ctx,
      options.issuer === undefined ? {} : { issuer: options.issuer },
    );
    fetch = await session.http();
    if (options.jwksUri !== undefined) {
      const { checkUrl } = await import('../core/issuer.js');
      const checked = checkUrl(options.jwksUri, '--jwks-uri', session.settings.insecureHttp);
      if (checked.note) ctx.out.warn(checked.note);
      jwksUri = checked.url.href;
      source = { kind: 'remote', url: jwksUri, origin: `the JWKS at ${jwksUri}` };
    } else {
      const configured = session.settings.issuer;
      const payloadIss = report.payload?.['iss'];
      let issuerInput: string;
      if (configured !== undefined) {
        issuerInput = configured;
        if (options.issuer === undefined) {
          ctx.out.info(
            `verifying with the keys of the configured issuer ${configured} (${session.settings.sources.issuer === 'env' ? 'OIDC_GW_ISSUER' : `profile "${session.settings.profile}"`}); --issuer picks another`,
          );
        }
      } else {
        const { GwError } = await import('../core/errors/index.js');
        if (typeof payloadIss !== 'string' || payloadIss === '') {
          throw new GwError(
            'ERR_MISSING_SETTING',
            '--verify needs keys, and the token has no "iss" to find them from',
            {
              hint: 'give --issuer, --jwks-uri, --key FILE or --secret',
            },
          );
        }
        issuerInput = payloadIss;
        trust = {
          name: 'trust',
          status: 'warn',
          message: `keys found from the token's own iss (${payloadIss}): a forged token can name any issuer; give --issuer to say which one you trust`,
        };
      }
      const discovered = await services.discover(session, issuerInput);
      discoveryUrl = discovered.discoveryUrl;
      const uri = discovered.metadata.jwks_uri;
      if (typeof uri !== 'string' || uri === '') {
        const { GwError } = await import('../core/errors/index.js');
        throw new GwError(
          'ERR_DISCOVERY',
          `the metadata of ${discovered.issuer} (${discovered.discoveryUrl}) has no jwks_uri`,
          {
            hint: 'give the key set with --jwks-uri, or a key with --key',
          },
        );
      }
      jwksUri = uri;
      source = { kind: 'remote', url: uri, origin: `the JWKS of ${discovered.issuer}` };
      // The token's iss must be the issuer whose keys are used, compared exactly.
      report = inspect.inspectToken(token, { ...inspectOptions, issuer: discovered.issuer });
      report.gateway = inspect.gatewayFor(report, inspectOptions, {
        jwksUri: uri,
        discoveryUrl: discovered.discoveryUrl,
        issuer: discovered.issuer,
      });
    }
  }
  if (jwksUri !== null && discoveryUrl === null) {
    report.gateway = inspect.gatewayFor(report, inspectOptions, { jwksUri });
  }
  // One verification for decode and serve: the gateway's verifier decides,
  // decode's own checks only explain (core/gateway/decode-verdict.ts).
  const { gatewayVerdict } = await import('../core/gateway/decode-verdict.js');
  const result = await gatewayVerdict(token, source, {
    fetch: fetch ?? ((url: string, init: RequestInit) => globalThis.fetch(url, init)),
    timeoutSeconds: ctx.globals.timeout,
    explain: (fetched) =>
      verify.verifySignature(token, fetched, {
        ...(fetch ? { fetch } : {}),
        timeoutSeconds: ctx.globals.timeout,
      }),
  });
  inspect.applySignature(report, result, trust);
  return {
    report,
    verification: {
      key_source: source.origin,
      jwks_uri: jwksUri,
      discovery_url: discoveryUrl,
      cause: result.ok ? null : (result.cause ?? 'invalid'),
    },
  };
}
