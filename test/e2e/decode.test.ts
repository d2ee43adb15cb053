/**
 * `oidc-gw decode` as users run it: the built CLI (bin/oidc-gw.js) spawned
 * with arguments and stdin, asserting stdout, stderr and the exit code.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, runCli, tempHome } from '../helpers/cli.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import {
  b64u,
  claims,
  craft,
  hmacToken,
  signingKey,
  type SigningKey,
} from '../helpers/jwt-fixtures.js';

const home = tempHome('oidc-gw-decode-e2e-');
const env = { ...home.env, OIDC_GW_CACHE_DIR: join(home.dir, 'cache') };
const now = () => Math.floor(Date.now() / 1000);
const ESC = '\u001b[';

let key: SigningKey;
let token: string;

beforeAll(async () => {
  key = await signingKey('RS256', 'e2e-1');
  token = await key.sign(claims(now()));
});

afterAll(() => home.cleanup());

describe('input forms', () => {
  it('a bare token: the report on stdout, nothing on stderr, exit 0', async () => {
    const r = await runCli(['decode', token], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^JWS: a signed JWT\n/);
    expect(r.stdout).toContain('"kid": "e2e-1"');
    expect(r.stdout).toContain('"sub": "user-123"');
    expect(r.stdout).toMatch(/exp +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ {2}\(in 5\dm\)/);
    expect(r.stdout).toContain('Gateway settings');
    expect(r.stdout).not.toContain(ESC);
  });

  it('`Bearer TOKEN` as the argument', async () => {
    const r = await runCli(['decode', `Bearer ${token}`, '--json'], { env });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).input_form).toBe('bearer');
  });

  it('a whole Authorization line piped on stdin, with white space around', async () => {
    const r = await runCli(['decode', '--json'], {
      env,
      input: `\n  Authorization: Bearer ${token}  \r\n`,
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.input_form).toBe('authorization_header');
    expect(json.payload.sub).toBe('user-123');
  });

  it('`-` reads stdin; an empty stdin then is an input error (exit 2)', async () => {
    const r = await runCli(['decode', '-', '--json'], { env, input: `${token}\n` });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).kind).toBe('JWS');
    const empty = await runCli(['decode', '-'], { env, input: '' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toBe('oidc-gw: error: the input is empty: no token\n');
    expect(empty.stdout).toBe('');
  });

  it('a token response piped from `token --json` style output', async () => {
    const r = await runCli(['decode', '--json'], {
      env,
      input: JSON.stringify({ access_token: token, token_type: 'Bearer' }),
    });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).input_form).toBe('token_response');
  });
});

describe('--json', () => {
  it('prints exactly one document with kind, header, payload, checks and verified', async () => {
    const r = await runCli(['decode', token, '--json', '--audience', 'https://api.example.test/'], {
      env,
    });
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(Object.keys(json).slice(0, 5)).toEqual([
      'kind',
      'header',
      'payload',
      'checks',
      'verified',
    ]);
    expect(json.kind).toBe('JWS');
    expect(json.header).toEqual({ alg: 'RS256', kid: 'e2e-1', typ: 'JWT' });
    expect(json.payload).toEqual(
      JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()),
    );
    expect(json.verified).toBeNull();
    for (const c of json.checks) {
      expect(Object.keys(c)).toEqual(['name', 'status', 'message']);
      expect(['ok', 'warn', 'fail']).toContain(c.status);
    }
    expect(json.checks.find((c: { name: string }) => c.name === 'aud').status).toBe('ok');
    expect(json.gateway.issuer).toBe('https://issuer.example.test/');
  });

  it('a token that is not one: {"error": ...} on stdout, exit 2', async () => {
    const r = await runCli(['decode', `${b64u({ alg: 'RS256' })}.${b64u({})}`, '--json'], { env });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({
      error: {
        code: 'ERR_TOKEN_MALFORMED',
        message: 'a JWT has 3 dot-separated parts (JWS) or 5 (JWE); this one has 2',
        hint: 'decode reads a JWT (header.payload.signature), a JWE (5 parts) or an opaque token',
      },
    });
  });
});

describe('checks and exit codes', () => {
  it('expired: exit 1, the check says when', async () => {
    const expired = await key.sign(claims(now(), { exp: now() - 3 * 3600 - 30 }));
    const r = await runCli(['decode', expired], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}exp +expired: exp .*\(3h ago\)/);
    expect(r.stdout).toMatch(/1 check failed\n$/);
  });

  it('not yet valid and issued in the future: exit 1; --clock-skew forgives', async () => {
    const future = await key.sign(claims(now(), { nbf: now() + 120, iat: now() + 120 }));
    const r = await runCli(['decode', future, '--json'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const failed = JSON.parse(r.stdout).checks.filter(
      (c: { status: string }) => c.status === 'fail',
    );
    expect(failed.map((c: { name: string }) => c.name)).toEqual(['nbf', 'iat']);
    expect((await runCli(['decode', future, '--clock-skew', '300'], { env })).code).toBe(0);
  });

  it('alg none: exit 1; HS256: a warning, exit 0', async () => {
    const none = craft({ alg: 'none' }, claims(now()), '');
    const r = await runCli(['decode', none], { env });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAIL {2}alg .*not signed/);
    const hs = await hmacToken('secret', claims(now()));
    const h = await runCli(['decode', hs], { env });
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/warn {2}alg .*symmetric/);
  });

  it('--issuer and --audience mismatches: exit 1', async () => {
    const r = await runCli(
      ['decode', token, '--issuer', 'https://other.example/', '--audience', 'x', '--json'],
      { env },
    );
    expect(r.code).toBe(1);
    const names = JSON.parse(r.stdout)
      .checks.filter((c: { status: string }) => c.status === 'fail')
      .map((c: { name: string }) => c.name);
    expect(names).toEqual(['iss', 'aud']);
  });

  it('an opaque token: exit 0, says it is not a JWT and how to inspect it', async () => {
    const r = await runCli(['decode', '2YotnFZFEjr1zCsicMWpAA'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^opaque: not a JWT/);
    expect(r.stdout).toContain('introspection');
  });

  it('not a token: exit 2, one error line, no stack trace', async () => {
    for (const [input, message] of [
      ['a.b.c.d', 'oidc-gw: error: not a token'],
      [
        `${b64u({ alg: 'RS256' })}.${b64u('not json')}.c2ln`,
        'oidc-gw: error: the payload is not JSON',
      ],
      [`${b64u({ alg: 'RS256' })}.e30.c2l*`, 'oidc-gw: error: not a token: "*" at position'],
    ] as const) {
      const r = await runCli(['decode', input], { env });
      if (input === 'a.b.c.d') {
        // Dots but no JOSE header: an opaque token, not an error.
        expect(r.code).toBe(0);
        continue;
      }
      expect(r.code, input).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.startsWith(message), r.stderr).toBe(true);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('colour only when asked for (FORCE_COLOR) or on a terminal', async () => {
    const r = await runCli(['decode', token], { env: { ...env, FORCE_COLOR: '1' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(ESC);
    const plain = await runCli(['decode', token, '--no-color'], {
      env: { ...env, FORCE_COLOR: '1' },
    });
    expect(plain.stdout).not.toContain(ESC);
  });
});

describe('--verify with local keys', () => {
  it('--key FILE (JWK): verified, exit 0; another key: bad signature, exit 1', async () => {
    const file = join(home.dir, 'pub.json');
    writeFileSync(file, JSON.stringify(key.publicJwk));
    const r = await runCli(['decode', token, '--key', file], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ok {4}signature +valid RS256 signature/);
    expect(r.stdout).toContain('verified with ');
    const other = await signingKey('RS256', 'e2e-1');
    writeFileSync(file, JSON.stringify(other.publicJwk));
    const bad = await runCli(['decode', token, '--key', file, '--json'], { env });
    expect(bad.code).toBe(1);
    const json = JSON.parse(bad.stdout);
    expect(json.verified).toBe(false);
    expect(json.verification.cause).toBe('bad_signature');
  });

  it('--secret: HS256 verified; an RS256 token is an algorithm mismatch', async () => {
    const hs = await hmacToken('the shared secret', claims(now()));
    expect((await runCli(['decode', hs, '--secret', 'the shared secret'], { env })).code).toBe(0);
    const r = await runCli(['decode', token, '--secret', 'the shared secret', '--json'], { env });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).verification.cause).toBe('alg_mismatch');
  });

  it('usage errors: two key sources, a bad --clock-skew, an unreadable --key: exit 2', async () => {
    const two = await runCli(['decode', token, '--key', 'k.pem', '--secret', 's'], { env });
    expect(two.code).toBe(2);
    expect(two.stderr).toContain('give one source of keys, not --key and --secret');
    const skew = await runCli(['decode', token, '--clock-skew', 'soon'], { env });
    expect(skew.code).toBe(2);
    expect(skew.stderr).toContain('--clock-skew takes a whole number');
    const missing = await runCli(['decode', token, '--key', join(home.dir, 'nope.pem')], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read --key');
  });
});

describe('with the test IdP', () => {
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await startTestIdp();
  });
  afterAll(async () => {
    await idp?.close();
  });

  it('a client-credentials token from `oidc-gw token`, cached, then decoded from the cache and verified via --issuer', async () => {
    const got = await runCli(
      [
        'token',
        '--client-credentials',
        '--issuer',
        idp.issuer,
        '--client-id',
        idp.clients.basic.clientId,
        '--client-secret',
        idp.clients.basic.clientSecret,
        '--audience',
        idp.audience,
      ],
      { env },
    );
    expect(got.code, got.stderr).toBe(0);
    const accessToken = got.stdout.trim();
    // Piped straight in, verified against the IdP's JWKS found by discovery.
    const piped = await runCli(
      ['decode', '--verify', '--issuer', idp.issuer, '--audience', idp.audience, '--json'],
      {
        env,
        input: got.stdout,
      },
    );
    expect(piped.code, piped.stderr).toBe(0);
    const json = JSON.parse(piped.stdout);
    expect(json.verified).toBe(true);
    expect(json.payload.client_id).toBe(idp.clients.basic.clientId);
    expect(json.gateway.jwks_uri).toBe(idp.jwksUri);
    // No argument and an empty stdin: the cached token of the profile.
    const cached = await runCli(['decode', '--json'], { env, input: '' });
    expect(cached.code, cached.stderr).toBe(0);
    expect(cached.stderr).toContain('decoding the cached access token of profile "default"');
    expect(JSON.parse(cached.stdout).payload.jti).toBe(
      JSON.parse(Buffer.from(accessToken.split('.')[1] as string, 'base64url').toString()).jti,
    );
  });

  it('an unreachable issuer for --verify: exit 3', async () => {
    const dead = await runCli(['decode', token, '--verify', '--issuer', 'http://127.0.0.1:9/'], {
      env,
      timeoutMs: 20_000,
    });
    expect(dead.code).toBe(3);
    expect(dead.stderr).toMatch(/^oidc-gw: error: /);
  });
});

describe('no token anywhere', () => {
  it('empty stdin and an empty cache: exit 1 with a hint', async () => {
    const r = await runCli(['decode'], {
      env: { ...home.env, OIDC_GW_CACHE_DIR: join(home.dir, 'empty') },
      input: '',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'oidc-gw: error: no cached token for profile "default", and no token given',
    );
    expect(r.stderr).toContain('hint: ');
  });
});

describe('waiting for stdin', () => {
  it('Ctrl-C while stdin stays open: exit 130 with one line, no hang', async () => {
    const child = spawn(process.execPath, [BIN, 'decode', '-'], {
      cwd: ROOT,
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    // Interrupt once the CLI is up and waiting (it has started reading stdin when it is alive after a moment).
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) =>
      child.on('close', (c) => resolve(c)),
    );
    expect(code).toBe(130);
    expect(stdout).toBe('');
    expect(stderr).toBe('oidc-gw: error: interrupted while reading the token from stdin\n');
  });
});
