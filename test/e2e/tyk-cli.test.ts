/**
 * `oidc-gw serve --file api.json --file policies.json` end to end on Tyk
 * files: the built CLI, spawned with a clean environment, in front of a
 * real upstream, trusting the real test IdP's JWK Set through the API
 * definition's `jwt_source`; Tyk's answers byte for byte on the wire, the
 * JSON log line with oidc-gw's reason code, the start-up warning that a
 * classic definition checks neither iss nor aud, and `serve --check` on a
 * valid and an invalid definition (docs/gateways/tyk.md).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cleanEnv, ROOT, runOnce, startServe, type ServeProcess } from '../helpers/gateway-cli.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';

const TEMPLATES = join(ROOT, 'test', 'fixtures', 'tyk', 'live');
const SKIPPED = 'this API accepts tokens from any issuer for any audience signed by its key source';

let idp: TestIdp;
let upstream: Upstream;
let env: Record<string, string>;
let cleanup: () => void;
let dir: string;
let api: string;
let policies: string;
const running: ServeProcess[] = [];

function fixture(name: string, edit?: (doc: Record<string, unknown>) => void): string {
  let text = readFileSync(join(TEMPLATES, name), 'utf8')
    .replaceAll('__JWKS_URI_BASE64__', Buffer.from(idp.jwksUri).toString('base64'))
    .replaceAll('__UPSTREAM__', upstream.url.replace(/\/$/, ''));
  if (edit) {
    const doc = JSON.parse(text) as Record<string, unknown>;
    edit(doc);
    text = JSON.stringify(doc, null, 2);
  }
  const path = join(dir, edit ? `edited-${name}` : name);
  writeFileSync(path, text);
  return path;
}

async function accessToken(): Promise<string> {
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

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

beforeAll(async () => {
  [idp, upstream] = await Promise.all([startTestIdp(), startUpstream()]);
  ({ env, cleanup } = cleanEnv());
  dir = mkdtempSync(join(tmpdir(), 'oidc-gw-tyk-cli-'));
  api = fixture('orders-jwks-api.json');
  policies = fixture('policies.json');
});

afterAll(async () => {
  for (const p of running) await p.stop('SIGKILL', 1000);
  await Promise.all([idp?.close(), upstream?.close()]);
  cleanup?.();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('serve --file api.json --file policies.json', () => {
  test("answers as Tyk on the wire, logs oidc-gw's reason, warns that iss and aud are not checked", async () => {
    const gw = await startServe(['--file', api, '--file', policies, '--port', '0'], env);
    running.push(gw);
    expect(gw.stderr()).toContain(SKIPPED);
    expect(gw.stderr()).toContain(`trusting JWKS ${idp.jwksUri}`);

    const token = await accessToken();
    const before = upstream.requests.length;
    const ok = await fetch(`${gw.url}/orders/items`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(ok.status).toBe(200);
    await ok.arrayBuffer();
    expect(upstream.requests.slice(before).map((r) => r.url)).toEqual(['/v1/items']);

    const missing = await fetch(`${gw.url}/orders/items`);
    expect(missing.status).toBe(400);
    expect(missing.headers.get('x-generator')).toBe('tyk.io');
    expect(missing.headers.get('content-type')).toBe('application/json');
    expect(Buffer.from(await missing.arrayBuffer()).toString('utf8')).toBe(
      '{\n    "error": "Authorization field missing"\n}',
    );

    const forged = await fetch(`${gw.url}/orders/items`, {
      headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` },
    });
    expect(forged.status).toBe(403);
    expect(await forged.text()).toBe('{\n    "error": "Key not authorized"\n}');

    expect(await gw.stop('SIGTERM')).toBe(0);
    const lines = jsonLines(gw.stderr()).filter((l) => l['path'] === '/orders/items');
    expect(lines.map((l) => [l['status'], l['reason']])).toEqual([
      [200, undefined],
      [400, 'missing_token'],
      [403, 'signature_invalid'],
    ]);
    expect(lines.every((l) => l['api'] === 'Orders (JWT, JWKS)')).toBe(true);
    // The token is never logged.
    expect(gw.stderr()).not.toContain(token.split('.')[2] as string);
  });
});

describe('serve --check on Tyk files', () => {
  test('valid: exit 0, the plan in words with the warning that a classic API checks neither iss nor aud', async () => {
    const r = await runOnce(['serve', '--check', '--file', api, '--file', policies], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Orders (JWT, JWKS)');
    expect(r.stdout).toContain(
      `not checked: enable_jwt — ${SKIPPED} (classic Tyk API definitions never compare iss or aud) (${api})`,
    );
    expect(r.stdout).toContain('this API accepts tokens without exp');
  });

  test('invalid: exit 2 with FILE: PATH: what is wrong', async () => {
    const bad = fixture('orders-jwks-api.json', (doc) => {
      doc['jwt_source'] = 'not base64!';
    });
    const r = await runOnce(['serve', '--check', '--file', bad, '--file', policies], env);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(
      `${bad}: jwt_source: is neither an http(s) URL nor base64 (Tyk refuses every token of this API: "JWKS source decode failed")`,
    );
  });

  test('an auth mode that cannot be emulated: exit 2 naming the field and why', async () => {
    const bad = fixture('orders-jwks-api.json', (doc) => {
      doc['enable_jwt'] = false;
      doc['use_basic_auth'] = true;
    });
    const r = await runOnce(['serve', '--check', '--file', bad, '--file', policies], env);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      `${bad}: use_basic_auth: this auth mode cannot be emulated: basic auth users live in Tyk's key store`,
    );
  });
});
