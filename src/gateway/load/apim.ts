/**
 * The Azure API Management importer: a policy document (`<policies>` with
 * `inbound`, `backend`, `outbound`, `on-error`) compiled into one API of the
 * plan (docs/gateways/apim.md). A policy holds no backend, so `--upstream`
 * (and optionally `--path`) says where it applies.
 *
 * Supported: `validate-jwt`, `rate-limit-by-key`, `quota-by-key`,
 * `check-header`, the subset of policy expressions of `apim-expr.ts`, and
 * named values `{{name}}`. Everything else is a warning carrying its XPath
 * (`/policies/inbound/set-header[1]`), never silently dropped.
 *
 * Microsoft's own samples write expressions with raw `"`, `&&` and `<`
 * inside double-quoted attributes (`counter-key="@(context.Request.Headers.
 * GetValueOrDefault("Authorization",""))"`), which APIM accepts and an XML
 * parser does not: `escapeExpressions` escapes those characters inside each
 * `@(...)` / `@{...}` before the document is parsed.
 */
import { STATUS_CODES } from 'node:http';
import {
  DEFAULT_CHECKS,
  PlanError,
  normalizePrefix,
  slidingAlgorithm,
  type ApiPlan,
  type Checks,
  type ClaimRule,
  type HeaderCheck,
  type LimitRule,
  type PublicKeyFile,
  type SharedSecret,
  type TokenSource,
  type Warning,
} from '../plan.js';
import {
  expressionFacts,
  isExpression,
  parseCondition,
  parseExpression,
  SUBSCRIPTION_KEY_HEADER,
  type ExprWhere,
} from './apim-expr.js';
import type { LoadContext, LoadResult, Loader, SourceDoc } from './types.js';

/** The asymmetric algorithms validate-jwt documents (PS256, RS256, RS512). */
export const APIM_ASYMMETRIC_ALGORITHMS: readonly string[] = Object.freeze([
  'PS256',
  'RS256',
  'RS512',
]);
/** Inline base64 keys are HMAC keys. */
export const APIM_SYMMETRIC_ALGORITHMS: readonly string[] = Object.freeze([
  'HS256',
  'HS384',
  'HS512',
]);

/** `first-period-start` when not given. */
export const DEFAULT_FIRST_PERIOD_START = '0001-01-01T00:00:00Z';

/** The environment variable that may hold a named value: `OIDC_GW_NV_` + the name in upper snake case. */
export function namedValueEnvName(name: string): string {
  return `OIDC_GW_NV_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

// ---------------------------------------------------------------------------
// Recognising and pre-processing the document

function stripProlog(text: string): string {
  let t = text.replace(/^\uFEFF/, '');
  for (;;) {
    t = t.trimStart();
    if (t.startsWith('<?')) {
      const end = t.indexOf('?>');
      if (end < 0) return t;
      t = t.slice(end + 2);
    } else if (t.startsWith('<!--')) {
      const end = t.indexOf('-->');
      if (end < 0) return t;
      t = t.slice(end + 3);
    } else return t;
  }
}

/** XML whose root element is `<policies>`. */
export function isApimDocument(text: string): boolean {
  return /^<policies[\s/>]/.test(stripProlog(text));
}

const ENTITY = /^&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/;

/**
 * Finds the end (exclusive) of the expression starting at `start` (`@(` or
 * `@{`), with C# string and char literals skipped; -1 when it never closes.
 */
function expressionEnd(text: string, start: number, quote: string | null): number {
  let depth = 0;
  let j = start + 1;
  while (j < text.length) {
    const ch = text[j] as string;
    if (ch === '"' || text.startsWith('&quot;', j)) {
      const verbatim = text[j - 1] === '@';
      j += ch === '"' ? 1 : 6;
      for (;;) {
        if (j >= text.length) return -1;
        if (!verbatim && text[j] === '\\') {
          j += 2;
          continue;
        }
        if (text[j] === '"' || text.startsWith('&quot;', j)) {
          const len = text[j] === '"' ? 1 : 6;
          if (verbatim && text[j + len] === '"') {
            j += len + 1;
            continue;
          }
          j += len;
          break;
        }
        j++;
      }
      continue;
    }
    if (ch === "'" && quote !== "'") {
      // A C# char literal: 'x' or '\x'.
      const close = text[j + 1] === '\\' ? j + 3 : j + 2;
      if (text[close] === "'") {
        j = close + 1;
        continue;
      }
    }
    if (ch === '(' || ch === '{' || ch === '[') depth++;
    else if (ch === ')' || ch === '}' || ch === ']') {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  return -1;
}

function escapeSpan(span: string, quote: string | null): string {
  let out = '';
  for (let k = 0; k < span.length; k++) {
    const ch = span[k] as string;
    if (ch === '&') out += ENTITY.test(span.slice(k)) ? '&' : '&amp;';
    else if (ch === '<') out += '&lt;';
    else if (ch === '>') out += '&gt;';
    else if (ch === '"' && quote === '"') out += '&quot;';
    else if (ch === "'" && quote === "'") out += '&apos;';
    else out += ch;
  }
  return out;
}

/**
 * Escapes `"`, `&`, `<` and `>` inside policy expressions (attribute values
 * and element texts that start with `@(` or `@{`), as APIM's own loader
 * tolerates them. Everything else is left byte for byte.
 */
export function escapeExpressions(text: string): string {
  let out = '';
  let i = 0;
  let afterTag = false;
  while (i < text.length) {
    if (text.startsWith('<!--', i) || text.startsWith('<![CDATA[', i) || text.startsWith('<?', i)) {
      const close = text.startsWith('<!--', i) ? '-->' : text.startsWith('<?', i) ? '?>' : ']]>';
      const end = text.indexOf(close, i);
      const stop = end < 0 ? text.length : end + close.length;
      out += text.slice(i, stop);
      i = stop;
      afterTag = false;
      continue;
    }
    const ch = text[i] as string;
    if (ch === '<') {
      // A tag: copy names, escape attribute values that are expressions.
      let j = i + 1;
      out += '<';
      while (j < text.length && text[j] !== '>') {
        const c = text[j] as string;
        if (c === '"' || c === "'") {
          out += c;
          j++;
          if (text.startsWith('@(', j) || text.startsWith('@{', j)) {
            const end = expressionEnd(text, j, c);
            if (end > 0 && text[end] === c) {
              out += escapeSpan(text.slice(j, end), c);
              j = end;
            }
          }
          const close = text.indexOf(c, j);
          const stop = close < 0 ? text.length : close + 1;
          out += text.slice(j, stop);
          j = stop;
          continue;
        }
        out += c;
        j++;
      }
      if (j < text.length) out += '>';
      i = j + 1;
      afterTag = true;
      continue;
    }
    if (afterTag && (text.startsWith('@(', i) || text.startsWith('@{', i))) {
      const end = expressionEnd(text, i, null);
      if (end > 0) {
        out += escapeSpan(text.slice(i, end), null);
        i = end;
        afterTag = false;
        continue;
      }
    }
    if (!/\s/.test(ch)) afterTag = false;
    out += ch;
    i++;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The element tree

interface XNode {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: readonly XNode[];
  /** The element's own text, trimmed. */
  readonly text: string;
  /** XPath: `/policies/inbound/validate-jwt[1]`. */
  readonly path: string;
}

type Ordered = Record<string, unknown>;

function toTree(items: readonly Ordered[], parentPath: string): XNode[] {
  // `/policies` and its sections have no index; policies and their children do.
  const indexed = parentPath.split('/').length > 2;
  const counts = new Map<string, number>();
  const nodes: XNode[] = [];
  for (const item of items) {
    const name = Object.keys(item).find((k) => k !== ':@');
    if (name === undefined || name === '#text' || name.startsWith('?')) continue;
    const n = (counts.get(name) ?? 0) + 1;
    counts.set(name, n);
    const path = `${parentPath}/${name}${indexed ? `[${n}]` : ''}`;
    const content = (item[name] ?? []) as Ordered[];
    const attrs: Record<string, string> = {};
    for (const [k, v] of Object.entries((item[':@'] ?? {}) as Record<string, unknown>))
      attrs[k] = String(v);
    const text = content
      .filter((c) => '#text' in c)
      .map((c) => String(c['#text']))
      .join('')
      .trim();
    nodes.push({ name, attrs, children: toTree(content, path), text, path });
  }
  return nodes;
}

// ---------------------------------------------------------------------------
// Reading one document

interface Reader {
  readonly file: string;
  readonly ctx: LoadContext;
  readonly warnings: Warning[];
}

function warn(r: Reader, path: string, kind: Warning['kind'], message: string): void {
  r.warnings.push({ file: r.file, path, kind, message });
}

function fail(r: Reader, path: string, message: string): never {
  throw new PlanError(r.file, path, message);
}

/** `{{name}}` replaced from --named-value, then the environment. */
function substitute(r: Reader, value: string, path: string): string {
  return value.replace(/\{\{([^{}]+)\}\}/g, (_m, raw: string) => {
    const name = raw.trim();
    const found = r.ctx.namedValues[name] ?? r.ctx.env[name] ?? r.ctx.env[namedValueEnvName(name)];
    if (found === undefined)
      fail(
        r,
        path,
        `named value "${name}" is not defined: give --named-value ${name}=VALUE or set ${namedValueEnvName(name)}`,
      );
    return found;
  });
}

function attr(r: Reader, node: XNode, name: string): string | undefined {
  const v = node.attrs[name];
  return v === undefined ? undefined : substitute(r, v, `${node.path}/@${name}`);
}

function textOf(r: Reader, node: XNode): string {
  return substitute(r, node.text, node.path);
}

/** An attribute that must be a constant (no policy expression). */
function constAttr(r: Reader, node: XNode, name: string): string | undefined {
  const v = attr(r, node, name);
  if (v !== undefined && isExpression(v))
    fail(
      r,
      `${node.path}/@${name}`,
      `a policy expression in ${name} is not supported (${v.trim().slice(0, 80)}); give a constant`,
    );
  return v;
}

function intAttr(
  r: Reader,
  node: XNode,
  name: string,
  range: { min: number; max: number },
): number | undefined {
  const v = constAttr(r, node, name);
  if (v === undefined) return undefined;
  const t = v.trim();
  if (!/^\d+$/.test(t) || Number(t) < range.min || Number(t) > range.max)
    fail(
      r,
      `${node.path}/@${name}`,
      `${name} must be an integer from ${range.min} to ${range.max}, not "${t}"`,
    );
  return Number(t);
}

function boolAttr(r: Reader, node: XNode, name: string, fallback: boolean): boolean {
  const v = constAttr(r, node, name);
  if (v === undefined) return fallback;
  const t = v.trim().toLowerCase();
  if (t !== 'true' && t !== 'false')
    fail(r, `${node.path}/@${name}`, `${name} must be true or false, not "${v}"`);
  return t === 'true';
}

/** A TimeSpan or a number of seconds (`clock-skew="60"`, `"00:01:00"`). */
function secondsAttr(r: Reader, node: XNode, name: string): number | undefined {
  const v = constAttr(r, node, name);
  if (v === undefined) return undefined;
  const t = v.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const m = /^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$/.exec(t);
  if (m) return Number(m[1] ?? 0) * 86400 + Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4]);
  return fail(r, `${node.path}/@${name}`, `${name} must be seconds or hh:mm:ss, not "${t}"`);
}

/**
 * Attributes the importer reads, per element; `id` is every policy's
 * (context.LastError.PolicyId, docs/gateways/apim.md "The document").
 * Anything else is a warning with its XPath, never silently dropped.
 */
const KNOWN_ATTRIBUTES: Readonly<Record<string, readonly string[]>> = {
  'validate-jwt': [
    'id',
    'header-name',
    'query-parameter-name',
    'token-value',
    'failed-validation-httpcode',
    'failed-validation-error-message',
    'require-expiration-time',
    'require-scheme',
    'require-signed-tokens',
    'clock-skew',
    'output-token-variable-name',
  ],
  'openid-config': ['url'],
  key: ['id', 'certificate-id', 'n', 'e'],
  claim: ['name', 'match', 'separator'],
  audience: [],
  issuer: [],
  value: [],
  'rate-limit-by-key': [
    'id',
    'calls',
    'renewal-period',
    'counter-key',
    'increment-condition',
    'increment-count',
    'retry-after-header-name',
    'retry-after-variable-name',
    'remaining-calls-header-name',
    'remaining-calls-variable-name',
    'total-calls-header-name',
  ],
  'quota-by-key': [
    'id',
    'calls',
    'bandwidth',
    'renewal-period',
    'counter-key',
    'increment-condition',
    'increment-count',
    'first-period-start',
  ],
  'check-header': [
    'id',
    'name',
    'failed-check-httpcode',
    'failed-check-error-message',
    'ignore-case',
  ],
  'forward-request': ['id', 'timeout'],
};

/** Warns about each attribute of `node` the importer does not read. */
function unknownAttributes(
  r: Reader,
  node: XNode,
  known = KNOWN_ATTRIBUTES[node.name] ?? [],
): void {
  for (const name of Object.keys(node.attrs))
    if (!known.includes(name))
      warn(
        r,
        `${node.path}/@${name}`,
        'ignored',
        `${name} is not an attribute of ${node.name} that oidc-gw runs: ignored`,
      );
}

/** Warns about each child element of `node` (a policy or a value) the importer does not read. */
function unknownChildren(r: Reader, node: XNode, known: readonly string[] = []): void {
  for (const c of node.children)
    if (!known.includes(c.name))
      warn(r, c.path, 'ignored', `<${c.name}> is not part of <${node.name}>: ignored`);
}

function exprWhere(r: Reader, path: string): ExprWhere {
  return { file: r.file, path };
}

function decodeBase64(text: string): Uint8Array | undefined {
  const t = text.replace(/\s+/g, '');
  if (t.length === 0 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) return undefined;
  return new Uint8Array(Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64'));
}

function toBase64url(text: string): string {
  return text.replace(/\s+/g, '').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// ---------------------------------------------------------------------------
// validate-jwt

interface JwtPart {
  readonly node: XNode;
  readonly token: TokenSource;
  readonly issuers: readonly string[];
  readonly publicKeys: readonly PublicKeyFile[];
  readonly secrets: readonly SharedSecret[];
  readonly checks: Checks;
  readonly failedStatus?: number;
  readonly failedMessage?: string;
  /** The header the token is read from (lower-case), for the counter-key check. */
  readonly header?: string;
  readonly schemeRequired: boolean;
  /** Position in the inbound section. */
  readonly order: number;
  /** output-token-variable-name, read by `<choose>` conditions. */
  readonly outputVar?: string;
}

function readValidateJwt(r: Reader, node: XNode, order: number): JwtPart {
  const p = node.path;
  unknownAttributes(r, node);
  const headerName = constAttr(r, node, 'header-name');
  const queryName = constAttr(r, node, 'query-parameter-name');
  const tokenValue = attr(r, node, 'token-value');
  const given = [headerName, queryName, tokenValue].filter((v) => v !== undefined).length;
  if (given !== 1)
    fail(
      r,
      p,
      'validate-jwt needs exactly one of header-name, query-parameter-name and token-value',
    );
  const requireScheme = constAttr(r, node, 'require-scheme');
  let token: TokenSource;
  let header: string | undefined;
  let schemeRequired = false;
  if (headerName === undefined && requireScheme !== undefined)
    // The policy reference: require-scheme checks the scheme of the Authorization header's value.
    warn(
      r,
      `${p}/@require-scheme`,
      'note',
      `require-scheme applies to the Authorization header; with ${queryName !== undefined ? 'query-parameter-name' : 'token-value'} it is not run`,
    );
  if (headerName !== undefined) {
    header = headerName.trim().toLowerCase();
    if (requireScheme !== undefined && header !== 'authorization') {
      warn(
        r,
        `${p}/@require-scheme`,
        'note',
        'require-scheme is ignored with a header-name other than Authorization, as APIM ignores it',
      );
    } else if (requireScheme !== undefined) {
      if (requireScheme.trim().toLowerCase() !== 'bearer')
        fail(
          r,
          `${p}/@require-scheme`,
          `require-scheme "${requireScheme}" is not supported (only Bearer)`,
        );
      schemeRequired = true;
    }
    token = {
      headers: [header],
      scheme: schemeRequired ? 'required' : 'optional',
      query: [],
      cookies: [],
    };
  } else if (queryName !== undefined) {
    token = { headers: [], scheme: 'optional', query: [queryName.trim()], cookies: [] };
  } else {
    const where = `${p}/@token-value`;
    const facts = expressionFacts(parseExpression(tokenValue as string, exprWhere(r, where)));
    if (facts.headerOnly === undefined)
      fail(
        r,
        where,
        'token-value is supported only as a header read: @(context.Request.Headers.GetValueOrDefault("NAME",""))',
      );
    header = facts.headerOnly.toLowerCase();
    token = { headers: [header], scheme: 'optional', query: [], cookies: [] };
    warn(
      r,
      where,
      'note',
      `the token is read from the ${facts.headerOnly} header; a leading "Bearer " is stripped, which APIM's token-value would not do`,
    );
  }

  const failedStatus = intAttr(r, node, 'failed-validation-httpcode', { min: 100, max: 599 });
  const failedMessage = attr(r, node, 'failed-validation-error-message');
  if (failedMessage !== undefined && isExpression(failedMessage))
    fail(
      r,
      `${p}/@failed-validation-error-message`,
      'a policy expression in failed-validation-error-message is not supported; give a constant',
    );
  const requireExp = boolAttr(r, node, 'require-expiration-time', true);
  if (!boolAttr(r, node, 'require-signed-tokens', true))
    warn(
      r,
      `${p}/@require-signed-tokens`,
      'note',
      'require-signed-tokens="false" lets APIM accept unsigned tokens; oidc-gw still refuses them',
    );
  const skew = secondsAttr(r, node, 'clock-skew') ?? 0;
  const outputVar = constAttr(r, node, 'output-token-variable-name');

  const issuers: string[] = [];
  const publicKeys: PublicKeyFile[] = [];
  const secrets: SharedSecret[] = [];
  const audiences: string[] = [];
  const allowedIssuers: string[] = [];
  const claims: ClaimRule[] = [];
  let audienceFromHost = false;
  const listOf = (el: XNode, child: string): string[] => {
    unknownChildren(r, el, [child]);
    return el.children
      .filter((c) => c.name === child)
      .flatMap((c) => {
        unknownAttributes(r, c);
        unknownChildren(r, c);
        const v = textOf(r, c);
        // Microsoft's "simple token validation" sample: the audience is the gateway's host name.
        if (child === 'audience' && HOST_AUDIENCE.test(v)) {
          audienceFromHost = true;
          return [];
        }
        if (isExpression(v)) parseExpression(v, exprWhere(r, c.path));
        if (isExpression(v))
          fail(r, c.path, `a policy expression is not supported here (${v}); give a constant`);
        return [v];
      });
  };

  for (const el of node.children) {
    switch (el.name) {
      case 'openid-config': {
        unknownAttributes(r, el);
        unknownChildren(r, el);
        const url = constAttr(r, el, 'url');
        if (!url) fail(r, el.path, 'openid-config needs a url');
        let parsed: URL;
        try {
          parsed = new URL(url.trim());
        } catch {
          return fail(r, `${el.path}/@url`, `not a URL: "${url}"`);
        }
        if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
          fail(r, `${el.path}/@url`, `openid-config url must be http(s): "${url}"`);
        issuers.push(parsed.href);
        break;
      }
      case 'issuer-signing-keys':
        for (const key of el.children) {
          if (key.name !== 'key') {
            warn(r, key.path, 'ignored', `<${key.name}> is not a key: ignored`);
            continue;
          }
          unknownAttributes(r, key);
          unknownChildren(r, key);
          const kid = constAttr(r, key, 'id');
          const n = constAttr(r, key, 'n');
          const e = constAttr(r, key, 'e');
          const certificate = constAttr(r, key, 'certificate-id');
          const source = `${r.file}: ${key.path}`;
          if (certificate !== undefined) {
            warn(
              r,
              key.path,
              'ignored',
              `certificate-id "${certificate}" names a certificate uploaded to APIM, which is not available locally: give the key as n/e (or the openid-config) to emulate it`,
            );
          } else if (n !== undefined || e !== undefined) {
            if (!n || !e) fail(r, key.path, 'a key needs both n and e');
            const jwk: Record<string, string> = {
              kty: 'RSA',
              n: toBase64url(n),
              e: toBase64url(e),
            };
            if (kid !== undefined) jwk['kid'] = kid;
            publicKeys.push({
              text: JSON.stringify(jwk),
              source,
              algorithms: APIM_ASYMMETRIC_ALGORITHMS,
              ...(kid === undefined ? {} : { kid }),
            });
          } else {
            const value = textOf(r, key);
            if (isExpression(value))
              fail(r, key.path, 'a policy expression is not supported as a key');
            const secret = decodeBase64(value);
            if (!secret || secret.length === 0)
              fail(r, key.path, 'the key is not base64 (a symmetric key is given base64-encoded)');
            secrets.push({
              secret,
              algorithms: APIM_SYMMETRIC_ALGORITHMS,
              source,
              ...(kid === undefined ? {} : { kid }),
            });
          }
        }
        break;
      case 'decryption-keys':
        warn(r, el.path, 'ignored', 'encrypted tokens (JWE) are not accepted by oidc-gw');
        break;
      case 'audiences':
        audiences.push(...listOf(el, 'audience'));
        break;
      case 'issuers':
        allowedIssuers.push(...listOf(el, 'issuer'));
        break;
      case 'required-claims':
        for (const c of el.children) {
          if (c.name !== 'claim') {
            warn(r, c.path, 'ignored', `<${c.name}> is not a claim: ignored`);
            continue;
          }
          unknownAttributes(r, c);
          const name = constAttr(r, c, 'name');
          if (!name) fail(r, c.path, 'a claim needs a name');
          const match = (constAttr(r, c, 'match') ?? 'all').trim().toLowerCase();
          if (match !== 'all' && match !== 'any')
            fail(r, `${c.path}/@match`, `match must be all or any, not "${match}"`);
          const separator = constAttr(r, c, 'separator');
          const values = listOf(c, 'value');
          claims.push({
            claim: [name],
            match: values.length === 0 ? 'present' : match,
            values,
            ...(separator ? { separator } : {}),
            failure: 'claim',
            label: `required-claims/claim[@name='${name}']`,
          });
        }
        break;
      default:
        warn(r, el.path, 'ignored', `<${el.name}> is not part of validate-jwt: ignored`);
    }
  }

  if (issuers.length === 0 && publicKeys.length === 0 && secrets.length === 0)
    fail(
      r,
      p,
      'validate-jwt has no key oidc-gw can use: add an openid-config, or issuer-signing-keys with a base64 key or n/e',
    );
  if (audienceFromHost)
    warn(
      r,
      `${p}/audiences`,
      'note',
      'the audience is the host the client calls (context.Request.OriginalUrl.Host): locally that is whatever Host header a client sends, so a client can pick the audience a token must have; the deployed APIM only takes its configured host names',
    );
  if (audiences.length === 0 && !audienceFromHost)
    warn(
      r,
      p,
      'skipped_check',
      'no <audiences>: APIM does not check aud, so tokens for any audience are accepted',
    );
  if (allowedIssuers.length === 0 && issuers.length === 0)
    warn(
      r,
      p,
      'skipped_check',
      'no <issuers> and no openid-config: APIM does not check iss, so tokens of any issuer signed with these keys are accepted',
    );

  const strict = r.ctx.strict;
  const checks: Checks = {
    ...DEFAULT_CHECKS,
    algorithms:
      secrets.length > 0
        ? [...APIM_ASYMMETRIC_ALGORITHMS, ...APIM_SYMMETRIC_ALGORITHMS]
        : APIM_ASYMMETRIC_ALGORITHMS,
    exp: requireExp || strict ? 'required' : 'if_present',
    nbf: 'if_present',
    // APIM does not compare iat with the clock; --strict adds it.
    iat: strict ? 'if_present' : 'off',
    skew: { exp: skew, nbf: skew, iat: skew },
    issuers: allowedIssuers,
    audiences,
    ...(audienceFromHost ? { audienceFromHost } : {}),
    claims,
    maxTokenBytes: r.ctx.defaults.maxTokenBytes,
  };
  return {
    node,
    token,
    issuers,
    publicKeys,
    secrets,
    checks,
    ...(failedStatus === undefined ? {} : { failedStatus }),
    ...(failedMessage === undefined ? {} : { failedMessage }),
    ...(header === undefined ? {} : { header }),
    schemeRequired,
    order,
    ...(outputVar === undefined ? {} : { outputVar: outputVar.trim() }),
  };
}

// ---------------------------------------------------------------------------
// Limits

interface LimitPart {
  readonly rule: LimitRule;
  readonly node: XNode;
  /** Headers whose value the counter key reads through AsJwt(). */
  readonly jwtHeaders: readonly string[];
  /** Position in the inbound section. */
  readonly order: number;
}

function counterKey(r: Reader, node: XNode): { source: string; jwtHeaders: readonly string[] } {
  const source = attr(r, node, 'counter-key');
  if (source === undefined || source.trim() === '')
    fail(r, node.path, `${node.name} needs a counter-key`);
  const facts = expressionFacts(parseExpression(source, exprWhere(r, `${node.path}/@counter-key`)));
  if (facts.usesSubscription)
    warn(
      r,
      `${node.path}/@counter-key`,
      'note',
      `subscriptions are not emulated: context.Subscription.Key is the ${SUBSCRIPTION_KEY_HEADER} header as sent, not checked against any subscription (none sent: null, answered with 500), and context.Subscription.Id is null`,
    );
  return { source: source.trim(), jwtHeaders: facts.jwtHeaders };
}

function incrementOptions(
  r: Reader,
  node: XNode,
): { cost?: number; countWhen?: LimitRule['countWhen'] } {
  const cost = intAttr(r, node, 'increment-count', { min: 1, max: 1_000_000 });
  const out: { cost?: number; countWhen?: LimitRule['countWhen'] } =
    cost === undefined || cost === 1 ? {} : { cost };
  const condition = attr(r, node, 'increment-condition');
  if (condition !== undefined) {
    const where = `${node.path}/@increment-condition`;
    const tree = parseCondition(condition, exprWhere(r, where));
    if (tree.t === 'bool') {
      if (!tree.value) out.countWhen = { never: true };
    } else {
      out.countWhen = { expression: condition.trim() };
    }
  }
  return out;
}

function readRateLimitByKey(r: Reader, node: XNode, id: string, order: number): LimitPart {
  unknownAttributes(r, node);
  unknownChildren(r, node);
  const calls = intAttr(r, node, 'calls', { min: 1, max: Number.MAX_SAFE_INTEGER });
  if (calls === undefined) fail(r, node.path, 'rate-limit-by-key needs calls');
  const period = intAttr(r, node, 'renewal-period', { min: 1, max: 300 });
  if (period === undefined) fail(r, node.path, 'rate-limit-by-key needs renewal-period');
  const key = counterKey(r, node);
  for (const a of ['retry-after-variable-name', 'remaining-calls-variable-name'])
    if (node.attrs[a] !== undefined)
      warn(r, `${node.path}/@${a}`, 'ignored', `${a}: context variables are not kept`);
  return {
    node,
    order,
    jwtHeaders: key.jwtHeaders,
    rule: {
      id,
      kind: 'rate',
      // docs/gateways/apim.md, "rate-limit-by-key": exact up to 1,000 calls.
      algorithm: slidingAlgorithm(calls),
      limit: calls,
      periodMs: period * 1000,
      countRefused: false,
      key: { by: 'expression', source: key.source },
      label: node.path,
      ...incrementOptions(r, node),
    },
  };
}

function readQuotaByKey(r: Reader, node: XNode, id: string, order: number): LimitPart | undefined {
  unknownAttributes(r, node);
  unknownChildren(r, node);
  const calls = intAttr(r, node, 'calls', { min: 1, max: Number.MAX_SAFE_INTEGER });
  if (node.attrs['bandwidth'] !== undefined)
    warn(
      r,
      `${node.path}/@bandwidth`,
      'ignored',
      'bandwidth (kilobytes) is not counted: only calls are',
    );
  const period = intAttr(r, node, 'renewal-period', { min: 0, max: Number.MAX_SAFE_INTEGER });
  if (period === undefined) fail(r, node.path, 'quota-by-key needs renewal-period');
  if (period !== 0 && period < 300)
    fail(
      r,
      `${node.path}/@renewal-period`,
      'renewal-period must be at least 300 seconds (or 0: never resets)',
    );
  const startText = (constAttr(r, node, 'first-period-start') ?? DEFAULT_FIRST_PERIOD_START).trim();
  const startMs = Date.parse(startText);
  if (
    Number.isNaN(startMs) ||
    !/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/.test(startText)
  )
    fail(r, `${node.path}/@first-period-start`, `not an ISO 8601 date-time: "${startText}"`);
  const key = counterKey(r, node);
  if (calls === undefined) {
    if (node.attrs['bandwidth'] === undefined) fail(r, node.path, 'quota-by-key needs calls');
    return undefined;
  }
  if (period === 0)
    warn(r, `${node.path}/@renewal-period`, 'note', 'renewal-period="0": the quota never resets');
  return {
    node,
    order,
    jwtHeaders: key.jwtHeaders,
    rule: {
      id,
      kind: 'quota',
      algorithm: 'fixed_from_start',
      limit: calls,
      // 0: one window that never ends (the limit store's fixed_from_start).
      periodMs: period * 1000,
      startMs,
      countRefused: false,
      key: { by: 'expression', source: key.source },
      label: node.path,
      ...incrementOptions(r, node),
    },
  };
}

// ---------------------------------------------------------------------------
// check-header

function readCheckHeader(r: Reader, node: XNode, afterToken: boolean): HeaderCheck {
  unknownAttributes(r, node);
  const name = constAttr(r, node, 'name');
  if (!name) fail(r, node.path, 'check-header needs a name');
  const status = intAttr(r, node, 'failed-check-httpcode', { min: 100, max: 599 });
  if (status === undefined) fail(r, node.path, 'check-header needs failed-check-httpcode');
  const message = attr(r, node, 'failed-check-error-message');
  if (message === undefined) fail(r, node.path, 'check-header needs failed-check-error-message');
  if (isExpression(message))
    fail(r, `${node.path}/@failed-check-error-message`, 'a policy expression is not supported');
  const values: string[] = [];
  for (const c of node.children) {
    if (c.name !== 'value') {
      warn(r, c.path, 'ignored', `<${c.name}> is not a value: ignored`);
      continue;
    }
    const v = textOf(r, c);
    if (isExpression(v)) fail(r, c.path, 'a policy expression is not supported as a value');
    values.push(v);
  }
  return {
    header: name.trim().toLowerCase(),
    values,
    ignoreCase: boolAttr(r, node, 'ignore-case', false),
    status,
    message,
    label: node.path,
    ...(afterToken ? { afterToken } : {}),
  };
}

// ---------------------------------------------------------------------------
// choose / return-response: the documented "403 on a claim" pattern

interface ForbiddenPart {
  readonly rule: ClaimRule;
  readonly response: { status: number; headers: Record<string, string>; body: string };
}

/** `<audience>@(context.Request.OriginalUrl.Host)</audience>`: the host the client called. */
const HOST_AUDIENCE = /^@\(\s*context\s*\.\s*Request\s*\.\s*OriginalUrl\s*\.\s*Host\s*\)$/;

/** `context.Request.Method == "POST"` (either side) as the first term of a choose condition. */
const METHOD_TERM =
  /^(?:context\s*\.\s*Request\s*\.\s*Method\s*==\s*"([A-Za-z]+)"|"([A-Za-z]+)"\s*==\s*context\s*\.\s*Request\s*\.\s*Method)$/;

const CLAIM_TERM =
  /^!\s*\(\s*\(\s*Jwt\s*\)\s*context\s*\.\s*Variables\s*\[\s*"([^"]+)"\s*\]\s*\)\s*\.\s*Claims\s*\[\s*"([^"]+)"\s*\]\s*\.\s*Contains\s*\(\s*"([^"]*)"\s*\)$/;

/**
 * `<choose><when condition="@(!((Jwt)context.Variables["jwt"]).Claims["group"].Contains("finance"))">
 * <return-response><set-status code="403" .../></return-response></when></choose>`
 * after a validate-jwt with `output-token-variable-name="jwt"`: terms joined
 * with `&&` (none of the values: refused) or `||` (one missing: refused),
 * all on one claim. Anything else: undefined, with the reason.
 */
function readChoose(
  r: Reader,
  node: XNode,
  jwt: JwtPart | undefined,
): ForbiddenPart | { unsupported: string } {
  const whens = node.children.filter((c) => c.name === 'when');
  const others = node.children.filter((c) => c.name !== 'when');
  if (whens.length !== 1 || others.some((o) => o.name !== 'otherwise' || o.children.length > 0))
    return { unsupported: 'only one <when> (and no <otherwise> policies) is supported' };
  const when = whens[0] as XNode;
  const condition = (attr(r, when, 'condition') ?? '').trim();
  if (!condition.startsWith('@(') || !condition.endsWith(')'))
    return { unsupported: 'the condition is not a @(...) expression' };
  let inner = condition.slice(2, -1).trim();
  // Microsoft's sample scopes the test to a method: `context.Request.Method == "POST" && !(...)`.
  let methods: string[] | undefined;
  const first = inner.split('&&')[0]?.trim() ?? '';
  const method = METHOD_TERM.exec(first);
  if (method) {
    methods = [(method[1] ?? method[2] ?? '').toUpperCase()];
    inner = inner.slice(inner.indexOf('&&') + 2).trim();
    if (inner.includes('&&') || inner.includes('||'))
      return {
        unsupported: 'after a method test, only one Claims["c"].Contains("v") term is supported',
      };
  }
  const and = inner.split('&&');
  const or = inner.split('||');
  if (and.length > 1 && or.length > 1) return { unsupported: 'mixed && and ||' };
  const terms = (and.length > 1 ? and : or).map((t) => CLAIM_TERM.exec(t.trim()));
  if (terms.some((t) => t === null))
    return {
      unsupported: `the condition ${condition.slice(0, 120)} is not a negated Claims["c"].Contains("v") test of the validated token`,
    };
  const matches = terms as RegExpExecArray[];
  const variable = matches[0]?.[1] as string;
  const claim = matches[0]?.[2] as string;
  if (matches.some((m) => m[1] !== variable || m[2] !== claim))
    return { unsupported: 'the terms test more than one variable or claim' };
  if (!jwt || jwt.outputVar !== variable)
    return {
      unsupported: `no validate-jwt before it keeps the token in "${variable}" (output-token-variable-name)`,
    };
  const actions = when.children;
  const ret = actions[0];
  if (actions.length !== 1 || ret?.name !== 'return-response')
    return { unsupported: 'the <when> must hold only a <return-response>' };
  let status: number | undefined;
  const headers: Record<string, string> = {};
  let body = '';
  for (const c of ret.children) {
    if (c.name === 'set-status') {
      unknownAttributes(r, c, ['code', 'reason']);
      status = intAttr(r, c, 'code', { min: 400, max: 499 });
      // The status line carries the standard phrase; another one is not sent.
      const reason = constAttr(r, c, 'reason');
      if (reason !== undefined && status !== undefined && reason !== STATUS_CODES[status])
        warn(
          r,
          `${c.path}/@reason`,
          'ignored',
          `the status line says "${STATUS_CODES[status] ?? ''}", not "${reason}"`,
        );
    } else if (c.name === 'set-header') {
      unknownAttributes(r, c, ['name', 'exists-action']);
      const name = constAttr(r, c, 'name');
      const values = c.children.filter((v) => v.name === 'value').map((v) => textOf(r, v));
      if (!name || values.some(isExpression))
        return { unsupported: 'set-header needs a name and constant values' };
      headers[name.trim().toLowerCase()] = values.join(',');
    } else if (c.name === 'set-body') {
      body = textOf(r, c);
      if (isExpression(body)) return { unsupported: 'set-body must be a constant' };
    } else return { unsupported: `<${c.name}> in return-response is not supported` };
  }
  if (status === undefined) return { unsupported: 'return-response needs a set-status code' };
  const values = matches.map((m) => m[3] as string);
  return {
    rule: {
      claim: [claim],
      // && of "not contains": refused when none is there, so any one suffices.
      match: and.length > 1 || values.length === 1 ? 'any' : 'all',
      values,
      failure: 'forbidden',
      label: `${node.path} (Claims["${claim}"]${methods ? `, ${methods.join(', ')} only` : ''})`,
      ...(methods ? { methods } : {}),
    },
    response: { status, headers, body },
  };
}

// ---------------------------------------------------------------------------
// The document

const SECTIONS = ['inbound', 'backend', 'outbound', 'on-error'];

async function parseDocument(r: Reader, text: string): Promise<XNode> {
  if (/<!DOCTYPE/i.test(text)) fail(r, '', 'a DOCTYPE is not allowed in a policy document');
  const escaped = escapeExpressions(text);
  const { XMLParser, XMLValidator } = await import('fast-xml-parser');
  const valid = XMLValidator.validate(escaped);
  if (valid !== true) fail(r, '', `not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const parser = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '',
    parseTagValue: false,
    parseAttributeValue: false,
    // Attribute values keep their spaces (a claim separator may be " "); texts are trimmed in toTree.
    trimValues: false,
    processEntities: true,
    ignoreDeclaration: true,
    ignorePiTags: true,
  });
  const tree = toTree(parser.parse(escaped) as Ordered[], '');
  const root = tree.find((n) => n.name === 'policies');
  if (!root || tree.length !== 1) fail(r, '', 'the root element must be <policies>');
  return root;
}

function apiName(file: string): string {
  const base = file.split(/[\\/]/).pop() ?? file;
  const name = base.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]/g, '-');
  return name.length > 0 ? name : 'apim';
}

function checkUpstream(r: Reader, upstream: string | undefined): string {
  if (upstream === undefined || upstream.trim() === '')
    fail(r, '', 'an APIM policy needs --upstream (the policy holds no backend)');
  let url: URL;
  try {
    url = new URL(upstream.trim());
  } catch {
    return fail(r, '', `--upstream is not a URL: "${upstream}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    fail(r, '', `--upstream must be http or https: "${upstream}"`);
  return upstream.trim();
}

async function loadOne(doc: SourceDoc, ctx: LoadContext): Promise<LoadResult> {
  const r: Reader = { file: doc.file, ctx, warnings: [] };
  const upstream = checkUpstream(r, ctx.upstream);
  const root = await parseDocument(r, doc.text);

  let jwt: JwtPart | undefined;
  let timeoutMs = ctx.defaults.upstreamTimeoutMs;
  const limits: LimitPart[] = [];
  const headerChecks: HeaderCheck[] = [];
  const forbidden: ForbiddenPart[] = [];
  const ids = new Map<string, number>();
  const nextId = (base: string): string => {
    const n = (ids.get(base) ?? 0) + 1;
    ids.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  };
  let baseNoted = false;
  const seen = new Set<string>();

  for (const section of root.children) {
    if (!SECTIONS.includes(section.name)) {
      warn(r, section.path, 'ignored', `<${section.name}> is not a policy section: ignored`);
      continue;
    }
    if (seen.has(section.name)) fail(r, section.path, `more than one <${section.name}>`);
    seen.add(section.name);
    for (const [order, policy] of section.children.entries()) {
      if (policy.name === 'base') {
        if (!baseNoted)
          warn(
            r,
            policy.path,
            'note',
            '<base/> runs the policies of the enclosing scopes (global, product, API), which are not known locally: only this document runs',
          );
        baseNoted = true;
        continue;
      }
      if (section.name === 'backend' && policy.name === 'forward-request') {
        unknownAttributes(r, policy);
        unknownChildren(r, policy);
        const timeout = intAttr(r, policy, 'timeout', { min: 0, max: 240 });
        if (timeout !== undefined && timeout > 0) timeoutMs = timeout * 1000;
        continue;
      }
      if (section.name !== 'inbound') {
        warn(r, policy.path, 'ignored', `${policy.name} in <${section.name}> is not run`);
        continue;
      }
      switch (policy.name) {
        case 'validate-jwt':
          if (jwt) fail(r, policy.path, 'more than one validate-jwt is not supported');
          jwt = readValidateJwt(r, policy, order);
          break;
        case 'rate-limit-by-key':
          limits.push(readRateLimitByKey(r, policy, nextId('rate'), order));
          break;
        case 'quota-by-key': {
          const q = readQuotaByKey(r, policy, nextId('quota'), order);
          if (q) limits.push(q);
          break;
        }
        case 'check-header':
          // After validate-jwt in the document: checked once the token is verified.
          headerChecks.push(readCheckHeader(r, policy, jwt !== undefined));
          break;
        case 'choose': {
          const part = readChoose(r, policy, jwt);
          if ('unsupported' in part) {
            warn(r, policy.path, 'ignored', `choose is not run: ${part.unsupported}`);
          } else {
            const firstResponse = forbidden[0]?.response;
            if (firstResponse && JSON.stringify(firstResponse) !== JSON.stringify(part.response))
              warn(
                r,
                policy.path,
                'note',
                'this return-response differs from the first one: oidc-gw answers every claim refusal with the first',
              );
            forbidden.push(part);
          }
          break;
        }
        case 'rate-limit':
        case 'quota':
          warn(
            r,
            policy.path,
            'ignored',
            `${policy.name} counts per APIM subscription, and subscriptions are not emulated: use ${policy.name}-by-key with a counter-key`,
          );
          break;
        default:
          warn(r, policy.path, 'ignored', `${policy.name} is not supported: not run`);
      }
    }
  }

  // Counter keys read through AsJwt() are null when the header holds no JWT.
  for (const limit of limits) {
    for (const header of limit.jwtHeaders) {
      const h = header.toLowerCase();
      const covered =
        jwt !== undefined &&
        jwt.header === h &&
        (h !== 'authorization' || jwt.schemeRequired) &&
        jwt.order < limit.order;
      if (!covered)
        warn(
          r,
          `${limit.node.path}/@counter-key`,
          'note',
          `the counter key reads ${header} with AsJwt(): a request whose ${header} holds no JWT (another scheme, or none) gets APIM's 500 "Expression value is invalid. The counter-key field is required."${jwt ? '' : ' (no validate-jwt runs before it)'}`,
        );
    }
  }
  // Policies run in document order: a limit before validate-jwt counts before the token is checked.
  const limitRules = limits.map((l) =>
    jwt && l.order < jwt.order ? { ...l.rule, beforeToken: true } : l.rule,
  );
  if (!jwt)
    warn(
      r,
      '/policies/inbound',
      'note',
      'no validate-jwt: requests are forwarded without a token check',
    );

  const rates = limits.filter((l) => l.rule.kind === 'rate');
  const first = rates[0]?.node;
  const header = (name: string) => (first ? constAttr(r, first, name) : undefined);
  for (const other of rates.slice(1))
    for (const a of [
      'retry-after-header-name',
      'remaining-calls-header-name',
      'total-calls-header-name',
    ])
      if (other.node.attrs[a] !== undefined && other.node.attrs[a] !== first?.attrs[a])
        warn(
          r,
          `${other.node.path}/@${a}`,
          'ignored',
          `only the first rate-limit-by-key's ${a} is used`,
        );
  const retryAfterHeader = header('retry-after-header-name');
  const remainingHeader = header('remaining-calls-header-name');
  const totalHeader = header('total-calls-header-name');

  const checks = jwt
    ? forbidden.length > 0
      ? { ...jwt.checks, claims: [...jwt.checks.claims, ...forbidden.map((f) => f.rule)] }
      : jwt.checks
    : { ...DEFAULT_CHECKS, maxTokenBytes: ctx.defaults.maxTokenBytes };

  const api: ApiPlan = {
    name: apiName(doc.file),
    source: { format: 'apim', file: doc.file, path: '/policies' },
    match: { path: normalizePrefix(ctx.path ?? '/'), stripPath: true },
    upstream: { url: upstream, timeoutMs },
    token: jwt?.token ?? { headers: ['authorization'], scheme: 'optional', query: [], cookies: [] },
    trust: {
      issuers: jwt?.issuers ?? [],
      jwksUris: [],
      publicKeys: jwt?.publicKeys ?? [],
      secrets: jwt?.secrets ?? [],
    },
    checks,
    credentials: { bearer: jwt !== undefined },
    ...(jwt ? {} : { auth: 'none' as const }),
    forward: { claims: [], stripAuthorization: false, consumerHeaders: false },
    limits: limitRules,
    answers: {
      style: 'apim',
      ...(jwt?.failedStatus === undefined ? {} : { failedStatus: jwt.failedStatus }),
      ...(jwt?.failedMessage === undefined ? {} : { failedMessage: jwt.failedMessage }),
      ...(retryAfterHeader ? { retryAfterHeader: retryAfterHeader.trim() } : {}),
      ...(remainingHeader ? { remainingHeader: remainingHeader.trim() } : {}),
      ...(totalHeader ? { totalHeader: totalHeader.trim() } : {}),
      ...(forbidden[0] ? { forbiddenResponse: forbidden[0].response } : {}),
    },
    ...(headerChecks.length > 0 ? { headerChecks } : {}),
  };
  return { apis: [api], warnings: r.warnings };
}

/** The APIM loader: one policy document, one API at `--path` in front of `--upstream`. */
export const loadApim: Loader = async (docs, ctx) => {
  if (docs.length === 0) return { apis: [], warnings: [] };
  if (docs.length > 1)
    throw new PlanError(
      docs[1]?.file ?? 'apim',
      '',
      'only one APIM policy document at a time (--upstream and --path apply to one)',
    );
  return loadOne(docs[0] as SourceDoc, ctx);
};
