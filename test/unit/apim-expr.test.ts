/**
 * The APIM policy expression subset (src/gateway/load/apim-expr.ts): each
 * supported form evaluated against a request, C# null semantics, AsJwt()
 * decoding without verification, and a PlanError naming every expression
 * outside the subset.
 */
import { describe, expect, test } from 'vitest';
import {
  asJwt,
  compileCondition,
  compileExpression,
  expressionFacts,
  parseExpression,
  type ExprContext,
} from '../../src/gateway/load/apim-expr.js';
import { shortHash } from '../../src/gateway/limits/identity.js';
import { PlanError } from '../../src/gateway/plan.js';

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const jwtOf = (payload: Record<string, unknown>) =>
  `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(payload)}.${Buffer.from('sig').toString('base64url')}`;

function request(
  headers: Record<string, string>,
  extra: Partial<Pick<ExprContext, 'subscriptionKey' | 'subscriptionId'>> = {},
): ExprContext {
  return {
    ip: '203.0.113.7',
    header: (name) => headers[name.toLowerCase()],
    jwt: asJwt,
    ...extra,
  };
}

const TOKEN = jwtOf({ sub: 'user-1', oid: 'o-9', roles: ['a', 'b'], n: 3 });

describe('supported expressions', () => {
  const ctx = request(
    { authorization: `Bearer ${TOKEN}`, 'x-key': 'k1' },
    { subscriptionKey: 'sk' },
  );
  const run = (source: string, c: ExprContext = ctx) => compileExpression(source)(c);

  test('IpAddress, headers with and without a default', () => {
    expect(run('@(context.Request.IpAddress)')).toBe('203.0.113.7');
    expect(run('@(context.Request.Headers.GetValueOrDefault("X-Key",""))')).toBe('k1');
    expect(run('@(context.Request.Headers.GetValueOrDefault("X-Other","none"))')).toBe('none');
    expect(run('@(context.Request.Headers.GetValueOrDefault("X-Other"))')).toBeNull();
  });

  test('AsJwt()?.Subject and Claims.GetValueOrDefault, decoded without verification', () => {
    const subject =
      '@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject)';
    expect(run(subject)).toBe('user-1');
    const claim = (c: string, d = '') =>
      `@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Claims.GetValueOrDefault("${c}","${d}"))`;
    expect(run(claim('oid'))).toBe('o-9');
    expect(run(claim('roles'))).toBe('a,b');
    expect(run(claim('n'))).toBe('3');
    expect(run(claim('missing', 'dflt'))).toBe('dflt');
    // The raw token, without a scheme, is a JWT too.
    expect(run(subject, request({ authorization: TOKEN }))).toBe('user-1');
  });

  test('a header that holds no JWT gives null (APIM then answers 500 for a counter key)', () => {
    const subject =
      '@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject)';
    expect(run(subject, request({ authorization: 'Basic dXNlcjpwYXNz' }))).toBeNull();
    expect(run(subject, request({}))).toBeNull();
    // Without ?. APIM throws on null; oidc-gw gives null too.
    expect(
      run(
        '@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt().Subject)',
        request({}),
      ),
    ).toBeNull();
  });

  test('subscription key and id', () => {
    // A secret: its hash, one value per key; without one given, the Ocp-Apim-Subscription-Key header.
    expect(run('@(context.Subscription?.Key)')).toBe(shortHash('sk'));
    expect(
      run('@(context.Subscription?.Key)', request({ 'ocp-apim-subscription-key': 'hk' })),
    ).toBe(shortHash('hk'));
    expect(run('@(context.Subscription?.Key)', request({}))).toBeNull();
    // Any credential header read as a value of its own is hashed; through AsJwt() it is decoded.
    expect(run('@(context.Request.Headers.GetValueOrDefault("Authorization",""))')).toBe(
      shortHash(`Bearer ${TOKEN}`),
    );
    expect(run('@(context.Subscription.Id)')).toBeNull();
    expect(run('@(context.Subscription.Id)', request({}, { subscriptionId: 'sub-1' }))).toBe(
      'sub-1',
    );
  });

  test('literals, concatenation (null as empty), parentheses, single-return blocks', () => {
    expect(run('fixed-key')).toBe('fixed-key');
    expect(run('@("ip:" + context.Request.IpAddress)')).toBe('ip:203.0.113.7');
    expect(run('@("k:" + context.Subscription.Id + ("/" + "x"))')).toBe('k:/x');
    expect(run('@{ return "a\\"b" + context.Request.IpAddress; }')).toBe('a"b203.0.113.7');
    expect(run('@{return context.Request.Headers.GetValueOrDefault("X-Key","");}')).toBe('k1');
  });

  test('facts: JWT headers, a header-only read, a literal', () => {
    const facts = expressionFacts(
      parseExpression(
        '@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject)',
      ),
    );
    expect(facts.jwtHeaders).toEqual(['Authorization']);
    expect(
      expressionFacts(parseExpression('@(context.Request.Headers.GetValueOrDefault("X-T",""))'))
        .headerOnly,
    ).toBe('X-T');
    expect(
      expressionFacts(parseExpression('@(context.Request.Headers.GetValueOrDefault("X-T","d"))'))
        .headerOnly,
    ).toBeUndefined();
    expect(expressionFacts(parseExpression('abc')).literal).toBe('abc');
    expect(expressionFacts(parseExpression('@(context.Request.IpAddress)')).usesIp).toBe(true);
  });
});

describe('expressions outside the subset', () => {
  const outside = [
    '@(context.Request.Url.Host)',
    '@(context.Request.OriginalUrl.Host)',
    '@(request.Headers.GetValueOrDefault("Rate-Key",""))',
    '@(context.Request.Headers["X"])',
    '@(context.Request.Method == "POST")',
    '@{ var k = context.Request.IpAddress; return k; }',
    '@(context.Request.Headers.GetValueOrDefault(context.Request.IpAddress))',
    '@(context.Request.IpAddress',
    '@(context.Request.IpAddress.ToString())',
    '@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Audiences)',
  ];
  test.each(outside)('%s is a PlanError naming it', (source) => {
    let error: unknown;
    try {
      compileExpression(source, {
        file: 'policy.xml',
        path: '/policies/inbound/rate-limit-by-key[1]/@counter-key',
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PlanError);
    const e = error as PlanError;
    expect(e.file).toBe('policy.xml');
    expect(e.path).toBe('/policies/inbound/rate-limit-by-key[1]/@counter-key');
    expect(e.detail).toContain(source.trim());
    expect(e.detail).toContain('outside the subset');
  });
});

describe('conditions (increment-condition)', () => {
  const answered = (status: number, headers: Record<string, string> = {}, method = 'GET') => ({
    ...request({ authorization: `Bearer ${TOKEN}`, 'x-tier': 'gold' }),
    method,
    response: { status, header: (name: string) => headers[name.toLowerCase()] },
  });
  const cases: Array<[string, ExprContext, boolean]> = [
    // Microsoft's sample: count only the 200s.
    ['@(context.Response.StatusCode == 200)', answered(200), true],
    ['@(context.Response.StatusCode == 200)', answered(201), false],
    [
      '@(context.Response.StatusCode >= 200 && context.Response.StatusCode < 300)',
      answered(204),
      true,
    ],
    [
      '@(context.Response.StatusCode >= 200 && context.Response.StatusCode < 300)',
      answered(300),
      false,
    ],
    [
      '@(context.Response.StatusCode != 429 || context.Request.Method == "POST")',
      answered(429),
      false,
    ],
    [
      '@(context.Response.StatusCode != 429 || context.Request.Method == "POST")',
      answered(429, {}, 'POST'),
      true,
    ],
    ['@(!(context.Response.StatusCode >= 500))', answered(502), false],
    ['@(!(context.Response.StatusCode >= 500))', answered(404), true],
    // && binds tighter than ||, comparisons tighter than both.
    ['@(false && false || true)', answered(200), true],
    ['@(true || false && false)', answered(200), true],
    // Headers as sent (not hashed: a condition only compares them).
    ['@(context.Request.Headers.GetValueOrDefault("X-Tier","") == "gold")', answered(200), true],
    ['@(context.Request.Headers.GetValueOrDefault("X-Missing") == null)', answered(200), true],
    [
      `@(context.Request.Headers.GetValueOrDefault("Authorization","") == "Bearer ${TOKEN}")`,
      answered(200),
      true,
    ],
    [
      '@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject == "user-1")',
      answered(200),
      true,
    ],
    [
      '@(context.Response.Headers.GetValueOrDefault("X-Cache","miss") == "miss")',
      answered(200),
      true,
    ],
    [
      '@(context.Response.Headers.GetValueOrDefault("X-Cache","miss") == "miss")',
      answered(200, { 'x-cache': 'hit' }),
      false,
    ],
    ['@{ return context.Response.StatusCode < 400; }', answered(399), true],
    ['true', answered(500), true],
    ['False', answered(200), false],
  ];
  test.each(cases)('%s', (source, ctx, expected) => {
    expect(compileCondition(source)(ctx)).toBe(expected);
  });

  const refused: Array<[string, string]> = [
    ['@(context.Response.StatusCode)', 'a number where a condition'],
    ['@(context.Response.StatusCode == "200")', 'between a number and a string'],
    ['@(context.Request.Method < "POST")', 'between a string and a string'],
    ['@(context.Response.StatusCode + 1 == 201)', 'arithmetic'],
    ['@(context.Response.StatusCode == 200 == true)', 'chained'],
    ['@(!context.Request.Method)', '"!" applied to a non-boolean'],
    ['@(context.Response.StatusCode == 2.5)', 'the number 2.'],
    ['@(context.Response.StatusCode.ToString().StartsWith("2"))', 'outside the subset'],
    ['yes', 'is not a condition'],
  ];
  test.each(refused)('%s is a PlanError (%s)', (source, words) => {
    const where = {
      file: 'policy.xml',
      path: '/policies/inbound/rate-limit-by-key[1]/@increment-condition',
    };
    let error: unknown;
    try {
      compileCondition(source, where);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PlanError);
    expect((error as PlanError).path).toBe(where.path);
    expect((error as PlanError).detail).toContain(words);
  });

  test('a counter key may not read the answer, nor be a boolean or a number', () => {
    expect(() =>
      compileExpression('@(context.Response.Headers.GetValueOrDefault("X",""))'),
    ).toThrow(/context\.Response, which does not exist yet/);
    expect(() => compileExpression('@(context.Request.IpAddress == "1")')).toThrow(
      /a bool where a string is expected/,
    );
    // A number joined to a string is a string, as in C#.
    expect(
      compileExpression('@("n" + 42 + context.Request.Method)')({ ...request({}), method: 'GET' }),
    ).toBe('n42GET');
  });
});

describe('asJwt', () => {
  test('strips Bearer, refuses what is not a compact JWS', () => {
    expect(asJwt(`bearer ${TOKEN}`)?.subject).toBe('user-1');
    expect(asJwt('Bearer abc')).toBeNull();
    expect(asJwt('')).toBeNull();
    expect(asJwt(`${b64({ alg: 'RSA-OAEP' })}.a.b.c.d`)).toBeNull();
    expect(asJwt(jwtOf({ iss: 'x' }))).toEqual({ claims: { iss: 'x' } });
  });
});
