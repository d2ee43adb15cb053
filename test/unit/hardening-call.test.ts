/**
 * `call` hardening (issue 16, items 11 and 15): a refused token is refreshed
 * and retried only when a new token can be accepted where the old one was
 * not (expired, unknown key after a rotation, no reason given), never for a
 * wrong audience, issuer, algorithm or scope, and the diagnosis says why no
 * retry was made; a Basic 401 does not claim "no token was sent"; the hint
 * for an ID token names only flags the user gave.
 */
import { describe, expect, test } from 'vitest';
import { diagnose, refreshVerdict, type DiagnoseInput } from '../../src/core/call/diagnose.js';

const NOW = 1_800_000_000;
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const jwt = (payload: Record<string, unknown>, header: Record<string, unknown>) =>
  `${b64(header)}.${b64(payload)}.${Buffer.from('signature').toString('base64url')}`;
const access = (extra: Record<string, unknown> = {}) =>
  jwt(
    {
      iss: 'https://idp.example/',
      aud: 'https://api.example/',
      sub: 'alice',
      client_id: 'cli',
      scope: 'read',
      exp: NOW + 3600,
      iat: NOW - 10,
      ...extra,
    },
    { alg: 'RS256', typ: 'at+jwt', kid: 'k1' },
  );

const challenge = (value: string) => [['WWW-Authenticate', value] as const];
const verdict = (headers: ReadonlyArray<readonly [string, string]>, body = '', token = access()) =>
  refreshVerdict({ headers, body, token, nowSeconds: NOW });

describe('item 11: refresh and retry only when a new token can help', () => {
  test('yes: the token expired, the gateway says expired, unknown kid, no reason at all', () => {
    expect(verdict([], '', access({ exp: NOW - 5 })).canHelp).toBe(true);
    expect(
      verdict(challenge('Bearer error="invalid_token", error_description="the token has expired"'))
        .canHelp,
    ).toBe(true);
    expect(
      verdict(challenge('Bearer error="invalid_token", error_description="kid not found in JWKS"'))
        .canHelp,
    ).toBe(true);
    expect(verdict(challenge('Bearer error="invalid_token"')).canHelp).toBe(true);
    expect(verdict([]).canHelp).toBe(true);
  });

  for (const [label, headers, body, words] of [
    [
      'a wrong audience (challenge)',
      challenge('Bearer error="invalid_token", error_description="audience not allowed"'),
      '',
      "the token's audience (aud)",
    ],
    [
      'a wrong issuer (challenge)',
      challenge('Bearer error="invalid_token", error_description="issuer is not trusted"'),
      '',
      "the token's issuer (iss)",
    ],
    [
      'a wrong algorithm (Tyk body)',
      [],
      '{"error": "Key not authorized: Unexpected signing method"}',
      "the token's signing algorithm (alg)",
    ],
    [
      'a missing scope (challenge error)',
      challenge('Bearer error="insufficient_scope", scope="admin"'),
      '',
      '"insufficient_scope"',
    ],
    [
      'a missing scope (description)',
      challenge('Bearer error="invalid_token", error_description="required scope missing"'),
      '',
      "the token's scopes",
    ],
  ] as const) {
    test(`no: ${label}`, () => {
      const v = verdict(headers, body);
      expect(v.canHelp).toBe(false);
      expect(v.why).toContain('not refreshed and retried');
      expect(v.why).toContain(words);
    });
  }

  test('the diagnosis says why there was no retry, not "refreshed once and refused again"', () => {
    const why = verdict(
      challenge('Bearer error="invalid_token", error_description="audience not allowed"'),
    ).why;
    const d = diagnose({
      status: 401,
      statusText: 'Unauthorized',
      headers: challenge('Bearer error="invalid_token", error_description="audience not allowed"'),
      body: '',
      bodyTruncated: false,
      token: access(),
      source: 'login',
      nowSeconds: NOW,
      refreshSkipped: why,
    });
    expect(d.notes).toContain(why);
    expect([...d.causes, ...d.notes].join('\n')).not.toContain('refreshed once');
    expect(d.causes.join('\n')).toContain("the gateway does not accept the token's audience");
  });
});

function run(partial: Partial<DiagnoseInput>) {
  return diagnose({
    status: 401,
    statusText: 'Unauthorized',
    headers: [],
    body: '',
    bodyTruncated: false,
    token: access(),
    source: 'login',
    nowSeconds: NOW,
    ...partial,
  });
}
const all = (d: ReturnType<typeof diagnose>) =>
  [...d.facts.map(([k, v]) => `${k}: ${v}`), ...d.causes, ...d.hints, ...d.notes].join('\n');

describe('item 15: a Basic 401 and an ID token given with --token', () => {
  test('-H "Authorization: Basic ...": the scheme, never "no token was sent"', () => {
    for (const headers of [challenge('Basic realm="api"'), challenge('Bearer realm="api"'), []]) {
      const d = run({ token: undefined, source: 'header', scheme: 'Basic', headers });
      const text = all(d);
      expect(text).toContain('scheme "Basic"');
      expect(text).not.toContain('no token was sent');
      expect(d.causes.join('\n')).toContain('carries "Basic" credentials, not a bearer token');
      expect(d.hints.join('\n')).not.toContain('--client-credentials');
    }
  });

  test('--token with an ID token: the hint does not mention --id-token', () => {
    const id = jwt(
      { iss: 'https://idp.example/', aud: 'cli', sub: 'alice', nonce: 'n', exp: NOW + 60 },
      { alg: 'RS256', typ: 'JWT' },
    );
    const flag = run({ token: id, source: 'flag' });
    expect(flag.causes.join('\n')).toContain('this looks like an ID token');
    expect(flag.hints.join('\n')).not.toContain('--id-token');
    expect(flag.hints.join('\n')).toContain('to --token');
    const env = run({ token: id, source: 'env' });
    expect(env.hints.join('\n')).not.toContain('--id-token');
    expect(env.hints.join('\n')).toContain('OIDC_GW_TOKEN');
    const asked = run({ token: id, source: 'id_token', clientId: 'cli' });
    expect(asked.hints.join('\n')).toContain('drop --id-token');
  });
});
