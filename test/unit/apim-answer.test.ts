/**
 * APIM's answers (src/gateway/answer/apim.ts), byte for byte: validate-jwt
 * failures with and without failed-validation-httpcode / -error-message,
 * rate-limit-by-key's 429 with its configured header names, quota-by-key's
 * 403, the null counter key's 500, the 404, and one answer for every
 * reason code oidc-gw has.
 */
import { describe, expect, test } from 'vitest';
import { REASONS, refusal, type ReasonCode } from '../../src/core/gateway/reasons.js';
import {
  APIM_ROWS,
  apimBody,
  apimLastErrorMessage,
  apimMessageAnswer,
  apimReasonName,
  apimRenderer,
  timeSpan,
} from '../../src/gateway/answer/apim.js';
import type { Refused, RequestFacts } from '../../src/gateway/answer/types.js';
import type { LimitState } from '../../src/gateway/limits/types.js';
import type { LimitRule, StyleOptions } from '../../src/gateway/plan.js';

const REQUEST: RequestFacts = { requestId: 'req-1' };
const APIM: StyleOptions = { style: 'apim' };

function refused(reason: ReasonCode, extra: Partial<Refused> = {}): Refused {
  return { ...refusal(reason), ...extra };
}

const rateRule: LimitRule = {
  id: 'rate',
  kind: 'rate',
  algorithm: 'sliding_window',
  limit: 10,
  periodMs: 60_000,
  countRefused: false,
  key: { by: 'expression', source: '@(context.Request.IpAddress)' },
  label: '/policies/inbound/rate-limit-by-key[1]',
};
const quotaRule: LimitRule = {
  ...rateRule,
  id: 'quota',
  kind: 'quota',
  algorithm: 'fixed_from_start',
  periodMs: 86_400_000,
  startMs: 0,
};

function state(
  rule: LimitRule,
  allowed: boolean,
  remaining: number,
  retryAfterSeconds: number,
): LimitState {
  return { rule, allowed, limit: rule.limit, remaining, resetMs: 0, retryAfterSeconds };
}

describe('validate-jwt failures', () => {
  test('no token: 401 "JWT not present." with APIM spacing', () => {
    const a = apimRenderer.refuse(APIM, refused('missing_token'), REQUEST);
    expect(a).toEqual({
      status: 401,
      headers: { 'content-type': 'application/json' },
      body: '{ "statusCode": 401, "message": "JWT not present." }',
    });
  });

  test('every other failure: 401 "Invalid JWT."', () => {
    for (const reason of [
      'token_expired',
      'signature_invalid',
      'audience_not_allowed',
      'claim_missing',
    ] as const) {
      const a = apimRenderer.refuse(APIM, refused(reason), REQUEST);
      expect(a.status).toBe(401);
      expect(a.body).toBe('{ "statusCode": 401, "message": "Invalid JWT." }');
    }
  });

  test('failed-validation-httpcode and failed-validation-error-message apply to every failure, claims included', () => {
    const options: StyleOptions = {
      style: 'apim',
      failedStatus: 403,
      failedMessage: 'Unauthorized. Access token is missing or invalid.',
    };
    for (const reason of [
      'missing_token',
      'token_expired',
      'claim_mismatch',
      'issuer_not_allowed',
    ] as const) {
      const a = apimRenderer.refuse(options, refused(reason), REQUEST);
      expect(a.status).toBe(403);
      expect(a.body).toBe(
        '{ "statusCode": 403, "message": "Unauthorized. Access token is missing or invalid." }',
      );
    }
    // A message with quotes is JSON-escaped; the code alone keeps APIM's text.
    expect(
      apimRenderer.refuse(
        { style: 'apim', failedMessage: 'say "no"' },
        refused('token_expired'),
        REQUEST,
      ).body,
    ).toBe('{ "statusCode": 401, "message": "say \\"no\\"" }');
    expect(
      apimRenderer.refuse({ style: 'apim', failedStatus: 418 }, refused('missing_token'), REQUEST)
        .body,
    ).toBe('{ "statusCode": 418, "message": "JWT not present." }');
  });

  test('APIM reason names and LastError messages for the log line', () => {
    expect(apimReasonName('token_expired')).toBe('TokenExpired');
    expect(apimReasonName('audience_not_allowed')).toBe('TokenAudienceNotAllowed');
    expect(apimReasonName('issuer_not_allowed')).toBe('TokenIssuerNotAllowed');
    expect(apimReasonName('signature_invalid')).toBe('TokenSignatureInvalid');
    expect(apimReasonName('unknown_kid')).toBe('TokenSignatureKeyNotFound');
    expect(apimReasonName('claim_missing')).toBe('TokenClaimNotFound');
    expect(apimReasonName('claim_mismatch')).toBe('TokenClaimValueNotAllowed');
    expect(apimReasonName('missing_token')).toBe('TokenNotPresent');
    expect(apimReasonName('token_malformed')).toBe('JwtInvalid');
    expect(apimReasonName('rate_limited')).toBe('RateLimitExceeded');
    expect(apimReasonName('quota_exceeded')).toBe('QuotaExceeded');
    expect(apimReasonName('limit_key_missing')).toBe('ExpressionValueEvaluationFailure');
    expect(apimReasonName('no_such_reason')).toBe('JwtInvalid');
    expect(apimRenderer.logReason(APIM, refused('token_expired'))).toBe('TokenExpired');
    expect(
      apimLastErrorMessage(refused('claim_missing', { detail: { claims: ['group', 'azp'] } })),
    ).toBe('JWT token is missing the following claims: group, azp. Access denied.');
    expect(
      apimLastErrorMessage(
        refused('claim_mismatch', { detail: { claim: 'group', value: 'sales' } }),
      ),
    ).toBe('Claim group value of sales is not allowed. Access denied.');
    expect(apimLastErrorMessage(refused('token_expired'))).toBe('token expired. Access denied.');
    expect(apimLastErrorMessage(refused('missing_token'))).toBe('JWT not present.');
  });
});

describe('limits', () => {
  test('rate-limit-by-key: 429 with Retry-After', () => {
    const a = apimRenderer.refuse(
      APIM,
      refused('rate_limited', { limits: [state(rateRule, false, 0, 57)] }),
      REQUEST,
    );
    expect(a).toEqual({
      status: 429,
      headers: { 'content-type': 'application/json', 'retry-after': '57' },
      body: '{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds." }',
    });
    // The bytes of the public trace: Content-Length 84.
    expect(Buffer.byteLength(a.body)).toBe(84);
  });

  test('configured header names: retry-after, remaining and total calls', () => {
    const options: StyleOptions = {
      style: 'apim',
      retryAfterHeader: 'X-Retry-After',
      remainingHeader: 'X-Remaining-Calls',
      totalHeader: 'X-Total-Calls',
    };
    const a = apimRenderer.refuse(
      options,
      refused('rate_limited', { limits: [state(rateRule, false, 0, 3)] }),
      REQUEST,
    );
    expect(a.headers).toEqual({
      'content-type': 'application/json',
      'x-retry-after': '3',
      'x-remaining-calls': '0',
      'x-total-calls': '10',
    });
    expect(
      apimRenderer.limitHeaders(
        options,
        [state(quotaRule, true, 5, 0), state(rateRule, true, 7, 0)],
        0,
      ),
    ).toEqual({
      'x-remaining-calls': '7',
      'x-total-calls': '10',
    });
    expect(apimRenderer.limitHeaders(APIM, [state(rateRule, true, 7, 0)], 0)).toEqual({});
  });

  test('quota-by-key: 403 with the time to replenishment as a TimeSpan, and Retry-After', () => {
    const a = apimRenderer.refuse(
      APIM,
      refused('quota_exceeded', {
        limits: [state(rateRule, true, 3, 0), state(quotaRule, false, 0, 3723)],
      }),
      REQUEST,
    );
    expect(a).toEqual({
      status: 403,
      headers: { 'content-type': 'application/json', 'retry-after': '3723' },
      body: '{ "statusCode": 403, "message": "Out of call volume quota. Quota will be replenished in 01:02:03." }',
    });
    expect(timeSpan(0)).toBe('00:00:00');
    expect(timeSpan(59.2)).toBe('00:01:00');
    expect(timeSpan(2 * 86400 + 3 * 3600 + 7)).toBe('2.03:00:07');
  });

  test('a null counter key: 500', () => {
    expect(apimRenderer.refuse(APIM, refused('limit_key_missing'), REQUEST)).toEqual({
      status: 500,
      headers: { 'content-type': 'application/json' },
      body: '{ "statusCode": 500, "message": "Expression value is invalid. The counter-key field is required." }',
    });
  });
});

describe('other answers', () => {
  test('404 when no API matches', () => {
    expect(apimRenderer.notFound(APIM, REQUEST)).toEqual({
      status: 404,
      headers: { 'content-type': 'application/json' },
      body: '{ "statusCode": 404, "message": "Resource not found" }',
    });
  });

  test('check-header failures through apimMessageAnswer', () => {
    expect(apimMessageAnswer(401, 'Missing or wrong tenant')).toEqual({
      status: 401,
      headers: { 'content-type': 'application/json' },
      body: '{ "statusCode": 401, "message": "Missing or wrong tenant" }',
    });
    expect(apimBody(400, 'a\nb')).toBe('{ "statusCode": 400, "message": "a\\nb" }');
  });

  test('a claim refused by <choose>: its return-response as written', () => {
    const options: StyleOptions = {
      style: 'apim',
      forbiddenResponse: { status: 403, headers: {}, body: '' },
    };
    expect(apimRenderer.refuse(options, refused('claim_forbidden'), REQUEST)).toEqual({
      status: 403,
      headers: {},
      body: '',
    });
    expect(apimRenderer.refuse(APIM, refused('claim_forbidden'), REQUEST).body).toBe(
      '{ "statusCode": 403, "message": "Forbidden" }',
    );
  });

  test('every reason code has an answer and an APIM reason name', () => {
    const codes = Object.keys(REASONS) as ReasonCode[];
    expect(Object.keys(APIM_ROWS).sort()).toEqual([...codes].sort());
    for (const code of codes) {
      const a = apimRenderer.refuse(APIM, refused(code), REQUEST);
      expect(a.status).toBeGreaterThanOrEqual(400);
      expect(a.headers['content-type']).toBe('application/json');
      expect(JSON.parse(a.body)).toEqual({ statusCode: a.status, message: expect.any(String) });
      expect(a.body).toMatch(/^\{ "statusCode": \d{3}, "message": ".*" \}$/);
      expect(apimReasonName(code)).toMatch(/^[A-Z][A-Za-z]+$/);
    }
  });
});
