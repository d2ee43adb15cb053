/**
 * `oidc-gw serve --file kong.yaml` end to end: the built CLI, spawned with a
 * clean environment and the decK files of test/fixtures/kong/live/ (their
 * DECK_ variables set to the real test IdP, all on 127.0.0.1 at port 0):
 *  - `--check` says which route accepts expired tokens;
 *  - the Auth0 guide's client-credentials exchange with `--verbose`: the
 *    caller gets the upstream's answer and the caller's secret appears in
 *    none of the gateway's output, not even in the verbose IdP exchanges;
 *  - rate-limiting with `policy: redis` across two gateway processes sharing
 *    one real redis-server (`--redis`): 10 per minute, 5 through each, the
 *    11th refused on either.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, runOnce, startServe, type ServeProcess } from '../helpers/gateway-cli.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';
import {
  basicAuthorization,
  confidentialClient,
  copyToTemp,
  deckEnv,
  jwtAccessToken,
} from '../fixtures/kong/live/deck-env.js';

let idp: TestIdp;
let upstream: Upstream;
let env: Record<string, string>;
const cleanups: Array<() => void> = [];
const running: ServeProcess[] = [];

beforeAll(async () => {
  idp = await startTestIdp();
  upstream = await startUpstream();
  const clean = cleanEnv();
  cleanups.push(clean.cleanup);
  env = { ...clean.env, ...(await deckEnv(idp, upstream.url)) };
});

afterAll(async () => {
  for (const p of running) await p.stop('SIGKILL', 1000);
  await upstream?.close();
  await idp?.close();
  for (const c of cleanups) c();
});

function fileCopy(name: string): string {
  const copy = copyToTemp(name);
  cleanups.push(copy.cleanup);
  return copy.file;
}

async function serve(args: string[]): Promise<ServeProcess> {
  const p = await startServe(['--port', '0', ...args], env);
  running.push(p);
  return p;
}

describe('serve --check on a Kong file', () => {
  it('says that the route whose claims_to_verify omits exp accepts expired tokens', async () => {
    const file = fileCopy('jwt.yaml');
    const r = await runOnce(['serve', '--file', file, '--check'], env);
    expect(r.code).toBe(0);
    const all = `${r.stdout}\n${r.stderr}`;
    expect(all).toMatch(
      /routes\[1\]\.plugins\[0\]\.config\.claims_to_verify[^\n]*accepts expired tokens/,
    );
    expect(all).not.toMatch(/routes\[0\]\.plugins\[0\]\.config\.claims_to_verify[^\n]*expired/);
  });
});

describe('client credentials through the CLI with --verbose', () => {
  it('answers the Basic caller from the upstream; the secret is in none of the output', async () => {
    const file = fileCopy('oidc.yaml');
    const gw = await serve(['--file', file, '--verbose', '--log-format', 'json']);
    const secret = idp.clients.basic.clientSecret;
    const authorization = basicAuthorization(idp.clients.basic.clientId, secret);
    // client_secret_basic and client_secret_post towards the IdP: the secret in a header, then in a body.
    for (const path of ['/exchange/x', '/exchange/y', '/exchange-post/x']) {
      const res = await fetch(`${gw.url}${path}`, { headers: { authorization } });
      expect(res.status).toBe(200);
      const echoed = (await res.json()) as { headers: Record<string, string[]> };
      expect(echoed.headers['authorization']?.[0]).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    }
    const wrong = await fetch(`${gw.url}/exchange/x`, {
      headers: { authorization: basicAuthorization(idp.clients.basic.clientId, `${secret}-no`) },
    });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toBe('{"message":"Unauthorized"}');
    await gw.stop();
    const out = `${gw.stdout()}\n${gw.stderr()}`;
    // The verbose log did show both token requests (headers and form body): the checks below mean something.
    expect(out).toMatch(/> POST http:\/\/127\.0\.0\.1:\d+\/token/);
    expect(out).toMatch(/> authorization: Basic /);
    expect(out).toMatch(/> [^"]*client_secret=/);
    expect(out).toContain('test-basic');
    for (const form of new Set([
      secret,
      encodeURIComponent(secret),
      `${secret}-no`,
      authorization.slice('Basic '.length),
      Buffer.from(`test-basic:${secret}`).toString('base64'),
    ])) {
      expect(out).not.toContain(form);
    }
  });
});

describe('rate-limiting policy redis across two gateway processes', () => {
  let redis: RedisServer;

  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  /**
   * Kong's windows are calendar minutes: when less than 15 s of this one are
   * left, wait for the next to begin (bounded), so that the 11 requests fall
   * in one window.
   */
  async function awaitRoomInMinute(): Promise<void> {
    const left = 60_000 - (Date.now() % 60_000);
    if (left < 15_000) await new Promise((r) => setTimeout(r, left + 50));
  }

  it('10 per minute: 5 through each process, then the 11th is refused on either', async () => {
    const file = fileCopy('rate-limiting-redis.yaml');
    const a = await serve(['--file', file, '--redis', redis.url]);
    const b = await serve(['--file', file, '--redis', redis.url]);
    const token = await jwtAccessToken(await confidentialClient(idp, 'basic'), idp);
    const call = async (gw: ServeProcess) => {
      const res = await fetch(`${gw.url}/reports`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const body = await res.text();
      return { res, body };
    };
    await awaitRoomInMinute();
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      for (const gw of [a, b]) {
        const { res } = await call(gw);
        expect(res.status).toBe(200);
        remaining.push(res.headers.get('x-ratelimit-remaining-minute') ?? '');
      }
    }
    // One counter: the two processes' answers count down together.
    expect(remaining).toEqual(['9', '8', '7', '6', '5', '4', '3', '2', '1', '0']);
    for (const gw of [a, b]) {
      const { res, body } = await call(gw);
      expect(res.status).toBe(429);
      const id = res.headers.get('x-kong-request-id');
      expect(body).toBe(`{\n  "message":"API rate limit exceeded",\n  "request_id":"${id}"\n}`);
      expect(res.headers.get('x-ratelimit-limit-minute')).toBe('10');
      expect(res.headers.get('ratelimit-remaining')).toBe('0');
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });
});
