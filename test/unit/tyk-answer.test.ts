import { describe, expect, test } from 'vitest';
import { REASONS, refusal, type ReasonCode } from '../../src/core/gateway/reasons.js';
import { goJsEscape, tykRenderer } from '../../src/gateway/answer/tyk.js';
import type { Refused, RequestFacts } from '../../src/gateway/answer/types.js';
import type { LimitState } from '../../src/gateway/limits/types.js';
import type { LimitRule, StyleOptions } from '../../src/gateway/plan.js';

const TYK: StyleOptions = { style: 'tyk', limitHeaderSource: 'quotas', tykAuth: 'jwt' };
const OIDC: StyleOptions = { ...TYK, tykAuth: 'openid' };
const JSON_REQ: RequestFacts = { requestId: 'r1' };
const JSON_HEADERS = { 'content-type': 'application/json', 'x-generator': 'tyk.io' };

function refused(reason: ReasonCode, extra: Partial<Refused> = {}): Refused {
  const r = refusal(reason);
  return { reason, status: r.status, error: r.error, description: r.description, ...extra };
}

function body(message: string): string {
  return `{\n    "error": ${JSON.stringify(message)}\n}`;
}

const RATE: LimitRule = {
  id: 'rate',
  kind: 'rate',
  algorithm: 'sliding_log',
  limit: 10,
  periodMs: 60_000,
  countRefused: true,
  key: { by: 'claim', claim: ['sub'] },
  label: 'policy gold: rate',
};
const QUOTA: LimitRule = {
  ...RATE,
  id: 'quota',
  kind: 'quota',
  algorithm: 'fixed_first_request',
  limit: 1000,
  periodMs: 3_600_000,
};
const GLOBAL: LimitRule = {
  ...RATE,
  id: 'global:a',
  key: { by: 'api' },
  limit: 100,
  periodMs: 1000,
};

function state(rule: LimitRule, allowed: boolean, remaining: number, resetMs: number): LimitState {
  return {
    rule,
    allowed,
    limit: rule.limit,
    remaining,
    resetMs,
    retryAfterSeconds: allowed ? 0 : 3,
  };
}

describe('Tyk JWT middleware answers, byte for byte', () => {
  const rows: Array<[ReasonCode, Partial<Refused>, number, string]> = [
    ['missing_token', {}, 400, 'Authorization field missing'],
    ['not_bearer', {}, 400, 'Authorization field missing'],
    ['alg_not_allowed', {}, 403, 'Key not authorized: Unexpected signing method'],
    ['token_expired', {}, 401, 'Key not authorized: token has expired'],
    ['token_not_yet_valid', {}, 401, 'Key not authorized: token is not valid yet'],
    ['iat_future', {}, 401, 'Key not authorized: token used before issued'],
    ['signature_invalid', {}, 403, 'Key not authorized'],
    ['unknown_kid', {}, 403, 'Key not authorized'],
    ['no_key', {}, 403, 'Key not authorized'],
    ['token_malformed', {}, 403, 'Key not authorized'],
    ['malformed_authorization', {}, 403, 'Key not authorized'],
    ['idp_unavailable', {}, 403, 'Key not authorized'],
    [
      'issuer_not_allowed',
      { detail: { iss: 'https://evil.example/' } },
      401,
      'Key not authorized: invalid issuer claim: https://evil.example/',
    ],
    [
      'issuer_missing',
      {},
      401,
      'Key not authorized: issuer claim is required but not present in token',
    ],
    [
      'audience_not_allowed',
      { detail: { aud: ['a', 'b'] } },
      401,
      'Key not authorized: no matching audience found in token: [a b]',
    ],
    [
      'audience_missing',
      {},
      401,
      'Key not authorized: audience claim is required but not present in token',
    ],
    [
      'claim_mismatch',
      { detail: { claim: 'role', check: 'customClaimValidation.role:exact_match' } },
      401,
      'Key not authorized: claim role value does not match any expected values',
    ],
    [
      'claim_mismatch',
      { detail: { claim: 'groups', check: 'customClaimValidation.groups:contains' } },
      401,
      'Key not authorized: claim groups value does not contain any expected values',
    ],
    [
      'claim_missing',
      { detail: { claim: 'org.tenant', check: 'customClaimValidation.org.tenant:required' } },
      401,
      'Key not authorized: custom claim org.tenant is required but not present in token',
    ],
    [
      'claim_mismatch',
      { detail: { claim: 'sub', check: 'allowedSubjects', value: 'u-9' } },
      401,
      'Key not authorized: invalid subject value: u-9',
    ],
    [
      'claim_missing',
      { detail: { claim: 'jti', check: 'jtiValidation' } },
      401,
      'Key not authorized: JWT ID (jti) claim is required but not present in token',
    ],
    [
      'claim_type',
      { description: 'exp is not a number' },
      401,
      'Key not authorized: token has expired',
    ],
    [
      'claim_type',
      { description: 'aud is not a string or an array of strings' },
      403,
      'Key not authorized',
    ],
    ['policy_not_found', {}, 403, 'key not authorized: no matching policy found'],
    [
      'policy_not_found',
      { detail: { check: 'scope' } },
      403,
      'key not authorized: no matching policy found in scope claim',
    ],
    [
      'policy_not_found',
      { detail: { check: 'policy_unknown' } },
      403,
      'key not authorized: no matching policy',
    ],
    ['identity_missing', {}, 403, 'no suitable claims for user ID were found'],
    ['api_not_allowed', {}, 403, 'Access to this API has been disallowed'],
    ['rate_limited', { limits: [state(RATE, false, 0, 5000)] }, 429, 'Rate Limit Exceeded'],
    ['rate_limited', { limits: [state(GLOBAL, false, 0, 5000)] }, 429, 'API Rate Limit Exceeded'],
    [
      'quota_exceeded',
      { limits: [state(RATE, true, 3, 1), state(QUOTA, false, 0, 9000)] },
      403,
      'Quota exceeded',
    ],
    ['limits_unavailable', {}, 503, 'the limit store is unavailable'],
  ];

  test.each(rows)('%s %j -> %i %s', (reason, extra, status, message) => {
    const a = tykRenderer.refuse(TYK, refused(reason, extra), JSON_REQ);
    expect(a.status).toBe(status);
    expect(a.headers).toEqual(JSON_HEADERS);
    expect(a.body).toBe(body(message));
  });

  test('exact bytes of the template: 4-space indent, no trailing newline', () => {
    const a = tykRenderer.refuse(TYK, refused('missing_token'), JSON_REQ);
    expect(Buffer.from(a.body).toString('hex')).toBe(
      Buffer.from('{\n    "error": "Authorization field missing"\n}').toString('hex'),
    );
  });

  test('the quota refusal carries no Retry-After (Tyk sends none)', () => {
    const a = tykRenderer.refuse(
      TYK,
      refused('quota_exceeded', { limits: [state(QUOTA, false, 0, 9000)] }),
      JSON_REQ,
    );
    expect(Object.keys(a.headers)).not.toContain('retry-after');
    expect(Object.keys(a.headers).some((h) => h.startsWith('x-ratelimit'))).toBe(false);
  });

  test("a quoted issuer is escaped by Go's JSEscapeString (<, >, & as upper-case \\u escapes)", () => {
    const a = tykRenderer.refuse(
      TYK,
      refused('issuer_not_allowed', { detail: { iss: 'a"<b>&\\' } }),
      JSON_REQ,
    );
    expect(a.body).toBe(
      '{\n    "error": "Key not authorized: invalid issuer claim: a\\"\\u003Cb\\u003E\\u0026\\\\"\n}',
    );
    expect(JSON.parse(a.body)).toEqual({
      error: 'Key not authorized: invalid issuer claim: a"<b>&\\',
    });
  });

  test("JSEscapeString, not JSON: ' as \\', = and control characters as \\u00XX, unprintable runes as \\uXXXX", () => {
    expect(goJsEscape("it's=1\n\t")).toBe("it\\'s\\u003D1\\u000A\\u0009");
    expect(goJsEscape('é ü 東京 🎉')).toBe('é ü 東京 🎉');
    expect(goJsEscape('a\u00a0b\u2028c')).toBe('a\\u00A0b\\u2028c');
    expect(goJsEscape('/plain/')).toBe('/plain/');
    const a = tykRenderer.refuse(
      TYK,
      refused('issuer_not_allowed', { detail: { iss: "https://idp/?a=b&c='d'" } }),
      JSON_REQ,
    );
    expect(a.body).toBe(
      '{\n    "error": "Key not authorized: invalid issuer claim: https://idp/?a\\u003Db\\u0026c\\u003D\\\'d\\\'"\n}',
    );
  });

  test('hide_generator_header drops X-Generator', () => {
    const a = tykRenderer.refuse(
      { ...TYK, hideGenerator: true },
      refused('token_expired'),
      JSON_REQ,
    );
    expect(a.headers).toEqual({ 'content-type': 'application/json' });
  });
});

describe('XML requests get the XML template', () => {
  test.each([
    ['application/xml', 'application/xml'],
    ['text/xml; charset=utf-8', 'text/xml'],
    ['application/xml;charset=utf-8', 'application/xml'],
  ])('%s', (contentType, answered) => {
    const a = tykRenderer.refuse(TYK, refused('signature_invalid'), {
      requestId: 'r',
      contentType,
    });
    expect(a.status).toBe(403);
    expect(a.headers).toEqual({ 'content-type': answered, 'x-generator': 'tyk.io' });
    expect(a.body).toBe('<error>Key not authorized</error>\n');
  });

  test('the message is not escaped (Tyk executes the XML template raw)', () => {
    const a = tykRenderer.refuse(
      TYK,
      refused('issuer_not_allowed', { detail: { iss: `<x a="1">&'` } }),
      {
        requestId: 'r',
        contentType: 'application/xml',
      },
    );
    expect(a.body).toBe(`<error>Key not authorized: invalid issuer claim: <x a="1">&'</error>\n`);
  });

  test('JSON for every other content type, compared as Go does (exactly, no case folding or trimming)', () => {
    for (const contentType of [
      'application/json',
      'application/xhtml+xml',
      'text/plain',
      'application/soap+xml',
      'Application/XML',
      'application/xml ; charset=utf-8',
      ' text/xml',
    ]) {
      const a = tykRenderer.refuse(TYK, refused('missing_token'), { requestId: 'r', contentType });
      expect(a.headers['content-type']).toBe('application/json');
      expect(a.body).toBe('{\n    "error": "Authorization field missing"\n}');
    }
  });
});

describe('OpenID Connect middleware answers', () => {
  test.each<[ReasonCode, Partial<Refused>, number, string]>([
    ['missing_token', {}, 401, 'Key not authorised'],
    ['signature_invalid', {}, 401, 'Key not authorised'],
    ['token_expired', {}, 401, 'Key not authorised'],
    ['issuer_not_allowed', { detail: { iss: 'x' } }, 401, 'Key not authorised'],
    ['audience_not_allowed', { detail: { aud: ['x'] } }, 401, 'Key not authorised'],
    ['policy_not_found', { detail: { check: 'client' } }, 401, 'Key not authorised'],
    [
      'policy_not_found',
      { detail: { check: 'policy_unknown' } },
      403,
      'Key not authorized: no matching policy',
    ],
    ['api_not_allowed', {}, 403, 'Access to this API has been disallowed'],
    ['rate_limited', { limits: [state(RATE, false, 0, 1)] }, 429, 'Rate Limit Exceeded'],
    ['quota_exceeded', { limits: [state(QUOTA, false, 0, 1)] }, 403, 'Quota exceeded'],
  ])('%s %j -> %i %s', (reason, extra, status, message) => {
    const a = tykRenderer.refuse(OIDC, refused(reason, extra), JSON_REQ);
    expect(a.status).toBe(status);
    expect(a.body).toBe(body(message));
  });
});

describe('every reason code has a Tyk answer', () => {
  test.each(Object.keys(REASONS) as ReasonCode[])('%s', (reason) => {
    for (const options of [TYK, OIDC]) {
      const a = tykRenderer.refuse(options, refused(reason), JSON_REQ);
      expect(a.status).toBeGreaterThanOrEqual(400);
      expect(a.status).toBeLessThan(600);
      if (a.status === 404) {
        expect(a.body).toBe('404 page not found\n');
      } else {
        const parsed = JSON.parse(a.body) as { error: unknown };
        expect(Object.keys(parsed)).toEqual(['error']);
        expect(typeof parsed.error).toBe('string');
        expect(parsed.error).not.toBe('');
        expect(a.body.startsWith('{\n    "error": "')).toBe(true);
      }
    }
  });
});

describe('X-RateLimit-* headers', () => {
  const now = 1_700_000_000_000;
  const states = [
    state(GLOBAL, true, 99, now + 1000),
    state(RATE, true, 7, now + 1500),
    state(QUOTA, true, 990, now + 3_599_400),
  ];

  test('carry the quota by default (reset: unix seconds of the renewal)', () => {
    expect(tykRenderer.limitHeaders(TYK, states, now)).toEqual({
      'x-ratelimit-limit': '1000',
      'x-ratelimit-remaining': '990',
      'x-ratelimit-reset': String(Math.floor((now + 3_599_400) / 1000)),
    });
  });

  test('carry the per-identity rate limit with rate_limit_response_headers: rate_limits', () => {
    expect(
      tykRenderer.limitHeaders({ ...TYK, limitHeaderSource: 'rate_limits' }, states, now),
    ).toEqual({
      'x-ratelimit-limit': '10',
      'x-ratelimit-remaining': '7',
      'x-ratelimit-reset': String(Math.ceil((now + 1500) / 1000)),
    });
  });

  test('none without a quota (default source)', () => {
    expect(tykRenderer.limitHeaders(TYK, [state(RATE, true, 3, now)], now)).toEqual({});
  });

  test('on a 429 only in rate_limits mode', () => {
    const outcome = refused('rate_limited', { limits: [state(RATE, false, 0, now + 2000)] });
    expect(tykRenderer.refuse(TYK, outcome, JSON_REQ).headers).toEqual(JSON_HEADERS);
    expect(
      tykRenderer.refuse({ ...TYK, limitHeaderSource: 'rate_limits' }, outcome, JSON_REQ).headers,
    ).toEqual({
      ...JSON_HEADERS,
      'x-ratelimit-limit': '10',
      'x-ratelimit-remaining': '0',
      'x-ratelimit-reset': String(Math.ceil((now + 2000) / 1000)),
    });
  });
});

describe('no API at this path', () => {
  test("Go's 404 (no X-Generator, Tyk's templates are not used)", () => {
    const expected = {
      status: 404,
      headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff' },
      body: '404 page not found\n',
    };
    expect(tykRenderer.notFound(TYK, JSON_REQ)).toEqual(expected);
    expect(tykRenderer.refuse(TYK, refused('route_not_found'), JSON_REQ)).toEqual(expected);
  });
});
