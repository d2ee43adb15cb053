/**
 * `decode --verify` in-process (runDecode with a captured Context) against
 * real servers on 127.0.0.1: the test IdP (oidc-provider) for real access
 * tokens and discovery, and a small local issuer for crafted cases. Also the
 * cached-token input (no argument, stdin a terminal).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDecode, type DecodeOptions } from '../../src/commands/decode.js';
import { createOutput } from '../../src/output/output.js';
import { TokenStore } from '../../src/config/token-store.js';
import { isGwError } from '../../src/core/errors/index.js';
import type { Context } from '../../src/context.js';
import { captureContext } from '../helpers/call-context.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import {
  claims,
  hmacToken,
  signingKey,
  startLocalIssuer,
  tamper,
  type LocalIssuer,
  type SigningKey,
} from '../helpers/jwt-fixtures.js';

let idp: TestIdp;
let local: LocalIssuer;
let key: SigningKey;
let idpToken: string;
const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-decode-'));
const env = {
  HOME: dir,
  XDG_CONFIG_HOME: join(dir, 'config'),
  OIDC_GW_CACHE_DIR: join(dir, 'cache'),
};

async function clientCredentialsToken(): Promise<string> {
  const meta = (await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json()) as {
    token_endpoint: string;
  };
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: idp.clients.post.clientId,
      client_secret: idp.clients.post.clientSecret,
      resource: idp.audience,
    }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no token from the test IdP: ${JSON.stringify(body)}`);
  return body.access_token;
}

beforeAll(async () => {
  [idp, key] = await Promise.all([startTestIdp(), signingKey('RS256', 'local-1')]);
  local = await startLocalIssuer([key.publicJwk]);
  idpToken = await clientCredentialsToken();
});

afterAll(async () => {
  await Promise.all([idp?.close(), local?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

function options(token: string | undefined, extra: Partial<DecodeOptions> = {}): DecodeOptions {
  return {
    input: token === undefined ? { kind: 'cache' } : { kind: 'argument', value: token },
    verify: true,
    issuer: undefined,
    audiences: [],
    jwksUri: undefined,
    keyFile: undefined,
    secret: undefined,
    clockSkew: 0,
    idToken: false,
    introspect: undefined,
    files: [],
    fileOptions: {
      format: undefined,
      path: undefined,
      upstream: undefined,
      namedValues: {},
      strict: false,
    },
    ...extra,
  };
}

interface JsonReport {
  kind: string;
  header: Record<string, unknown> | null;
  payload: Record<string, unknown> | null;
  checks: Array<{ name: string; status: string; message: string }>;
  verified: boolean | null;
  gateway: { issuer: string; audiences: string[]; jwks_uri: string | null } | null;
  verification: { key_source: string; jwks_uri: string | null; cause: string | null } | null;
}

/** Runs decode with --json and returns the exit code, the parsed document and stderr. */
async function decodeJson(
  opts: DecodeOptions,
  context: { stdinTty?: boolean; env?: Record<string, string> } = {},
): Promise<{ code: number; json: JsonReport; stderr: string }> {
  const captured = captureContext({ env: { ...env, ...(context.env ?? {}) } });
  if (context.stdinTty) (captured.ctx.io.stdin as { isTTY?: boolean }).isTTY = true;
  const ctx: Context = {
    ...captured.ctx,
    out: createOutput(captured.ctx.io, { json: true, verbose: false, noColor: true, env: {} }),
  };
  const code = await runDecode(ctx, opts);
  return {
    code,
    json: JSON.parse(captured.stdout().toString('utf8')) as JsonReport,
    stderr: captured.stderr(),
  };
}

const check = (r: JsonReport, name: string) => r.checks.find((c) => c.name === name);

describe('a client-credentials token from the test IdP', () => {
  it('verifies via --issuer (discovery, then the JWKS), with iss and aud checked', async () => {
    const { code, json } = await decodeJson(
      options(idpToken, { issuer: idp.issuer, audiences: [idp.audience] }),
    );
    expect(json.kind).toBe('JWS');
    expect(json.header?.['typ']).toBe('at+jwt');
    expect(json.payload?.['client_id']).toBe(idp.clients.post.clientId);
    expect(check(json, 'iss')?.status).toBe('ok');
    expect(check(json, 'aud')?.status).toBe('ok');
    expect(check(json, 'signature')?.status).toBe('ok');
    expect(check(json, 'signature')?.message).toContain(`the JWKS of ${idp.issuer}`);
    expect(check(json, 'trust')).toBeUndefined();
    expect(json.verified).toBe(true);
    expect(json.gateway?.jwks_uri).toBe(idp.jwksUri);
    expect(json.verification).toMatchObject({ jwks_uri: idp.jwksUri, cause: null });
    expect(code).toBe(0);
  });

  it("without --issuer, keys come from the token's own iss, with a trust warning", async () => {
    const { code, json } = await decodeJson(options(idpToken));
    expect(check(json, 'trust')?.status).toBe('warn');
    expect(check(json, 'trust')?.message).toContain("the token's own iss");
    expect(json.verified).toBe(true);
    expect(code).toBe(0);
  });

  it('--jwks-uri: verified with that key set, no discovery', async () => {
    idp.requests.reset();
    const { json } = await decodeJson(options(idpToken, { jwksUri: idp.jwksUri }));
    expect(json.verified).toBe(true);
    expect(idp.requests.count('/.well-known/openid-configuration')).toBe(0);
    expect(idp.requests.count('/jwks')).toBe(1);
  });

  it('a tampered payload: bad signature, exit 1', async () => {
    const payload = JSON.parse(
      Buffer.from(idpToken.split('.')[1] as string, 'base64url').toString(),
    ) as Record<string, unknown>;
    const forged = tamper(idpToken, { ...payload, scope: 'read write admin' });
    const { code, json } = await decodeJson(options(forged, { issuer: idp.issuer }));
    expect(check(json, 'signature')?.status).toBe('fail');
    expect(check(json, 'signature')?.message).toMatch(/^bad signature/);
    expect(json.verification?.cause).toBe('bad_signature');
    expect(json.verified).toBe(false);
    expect(code).toBe(1);
  });

  it('a token of another issuer: iss fails and the kid is unknown', async () => {
    const other = await key.sign(claims(Math.floor(Date.now() / 1000), { iss: local.issuer }));
    const { code, json } = await decodeJson(options(other, { issuer: idp.issuer }));
    expect(check(json, 'iss')?.status).toBe('fail');
    expect(check(json, 'signature')?.message).toMatch(/^unknown kid: no key with kid "local-1"/);
    expect(code).toBe(1);
  });

  it('the configured issuer (OIDC_GW_ISSUER) is used when no key source is given', async () => {
    const { json, stderr } = await decodeJson(options(idpToken), {
      env: { OIDC_GW_ISSUER: idp.issuer },
    });
    expect(check(json, 'trust')).toBeUndefined();
    expect(json.verified).toBe(true);
    expect(stderr).toContain(`configured issuer ${idp.issuer}`);
  });
});

describe('crafted tokens against a local issuer', () => {
  const now = () => Math.floor(Date.now() / 1000);

  it('expired: the signature is valid, but the token is not verified (exp names the cause)', async () => {
    const token = await key.sign(claims(now(), { iss: local.issuer, exp: now() - 7200 }));
    const { code, json } = await decodeJson(options(token, { issuer: local.issuer }));
    expect(check(json, 'signature')?.status).toBe('ok');
    expect(check(json, 'exp')?.message).toMatch(/^expired: exp .* \(2h ago\)$/);
    expect(json.verified).toBe(false);
    expect(code).toBe(1);
  });

  it('HS256 without --secret: algorithm mismatch, no network at all', async () => {
    const before = [...local.hits.values()].reduce((a, b) => a + b, 0);
    const token = await hmacToken('s', claims(now(), { iss: local.issuer }));
    const { code, json } = await decodeJson(options(token));
    expect(json.verification?.cause).toBe('alg_mismatch');
    expect(check(json, 'signature')?.message).toContain('--secret');
    expect([...local.hits.values()].reduce((a, b) => a + b, 0)).toBe(before);
    expect(code).toBe(1);
    const ok = await decodeJson(options(token, { secret: 's' }));
    expect(ok.json.verified).toBe(true);
  });

  it('--key FILE (a JWK file)', async () => {
    const file = join(dir, 'key.json');
    writeFileSync(file, JSON.stringify(key.publicJwk));
    const token = await key.sign(claims(now()));
    const { json } = await decodeJson(options(token, { keyFile: file }));
    expect(json.verified).toBe(true);
    expect(json.verification?.key_source).toBe(file);
  });

  it('a JWE or an opaque token cannot be verified: exit 1, no network', async () => {
    const jwe = 'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a2V5.aXY.Y3Q.dGFn';
    const r1 = await decodeJson(options(jwe));
    expect(r1.json.kind).toBe('JWE');
    expect(check(r1.json, 'signature')?.message).toContain('decrypting');
    expect(r1.code).toBe(1);
    const r2 = await decodeJson(options('2YotnFZFEjr1zCsicMWpAA'));
    expect(r2.json.kind).toBe('opaque');
    expect(check(r2.json, 'signature')?.message).toContain('introspection');
    expect(r2.code).toBe(1);
  });

  it('no key source and no iss in the token: exit 2 with what to give', async () => {
    const token = await key.sign({ sub: 'x', exp: now() + 60 });
    let caught: unknown;
    try {
      await decodeJson(options(token));
    } catch (error) {
      caught = error;
    }
    expect(isGwError(caught) && caught.code).toBe('ERR_MISSING_SETTING');
    expect(isGwError(caught) && caught.hint).toContain('--issuer');
  });
});

describe('the cached token (no argument, stdin a terminal)', () => {
  it("decodes the profile's cached access token, or its ID token with --id-token", async () => {
    const cacheDir = join(dir, 'cache-1');
    const store = new TokenStore(cacheDir);
    const idToken = await key.sign(
      claims(Math.floor(Date.now() / 1000), { nonce: 'n', aud: 'cli' }),
    );
    await store.writeUser('default', {
      access_token: idpToken,
      id_token: idToken,
      issuer: idp.issuer,
      client_id: 'cli',
      grant: 'authorization_code',
      obtained_at: Math.floor(Date.now() / 1000),
    });
    const access = await decodeJson(options(undefined, { verify: false }), {
      stdinTty: true,
      env: { OIDC_GW_CACHE_DIR: cacheDir },
    });
    expect(access.json.payload?.['client_id']).toBe(idp.clients.post.clientId);
    expect(access.stderr).toContain('decoding the cached access token of profile "default"');
    const id = await decodeJson(options(undefined, { verify: false, idToken: true }), {
      stdinTty: true,
      env: { OIDC_GW_CACHE_DIR: cacheDir },
    });
    expect(id.json.payload?.['nonce']).toBe('n');
    // --id-token: no "looks like an ID token" warning.
    expect(check(id.json, 'token_type')).toBeUndefined();
  });

  it('nothing cached: ERR_NO_TOKEN (exit 1) with a hint', async () => {
    let caught: unknown;
    try {
      await decodeJson(options(undefined, { verify: false }), {
        stdinTty: true,
        env: { OIDC_GW_CACHE_DIR: join(dir, 'empty-cache') },
      });
    } catch (error) {
      caught = error;
    }
    expect(isGwError(caught) && caught.code).toBe('ERR_NO_TOKEN');
    expect(isGwError(caught) && caught.exitCode).toBe(1);
    expect(isGwError(caught) && caught.hint).toContain('oidc-gw login');
  });
});
