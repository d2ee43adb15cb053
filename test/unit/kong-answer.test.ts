/**
 * Kong's answers, byte for byte (docs/gateways/kong.md): the jwt plugin's
 * 401 bodies and challenges, openid-connect's 401/403, rate-limiting's 429
 * and headers, the router's 404, and a row for every reason code.
 */
import { describe, expect, test } from 'vitest';
import { REASONS, type ReasonCode } from '../../src/core/gateway/reasons.js';
import {
  cjsonObject,
  KONG_ROWS,
  kongRenderer,
  kongTemplateKind,
} from '../../src/gateway/answer/kong.js';
import type { Refused, RequestFacts } from '../../src/gateway/answer/types.js';
import type { LimitState } from '../../src/gateway/limits/types.js';
import type { LimitRule, StyleOptions } from '../../src/gateway/plan.js';

const RID = '108134052a77553f758cf668b90e4c1d';
const REQUEST: RequestFacts = { requestId: RID };
const JWT: StyleOptions = { style: 'kong', kongPlugin: 'jwt' };
const OIDC: StyleOptions = { style: 'kong', kongPlugin: 'openid-connect' };
const JSON_UTF8 = 'application/json; charset=utf-8';

function refused(reason: ReasonCode, extra: Partial<Refused> = {}): Refused {
  const spec = REASONS[reason];
  return {
    reason,
    status: spec.status,
    error: spec.error,
    description: spec.description,
    ...extra,
  };
}

function rule(
  calendar: LimitRule['calendar'] & string,
  limit: number,
  periodMs: number,
): LimitRule {
  return {
    id: `kong-${calendar}`,
    kind: 'rate',
    algorithm: 'fixed_calendar',
    limit,
    periodMs,
    calendar,
    countRefused: false,
    key: { by: 'consumer' },
    label: `plugins[0].config.${calendar}`,
  };
}

const NOW = Date.UTC(2026, 11, 7, 10, 30, 15, 250);
const MINUTE_END = Date.UTC(2026, 11, 7, 10, 31, 0, 0);
const HOUR_END = Date.UTC(2026, 11, 7, 11, 0, 0, 0);

function state(
  r: LimitRule,
  remaining: number,
  resetMs: number,
  allowed = true,
  retryAfterSeconds = 0,
): LimitState {
  return { rule: r, allowed, limit: r.limit, remaining, resetMs, retryAfterSeconds };
}

describe('jwt plugin answers', () => {
  // [reason, detail, body, WWW-Authenticate]
  const rows: [ReasonCode, Refused['detail'] | undefined, string, string][] = [
    ['missing_token', undefined, '{"message":"Unauthorized"}', 'Bearer'],
    ['not_bearer', undefined, '{"message":"Unauthorized"}', 'Bearer'],
    ['malformed_authorization', undefined, '{"message":"Unauthorized"}', 'Bearer'],
    [
      'multiple_tokens',
      undefined,
      '{"message":"Multiple tokens provided"}',
      'Bearer error="invalid_token"',
    ],
    [
      'duplicate_authorization',
      undefined,
      '{"message":"Multiple tokens provided"}',
      'Bearer error="invalid_token"',
    ],
    [
      'token_malformed',
      undefined,
      '{"message":"Bad token; invalid JSON"}',
      'Bearer error="invalid_token"',
    ],
    [
      'not_base64url',
      undefined,
      '{"message":"Bad token; invalid JSON"}',
      'Bearer error="invalid_token"',
    ],
    [
      'header_invalid',
      undefined,
      '{"message":"Bad token; invalid JSON"}',
      'Bearer error="invalid_token"',
    ],
    [
      'payload_invalid',
      undefined,
      '{"message":"Bad token; invalid claims"}',
      'Bearer error="invalid_token"',
    ],
    [
      'alg_not_allowed',
      undefined,
      '{"message":"Invalid algorithm"}',
      'Bearer error="invalid_token"',
    ],
    [
      'alg_not_allowed',
      { value: 'RS256' },
      '{"message":"Invalid algorithm"}',
      'Bearer error="invalid_token"',
    ],
    [
      'alg_not_allowed',
      { value: 'none' },
      '{"message":"Bad token; invalid alg"}',
      'Bearer error="invalid_token"',
    ],
    [
      'signature_invalid',
      undefined,
      '{"message":"Invalid signature"}',
      'Bearer error="invalid_token"',
    ],
    [
      'key_claim_missing',
      undefined,
      `{"message":"No mandatory 'iss' in claims"}`,
      'Bearer error="invalid_token"',
    ],
    [
      'key_claim_missing',
      { value: '' },
      `{"message":"Invalid 'iss' in claims"}`,
      'Bearer error="invalid_token"',
    ],
    [
      'credential_not_found',
      undefined,
      `{"message":"No credentials found for given 'iss'"}`,
      'Bearer error="invalid_token"',
    ],
    [
      'unknown_kid',
      undefined,
      `{"message":"No credentials found for given 'iss'"}`,
      'Bearer error="invalid_token"',
    ],
    ['token_expired', undefined, '{"exp":"token expired"}', 'Bearer error="invalid_token"'],
    [
      'token_not_yet_valid',
      undefined,
      '{"nbf":"token not valid yet"}',
      'Bearer error="invalid_token"',
    ],
    ['exp_missing', undefined, '{"exp":"must be a number"}', 'Bearer error="invalid_token"'],
    ['claim_type', { claim: 'nbf' }, '{"nbf":"must be a number"}', 'Bearer error="invalid_token"'],
    [
      'exp_too_far',
      undefined,
      '{"exp":"exceeds maximum allowed expiration"}',
      'Bearer error="invalid_token"',
    ],
    [
      'audience_not_allowed',
      undefined,
      '{"message":"Unauthorized"}',
      'Bearer error="invalid_token"',
    ],
  ];

  test.each(rows)('%s %j -> 401 %s', (reason, detail, body, challenge) => {
    const a = kongRenderer.refuse(JWT, refused(reason, detail ? { detail } : {}), REQUEST);
    expect(a).toEqual({
      status: 401,
      headers: {
        'www-authenticate': challenge,
        'content-type': JSON_UTF8,
        'x-kong-request-id': RID,
      },
      body,
    });
  });

  test('key_claim_name is quoted in the messages', () => {
    const opts: StyleOptions = { ...JWT, keyClaimName: 'kid' };
    expect(kongRenderer.refuse(opts, refused('key_claim_missing'), REQUEST).body).toBe(
      `{"message":"No mandatory 'kid' in claims"}`,
    );
    expect(kongRenderer.refuse(opts, refused('credential_not_found'), REQUEST).body).toBe(
      `{"message":"No credentials found for given 'kid'"}`,
    );
  });

  test('with a realm: Bearer realm="r" and Bearer realm="r" error="invalid_token" (no comma, as Kong)', () => {
    const opts: StyleOptions = { ...JWT, realm: 'orders' };
    expect(
      kongRenderer.refuse(opts, refused('missing_token'), REQUEST).headers['www-authenticate'],
    ).toBe('Bearer realm="orders"');
    expect(
      kongRenderer.refuse(opts, refused('token_expired'), REQUEST).headers['www-authenticate'],
    ).toBe('Bearer realm="orders" error="invalid_token"');
  });
});

describe('openid-connect answers', () => {
  test('401 {"message":"Unauthorized"}, 403 {"message":"Forbidden"}', () => {
    expect(kongRenderer.refuse(OIDC, refused('missing_token'), REQUEST)).toEqual({
      status: 401,
      headers: {
        'www-authenticate': 'Bearer',
        'content-type': JSON_UTF8,
        'x-kong-request-id': RID,
      },
      body: '{"message":"Unauthorized"}',
    });
    expect(kongRenderer.refuse(OIDC, refused('token_expired'), REQUEST)).toEqual({
      status: 401,
      headers: {
        'www-authenticate': 'Bearer error="invalid_token"',
        'content-type': JSON_UTF8,
        'x-kong-request-id': RID,
      },
      body: '{"message":"Unauthorized"}',
    });
    expect(kongRenderer.refuse(OIDC, refused('claim_forbidden'), REQUEST)).toEqual({
      status: 403,
      headers: {
        'www-authenticate': 'Bearer error="insufficient_scope"',
        'content-type': JSON_UTF8,
        'x-kong-request-id': RID,
      },
      body: '{"message":"Forbidden"}',
    });
    expect(kongRenderer.refuse(OIDC, refused('client_credentials_invalid'), REQUEST).body).toBe(
      '{"message":"Unauthorized"}',
    );
    expect(kongRenderer.refuse(OIDC, refused('token_inactive'), REQUEST).status).toBe(401);
  });

  test('unauthorized_error_message / forbidden_error_message, JSON as lua-cjson writes it', () => {
    const opts: StyleOptions = {
      ...OIDC,
      unauthorizedMessage: 'Log in at https://login.example.com/',
      forbiddenMessage: 'Not "yours"',
    };
    expect(kongRenderer.refuse(opts, refused('signature_invalid'), REQUEST).body).toBe(
      '{"message":"Log in at https:\\/\\/login.example.com\\/"}',
    );
    expect(kongRenderer.refuse(opts, refused('insufficient_scope'), REQUEST).body).toBe(
      '{"message":"Not \\"yours\\""}',
    );
  });

  test('an IdP that cannot be reached: 500 An unexpected error occurred', () => {
    expect(kongRenderer.refuse(OIDC, refused('idp_unavailable'), REQUEST)).toEqual({
      status: 500,
      headers: { 'content-type': JSON_UTF8, 'x-kong-request-id': RID },
      body: '{"message":"An unexpected error occurred"}',
    });
  });
});

describe('rate-limiting answers', () => {
  const minute = rule('minute', 5, 60_000);
  const hour = rule('hour', 100, 3_600_000);
  const refusedStates = [
    state(minute, 0, MINUTE_END, false, Math.ceil((MINUTE_END - NOW) / 1000)),
    state(hour, 37, HOUR_END),
  ];

  test('429 with the 3.5+ template, RateLimit-*, X-RateLimit-*-<Period> and Retry-After', () => {
    const a = kongRenderer.refuse(JWT, refused('rate_limited', { limits: refusedStates }), REQUEST);
    expect(a.status).toBe(429);
    expect(a.body).toBe(`{\n  "message":"API rate limit exceeded",\n  "request_id":"${RID}"\n}`);
    expect(a.headers).toEqual({
      'x-ratelimit-limit-minute': '5',
      'x-ratelimit-remaining-minute': '0',
      'x-ratelimit-limit-hour': '100',
      'x-ratelimit-remaining-hour': '37',
      'ratelimit-limit': '5',
      'ratelimit-remaining': '0',
      'ratelimit-reset': '45',
      'retry-after': '45',
      'content-type': JSON_UTF8,
      'x-kong-request-id': RID,
    });
  });

  test('error_code and error_message; hide_client_headers hides every limit header', () => {
    const opts: StyleOptions = {
      ...OIDC,
      limitStatus: 503,
      limitMessage: 'Slow down',
      hideLimitHeaders: true,
    };
    const a = kongRenderer.refuse(
      opts,
      refused('quota_exceeded', { limits: refusedStates }),
      REQUEST,
    );
    expect(a).toEqual({
      status: 503,
      headers: { 'content-type': JSON_UTF8, 'x-kong-request-id': RID },
      body: `{\n  "message":"Slow down",\n  "request_id":"${RID}"\n}`,
    });
  });

  test('the body follows Accept, as kong.response.error does', () => {
    const out = (accept: string) =>
      kongRenderer.refuse(JWT, refused('rate_limited', { limits: refusedStates }), {
        requestId: RID,
        accept,
      });
    const html = out('text/html');
    expect(html.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(html.body).toBe(
      '<!doctype html>\n<html>\n  <head>\n    <meta charset="utf-8">\n    <title>Error</title>\n' +
        '  </head>\n  <body>\n    <h1>Error</h1>\n    <p>API rate limit exceeded.</p>\n' +
        `    <p>request_id: ${RID}</p>\n  </body>\n</html>\n`,
    );
    const xml = out('application/xml');
    expect(xml.headers['content-type']).toBe('application/xml; charset=utf-8');
    expect(xml.body).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<error>\n  <message>API rate limit exceeded</message>\n' +
        `  <requestid>${RID}</requestid>\n</error>\n`,
    );
    const plain = out('text/plain');
    expect(plain.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(plain.body).toBe(`API rate limit exceeded\nrequest_id: ${RID}\n`);
  });

  test('Accept negotiation: highest q wins, first on a tie, families and unknown types', () => {
    expect(kongTemplateKind(undefined)).toBe('json');
    expect(kongTemplateKind('*/*')).toBe('json');
    expect(kongTemplateKind('image/png')).toBe('json');
    expect(kongTemplateKind('text/*')).toBe('plain');
    expect(kongTemplateKind('application/*')).toBe('json');
    expect(kongTemplateKind('text/html;q=0.5, application/xml;q=0.9')).toBe('xml');
    expect(kongTemplateKind('text/plain, text/html')).toBe('plain');
    expect(kongTemplateKind('text/html;q=0')).toBe('json');
    expect(kongTemplateKind('text/html;level=1;q=0.4, text/plain;q=0.3')).toBe('html');
  });

  test('headers on proxied responses: least remaining, the longer window on a tie', () => {
    const second = rule('second', 2, 1000);
    const tie = [
      state(second, 1, NOW + 750),
      state(minute, 1, MINUTE_END),
      state(hour, 5, HOUR_END),
    ];
    expect(kongRenderer.limitHeaders(JWT, tie, NOW)).toEqual({
      'x-ratelimit-limit-second': '2',
      'x-ratelimit-remaining-second': '1',
      'x-ratelimit-limit-minute': '5',
      'x-ratelimit-remaining-minute': '1',
      'x-ratelimit-limit-hour': '100',
      'x-ratelimit-remaining-hour': '5',
      'ratelimit-limit': '5',
      'ratelimit-remaining': '1',
      'ratelimit-reset': '45',
    });
    const least = [state(second, 0, NOW + 750), state(minute, 3, MINUTE_END)];
    expect(kongRenderer.limitHeaders(JWT, least, NOW)['ratelimit-reset']).toBe('1');
    expect(kongRenderer.limitHeaders(JWT, least, NOW)['ratelimit-limit']).toBe('2');
    expect(kongRenderer.limitHeaders({ ...JWT, hideLimitHeaders: true }, tie, NOW)).toEqual({});
    expect(kongRenderer.limitHeaders(JWT, [], NOW)).toEqual({});
  });
});

describe('router and other answers', () => {
  test("404: Kong's router message in the 3.5+ template (103 bytes with a 32-hex request id)", () => {
    const a = kongRenderer.notFound({ style: 'kong' }, REQUEST);
    expect(a).toEqual({
      status: 404,
      headers: { 'content-type': JSON_UTF8, 'x-kong-request-id': RID },
      body: `{\n  "message":"no Route matched with those values",\n  "request_id":"${RID}"\n}`,
    });
    expect(Buffer.byteLength(a.body)).toBe(103);
    expect(kongRenderer.refuse({ style: 'kong' }, refused('route_not_found'), REQUEST)).toEqual(a);
  });

  test('400 and 500 from the PDK templates', () => {
    expect(kongRenderer.refuse(JWT, refused('path_invalid'), REQUEST).body).toBe(
      `{\n  "message":"Bad request",\n  "request_id":"${RID}"\n}`,
    );
    const down = kongRenderer.refuse(JWT, refused('limits_unavailable'), REQUEST);
    expect(down.status).toBe(500);
    expect(down.body).toBe(
      `{\n  "message":"An unexpected error occurred",\n  "request_id":"${RID}"\n}`,
    );
  });

  test('every reason code has a row, and every row renders an error answer in each plugin style', () => {
    expect(Object.keys(KONG_ROWS).sort()).toEqual(Object.keys(REASONS).sort());
    for (const reason of Object.keys(REASONS) as ReasonCode[]) {
      for (const opts of [JWT, OIDC, { style: 'kong' } as StyleOptions]) {
        const a = kongRenderer.refuse(opts, refused(reason), REQUEST);
        expect(a.status, reason).toBeGreaterThanOrEqual(400);
        expect(a.status, reason).toBeLessThan(600);
        expect(a.body.length, reason).toBeGreaterThan(0);
        expect(a.headers['x-kong-request-id'], reason).toBe(RID);
        expect(a.headers['content-type'], reason).toMatch(/; charset=utf-8$/);
      }
    }
  });

  test('cjsonObject escapes like lua-cjson: slash and DEL too', () => {
    expect(cjsonObject({ message: 'a/b\u007f"\n' })).toBe('{"message":"a\\/b\\u007f\\"\\n"}');
  });
});
