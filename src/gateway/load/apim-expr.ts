/**
 * The subset of Azure API Management policy expressions oidc-gw runs
 * (docs/gateways/apim.md, "Expressions"). APIM expressions are C#; real
 * counter keys and token sources use a handful of forms, and those are
 * parsed here into a small tree and evaluated against the request:
 *
 *   context.Request.IpAddress
 *   context.Request.Headers.GetValueOrDefault("X"[, "default"])
 *       [.AsJwt()?.Subject | .AsJwt()?.Claims.GetValueOrDefault("c"[, "default"])]
 *   context.Subscription?.Key (the Ocp-Apim-Subscription-Key header, unchecked, hashed),
 *   context.Subscription?.Id (null)
 *   "string literals", a + b, ( ... ), @( ... ) and @{ return ...; }
 *
 * and, for conditions (`increment-condition`), boolean expressions over them:
 *
 *   context.Response.StatusCode, context.Response.Headers.GetValueOrDefault("X"[, "d"]),
 *   context.Request.Method, integer literals, true, false, null,
 *   == != (strings, integers, booleans; a string with null), < <= > >= (integers),
 *   !, &&, ||, with C#'s precedence
 *
 * Anything else is a `PlanError` naming the expression: an expression is
 * never guessed. A value that is not an expression (`counter-key="fixed"`)
 * is a literal. Evaluation follows C#: `+` treats null as the empty string;
 * a member access on null (`.AsJwt().Subject` on a header that holds no JWT)
 * gives null, which APIM answers with a 500 for a counter key.
 */
import { parseCompact } from '../../core/jwt/compact.js';
import { shortHash } from '../limits/identity.js';
import { PlanError } from '../plan.js';

/**
 * The header APIM reads a subscription key from (its default name).
 * `context.Subscription.Key` is this header's value as sent: no
 * subscription is looked up, so any value is "valid".
 */
export const SUBSCRIPTION_KEY_HEADER = 'Ocp-Apim-Subscription-Key';

/** What an expression can see of a request. */
export interface ExprContext {
  /** The client's IP address (context.Request.IpAddress). */
  readonly ip: string;
  /** A request header's value by case-insensitive name (several values joined with `,`), or undefined. */
  header(name: string): string | undefined;
  /**
   * `AsJwt()`: the value decoded WITHOUT verification, as APIM does, or null
   * when it is not a JWT. `asJwt` below is the implementation to use.
   */
  jwt(headerValue: string): { subject?: string; claims: Record<string, unknown> } | null;
  /** The APIM subscription key, when the gateway knows one; else the Ocp-Apim-Subscription-Key header is read. */
  readonly subscriptionKey?: string;
  readonly subscriptionId?: string;
  /** context.Request.Method. */
  readonly method?: string;
  /** The answer, once known (conditions evaluated at the end of the outbound pipeline). */
  readonly response?: {
    readonly status: number;
    /** A response header's value by case-insensitive name, or undefined. */
    header(name: string): string | undefined;
  };
}

export type CompiledExpression = (ctx: ExprContext) => string | null;
export type CompiledCondition = (ctx: ExprContext) => boolean;

/** The parsed form of a supported expression. */
export type ExprNode =
  | { readonly t: 'literal'; readonly value: string }
  | { readonly t: 'ip' }
  | { readonly t: 'header'; readonly name: string; readonly fallback: string | null }
  | { readonly t: 'subject'; readonly header: ExprNode }
  | {
      readonly t: 'claim';
      readonly header: ExprNode;
      readonly name: string;
      readonly fallback: string | null;
    }
  | { readonly t: 'subscription'; readonly field: 'Key' | 'Id' }
  | { readonly t: 'concat'; readonly parts: readonly ExprNode[] }
  | { readonly t: 'number'; readonly value: number }
  | { readonly t: 'bool'; readonly value: boolean }
  | { readonly t: 'null' }
  | { readonly t: 'method' }
  | { readonly t: 'status' }
  | { readonly t: 'responseHeader'; readonly name: string; readonly fallback: string | null }
  | { readonly t: 'not'; readonly operand: ExprNode }
  | {
      readonly t: 'logic';
      readonly op: '&&' | '||';
      readonly left: ExprNode;
      readonly right: ExprNode;
    }
  | {
      readonly t: 'compare';
      readonly op: CompareOp;
      readonly left: ExprNode;
      readonly right: ExprNode;
    };

type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

/** The static type of an expression, as C# would see it (string includes null). */
type ExprType = 'string' | 'number' | 'bool' | 'null';

/** Where an expression sits, for the error message. */
export interface ExprWhere {
  readonly file: string;
  readonly path: string;
}

const NOWHERE: ExprWhere = { file: 'expression', path: '' };

/** True when an attribute or element value is a policy expression (`@(...)` or `@{...}`). */
export function isExpression(value: string): boolean {
  const v = value.trim();
  return v.startsWith('@(') || v.startsWith('@{');
}

class Unsupported extends Error {}

function shown(source: string): string {
  const s = source.trim();
  return s.length > 160 ? `${s.slice(0, 157)}...` : s;
}

// ---------------------------------------------------------------------------
// Tokens

type Token =
  | { readonly k: 'id'; readonly v: string }
  | { readonly k: 'str'; readonly v: string }
  | { readonly k: 'num'; readonly v: string }
  | { readonly k: 'p'; readonly v: string };

// Longest first: `!=` before `!`, `<=` before `<`.
const PUNCT = [
  '?.',
  '==',
  '!=',
  '<=',
  '>=',
  '&&',
  '||',
  '.',
  '(',
  ')',
  ',',
  '+',
  ';',
  '{',
  '}',
  '<',
  '>',
  '!',
];

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i] as string;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '"') {
      let value = '';
      i++;
      for (;;) {
        if (i >= text.length) throw new Unsupported('an unterminated string literal');
        const d = text[i] as string;
        if (d === '"') {
          i++;
          break;
        }
        if (d === '\\') {
          const e = text[i + 1];
          const map: Record<string, string> = { '"': '"', '\\': '\\', n: '\n', t: '\t', "'": "'" };
          if (e === undefined || map[e] === undefined)
            throw new Unsupported(`the escape \\${e ?? ''}`);
          value += map[e];
          i += 2;
          continue;
        }
        value += d;
        i++;
      }
      out.push({ k: 'str', v: value });
      continue;
    }
    if (/[0-9]/.test(c)) {
      let j = i + 1;
      while (j < text.length && /[0-9]/.test(text[j] as string)) j++;
      if (j < text.length && /[A-Za-z_.]/.test(text[j] as string))
        throw new Unsupported(`the number ${text.slice(i, j + 1)}...`);
      out.push({ k: 'num', v: text.slice(i, j) });
      i = j;
      continue;
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < text.length && /[A-Za-z0-9_]/.test(text[j] as string)) j++;
      out.push({ k: 'id', v: text.slice(i, j) });
      i = j;
      continue;
    }
    const p = PUNCT.find((x) => text.startsWith(x, i));
    if (!p) throw new Unsupported(`the character "${c}"`);
    out.push({ k: 'p', v: p });
    i += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Parsing

interface Segment {
  readonly name: string;
  /** Call arguments (string literals only), or undefined for a property. */
  readonly args?: readonly string[];
}

class Parser {
  private i = 0;
  constructor(private readonly tokens: readonly Token[]) {}

  peek(): Token | undefined {
    return this.tokens[this.i];
  }

  isP(v: string): boolean {
    const t = this.peek();
    return t !== undefined && t.k === 'p' && t.v === v;
  }

  expectP(v: string): void {
    if (!this.isP(v)) throw new Unsupported(`"${v}" expected`);
    this.i++;
  }

  skip(): void {
    this.i++;
  }

  done(): boolean {
    return this.i >= this.tokens.length;
  }

  /** C# precedence, loosest first: ||, &&, == !=, < <= > >=, +, unary !. */
  expr(): ExprNode {
    let left = this.and();
    while (this.isP('||')) {
      this.i++;
      left = { t: 'logic', op: '||', left, right: this.and() };
    }
    return left;
  }

  and(): ExprNode {
    let left = this.equality();
    while (this.isP('&&')) {
      this.i++;
      left = { t: 'logic', op: '&&', left, right: this.equality() };
    }
    return left;
  }

  equality(): ExprNode {
    const left = this.relational();
    for (const op of ['==', '!='] as const) {
      if (this.isP(op)) {
        this.i++;
        const node: ExprNode = { t: 'compare', op, left, right: this.relational() };
        if (this.isP('==') || this.isP('!=')) throw new Unsupported('chained == or !=');
        return node;
      }
    }
    return left;
  }

  relational(): ExprNode {
    const left = this.additive();
    for (const op of ['<', '<=', '>', '>='] as const) {
      if (this.isP(op)) {
        this.i++;
        return { t: 'compare', op, left, right: this.additive() };
      }
    }
    return left;
  }

  additive(): ExprNode {
    const parts = [this.unary()];
    while (this.isP('+')) {
      this.i++;
      parts.push(this.unary());
    }
    return parts.length === 1 ? (parts[0] as ExprNode) : { t: 'concat', parts };
  }

  unary(): ExprNode {
    if (this.isP('!')) {
      this.i++;
      return { t: 'not', operand: this.unary() };
    }
    return this.term();
  }

  term(): ExprNode {
    const t = this.peek();
    if (!t) throw new Unsupported('an expression expected');
    if (t.k === 'str') {
      this.i++;
      return { t: 'literal', value: t.v };
    }
    if (t.k === 'num') {
      this.i++;
      const value = Number(t.v);
      if (!Number.isSafeInteger(value)) throw new Unsupported(`the number ${t.v}`);
      return { t: 'number', value };
    }
    if (t.k === 'id' && (t.v === 'true' || t.v === 'false')) {
      this.i++;
      return { t: 'bool', value: t.v === 'true' };
    }
    if (t.k === 'id' && t.v === 'null') {
      this.i++;
      return { t: 'null' };
    }
    if (t.k === 'p' && t.v === '(') {
      this.i++;
      const inner = this.expr();
      this.expectP(')');
      return inner;
    }
    if (t.k === 'id' && t.v === 'context') {
      this.i++;
      const chain: Segment[] = [];
      while (this.isP('.') || this.isP('?.')) {
        this.i++;
        const name = this.peek();
        if (!name || name.k !== 'id') throw new Unsupported('a member name expected');
        this.i++;
        if (this.isP('(')) {
          this.i++;
          const args: string[] = [];
          while (!this.isP(')')) {
            const a = this.peek();
            if (!a || a.k !== 'str') throw new Unsupported('only string literal arguments');
            args.push(a.v);
            this.i++;
            if (this.isP(',')) this.i++;
            else if (!this.isP(')')) throw new Unsupported('"," or ")" expected');
          }
          this.i++;
          chain.push({ name: name.v, args });
        } else {
          chain.push({ name: name.v });
        }
      }
      return fromChain(chain);
    }
    throw new Unsupported(`"${t.v}"`);
  }
}

function argsOf(seg: Segment | undefined, name: string, min: number, max: number): string[] {
  if (!seg || seg.name !== name || !seg.args) throw new Unsupported(`${name}(...) expected`);
  if (seg.args.length < min || seg.args.length > max)
    throw new Unsupported(`${name} takes ${min === max ? min : `${min} or ${max}`} arguments`);
  return [...seg.args];
}

function isProp(seg: Segment | undefined, name: string): boolean {
  return seg !== undefined && seg.name === name && seg.args === undefined;
}

/** Matches a `context.` member chain against the supported forms. */
function fromChain(chain: readonly Segment[]): ExprNode {
  const [a, b, c, d, e, f] = chain;
  if (isProp(a, 'Request') && isProp(b, 'IpAddress') && chain.length === 2) return { t: 'ip' };
  if (isProp(a, 'Request') && isProp(b, 'Method') && chain.length === 2) return { t: 'method' };
  if (isProp(a, 'Response') && isProp(b, 'StatusCode') && chain.length === 2)
    return { t: 'status' };
  if (isProp(a, 'Response') && isProp(b, 'Headers') && chain.length === 3) {
    const [name, fallback] = argsOf(c, 'GetValueOrDefault', 1, 2);
    return { t: 'responseHeader', name: name as string, fallback: fallback ?? null };
  }
  if (isProp(a, 'Subscription') && (isProp(b, 'Key') || isProp(b, 'Id')) && chain.length === 2)
    return { t: 'subscription', field: (b as Segment).name as 'Key' | 'Id' };
  if (isProp(a, 'Request') && isProp(b, 'Headers')) {
    const [name, fallback] = argsOf(c, 'GetValueOrDefault', 1, 2);
    const header: ExprNode = { t: 'header', name: name as string, fallback: fallback ?? null };
    if (chain.length === 3) return header;
    argsOf(d, 'AsJwt', 0, 0);
    if (isProp(e, 'Subject') && chain.length === 5) return { t: 'subject', header };
    if (isProp(e, 'Claims') && chain.length === 6) {
      const [claim, claimFallback] = argsOf(f, 'GetValueOrDefault', 1, 2);
      return { t: 'claim', header, name: claim as string, fallback: claimFallback ?? null };
    }
  }
  throw new Unsupported(`context.${chain.map((s) => s.name).join('.')}`);
}

/** True when the tree reads the answer (context.Response...). */
function readsResponse(node: ExprNode): boolean {
  switch (node.t) {
    case 'status':
    case 'responseHeader':
      return true;
    case 'subject':
    case 'claim':
      return readsResponse(node.header);
    case 'concat':
      return node.parts.some(readsResponse);
    case 'not':
      return readsResponse(node.operand);
    case 'logic':
    case 'compare':
      return readsResponse(node.left) || readsResponse(node.right);
    default:
      return false;
  }
}

/** The static type of a tree; throws Unsupported where C# would not compile it (or we would guess). */
function typeOf(node: ExprNode): ExprType {
  switch (node.t) {
    case 'number':
    case 'status':
      return 'number';
    case 'bool':
      return 'bool';
    case 'null':
      return 'null';
    case 'not':
      if (typeOf(node.operand) !== 'bool') throw new Unsupported('"!" applied to a non-boolean');
      return 'bool';
    case 'logic':
      if (typeOf(node.left) !== 'bool' || typeOf(node.right) !== 'bool')
        throw new Unsupported(`"${node.op}" between non-booleans`);
      return 'bool';
    case 'compare': {
      const l = typeOf(node.left);
      const r = typeOf(node.right);
      if (node.op === '==' || node.op === '!=') {
        const stringish = (x: ExprType) => x === 'string' || x === 'null';
        if (l === r || (stringish(l) && stringish(r))) return 'bool';
      } else if (l === 'number' && r === 'number') {
        return 'bool';
      }
      throw new Unsupported(`"${node.op}" between a ${l} and a ${r}`);
    }
    case 'concat': {
      const types = node.parts.map(typeOf);
      if (types.includes('bool')) throw new Unsupported('a boolean in a concatenation');
      if (!types.includes('string') && !types.includes('null'))
        throw new Unsupported('arithmetic ("+" between numbers)');
      return 'string';
    }
    default:
      return 'string';
  }
}

/** What a parsed expression must be. */
interface ParseOptions {
  /** `string` (counter keys, token values; the default) or `bool` (conditions). */
  readonly type?: 'string' | 'bool';
  /** Whether context.Response may be read (conditions decided after the answer). */
  readonly response?: boolean;
}

/**
 * Parses an expression (or a literal value) into its tree; throws
 * `PlanError` naming the expression when it is outside the subset, is not
 * of the wanted type, or reads the response where there is none yet.
 */
export function parseExpression(
  source: string,
  where: ExprWhere = NOWHERE,
  options: ParseOptions = {},
): ExprNode {
  if (!isExpression(source)) return { t: 'literal', value: source };
  const text = source.trim();
  try {
    let body: string;
    let block = false;
    if (text.startsWith('@(')) {
      if (!text.endsWith(')')) throw new Unsupported('")" expected at the end');
      body = text.slice(2, -1);
    } else {
      if (!text.endsWith('}')) throw new Unsupported('"}" expected at the end');
      body = text.slice(2, -1);
      block = true;
    }
    const parser = new Parser(tokenize(body));
    if (block) {
      const first = parser.peek();
      if (!first || first.k !== 'id' || first.v !== 'return')
        throw new Unsupported('a block must be a single "return ...;"');
      parser.skip();
    }
    const node = parser.expr();
    if (block) parser.expectP(';');
    if (!parser.done()) throw new Unsupported('more than one expression');
    const want = options.type ?? 'string';
    const type = typeOf(node);
    if (want === 'bool' && type !== 'bool')
      throw new Unsupported(`a ${type} where a condition (a boolean) is expected`);
    if (want === 'string' && type !== 'string')
      throw new Unsupported(`a ${type} where a string is expected`);
    if (options.response !== true && readsResponse(node))
      throw new Unsupported('context.Response, which does not exist yet where this is evaluated');
    return node;
  } catch (error) {
    if (!(error instanceof Unsupported)) throw error;
    throw new PlanError(
      where.file,
      where.path,
      `the policy expression ${shown(source)} is outside the subset oidc-gw runs (${error.message}); see docs/gateways/apim.md, "Expressions"`,
    );
  }
}

// ---------------------------------------------------------------------------
// Evaluation

/** Claims.GetValueOrDefault: a string as is, an array's values joined with ",", others as JSON. */
function claimText(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value))
    return value.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(',');
  return JSON.stringify(value);
}

/**
 * Headers that carry credentials: read as a value of their own (a counter
 * key of the raw `Authorization` header), they give the value's hash, so a
 * token or key never reaches a counter name, Redis or the log. Read through
 * `AsJwt()`, they are decoded as sent.
 */
const SECRET_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  SUBSCRIPTION_KEY_HEADER.toLowerCase(),
  'x-api-key',
  'api-key',
]);

/** A header's value as sent (for AsJwt()), else the node's value. */
function rawValue(node: ExprNode, ctx: ExprContext): string | null {
  return node.t === 'header' ? (ctx.header(node.name) ?? node.fallback) : evaluate(node, ctx);
}

function evaluate(node: ExprNode, ctx: ExprContext): string | null {
  const value = evaluateAny(node, ctx, false);
  return typeof value === 'string' || value === null ? value : String(value);
}

type Value = string | number | boolean | null;

/**
 * Evaluates any tree. `raw`: header and subscription values as sent (a
 * condition only compares them; nothing it reads is kept or logged), else
 * a credential header's hash (counter keys).
 */
function evaluateAny(node: ExprNode, ctx: ExprContext, raw: boolean): Value {
  switch (node.t) {
    case 'number':
    case 'bool':
      return node.value;
    case 'null':
      return null;
    case 'method':
      return ctx.method ?? null;
    case 'status':
      return ctx.response?.status ?? null;
    case 'responseHeader':
      return ctx.response?.header(node.name) ?? node.fallback;
    case 'not':
      return evaluateAny(node.operand, ctx, raw) !== true;
    case 'logic': {
      const left = evaluateAny(node.left, ctx, raw) === true;
      if (node.op === '&&') return left && evaluateAny(node.right, ctx, raw) === true;
      return left || evaluateAny(node.right, ctx, raw) === true;
    }
    case 'compare': {
      const l = evaluateAny(node.left, ctx, raw);
      const r = evaluateAny(node.right, ctx, raw);
      switch (node.op) {
        case '==':
          return l === r;
        case '!=':
          return l !== r;
      }
      if (typeof l !== 'number' || typeof r !== 'number') return false;
      switch (node.op) {
        case '<':
          return l < r;
        case '<=':
          return l <= r;
        case '>':
          return l > r;
        case '>=':
          return l >= r;
      }
      return false;
    }
    case 'literal':
      return node.value;
    case 'ip':
      return ctx.ip;
    case 'subscription': {
      // Subscriptions are not emulated: the key is the one the caller sent, unchecked.
      if (node.field === 'Id') return ctx.subscriptionId ?? null;
      const key = ctx.subscriptionKey ?? ctx.header(SUBSCRIPTION_KEY_HEADER);
      if (raw) return key ?? null;
      // A secret: counters (and the log) see its hash, one counter per key all the same.
      return key === undefined || key === '' ? null : shortHash(key);
    }
    case 'header': {
      const value = ctx.header(node.name) ?? node.fallback;
      if (raw) return value;
      // A credential header as the key itself: counted (and logged) by its hash.
      return value !== null && value !== '' && SECRET_HEADERS.has(node.name.toLowerCase())
        ? shortHash(value)
        : value;
    }
    case 'subject': {
      const value = rawValue(node.header, ctx);
      if (value === null) return null;
      const jwt = ctx.jwt(value);
      return jwt?.subject ?? null;
    }
    case 'claim': {
      const value = rawValue(node.header, ctx);
      if (value === null) return null;
      const jwt = ctx.jwt(value);
      if (!jwt) return null;
      return claimText(jwt.claims[node.name]) ?? node.fallback;
    }
    case 'concat':
      // C#: null + "x" is "x"; a concatenation is never null.
      return node.parts
        .map((p) => {
          const v = evaluateAny(p, ctx, raw);
          return v === null ? '' : String(v);
        })
        .join('');
  }
}

/**
 * Compiles an expression (or a literal) into a function of the request.
 * Throws `PlanError` when the expression is outside the subset.
 */
export function compileExpression(source: string, where: ExprWhere = NOWHERE): CompiledExpression {
  const node = parseExpression(source, where);
  return (ctx) => evaluate(node, ctx);
}

/**
 * Compiles a condition (APIM `increment-condition`): a boolean expression
 * that may read the answer, or the literal `true` / `false` (any case).
 * Throws `PlanError` otherwise.
 */
export function compileCondition(source: string, where: ExprWhere = NOWHERE): CompiledCondition {
  const node = parseCondition(source, where);
  return (ctx) => evaluateAny(node, ctx, true) === true;
}

/** Parses a condition (see compileCondition) into its tree. */
export function parseCondition(source: string, where: ExprWhere = NOWHERE): ExprNode {
  if (!isExpression(source)) {
    const literal = source.trim().toLowerCase();
    if (literal === 'true' || literal === 'false') return { t: 'bool', value: literal === 'true' };
    throw new PlanError(
      where.file,
      where.path,
      `"${shown(source)}" is not a condition: true, false or a policy expression @(...)`,
    );
  }
  return parseExpression(source, where, { type: 'bool', response: true });
}

/** What an expression reads, for --check warnings and token sources. */
export interface ExprFacts {
  /** Header names (as written) whose value goes through AsJwt(). */
  readonly jwtHeaders: readonly string[];
  readonly usesSubscription: boolean;
  readonly usesIp: boolean;
  /** The expression is exactly one header read without a default: its name. */
  readonly headerOnly?: string;
  /** The expression is a literal: its value. */
  readonly literal?: string;
}

export function expressionFacts(node: ExprNode): ExprFacts {
  const jwtHeaders: string[] = [];
  let usesSubscription = false;
  let usesIp = false;
  const walk = (n: ExprNode): void => {
    if (n.t === 'subject' || n.t === 'claim') {
      if (n.header.t === 'header') jwtHeaders.push(n.header.name);
      walk(n.header);
    } else if (n.t === 'subscription') usesSubscription = true;
    else if (n.t === 'ip') usesIp = true;
    else if (n.t === 'concat') n.parts.forEach(walk);
  };
  walk(node);
  return {
    jwtHeaders,
    usesSubscription,
    usesIp,
    ...(node.t === 'header' && (node.fallback === null || node.fallback === '')
      ? { headerOnly: node.name }
      : {}),
    ...(node.t === 'literal' ? { literal: node.value } : {}),
  };
}

/**
 * APIM's `AsJwt()`: the value (with or without a leading `Bearer `) decoded
 * as a compact JWS WITHOUT verification, or null when it is not one. The
 * gateway passes this as `ExprContext.jwt`.
 */
export function asJwt(value: string): { subject?: string; claims: Record<string, unknown> } | null {
  const token = value.trim().replace(/^bearer\s+/i, '');
  if (token.length === 0 || token.length > 16384) return null;
  try {
    const parsed = parseCompact(token);
    if (parsed.kind !== 'JWS' || !parsed.payload) return null;
    const sub = parsed.payload['sub'];
    return typeof sub === 'string'
      ? { subject: sub, claims: parsed.payload }
      : { claims: parsed.payload };
  } catch {
    return null;
  }
}
