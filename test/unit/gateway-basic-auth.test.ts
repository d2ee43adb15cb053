/**
 * The caller's client credentials for the gateway's client-credentials
 * exchange: `Authorization: Basic` (RFC 7617) with form-urlencoded id and
 * secret (RFC 6749 §2.3.1), and client_id / client_secret parameters.
 */
import { describe, expect, it } from 'vitest';
import {
  credentialsFromParams,
  findCallerCredentials,
  formUrlDecode,
  MAX_CREDENTIAL_LENGTH,
  parseBasicAuthorization,
} from '../../src/gateway/check/basic-auth.js';

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
/** What an RFC 6749 client sends: each part form-urlencoded, then base64. */
const basic = (id: string, secret: string) =>
  `Basic ${b64(`${new URLSearchParams({ a: id }).toString().slice(2)}:${new URLSearchParams({ a: secret }).toString().slice(2)}`)}`;

describe('parseBasicAuthorization', () => {
  it('reads id and secret, splitting at the first colon', () => {
    expect(parseBasicAuthorization(`Basic ${b64('svc:pa:ss')}`)).toEqual({
      kind: 'credentials',
      source: 'header',
      clientId: 'svc',
      clientSecret: 'pa:ss',
    });
  });

  it('undoes the form-urlencoding of RFC 6749 section 2.3.1 (+ is a space, %XX UTF-8)', () => {
    const secret = 's3cr:%+t/é ü&=?';
    const id = 'my client+1';
    expect(parseBasicAuthorization(basic(id, secret))).toMatchObject({
      kind: 'credentials',
      clientId: id,
      clientSecret: secret,
    });
    expect(parseBasicAuthorization(`Basic ${b64('a+b:c%2Bd%3A')}`)).toMatchObject({
      clientId: 'a b',
      clientSecret: 'c+d:',
    });
  });

  it('accepts the scheme in any case and surrounding whitespace', () => {
    for (const scheme of ['basic', 'BASIC', 'bAsIc'])
      expect(parseBasicAuthorization(`  ${scheme}   ${b64('a:b')} `)).toMatchObject({
        kind: 'credentials',
        clientId: 'a',
        clientSecret: 'b',
      });
  });

  it('accepts base64 without padding', () => {
    const token = b64('ab:c').replace(/=+$/, '');
    expect(token.endsWith('=')).toBe(false);
    expect(parseBasicAuthorization(`Basic ${token}`)).toMatchObject({ clientSecret: 'c' });
  });

  it('leaves other schemes alone', () => {
    expect(parseBasicAuthorization('Bearer abc.def.ghi')).toEqual({ kind: 'none' });
    expect(parseBasicAuthorization('Basically abc')).toEqual({ kind: 'none' });
    expect(parseBasicAuthorization('')).toEqual({ kind: 'none' });
  });

  it.each([
    ['Basic', 'empty Basic credentials'],
    ['Basic !!!!', 'not base64'],
    ['Basic YWJj ZGVm', 'not base64'],
    [`Basic ${b64('nocolon')}`, 'no ":"'],
    [`Basic ${b64(':secret')}`, 'empty client id'],
    [`Basic ${b64('id:')}`, 'empty client secret'],
    [`Basic ${b64('id:%zz')}`, 'not form-urlencoded'],
    [`Basic ${b64('id:50%')}`, 'not form-urlencoded'],
    [`Basic ${b64('id:%C3%28')}`, 'not form-urlencoded'],
    [`Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}`, 'not UTF-8'],
    ['Basic YQ=', 'padding'],
    ['Basic YR==', 'not canonical'],
    ['Basic Y', 'not base64'],
    [`Basic ${b64('id:a\u0000b')}`, 'control character'],
    [`Basic ${b64('id:%0A')}`, 'control character'],
    [`Basic ${b64(`id:${'x'.repeat(MAX_CREDENTIAL_LENGTH + 1)}`)}`, 'too long'],
    [`Basic ${'QUFB'.repeat(4000)}`, 'too long'],
  ])('%s is malformed (%s)', (header, why) => {
    const result = parseBasicAuthorization(header);
    expect(result.kind).toBe('malformed');
    expect(result.kind === 'malformed' && result.description).toContain(why);
  });

  it('never echoes what the caller sent in a description', () => {
    const secret = 'TOPSECRET%zz';
    const result = parseBasicAuthorization(`Basic ${b64(`id:${secret}`)}`);
    expect(result.kind).toBe('malformed');
    expect(JSON.stringify(result)).not.toContain('TOPSECRET');
  });
});

describe('formUrlDecode', () => {
  it('decodes + and %XX, and refuses a broken escape', () => {
    expect(formUrlDecode('a+b%20c%2B')).toBe('a b c+');
    expect(formUrlDecode('%E2%82%AC')).toBe('€');
    expect(formUrlDecode('%')).toBeUndefined();
    expect(formUrlDecode('%E2%82')).toBeUndefined();
  });
});

describe('credentialsFromParams', () => {
  it('reads client_id and client_secret (already decoded)', () => {
    const params = new URLSearchParams('client_id=svc&client_secret=a%2Bb%3Ac&x=1');
    expect(credentialsFromParams(params, 'body')).toEqual({
      kind: 'credentials',
      source: 'body',
      clientId: 'svc',
      clientSecret: 'a+b:c',
    });
  });

  it('is none without either parameter', () => {
    expect(credentialsFromParams(new URLSearchParams('a=1'), 'query')).toEqual({ kind: 'none' });
  });

  it.each([
    ['client_id=a&client_id=b&client_secret=s', 'more than once'],
    ['client_id=a&client_secret=s&client_secret=t', 'more than once'],
    ['client_secret=s', 'without client_id'],
    ['client_id=a', 'without client_secret'],
    ['client_id=&client_secret=s', 'empty client id'],
    ['client_id=a&client_secret=', 'empty client secret'],
  ])('%s is malformed (%s)', (query, why) => {
    const result = credentialsFromParams(new URLSearchParams(query), 'query');
    expect(result).toMatchObject({ kind: 'malformed', source: 'query' });
    expect(result.kind === 'malformed' && result.description).toContain(why);
  });
});

describe('findCallerCredentials', () => {
  const body = new URLSearchParams('client_id=b&client_secret=bs');
  const query = new URLSearchParams('client_id=q&client_secret=qs');

  it('takes credentials only from the places the plan allows', () => {
    expect(
      findCallerCredentials({ authorization: [basic('h', 'hs')], body, query }, ['header']),
    ).toMatchObject({ kind: 'credentials', source: 'header', clientId: 'h' });
    expect(findCallerCredentials({ body, query }, ['header'])).toEqual({ kind: 'none' });
    expect(findCallerCredentials({ body }, ['body', 'header', 'query'])).toMatchObject({
      source: 'body',
      clientId: 'b',
      clientSecret: 'bs',
    });
    expect(findCallerCredentials({ query }, ['query'])).toMatchObject({ clientId: 'q' });
  });

  it('ignores a bearer Authorization header', () => {
    expect(findCallerCredentials({ authorization: ['Bearer x.y.z'] }, ['header', 'body'])).toEqual({
      kind: 'none',
    });
  });

  it('refuses credentials in more than one allowed place (RFC 6749 section 2.3)', () => {
    const result = findCallerCredentials({ authorization: [basic('h', 'hs')], body }, [
      'header',
      'body',
    ]);
    expect(result).toMatchObject({ kind: 'malformed' });
    expect(result.kind === 'malformed' && result.description).toContain('more than one place');
  });

  it('refuses two Basic headers', () => {
    expect(
      findCallerCredentials({ authorization: [basic('a', 'b'), basic('c', 'd')] }, ['header']),
    ).toMatchObject({ kind: 'malformed', description: 'more than one Authorization header' });
  });

  it('reports a malformed place even when another is fine', () => {
    expect(
      findCallerCredentials(
        { authorization: ['Basic !!'], body: new URLSearchParams('client_id=a&client_secret=b') },
        ['header', 'body'],
      ),
    ).toMatchObject({ kind: 'malformed' });
  });
});
