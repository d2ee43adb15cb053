/**
 * The oidc-gw gateway format (docs/gateway-config.md; JSON Schema in
 * schema/gateway-config.schema.json): YAML or JSON with `apis:`, each an
 * API in front of an upstream, with its trust, checks, credentials,
 * forwarded claims, limits and error style. `${NAME}` in any string is taken
 * from the environment (a missing variable is an error), so secrets need
 * not be written in the file. Unknown fields are warnings with their path,
 * never silently dropped; invalid values are errors naming the path.
 */
import { forwardHeaderProblem } from '../../core/gateway/forward.js';
import { algorithmProblem, SUPPORTED_ALGS as KEY_ALGS } from '../../core/gateway/keys.js';
import { DEFAULT_CHECKS, BEARER_HEADER, normalizePrefix, PlanError } from '../plan.js';
import type {
  ApiPlan,
  ClaimRule,
  ClientCredentialsExchange,
  ErrorStyle,
  Introspection,
  LimitKey,
  PublicKeyFile,
  SharedSecret,
  Warning,
} from '../plan.js';
import { nativeLimits, parseLimitBy, parsePeriod, type FlagLimit } from './from-flags.js';
import type { LoadContext, LoadResult, SourceDoc } from './types.js';

/** The fields of an API, as the schema lists them (a test keeps the two in step). */
export const API_FIELDS = [
  'name',
  'path',
  'strip_path',
  'upstream',
  'upstream_timeout',
  'issuers',
  'jwks_uris',
  'public_keys',
  'secret',
  'audiences',
  'algorithms',
  'clock_skew',
  'max_token_size',
  'required_claims',
  'required_scopes',
  'forward_claims',
  'strip_authorization',
  'credentials',
  'token_params',
  'client_credentials',
  'introspection',
  'rate_limit',
  'quota',
  'errors',
] as const;

export const TOP_FIELDS = ['apis', '$schema'] as const;

/** The fields of `client_credentials:`, `introspection:` and a limit (`rate_limit:`, `quota:`). */
export const CLIENT_CREDENTIALS_FIELDS = [
  'issuer',
  'token_endpoint',
  'scope',
  'auth_method',
  'from',
] as const;
export const INTROSPECTION_FIELDS = [
  'client_id',
  'client_secret',
  'endpoint',
  'issuer',
  'auth_method',
  'cache_inactive',
  'max_cache',
] as const;
export const LIMIT_FIELDS = ['requests', 'per', 'by'] as const;

export const STYLES: readonly ErrorStyle[] = ['rfc6750', 'tyk', 'kong', 'apim'];
export const CREDENTIALS = ['bearer', 'client_credentials', 'introspection'] as const;
/** The algorithms an API may list: those the verifier supports (never `none`). */
export const SUPPORTED_ALGS: readonly string[] = [...KEY_ALGS];
const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** True for an object with an `apis` list: the oidc-gw format. */
export function isNativeDocument(value: unknown): boolean {
  return (
    value !== null &&
    typeof value === 'object' &&
    !Array.isArray(value) &&
    Array.isArray((value as Record<string, unknown>)['apis'])
  );
}

class Reader {
  readonly warnings: Warning[] = [];
  constructor(
    readonly file: string,
    readonly env: Readonly<Record<string, string | undefined>>,
  ) {}

  fail(path: string, message: string): never {
    throw new PlanError(this.file, path, message);
  }

  warn(path: string, message: string, kind: Warning['kind'] = 'ignored'): void {
    this.warnings.push({ file: this.file, path, message, kind });
  }

  /** `${NAME}` substituted from the environment. */
  text(value: unknown, path: string): string {
    if (typeof value !== 'string') {
      if (typeof value === 'number' || typeof value === 'boolean') return String(value);
      this.fail(path, `expected a string, not ${describe(value)}`);
    }
    return value.replace(VAR, (_, name: string) => {
      const v = this.env[name];
      if (v === undefined) this.fail(path, `\${${name}}: environment variable ${name} is not set`);
      return v;
    });
  }

  optText(obj: Record<string, unknown>, key: string, path: string): string | undefined {
    return obj[key] === undefined || obj[key] === null
      ? undefined
      : this.text(obj[key], `${path}.${key}`);
  }

  list(obj: Record<string, unknown>, key: string, path: string): string[] {
    const value = obj[key];
    if (value === undefined || value === null) return [];
    if (typeof value === 'string') return [this.text(value, `${path}.${key}`)];
    if (!Array.isArray(value))
      this.fail(`${path}.${key}`, `expected a list, not ${describe(value)}`);
    return value.map((v, i) => this.text(v, `${path}.${key}[${i}]`));
  }

  bool(obj: Record<string, unknown>, key: string, path: string, fallback: boolean): boolean {
    const value = obj[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean')
      this.fail(`${path}.${key}`, `expected true or false, not ${describe(value)}`);
    return value;
  }

  number(
    obj: Record<string, unknown>,
    key: string,
    path: string,
    fallback: number,
    min = 0,
  ): number {
    const value = obj[key];
    if (value === undefined || value === null) return fallback;
    const n = typeof value === 'string' ? Number(this.text(value, `${path}.${key}`)) : value;
    if (typeof n !== 'number' || !Number.isFinite(n) || n < min) {
      this.fail(`${path}.${key}`, `expected a number of at least ${min}, not ${describe(value)}`);
    }
    return n;
  }

  object(value: unknown, path: string): Record<string, unknown> {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      this.fail(path, `expected a mapping, not ${describe(value)}`);
    }
    return value as Record<string, unknown>;
  }

  unknown(obj: Record<string, unknown>, known: readonly string[], path: string): void {
    for (const key of Object.keys(obj)) {
      if (!known.includes(key)) this.warn(path ? `${path}.${key}` : key, 'not supported');
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return String(value);
}

function url(r: Reader, value: string, path: string, what: 'upstream' | 'url'): URL {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    r.fail(path, 'not a URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    r.fail(path, `must be http:// or https://, not ${u.protocol}`);
  if (what === 'upstream' && (u.search || u.hash || u.username || u.password)) {
    r.fail(
      path,
      'an upstream is a scheme, host, port and optional base path: no query, fragment or credentials',
    );
  }
  return u;
}

/**
 * A path prefix as requests are matched: normalized, and refused when it
 * could never match a normalized request path (a dot segment, a query or
 * fragment, whitespace or control characters).
 */
function pathPrefix(r: Reader, value: string, path: string): string {
  if (/[?#\s]/.test(value) || CONTROL.test(value))
    r.fail(
      path,
      `"${value}" is not a path prefix: no query, fragment, spaces or control characters`,
    );
  const prefix = normalizePrefix(value);
  if (
    prefix
      .split('/')
      .some((s) => s.replace(/%2e/gi, '.') === '.' || s.replace(/%2e/gi, '.') === '..')
  )
    r.fail(
      path,
      `"${value}" has a dot segment (. or ..): requests are matched after those are resolved`,
    );
  return prefix;
}

function wholeNumber(r: Reader, n: number, path: string): number {
  if (!Number.isInteger(n)) r.fail(path, `expected a whole number, not ${n}`);
  return n;
}

function limitOf(
  r: Reader,
  value: unknown,
  path: string,
): { limit: FlagLimit; key: LimitKey | undefined } {
  const obj = r.object(value, path);
  r.unknown(obj, LIMIT_FIELDS, path);
  const requests = obj['requests'];
  if (typeof requests !== 'number' || !Number.isInteger(requests) || requests < 1) {
    r.fail(`${path}.requests`, `expected a whole number of at least 1, not ${describe(requests)}`);
  }
  const perText =
    obj['per'] === undefined
      ? r.fail(`${path}.per`, 'missing (e.g. 60s, 1m, 1h, 1d)')
      : r.text(obj['per'], `${path}.per`);
  const periodMs = parsePeriod(perText);
  if (periodMs === undefined)
    r.fail(`${path}.per`, `"${perText}" is not a period (e.g. 60s, 1m, 1h, 1d)`);
  let key: LimitKey | undefined;
  if (obj['by'] !== undefined) {
    const byText = r.text(obj['by'], `${path}.by`);
    key = parseLimitBy(byText);
    if (!key) r.fail(`${path}.by`, `"${byText}" is not claim:NAME, client_id or ip`);
  }
  return { limit: { limit: requests, periodMs, text: `${requests}/${perText}` }, key };
}

async function loadApi(
  r: Reader,
  raw: unknown,
  index: number,
  ctx: LoadContext,
  doc: SourceDoc,
): Promise<ApiPlan> {
  const path = `apis[${index}]`;
  const obj = r.object(raw, path);
  r.unknown(obj, API_FIELDS, path);
  const prefix = pathPrefix(r, r.optText(obj, 'path', path) ?? '/', `${path}.path`);
  const name =
    r.optText(obj, 'name', path) ??
    (prefix === '/' ? 'root' : prefix.slice(1).replaceAll('/', '-'));
  // The name is a log field and a metrics label: printable, on one line.
  if (name === '' || CONTROL.test(name))
    r.fail(`${path}.name`, name === '' ? 'empty' : 'contains a control character');
  if (obj['upstream'] === undefined)
    r.fail(`${path}.upstream`, 'missing: where requests go (http://host:port/base)');
  const upstream = url(
    r,
    r.text(obj['upstream'], `${path}.upstream`),
    `${path}.upstream`,
    'upstream',
  );

  const issuers = r.list(obj, 'issuers', path);
  issuers.forEach((i, n) => url(r, i, `${path}.issuers[${n}]`, 'url'));
  const jwksUris = r.list(obj, 'jwks_uris', path);
  jwksUris.forEach((u, n) => url(r, u, `${path}.jwks_uris[${n}]`, 'url'));
  const publicKeys: PublicKeyFile[] = [];
  const keyFiles = r.list(obj, 'public_keys', path);
  for (let n = 0; n < keyFiles.length; n++) {
    const file = keyFiles[n] as string;
    let text: string;
    try {
      text = await ctx.readFile(file, doc.file);
    } catch (error) {
      r.fail(`${path}.public_keys[${n}]`, `cannot read ${file}: ${(error as Error).message}`);
    }
    publicKeys.push({ text, source: `${doc.file}: ${path}.public_keys[${n}] (${file})` });
  }
  const secrets: SharedSecret[] = [];
  const secret = r.optText(obj, 'secret', path);
  if (secret !== undefined) {
    if (secret === '') r.fail(`${path}.secret`, 'empty');
    secrets.push({ secret: new TextEncoder().encode(secret), source: `${path}.secret` });
  }

  const algorithms = obj['algorithms'] === undefined ? undefined : r.list(obj, 'algorithms', path);
  algorithms?.forEach((a, n) => {
    const problem = algorithmProblem(a, secrets.length > 0);
    if (problem === 'none') r.fail(`${path}.algorithms[${n}]`, '"none" can never be enabled');
    if (problem === 'unknown') r.fail(`${path}.algorithms[${n}]`, `unknown algorithm "${a}"`);
    if (problem === 'needs_secret') r.fail(`${path}.algorithms[${n}]`, `${a} needs secret:`);
  });
  const skew = r.number(obj, 'clock_skew', path, 30);
  const claims: ClaimRule[] = [];
  if (obj['required_claims'] !== undefined) {
    const rc = r.object(obj['required_claims'], `${path}.required_claims`);
    for (const [claim, value] of Object.entries(rc)) {
      const at = `${path}.required_claims.${claim}`;
      const values = Array.isArray(value)
        ? value.map((v, n) => r.text(v, `${at}[${n}]`))
        : [r.text(value, at)];
      claims.push({
        claim: [claim],
        match: 'any',
        values,
        failure: 'claim',
        label: `required_claims.${claim}`,
      });
    }
  }
  const scopes = r
    .list(obj, 'required_scopes', path)
    .flatMap((s) => s.split(/[\s,]+/).filter(Boolean));
  if (scopes.length > 0) {
    claims.push({
      claim: ['scope'],
      match: 'all',
      values: scopes,
      failure: 'scope',
      label: 'required_scopes',
    });
  }
  const forward: Array<{ header: string; claim: string }> = [];
  if (obj['forward_claims'] !== undefined) {
    const fc = r.object(obj['forward_claims'], `${path}.forward_claims`);
    for (const [header, claim] of Object.entries(fc)) {
      const at = `${path}.forward_claims.${header}`;
      const problem = forwardHeaderProblem(header);
      if (problem === 'name') r.fail(at, `"${header}" is not a header name`);
      if (problem === 'reserved') r.fail(at, `cannot set the ${header} header`);
      forward.push({ header, claim: r.text(claim, at) });
    }
  }

  const credentialList =
    obj['credentials'] === undefined ? ['bearer'] : r.list(obj, 'credentials', path);
  credentialList.forEach((c, n) => {
    if (!(CREDENTIALS as readonly string[]).includes(c)) {
      r.fail(`${path}.credentials[${n}]`, `"${c}" is not one of ${CREDENTIALS.join(', ')}`);
    }
  });
  const tokenParams: Record<string, string> = {};
  if (obj['token_params'] !== undefined) {
    const tp = r.object(obj['token_params'], `${path}.token_params`);
    for (const [k, v] of Object.entries(tp))
      tokenParams[k] = r.text(v, `${path}.token_params.${k}`);
  }
  let clientCredentials: ClientCredentialsExchange | undefined;
  if (credentialList.includes('client_credentials')) {
    const cc =
      obj['client_credentials'] === undefined
        ? {}
        : r.object(obj['client_credentials'], `${path}.client_credentials`);
    r.unknown(cc, CLIENT_CREDENTIALS_FIELDS, `${path}.client_credentials`);
    const issuer = r.optText(cc, 'issuer', `${path}.client_credentials`) ?? issuers[0];
    const tokenEndpoint = r.optText(cc, 'token_endpoint', `${path}.client_credentials`);
    if (!issuer && !tokenEndpoint) {
      r.fail(
        `${path}.credentials`,
        'client_credentials needs an issuer (issuers: or client_credentials.issuer) or client_credentials.token_endpoint',
      );
    }
    const method =
      r.optText(cc, 'auth_method', `${path}.client_credentials`) ?? 'client_secret_basic';
    if (method !== 'client_secret_basic' && method !== 'client_secret_post') {
      r.fail(`${path}.client_credentials.auth_method`, 'client_secret_basic or client_secret_post');
    }
    const from =
      cc['from'] === undefined ? ['header'] : r.list(cc, 'from', `${path}.client_credentials`);
    for (const f of from)
      if (f !== 'header' && f !== 'query')
        r.fail(`${path}.client_credentials.from`, `"${f}": header or query`);
    const scope = r.optText(cc, 'scope', `${path}.client_credentials`);
    clientCredentials = {
      ...(issuer ? { issuer } : {}),
      ...(tokenEndpoint ? { tokenEndpoint } : {}),
      from: from as Array<'header' | 'query'>,
      authMethod: method,
      ...(scope ? { scope } : {}),
      params: tokenParams,
    };
  } else {
    if (Object.keys(tokenParams).length > 0)
      r.warn(`${path}.token_params`, 'not used: credentials does not list client_credentials');
    if (obj['client_credentials'] !== undefined)
      r.warn(
        `${path}.client_credentials`,
        'not used: credentials does not list client_credentials',
      );
  }
  let introspection: Introspection | undefined;
  if (credentialList.includes('introspection')) {
    if (obj['introspection'] === undefined)
      r.fail(
        `${path}.introspection`,
        'missing: client_id and client_secret the gateway introspects with',
      );
    const io = r.object(obj['introspection'], `${path}.introspection`);
    r.unknown(io, INTROSPECTION_FIELDS, `${path}.introspection`);
    const clientId = r.optText(io, 'client_id', `${path}.introspection`);
    const clientSecret = r.optText(io, 'client_secret', `${path}.introspection`);
    if (!clientId || !clientSecret)
      r.fail(`${path}.introspection`, 'client_id and client_secret are required');
    const issuer = r.optText(io, 'issuer', `${path}.introspection`) ?? issuers[0];
    const endpoint = r.optText(io, 'endpoint', `${path}.introspection`);
    if (!issuer && !endpoint)
      r.fail(
        `${path}.introspection`,
        'needs an issuer (issuers: or introspection.issuer) or introspection.endpoint',
      );
    const method = r.optText(io, 'auth_method', `${path}.introspection`) ?? 'client_secret_basic';
    if (method !== 'client_secret_basic' && method !== 'client_secret_post') {
      r.fail(`${path}.introspection.auth_method`, 'client_secret_basic or client_secret_post');
    }
    introspection = {
      ...(issuer ? { issuer } : {}),
      ...(endpoint ? { endpoint } : {}),
      clientId,
      clientSecret,
      authMethod: method,
      negativeTtlSeconds: r.number(io, 'cache_inactive', `${path}.introspection`, 10),
      maxTtlSeconds: r.number(io, 'max_cache', `${path}.introspection`, 300),
    };
  } else if (obj['introspection'] !== undefined) {
    r.warn(`${path}.introspection`, 'not used: credentials does not list introspection');
  }
  if (
    (credentialList.includes('bearer') || clientCredentials) &&
    issuers.length === 0 &&
    jwksUris.length === 0 &&
    publicKeys.length === 0 &&
    secrets.length === 0
  ) {
    r.fail(path, 'nothing to verify tokens with: give issuers, jwks_uris, public_keys or secret');
  }

  const rate =
    obj['rate_limit'] === undefined
      ? undefined
      : limitOf(r, obj['rate_limit'], `${path}.rate_limit`);
  const quota = obj['quota'] === undefined ? undefined : limitOf(r, obj['quota'], `${path}.quota`);
  const defaultKey: LimitKey = { by: 'claim', claim: ['sub'] };
  const limits = [
    ...nativeLimits(rate?.limit, undefined, rate?.key ?? defaultKey, ''),
    ...nativeLimits(undefined, quota?.limit, quota?.key ?? defaultKey, ''),
  ];
  const style = (r.optText(obj, 'errors', path) ?? 'rfc6750') as ErrorStyle;
  if (!STYLES.includes(style))
    r.fail(`${path}.errors`, `"${style}" is not one of ${STYLES.join(', ')}`);
  if (audiencesMissing(obj) && credentialList.includes('bearer')) {
    r.warn(
      path,
      'no audiences: the audience (aud) of tokens is not checked; any token from the trusted issuers passes',
      'skipped_check',
    );
  }
  return {
    name,
    source: { format: 'oidc-gw', file: doc.file, path },
    match: { path: prefix, stripPath: r.bool(obj, 'strip_path', path, false) },
    upstream: {
      url: upstream.href,
      timeoutMs:
        r.number(obj, 'upstream_timeout', path, ctx.defaults.upstreamTimeoutMs / 1000, 0.001) *
        1000,
    },
    token: BEARER_HEADER,
    trust: { issuers, jwksUris, publicKeys, secrets },
    checks: {
      ...DEFAULT_CHECKS,
      ...(algorithms ? { algorithms } : {}),
      skew: { exp: skew, nbf: skew, iat: skew },
      audiences: r.list(obj, 'audiences', path),
      claims,
      maxTokenBytes: wholeNumber(
        r,
        r.number(obj, 'max_token_size', path, ctx.defaults.maxTokenBytes, 1),
        `${path}.max_token_size`,
      ),
    },
    credentials: {
      bearer: credentialList.includes('bearer'),
      ...(clientCredentials ? { clientCredentials } : {}),
      ...(introspection ? { introspection } : {}),
    },
    forward: {
      claims: forward,
      stripAuthorization: r.bool(obj, 'strip_authorization', path, false),
      consumerHeaders: false,
    },
    limits,
    answers: { style },
  };
}

function audiencesMissing(obj: Record<string, unknown>): boolean {
  const a = obj['audiences'];
  return a === undefined || a === null || (Array.isArray(a) && a.length === 0);
}

/** Loads oidc-gw files: every API of every document. */
export async function loadNative(
  docs: readonly SourceDoc[],
  ctx: LoadContext,
): Promise<LoadResult> {
  const apis: ApiPlan[] = [];
  const warnings: Warning[] = [];
  for (const doc of docs) {
    const r = new Reader(doc.file, ctx.env);
    const top = r.object(doc.value, '');
    r.unknown(top, TOP_FIELDS, '');
    const raw = top['apis'];
    if (!Array.isArray(raw) || raw.length === 0)
      r.fail('apis', 'expected a list of at least one API');
    const list = raw as unknown[];
    for (let i = 0; i < list.length; i++) apis.push(await loadApi(r, list[i], i, ctx, doc));
    warnings.push(...r.warnings);
  }
  return { apis, warnings };
}
