/**
 * The decode inspector (src/core/jwt/inspect.ts, input.ts, time.ts,
 * gateway.ts) on crafted tokens: one test per check and per input form.
 */
import { describe, expect, it } from 'vitest';
import { extractToken } from '../../src/core/jwt/input.js';
import {
  applySignature,
  exitCodeOf,
  inspectToken,
  issuerFromInput,
  type Check,
  type Report,
} from '../../src/core/jwt/inspect.js';
import { formatDuration, isoUtc, relativeTo } from '../../src/core/jwt/time.js';
import { renderReport, type Style } from '../../src/core/jwt/report-text.js';
import { isGwError } from '../../src/core/errors/index.js';
import { b64u, claims, craft } from '../helpers/jwt-fixtures.js';

const NOW_S = 1_750_000_000; // 2025-06-15T15:06:40Z
const NOW = NOW_S * 1000;
const RS = { alg: 'RS256', typ: 'at+jwt', kid: 'k1' };
const SIG = Buffer.alloc(32, 7).toString('base64url');

function check(report: Report, name: string): Check | undefined {
  return report.checks.find((c) => c.name === name);
}

function inspect(token: string, options: Partial<Parameters<typeof inspectToken>[1]> = {}): Report {
  return inspectToken(token, { now: NOW, ...options });
}

/** The error a call throws (it must throw a GwError). */
function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (isGwError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected an error');
}

const plain: Style = {
  bold: (s) => s,
  dim: (s) => s,
  red: (s) => s,
  green: (s) => s,
  yellow: (s) => s,
  cyan: (s) => s,
  magenta: (s) => s,
};

describe('a valid access token', () => {
  const token = craft(RS, claims(NOW_S), SIG);
  const report = inspect(token);

  it('is a JWS with its header and payload, every check ok, exit 0', () => {
    expect(report.kind).toBe('JWS');
    expect(report.header).toEqual(RS);
    expect(report.payload).toEqual(claims(NOW_S));
    expect(report.verified).toBeNull();
    expect(report.checks.every((c) => c.status === 'ok')).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual(['encoding', 'alg', 'exp', 'nbf', 'iat']);
    expect(exitCodeOf(report)).toBe(0);
  });

  it('shows each time as ISO 8601 UTC and relative', () => {
    expect(report.claims?.exp).toEqual({
      epoch: NOW_S + 3540,
      iso: '2025-06-15T16:05:40Z',
      relative: 'in 59m',
    });
    expect(report.claims?.iat?.relative).toBe('1m ago');
    expect(check(report, 'exp')?.message).toBe('expires 2025-06-15T16:05:40Z (in 59m)');
  });

  it('gives the gateway settings: issuer, audience, discovery URL, Tyk, Kong, APIM', () => {
    const g = report.gateway;
    expect(g?.issuer).toBe('https://issuer.example.test/');
    expect(g?.audiences).toEqual(['https://api.example.test/']);
    expect(g?.discovery_url).toBe('https://issuer.example.test/.well-known/openid-configuration');
    expect(g?.jwks_uri).toBeNull();
    expect(g?.tyk.jwt_signing_method).toBe('rsa');
    expect(g?.tyk.jwt_identity_base_field).toBe('sub');
    const b64Aud = Buffer.from('https://api.example.test/').toString('base64');
    expect(g?.tyk.openid_options.providers[0]?.client_ids).toEqual({ [b64Aud]: '<policy id>' });
    expect(g?.kong['config.issuer']).toBe(
      'https://issuer.example.test/.well-known/openid-configuration',
    );
    expect(g?.kong['config.audience_required']).toEqual(['https://api.example.test/']);
    expect(g?.azure_apim.policy).toContain(
      '<openid-config url="https://issuer.example.test/.well-known/openid-configuration" />',
    );
    expect(g?.azure_apim.policy).toContain('<audience>https://api.example.test/</audience>');
    expect(g?.azure_apim.policy).toContain('<issuer>https://issuer.example.test/</issuer>');
  });

  it('renders a human report with claims, checks and gateway settings', () => {
    const text = renderReport(report, plain, { verifyRequested: false });
    expect(text).toContain('JWS: a signed JWT');
    expect(text).toContain('"alg": "RS256"');
    expect(text).toMatch(/iss +https:\/\/issuer\.example\.test\//);
    expect(text).toMatch(/client_id +cli/);
    expect(text).toMatch(/exp +2025-06-15T16:05:40Z {2}\(in 59m\)/);
    expect(text).toContain('not verified: add --verify');
    expect(text).toContain('Gateway settings');
    expect(text).toContain('jwt_identity_base_field = sub');
    expect(text).toContain('config.audience_required = https://api.example.test/');
    expect(text).toContain('<validate-jwt');
    expect(text.endsWith('no check failed\n')).toBe(true);
  });

  it('colours JSON only through the style it is given', () => {
    const tagged: Style = { ...plain, cyan: (s) => `<k>${s}</k>`, green: (s) => `<s>${s}</s>` };
    const text = renderReport(report, tagged, { verifyRequested: false });
    expect(text).toContain('<k>"alg"</k>: <s>"RS256"</s>');
  });
});

describe('time checks', () => {
  it('expired: fail, with when', () => {
    const r = inspect(craft(RS, claims(NOW_S, { exp: NOW_S - 3 * 3600 }), SIG));
    expect(check(r, 'exp')).toMatchObject({ status: 'fail' });
    expect(check(r, 'exp')?.message).toBe('expired: exp 2025-06-15T12:06:40Z (3h ago)');
    expect(exitCodeOf(r)).toBe(1);
  });

  it('exp exactly now is expired; within --clock-skew it is not', () => {
    expect(check(inspect(craft(RS, claims(NOW_S, { exp: NOW_S }), SIG)), 'exp')?.status).toBe(
      'fail',
    );
    const r = inspect(craft(RS, claims(NOW_S, { exp: NOW_S - 10 }), SIG), { clockSkew: 30 });
    expect(check(r, 'exp')?.status).toBe('ok');
    const r2 = inspect(craft(RS, claims(NOW_S, { exp: NOW_S - 31 }), SIG), { clockSkew: 30 });
    expect(check(r2, 'exp')?.message).toContain('clock skew allowed: 30s');
  });

  it('not yet valid: nbf in the future fails', () => {
    const r = inspect(craft(RS, claims(NOW_S, { nbf: NOW_S + 300 }), SIG));
    expect(check(r, 'nbf')).toEqual({
      name: 'nbf',
      status: 'fail',
      message: 'not yet valid: nbf 2025-06-15T15:11:40Z (in 5m)',
    });
    expect(
      check(inspect(craft(RS, claims(NOW_S, { nbf: NOW_S + 300 }), SIG), { clockSkew: 300 }), 'nbf')
        ?.status,
    ).toBe('ok');
  });

  it('issued in the future: iat after now fails', () => {
    const r = inspect(craft(RS, claims(NOW_S, { iat: NOW_S + 7200 }), SIG));
    expect(check(r, 'iat')?.status).toBe('fail');
    expect(check(r, 'iat')?.message).toContain(
      'issued in the future: iat 2025-06-15T17:06:40Z (in 2h)',
    );
  });

  it('no exp: a warning, exit 0', () => {
    const payload = claims(NOW_S);
    delete payload['exp'];
    const r = inspect(craft(RS, payload, SIG));
    expect(check(r, 'exp')).toMatchObject({ status: 'warn' });
    expect(check(r, 'exp')?.message).toContain('never expires');
    expect(exitCodeOf(r)).toBe(0);
  });

  it('times that are not numbers fail; milliseconds are spotted', () => {
    const r = inspect(craft(RS, claims(NOW_S, { exp: String(NOW_S + 60), nbf: null }), SIG));
    expect(check(r, 'exp')?.status).toBe('fail');
    expect(check(r, 'exp')?.message).toContain('not a number of seconds');
    expect(check(r, 'nbf')?.status).toBe('fail');
    const ms = inspect(craft(RS, claims(NOW_S, { exp: NOW * 1000 }), SIG));
    expect(check(ms, 'exp')?.status).toBe('warn');
    expect(check(ms, 'exp')?.message).toContain('milliseconds');
  });

  it('out-of-range times are shown without throwing', () => {
    const r = inspect(craft(RS, claims(NOW_S, { exp: 1e300 }), SIG));
    expect(r.claims?.exp?.iso).toBeNull();
    expect(renderReport(r, plain, { verifyRequested: false })).toContain('out of range');
  });
});

describe('alg', () => {
  it('alg none: fail', () => {
    const r = inspect(craft({ alg: 'none' }, claims(NOW_S), ''));
    expect(check(r, 'alg')?.status).toBe('fail');
    expect(check(r, 'alg')?.message).toContain('not signed');
    expect(check(r, 'signature')).toBeUndefined();
    expect(exitCodeOf(r)).toBe(1);
    expect(check(inspect(craft({ alg: 'NoNe' }, claims(NOW_S), '')), 'alg')?.status).toBe('fail');
  });

  it('HS256: warn (symmetric)', () => {
    const r = inspect(craft({ alg: 'HS256' }, claims(NOW_S), SIG));
    expect(check(r, 'alg')).toMatchObject({ status: 'warn' });
    expect(check(r, 'alg')?.message).toContain('symmetric');
    expect(r.gateway?.tyk.jwt_signing_method).toBe('hmac');
    expect(exitCodeOf(r)).toBe(0);
  });

  it('missing, not a string, or unregistered: fail', () => {
    expect(check(inspect(craft({ typ: 'JWT' }, claims(NOW_S), SIG)), 'alg')?.status).toBe('fail');
    expect(check(inspect(craft({ alg: 256 }, claims(NOW_S), SIG)), 'alg')?.status).toBe('fail');
    expect(check(inspect(craft({ alg: 'XS999' }, claims(NOW_S), SIG)), 'alg')?.message).toContain(
      'not a registered',
    );
  });

  it('an empty signature with a real alg fails', () => {
    expect(check(inspect(craft(RS, claims(NOW_S), '')), 'signature')).toMatchObject({
      status: 'fail',
    });
  });
});

describe('issuer and audience', () => {
  const token = craft(
    RS,
    claims(NOW_S, { aud: ['https://api.example.test/', 'https://other.example/'] }),
    SIG,
  );

  it('--issuer equal: ok; different: fail; only a trailing slash apart: fail, said so', () => {
    expect(check(inspect(token, { issuer: 'https://issuer.example.test/' }), 'iss')?.status).toBe(
      'ok',
    );
    const other = check(inspect(token, { issuer: 'https://evil.example/' }), 'iss');
    expect(other).toEqual({
      name: 'iss',
      status: 'fail',
      message: 'iss is "https://issuer.example.test/", expected "https://evil.example/"',
    });
    const slash = check(inspect(token, { issuer: 'https://issuer.example.test' }), 'iss');
    expect(slash?.status).toBe('fail');
    expect(slash?.message).toContain('trailing slash');
  });

  it('aud array: passes when any element matches any --audience', () => {
    const r = inspect(token, { audiences: ['https://other.example/'] });
    expect(check(r, 'aud')).toEqual({
      name: 'aud',
      status: 'ok',
      message: 'aud contains "https://other.example/" (of 2 audiences)',
    });
    expect(
      check(inspect(token, { audiences: ['nope', 'https://api.example.test/'] }), 'aud')?.status,
    ).toBe('ok');
    expect(inspect(token).gateway?.audiences).toEqual([
      'https://api.example.test/',
      'https://other.example/',
    ]);
  });

  it('aud mismatch: fail, naming both', () => {
    const r = inspect(craft(RS, claims(NOW_S), SIG), { audiences: ['https://payments.example/'] });
    expect(check(r, 'aud')).toEqual({
      name: 'aud',
      status: 'fail',
      message: 'aud is "https://api.example.test/", expected "https://payments.example/"',
    });
    expect(exitCodeOf(r)).toBe(1);
  });

  it('no iss / no aud: warnings; wrong types: fail', () => {
    const r = inspect(craft(RS, { sub: 'x', exp: NOW_S + 60 }, SIG));
    expect(check(r, 'iss')?.status).toBe('warn');
    expect(check(r, 'aud')?.status).toBe('warn');
    expect(check(inspect(craft(RS, claims(NOW_S, { aud: [1, 2] }), SIG)), 'aud')?.status).toBe(
      'fail',
    );
    expect(check(inspect(craft(RS, claims(NOW_S, { iss: 7 }), SIG)), 'iss')?.status).toBe('fail');
    expect(
      check(inspect(craft(RS, { sub: 'x', exp: NOW_S + 60 }, SIG), { issuer: 'https://i/' }), 'iss')
        ?.status,
    ).toBe('fail');
  });
});

describe('key material in the header', () => {
  it('embedded jwk: a warning naming it', () => {
    const r = inspect(craft({ ...RS, jwk: { kty: 'oct', k: 'AAAA' } }, claims(NOW_S), SIG));
    expect(check(r, 'embedded_keys')?.status).toBe('warn');
    expect(check(r, 'embedded_keys')?.message).toContain('jwk');
    expect(check(r, 'embedded_keys')?.message).toContain('never uses it');
  });

  it('jku, x5u, x5c: a warning naming each, with the URLs', () => {
    const r = inspect(
      craft(
        {
          ...RS,
          jku: 'https://attacker.example/jwks',
          x5u: 'https://attacker.example/c',
          x5c: ['MII='],
        },
        claims(NOW_S),
        SIG,
      ),
    );
    const msg = check(r, 'embedded_keys')?.message ?? '';
    expect(msg).toContain('jku (https://attacker.example/jwks)');
    expect(msg).toContain('x5u (https://attacker.example/c)');
    expect(msg).toContain('x5c');
  });
});

describe('strict encoding', () => {
  const good = craft(RS, claims(NOW_S), SIG);
  const [h, p, s] = good.split('.') as [string, string, string];

  it('padding "=" is non-canonical: fail, not exit 2', () => {
    const r = inspect(`${h}.${b64u({ ab: 1 })}=.${s}`);
    expect(r.payload).toEqual({ ab: 1 });
    expect(check(r, 'encoding')).toEqual({
      name: 'encoding',
      status: 'fail',
      message:
        'the payload is not canonical base64url (it has "=" padding): a sign of tampering or a broken encoder, and a strict gateway refuses it',
    });
    expect(exitCodeOf(r)).toBe(1);
    expect(check(inspect(`${h}.${p}.${s}`), 'encoding')?.status).toBe('ok');
  });

  it('stray bits in the last character (tampering): fail, naming the segment', () => {
    // "AB" decodes to the same byte as the canonical "AA".
    const short = inspect(`${h}.${p}.AB`);
    expect(check(short, 'encoding')).toMatchObject({ status: 'fail' });
    expect(check(short, 'encoding')?.message).toContain('the signature is not canonical base64url');
    expect(check(short, 'encoding')?.message).toContain('stray bits');
    // The same in the payload: {"ab":1} is 8 bytes, 11 characters, the last one with 2 unused bits.
    const canonical = b64u({ ab: 1 });
    expect(canonical.length % 4).toBe(3);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = canonical.at(-1) as string;
    const bumped = canonical.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1];
    expect(Buffer.from(bumped, 'base64url').toString()).toBe('{"ab":1}');
    const r = inspect(`${h}.${bumped}.${s}`);
    expect(r.payload).toEqual({ ab: 1 });
    expect(check(r, 'encoding')?.message).toContain('the payload is not canonical base64url');
    expect(exitCodeOf(r)).toBe(1);
  });

  it('+ and / (base64, not base64url): fail with the reason', () => {
    const payload = b64u({ ...claims(NOW_S), x: '\u00ff\u00fe\u00fd?>>' });
    const std = payload.replace(/-/g, '+').replace(/_/g, '/');
    expect(std).not.toBe(payload);
    const r = inspect(`${h}.${std}.${s}`);
    expect(check(r, 'encoding')?.message).toContain('"+" or "/"');
  });

  it('a duplicate claim: fail (claim smuggling), last value shown', () => {
    const payload = Buffer.from(`{"sub":"alice","aud":"a","aud":"b","exp":${NOW_S + 60}}`).toString(
      'base64url',
    );
    const r = inspect(`${h}.${payload}.${s}`);
    expect(check(r, 'duplicate_members')?.status).toBe('fail');
    expect(check(r, 'duplicate_members')?.message).toContain('"aud"');
    expect(r.payload?.['aud']).toBe('b');
  });
});

describe('not a token: exit 2 with the precise reason', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['empty', '', /empty/],
    [
      '2 parts',
      `${b64u(RS)}.${b64u({})}`,
      /3 dot-separated parts \(JWS\) or 5 \(JWE\); this one has 2/,
    ],
    ['4 parts', `${b64u(RS)}.a.b.c`, /this one has 4/],
    [
      'a character outside base64url',
      `${b64u(RS)}.${b64u({})}.ab*cd`,
      /not a token: "\*" at position/,
    ],
    [
      '"?" inside a segment',
      `${b64u(RS).slice(0, 10)}?${b64u(RS).slice(10)}.${b64u({})}.c2ln`,
      /"\?" at position 11/,
    ],
    ['header not JSON', `${b64u('{"alg":')}.${b64u({})}.c2ln`, /the header is not JSON/],
    ['payload not JSON', `${b64u(RS)}.${b64u('hello')}.c2ln`, /the payload is not JSON/],
    [
      'payload JSON but not an object',
      `${b64u(RS)}.${b64u([1, 2])}.c2ln`,
      /an array, not an object of claims/,
    ],
    [
      'header not UTF-8',
      `${b64u(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]))}.${b64u({})}.c2ln`,
      /not valid UTF-8/,
    ],
    [
      'JSON nested deeper than any token (it would exhaust the stack when printed)',
      `${b64u(RS)}.${b64u(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`)}.c2ln`,
      /nests JSON deeper than 64 levels/,
    ],
    ['a dangling base64 character', `${b64u(RS)}.${b64u({ abc: 1 })}A.c2ln`, /cannot be decoded/],
  ];
  for (const [name, token, message] of cases) {
    it(name, () => {
      const e = thrown(() => inspect(token));
      expect(e.code).toBe('ERR_TOKEN_MALFORMED');
      expect(e.message).toMatch(message);
    });
  }
});

describe('JWE and opaque tokens', () => {
  it('JWE: header shown, payload unreadable, a warning; --issuer/--audience cannot pass', () => {
    const header = { alg: 'RSA-OAEP-256', enc: 'A256GCM', kid: 'enc-1' };
    const jwe = `${b64u(header)}.${b64u('k'.repeat(40))}.${b64u('iv-iv-iv-iv')}.${b64u('ciphertext')}.${b64u('tag-tag-tag-tag')}`;
    const r = inspect(jwe);
    expect(r.kind).toBe('JWE');
    expect(r.header).toEqual(header);
    expect(r.payload).toBeNull();
    expect(check(r, 'encrypted')?.message).toContain('cannot be read without');
    expect(exitCodeOf(r)).toBe(0);
    expect(exitCodeOf(inspect(jwe, { audiences: ['x'] }))).toBe(1);
    expect(renderReport(r, plain, { verifyRequested: false })).toContain('encrypted');
  });

  it('opaque: not a JWT, introspection suggested; dotted opaque tokens too', () => {
    for (const token of ['2YotnFZFEjr1zCsicMWpAA', 'ya29.a0AfB_byDzQ-xyz', 'abc.def.ghi']) {
      const r = inspect(token);
      expect(r.kind).toBe('opaque');
      expect(r.header).toBeNull();
      expect(r.payload).toBeNull();
      expect(check(r, 'format')?.message).toContain('introspection');
      expect(exitCodeOf(r)).toBe(0);
    }
    expect(exitCodeOf(inspect('2YotnFZFEjr1zCsicMWpAA', { issuer: 'https://i/' }))).toBe(1);
  });
});

describe('input forms', () => {
  const token = craft(RS, claims(NOW_S), SIG);

  it('bare, Bearer, Authorization line, with white space around', () => {
    expect(extractToken(`  ${token}\n`)).toEqual({ token, form: 'bare' });
    expect(extractToken(`Bearer ${token}`)).toEqual({ token, form: 'bearer' });
    expect(extractToken(`bearer\t${token}\r\n`)).toEqual({ token, form: 'bearer' });
    expect(extractToken(`Authorization: Bearer ${token}`)).toEqual({
      token,
      form: 'authorization_header',
    });
    expect(extractToken(`\n  authorization:Bearer   ${token}  \n`)).toEqual({
      token,
      form: 'authorization_header',
    });
  });

  it('a token response: access_token, or id_token when asked', () => {
    const body = JSON.stringify({
      access_token: token,
      id_token: 'id.tok.en',
      token_type: 'Bearer',
    });
    expect(extractToken(body)).toEqual({ token, form: 'token_response' });
    expect(extractToken(body, { idToken: true }).token).toBe('id.tok.en');
  });

  it('quotes around a pasted token are dropped', () => {
    expect(extractToken(`"${token}"`).token).toBe(token);
  });

  it('refuses what is not one token, with exit 2', () => {
    const cases: Array<[string, RegExp]> = [
      ['   ', /empty/],
      ['Bearer', /not followed by a token/],
      ['Bearer   ', /not followed by a token/],
      [`Bearer ${token} extra`, /followed by 2 words/],
      [`Authorization: Basic dXNlcjpwYXNz`, /"Basic" scheme/],
      ['Authorization:', /no value/],
      [`${token.slice(0, 20)} ${token.slice(20)}`, /white space inside/],
      ['{"token_type":"Bearer"}', /without a string "access_token"/],
      ['{not json', /not JSON/],
    ];
    for (const [input, message] of cases) {
      const e = thrown(() => extractToken(input));
      expect(e.code, input).toBe('ERR_TOKEN_MALFORMED');
      expect(e.message, input).toMatch(message);
    }
  });
});

describe('the signature verdict in the report', () => {
  it('verified is true only when no check failed', () => {
    const ok = inspect(craft(RS, claims(NOW_S), SIG));
    applySignature(ok, { ok: true, message: 'valid' });
    expect(ok.verified).toBe(true);
    expect(check(ok, 'signature')?.status).toBe('ok');
    const expired = inspect(craft(RS, claims(NOW_S, { exp: NOW_S - 1 }), SIG));
    applySignature(expired, { ok: true, message: 'valid' });
    expect(expired.verified).toBe(false);
    expect(renderReport(expired, plain, { verifyRequested: true })).toContain(
      'NOT verified: exp failed',
    );
  });

  it('a failed signature replaces an earlier signature check, and a trust warning is kept', () => {
    const r = inspect(craft(RS, claims(NOW_S), ''));
    applySignature(
      r,
      { ok: false, message: 'bad signature' },
      { name: 'trust', status: 'warn', message: 'from iss' },
    );
    expect(r.checks.filter((c) => c.name === 'signature')).toEqual([
      { name: 'signature', status: 'fail', message: 'bad signature' },
    ]);
    expect(check(r, 'trust')?.status).toBe('warn');
    expect(r.verified).toBe(false);
  });
});

describe('time formatting', () => {
  it('ISO 8601 UTC without fractions; relative in one or two units', () => {
    expect(isoUtc(0)).toBe('1970-01-01T00:00:00Z');
    expect(isoUtc(1.5)).toBe('1970-01-01T00:00:01.500Z');
    expect(isoUtc(Number.MAX_VALUE)).toBeNull();
    expect(relativeTo(100 + 59 * 60 + 59, 100)).toBe('in 59m');
    expect(relativeTo(100 - 3 * 3600, 100)).toBe('3h ago');
    expect(relativeTo(100, 100)).toBe('now');
    expect(formatDuration(45)).toBe('45s');
    expect(formatDuration(3 * 3600 + 20 * 60)).toBe('3h 20m');
    expect(formatDuration(2 * 86_400 + 4 * 3600)).toBe('2d 4h');
    expect(formatDuration(400 * 86_400)).toBe('1y 35d');
  });
});

describe('terminal safety', () => {
  // eslint-disable-next-line no-control-regex
  const RAW_CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

  it('claims, header members and messages never put a control character on the terminal', () => {
    const evil = '\u001b[2J\u001b]0;pwned\u0007\u009b31m\u202egnp.exe';
    const token = craft(
      { ...RS, kid: evil, [evil]: 1 },
      claims(NOW_S, { iss: evil, sub: evil, aud: [evil], scope: evil, exp: evil }),
      SIG,
    );
    const report = inspect(token, { issuer: 'https://x/', audiences: ['y'] });
    const text = renderReport(report, plain, { verifyRequested: false });
    expect(text).not.toMatch(RAW_CONTROL);
    expect(text).toContain('\\u001b[2J');
    expect(text).toContain('\\u202e');
  });

  it('a JSON parser message quoting the token is escaped', () => {
    const e = thrown(() => inspect(`${b64u({ alg: 'RS256' })}.${b64u('{"a":\u001b[31m}')}.c2ln`));
    expect(e.message).toMatch(/^the payload is not JSON/);
    expect(e.message).not.toMatch(RAW_CONTROL);
  });

  it('a character outside a token is named, not echoed', () => {
    expect(thrown(() => inspect('abc\u009bdef')).message).toBe(
      'not a token: control character U+009B at position 4',
    );
    expect(thrown(() => inspect('abc\u202edef')).message).toBe(
      'not a token: bidirectional control U+202E at position 4',
    );
    expect(thrown(() => inspect('abcédef')).message).toBe(
      'not a token: "é" (U+00E9) at position 4',
    );
  });
});

describe('--issuer given as a metadata URL', () => {
  it('names the issuer it describes; anything else is kept as given', () => {
    expect(issuerFromInput('https://idp.example/realms/a/.well-known/openid-configuration')).toBe(
      'https://idp.example/realms/a',
    );
    expect(
      issuerFromInput('https://idp.example/.well-known/oauth-authorization-server/tenant'),
    ).toBe('https://idp.example/tenant');
    expect(issuerFromInput('https://idp.example/.well-known/oauth-authorization-server')).toBe(
      'https://idp.example',
    );
    expect(issuerFromInput('https://tenant.auth0.com/')).toBe('https://tenant.auth0.com/');
  });
});
