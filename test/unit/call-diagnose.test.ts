import { describe, expect, test } from 'vitest';
import { diagnose, type DiagnoseInput } from '../../src/core/call/diagnose.js';
import { readGatewayBody, topicOf } from '../../src/core/call/gateway-bodies.js';
import { tokenFacts } from '../../src/core/call/token-facts.js';

const NOW = 1_800_000_000;
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
/** A compact JWS with any header and payload (the signature is not checked by the diagnosis). */
const jwt = (
  payload: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'RS256', typ: 'at+jwt', kid: 'k1' },
) => `${b64(header)}.${b64(payload)}.${Buffer.from('signature').toString('base64url')}`;

const access = (extra: Record<string, unknown> = {}) =>
  jwt({
    iss: 'https://idp.example/',
    aud: 'https://api.example/',
    sub: 'alice',
    client_id: 'cli',
    scope: 'read',
    exp: NOW + 3600,
    iat: NOW - 10,
    ...extra,
  });

function run(partial: Partial<DiagnoseInput> & { headers?: DiagnoseInput['headers'] }) {
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

const text = (d: ReturnType<typeof diagnose>) =>
  [...d.facts.map(([k, v]) => `${k}: ${v}`), ...d.causes, ...d.hints, ...d.notes].join('\n');

describe('diagnose: gateways', () => {
  test('Tyk "Key not authorised" (403) with an expired token points at the expiry', () => {
    const d = run({
      status: 403,
      statusText: 'Forbidden',
      headers: [['Content-Type', 'application/json']],
      body: '{"error": "Key not authorised"}',
      token: access({ exp: NOW - 300 }),
    });
    expect(d.gateway?.gateway).toBe('Tyk');
    expect(d.causes[0]).toBe('the token expired 5m ago (exp 2027-01-15T07:55:00Z)');
    expect(d.hints).toContain('the cached login could not be refreshed: run `oidc-gw login` again');
  });

  test('Tyk "Unexpected signing method" names the alg', () => {
    const d = run({
      status: 403,
      body: '{"error": "Key not authorized: Unexpected signing method"}',
      token: jwt({ iss: 'i', aud: 'a', exp: NOW + 60 }, { alg: 'HS256', typ: 'JWT' }),
    });
    expect(d.gateway).toMatchObject({ gateway: 'Tyk', topic: 'algorithm' });
    expect(d.causes.join('\n')).toContain('signed with "HS256", a shared secret');
  });

  test('Tyk "Authorization field missing" while a token was sent', () => {
    const d = run({ body: '{"error": "Authorization field missing"}' });
    expect(d.gateway).toMatchObject({ gateway: 'Tyk', topic: 'missing' });
    expect(d.causes[0]).toContain('but the gateway says none arrived');
  });

  test('Kong {"message": "Unauthorized"} and "No credentials found for given \'iss\'"', () => {
    const a = run({ body: '{"message":"Unauthorized"}' });
    expect(a.gateway?.gateway).toBe('Kong');
    const b = run({ body: `{"message":"No credentials found for given 'iss'"}` });
    expect(b.gateway).toMatchObject({ gateway: 'Kong', topic: 'issuer' });
    expect(b.causes[0]).toBe(
      'the gateway does not trust the token\'s issuer: iss = "https://idp.example/" (compared exactly, trailing slash included)',
    );
  });

  test('Azure APIM "Invalid JWT." with a token that looks fine says to compare the gateway settings', () => {
    const d = run({ body: '{ "statusCode": 401, "message": "Invalid JWT." }' });
    expect(d.gateway).toMatchObject({ gateway: 'Azure API Management', topic: 'rejected' });
    expect(d.causes[0]).toContain('nothing in the token itself explains it');
    expect(d.causes[0]).toContain('issuer "https://idp.example/", audience "https://api.example/"');
  });

  test('Azure APIM missing subscription key', () => {
    const d = run({
      body: '{"statusCode":401,"message":"Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."}',
    });
    expect(d.gateway?.topic).toBe('subscription');
    expect(d.hints.join('\n')).toContain('Ocp-Apim-Subscription-Key');
  });

  test('oidc-gw serve: realm "oidc-gw", audience not allowed, with the token\'s aud', () => {
    const d = run({
      headers: [
        [
          'www-authenticate',
          'Bearer realm="oidc-gw", error="invalid_token", error_description="audience not allowed"',
        ],
      ],
      body: '{"error":"invalid_token","error_description":"audience not allowed"}',
    });
    expect(d.gateway).toMatchObject({ gateway: 'oidc-gw serve', topic: 'audience' });
    expect(d.bearer?.error).toBe('invalid_token');
    expect(d.causes[0]).toBe(
      'the gateway does not accept the token\'s audience: aud = "https://api.example/"',
    );
  });

  test('Envoy plain-text bodies', () => {
    expect(readGatewayBody('Jwt is expired', () => undefined)).toMatchObject({
      gateway: 'Envoy',
      topic: 'expired',
    });
    expect(readGatewayBody('Audiences in Jwt are not allowed', () => undefined)?.topic).toBe(
      'audience',
    );
  });

  test('Kong is recognised by its Server header for other messages', () => {
    const r = readGatewayBody('{"message":"Something else"}', (n) =>
      n === 'server' ? 'kong/3.4' : undefined,
    );
    expect(r?.gateway).toBe('Kong');
    expect(readGatewayBody('{"message":"Something else"}', () => undefined)).toBeUndefined();
  });
});

describe('diagnose: the token', () => {
  test('insufficient_scope lists the scopes the token lacks', () => {
    const d = run({
      status: 403,
      headers: [
        ['WWW-Authenticate', 'Bearer error="insufficient_scope", scope="read write admin"'],
      ],
      token: access({ scope: 'read' }),
    });
    expect(d.causes[0]).toBe('the token lacks the scopes "write", "admin" (it has: "read")');
    expect(d.hints[0]).toContain('--scope "read write admin"');
  });

  test('an ID token sent where an access token is expected', () => {
    const id = jwt(
      { iss: 'i', aud: 'cli', sub: 'alice', nonce: 'n', at_hash: 'x', exp: NOW + 60 },
      { alg: 'RS256', typ: 'JWT' },
    );
    const d = run({ token: id, clientId: 'cli', source: 'login' });
    expect(d.causes.join('\n')).toContain(
      'this looks like an ID token (it has nonce, at_hash, aud = the client id cli)',
    );
    const sent = run({ token: id, clientId: 'cli', source: 'id_token' });
    expect(sent.causes.join('\n')).toContain('an ID token was sent (--id-token');
  });

  test('an access token (typ at+jwt) is never taken for an ID token', () => {
    expect(tokenFacts(access({ nonce: 'n' }), 'cli')).toMatchObject({
      kind: 'JWS',
      idTokenMarks: [],
    });
  });

  test('opaque, JWE and malformed tokens', () => {
    expect(run({ token: 'abcdefghijklmnop' }).causes[0]).toContain(
      'not a JWT (opaque, 16 characters)',
    );
    const jwe = `${b64({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.AA.AA.AA.AA`;
    expect(run({ token: jwe }).causes[0]).toContain('encrypted (JWE)');
    expect(run({ token: 'a+b.c.d' }).causes[0]).toContain('not a well-formed JWT');
  });

  test('no token sent (--no-auth), and a token held back after a cross-origin redirect', () => {
    expect(run({ token: undefined, source: 'none' }).causes).toEqual([
      'no token was sent (--no-auth)',
    ]);
    const held = run({ token: undefined, source: 'login', heldBackAt: 'http://127.0.0.1:9' });
    expect(held.causes[0]).toContain('never sends the token to another origin');
  });

  test('gateway says expired while exp is ahead: clocks', () => {
    const d = run({ body: 'Jwt is expired' });
    expect(d.causes[0]).toContain('the clocks of this machine and the gateway may differ');
  });

  test('after the retry, the diagnosis says a fresh token did not help', () => {
    expect(run({ afterRetry: true }).causes[0]).toContain(
      'refreshed once and the new one was refused too',
    );
  });

  test('a 403 with no stated reason is about permissions', () => {
    const d = run({ status: 403, statusText: 'Forbidden' });
    expect(d.causes[0]).toContain('refuses this request: a scope, role, group or claim');
  });

  test('DPoP and Basic challenges', () => {
    expect(run({ headers: [['www-authenticate', 'DPoP algs="ES256"']] }).causes[0]).toContain(
      'DPoP-bound token',
    );
    expect(run({ headers: [['www-authenticate', 'Basic realm="x"']] }).causes[0]).toContain(
      'asks for "Basic" authentication',
    );
  });

  test('a malformed WWW-Authenticate is noted, and shown escaped', () => {
    const d = run({ headers: [['www-authenticate', 'Bearer error="x" realm="\u001b[31m"']] });
    expect(d.notes[0]).toContain('WWW-Authenticate is malformed');
    expect(text(d)).not.toContain('\u001b');
    expect(text(d)).toContain('\\u001b[31m');
  });

  test('never contains the token', () => {
    const token = access();
    for (const d of [
      run({ token }),
      run({ token, status: 403 }),
      run({ token, body: '{"error":"Key not authorised"}' }),
    ]) {
      expect(text(d)).not.toContain(token);
      expect(text(d)).not.toContain(token.split('.')[1] as string);
    }
  });
});

describe('helpers', () => {
  test('topicOf', () => {
    expect(topicOf('token expired')).toBe('expired');
    expect(topicOf('missing required scope')).toBe('scope');
    expect(topicOf('no trusted key for kid')).toBe('key');
    expect(topicOf('issuer not allowed')).toBe('issuer');
    expect(topicOf('signature verification failed')).toBe('signature');
    expect(topicOf('Unauthorized. Access token is missing or invalid.')).toBe('rejected');
    expect(topicOf('whatever')).toBeUndefined();
  });

  test('tokenFacts reads scp arrays and array audiences', () => {
    const f = tokenFacts(jwt({ aud: ['a', 'b'], scp: ['x', 'y'] }));
    expect(f).toMatchObject({ kind: 'JWS', aud: ['a', 'b'], scopes: ['x', 'y'] });
    expect(tokenFacts(undefined)).toEqual({ kind: 'none' });
  });
});
