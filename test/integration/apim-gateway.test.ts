/**
 * An Azure API Management policy run end to end (docs/gateways/apim.md):
 * policy documents written as Microsoft's samples write them (raw quotes
 * inside expressions), pointing at the real test IdP's openid-config URL,
 * loaded by the APIM importer, run by the gateway in front of a real
 * upstream, and every answer compared byte for byte with APIM's:
 * validate-jwt failures with and without a custom message and status,
 * APIM's reason names in the log, required claims, two trusted issuers,
 * rate-limit-by-key by JWT subject and by IP, quota-by-key from a
 * first-period-start, a null counter key, check-header and the documented
 * choose/return-response 403. Clocks are injected; nothing sleeps.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { shortHash } from '../../src/gateway/limits/identity.js';
import { MemoryStore } from '../../src/gateway/limits/memory-store.js';
import type { CounterKey, LimitStore } from '../../src/gateway/limits/types.js';
import type { LimitRule } from '../../src/gateway/plan.js';
import { loadPlan } from '../../src/gateway/load/index.js';
import type { Plan } from '../../src/gateway/plan.js';
import {
  startPlanGateway,
  type PlanGatewayOptions,
  type TestGateway,
} from '../helpers/gateway-harness.js';
import { makeKey, sign } from '../helpers/gateway-tokens.js';
import { hmacToken } from '../helpers/jwt-fixtures.js';
import { startUpstream, type Upstream } from '../helpers/gateway-servers.js';
import { startTestIdp, type TestIdp } from '../helpers/idp.js';

let idp: TestIdp;
let idp2: TestIdp;
let upstream: Upstream;
const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-apim-'));
const open: TestGateway[] = [];
let files = 0;

beforeAll(async () => {
  [idp, idp2, upstream] = await Promise.all([startTestIdp(), startTestIdp(), startUpstream()]);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close()));
});
afterAll(async () => {
  await Promise.all([idp?.close(), idp2?.close(), upstream?.close()]);
  rmSync(dir, { recursive: true, force: true });
});

const SUBJECT_KEY =
  '@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject)';

function openidConfig(p: TestIdp = idp): string {
  return `<openid-config url="${p.issuer}/.well-known/openid-configuration" />`;
}

/** A validate-jwt element trusting the test IdP (attributes and extra children as given). */
function validateJwt(attrs = '', inner = ''): string {
  return `<validate-jwt header-name="Authorization" require-scheme="Bearer" ${attrs}>
            ${openidConfig()}
            <audiences>
                <audience>${idp.audience}</audience>
            </audiences>
            ${inner}
        </validate-jwt>`;
}

function policy(inbound: string): string {
  return `<policies>
    <inbound>
        <base />
        ${inbound}
    </inbound>
    <backend>
        <base />
    </backend>
    <outbound>
        <base />
    </outbound>
    <on-error>
        <base />
    </on-error>
</policies>
`;
}

/** A clock the test moves: `now()` is the fixed start plus `shift` ms. */
function clock(start = Date.now()) {
  const c = { start, shift: 0, now: () => c.start + c.shift };
  return c;
}

async function load(
  xml: string,
  namedValues: Record<string, string> = {},
  path?: string,
): Promise<Plan> {
  const file = join(dir, `policy-${++files}.xml`);
  writeFileSync(file, xml);
  return loadPlan({
    files: [file],
    env: {},
    upstream: upstream.url,
    ...(path === undefined ? {} : { path }),
    namedValues,
    strict: false,
    defaults: { upstreamTimeoutMs: 5000, maxTokenBytes: 8192 },
  });
}

async function gateway(
  xml: string,
  options: PlanGatewayOptions & { path?: string } = {},
): Promise<TestGateway & { plan: Plan }> {
  const { path, ...rest } = options;
  const plan = await load(xml, {}, path);
  const gw = await startPlanGateway(plan, rest);
  open.push(gw);
  return Object.assign(gw, { plan });
}

/** A real access token from a test IdP (client credentials; `sub` is the client id). */
async function token(
  options: { from?: TestIdp; client?: 'basic' | 'post'; scope?: string } = {},
): Promise<string> {
  const p = options.from ?? idp;
  const { clientId, clientSecret } = p.clients[options.client ?? 'post'];
  const res = await fetch(`${p.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: clientId,
      client_secret: clientSecret,
      resource: p.audience,
      ...(options.scope ? { scope: options.scope } : {}),
    }),
  });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no token from the test IdP: ${JSON.stringify(body)}`);
  return body.access_token;
}

interface Reply {
  status: number;
  headers: Headers;
  body: string;
}

async function call(gw: TestGateway, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await fetch(`${gw.url}/orders/42`, { headers });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

/** APIM's error body, byte for byte. */
function apimBody(status: number, message: string): string {
  return `{ "statusCode": ${status}, "message": ${JSON.stringify(message)} }`;
}

function expectApim(reply: Reply, status: number, message: string): void {
  const body = apimBody(status, message);
  expect({ status: reply.status, body: reply.body }).toEqual({ status, body });
  expect(reply.headers.get('content-type')).toBe('application/json');
  expect(reply.headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
  expect(reply.headers.get('www-authenticate')).toBeNull();
}

/** The last log line of a request. */
function lastRequest(gw: TestGateway): Record<string, unknown> {
  const lines = gw.logs().filter((l) => l['status'] !== undefined);
  return lines[lines.length - 1] ?? {};
}

function tamperSignature(t: string): string {
  const [h, p, s] = t.split('.') as [string, string, string];
  const i = Math.floor(s.length / 2);
  return `${h}.${p}.${s.slice(0, i)}${s[i] === 'A' ? 'B' : 'A'}${s.slice(i + 1)}`;
}

describe('validate-jwt against the real IdP', () => {
  const CUSTOM = 'Unauthorized. Access token is missing or invalid.';
  const variants = [
    { name: 'defaults', attrs: '', status: 401, message: undefined },
    {
      name: 'failed-validation-error-message',
      attrs: `failed-validation-error-message="${CUSTOM}"`,
      status: 401,
      message: CUSTOM,
    },
    {
      name: 'failed-validation-httpcode="403" and a message',
      attrs: `failed-validation-httpcode="403" failed-validation-error-message="${CUSTOM}"`,
      status: 403,
      message: CUSTOM,
    },
    {
      name: 'failed-validation-httpcode="403" alone',
      attrs: 'failed-validation-httpcode="403"',
      status: 403,
      message: undefined,
    },
  ];

  for (const v of variants) {
    test(`every failure answers as APIM does (${v.name}), and the log names both reasons`, async () => {
      const c = clock();
      const gw = await gateway(policy(validateJwt(v.attrs)), { now: c.now });
      const wrongAud = await gateway(
        policy(
          `<validate-jwt header-name="Authorization" require-scheme="Bearer" ${v.attrs}>
            ${openidConfig()}
            <audiences><audience>api://someone-else</audience></audiences>
          </validate-jwt>`,
        ),
      );
      const wrongIss = await gateway(
        policy(
          validateJwt(v.attrs, '<issuers><issuer>https://login.example.com/</issuer></issuers>'),
        ),
      );
      const good = await token();
      const notPresent = v.message ?? 'JWT not present.';
      const invalid = v.message ?? 'Invalid JWT.';

      const ok = await call(gw, bearer(good));
      expect(ok.status).toBe(200);
      expect(upstream.requests.at(-1)?.url).toBe('/orders/42');
      expect(upstream.requests.at(-1)?.headers['authorization']).toEqual([`Bearer ${good}`]);

      const cases: Array<{
        what: string;
        gw: TestGateway;
        headers: Record<string, string>;
        message: string;
        reason: string;
        apim: string;
        shift?: number;
      }> = [
        {
          what: 'no token',
          gw,
          headers: {},
          message: notPresent,
          reason: 'missing_token',
          apim: 'TokenNotPresent',
        },
        {
          what: 'another scheme under require-scheme',
          gw,
          headers: { authorization: 'Basic dXNlcjpwYXNz' },
          message: notPresent,
          reason: 'not_bearer',
          apim: 'TokenNotPresent',
        },
        {
          what: 'not a JWT',
          gw,
          headers: bearer('not-a-jwt'),
          message: invalid,
          reason: 'token_malformed',
          apim: 'JwtInvalid',
        },
        {
          what: 'a bad signature',
          gw,
          headers: bearer(tamperSignature(good)),
          message: invalid,
          reason: 'signature_invalid',
          apim: 'TokenSignatureInvalid',
        },
        {
          what: 'expired (the clock two hours on)',
          gw,
          headers: bearer(good),
          message: invalid,
          reason: 'token_expired',
          apim: 'TokenExpired',
          shift: 2 * 3600_000,
        },
        {
          what: 'a token for another audience',
          gw: wrongAud,
          headers: bearer(good),
          message: invalid,
          reason: 'audience_not_allowed',
          apim: 'TokenAudienceNotAllowed',
        },
        {
          what: 'a token of an issuer not in <issuers>',
          gw: wrongIss,
          headers: bearer(good),
          message: invalid,
          reason: 'issuer_not_allowed',
          apim: 'TokenIssuerNotAllowed',
        },
      ];
      const before = upstream.requests.length;
      for (const k of cases) {
        c.shift = k.shift ?? 0;
        const reply = await call(k.gw, k.headers);
        c.shift = 0;
        expectApim(reply, v.status, k.message);
        expect(lastRequest(k.gw), k.what).toMatchObject({
          status: v.status,
          reason: k.reason,
          gateway_reason: k.apim,
          api: expect.stringMatching(/^policy-\d+$/),
        });
      }
      expect(upstream.requests.length).toBe(before);
      // The token never reaches the log.
      for (const g of [gw, wrongAud, wrongIss]) expect(g.logText()).not.toContain(good);
    });
  }
});

describe('where the policy applies and where keys come from', () => {
  test('--path mounts the API: the prefix is removed upstream, other paths get 404 Resource not found', async () => {
    const gw = await gateway(policy(validateJwt()), { path: '/orders' });
    const t = await token();
    const before = upstream.requests.length;
    const ok = await call(gw, bearer(t));
    expect(ok.status).toBe(200);
    expect(upstream.requests.at(-1)?.url).toBe('/42');
    const res = await fetch(`${gw.url}/invoices/1`, { headers: bearer(t) });
    expectApim(
      { status: res.status, headers: res.headers, body: await res.text() },
      404,
      'Resource not found',
    );
    expect(upstream.requests.length).toBe(before + 1);
  });

  test('a rotated IdP key: a token naming an unknown kid makes the openid-config keys be fetched again', async () => {
    const rotating = await startTestIdp();
    try {
      const gw = await gateway(
        policy(`<validate-jwt header-name="Authorization" require-scheme="Bearer">
            ${openidConfig(rotating)}
            <audiences><audience>${rotating.audience}</audience></audiences>
        </validate-jwt>`),
        { jwksCooldownMs: 0 },
      );
      expect((await call(gw, bearer(await token({ from: rotating })))).status).toBe(200);
      const kid = (t: string) =>
        (
          JSON.parse(Buffer.from(t.split('.')[0] as string, 'base64url').toString()) as {
            kid: string;
          }
        ).kid;
      const old = await token({ from: rotating });
      await rotating.rotateKeys();
      const fresh = await token({ from: rotating });
      expect(kid(fresh)).not.toBe(kid(old));
      expect((await call(gw, bearer(fresh))).status).toBe(200);
    } finally {
      await Promise.all(open.splice(0).map((g) => g.close()));
      await rotating.close();
    }
  });
});

describe('clock-skew', () => {
  test('clock-skew="60" accepts a token expired 30 s ago and refuses one expired 90 s ago', async () => {
    const c = clock();
    const gw = await gateway(policy(validateJwt('clock-skew="60"')), { now: c.now });
    const t = await token();
    const { exp } = JSON.parse(Buffer.from(t.split('.')[1] as string, 'base64url').toString()) as {
      exp: number;
    };
    c.shift = (exp + 30) * 1000 - c.start;
    expect((await call(gw, bearer(t))).status).toBe(200);
    c.shift = (exp + 90) * 1000 - c.start;
    expectApim(await call(gw, bearer(await token())), 401, 'Invalid JWT.');
    expect(lastRequest(gw)).toMatchObject({ gateway_reason: 'TokenExpired' });
  });
});

describe('where the token and the keys come from', () => {
  test('query-parameter-name and token-value', async () => {
    const byQuery = await gateway(
      policy(`<validate-jwt query-parameter-name="access_token">
            ${openidConfig()}
            <audiences><audience>${idp.audience}</audience></audiences>
        </validate-jwt>`),
    );
    const t = await token();
    const res = await fetch(`${byQuery.url}/orders/42?access_token=${t}`);
    expect(res.status).toBe(200);
    expectApim(await call(byQuery, bearer(t)), 401, 'JWT not present.');

    const byValue = await gateway(
      policy(`<validate-jwt token-value="@(context.Request.Headers.GetValueOrDefault("X-Jwt",""))">
            ${openidConfig()}
            <audiences><audience>${idp.audience}</audience></audiences>
        </validate-jwt>`),
    );
    expect((await call(byValue, { 'x-jwt': t })).status).toBe(200);
    expectApim(await call(byValue, bearer(t)), 401, 'JWT not present.');
  });

  test('issuer-signing-keys: the IdP key as n/e, and a base64 HMAC key with an id', async () => {
    const jwks = (await (await fetch(idp.jwksUri)).json()) as {
      keys: Array<{ kid: string; n: string; e: string }>;
    };
    const k = jwks.keys[0] as { kid: string; n: string; e: string };
    const secret = 'a-shared-secret-of-at-least-32-bytes!!';
    const gw = await gateway(
      policy(`<validate-jwt header-name="Authorization" require-scheme="Bearer">
            <issuer-signing-keys>
                <key id="${k.kid}" n="${k.n}" e="${k.e}" />
                <key id="hs-1">${Buffer.from(secret).toString('base64')}</key>
            </issuer-signing-keys>
            <audiences><audience>${idp.audience}</audience></audiences>
            <issuers><issuer>${idp.issuer}</issuer></issuers>
        </validate-jwt>`),
    );
    expect((await call(gw, bearer(await token()))).status).toBe(200);
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: idp.issuer, aud: idp.audience, sub: 'svc', iat: now, exp: now + 300 };
    expect((await call(gw, bearer(await hmacToken(secret, claims, { kid: 'hs-1' })))).status).toBe(
      200,
    );
    expectApim(
      await call(gw, bearer(await hmacToken(`${secret}x`, claims, { kid: 'hs-1' }))),
      401,
      'Invalid JWT.',
    );
    expect(lastRequest(gw)).toMatchObject({ gateway_reason: 'TokenSignatureInvalid' });
    // A token of the right issuer signed by a key the policy does not hold.
    expectApim(await call(gw, bearer(await token({ from: idp2 }))), 401, 'Invalid JWT.');
  });
});

describe('required-claims', () => {
  test('match="all" with a separator: every value must be among the split claim', async () => {
    const gw = await gateway(
      policy(
        validateJwt(
          '',
          `<required-claims>
              <claim name="scope" match="all" separator=" ">
                  <value>read</value>
                  <value>write</value>
              </claim>
              <claim name="client_id" />
          </required-claims>`,
        ),
      ),
    );
    expect((await call(gw, bearer(await token({ scope: 'read write' })))).status).toBe(200);
    expectApim(await call(gw, bearer(await token({ scope: 'read' }))), 401, 'Invalid JWT.');
    expect(lastRequest(gw)).toMatchObject({
      reason: 'claim_mismatch',
      gateway_reason: 'TokenClaimValueNotAllowed',
    });
  });

  test('match="any" with a separator: one value suffices', async () => {
    const gw = await gateway(
      policy(
        validateJwt(
          'failed-validation-httpcode="403"',
          `<required-claims>
              <claim name="scope" match="any" separator=" ">
                  <value>write</value>
                  <value>admin</value>
              </claim>
          </required-claims>`,
        ),
      ),
    );
    expect((await call(gw, bearer(await token({ scope: 'read write' })))).status).toBe(200);
    expect((await call(gw, bearer(await token({ scope: 'write' })))).status).toBe(200);
    expectApim(await call(gw, bearer(await token({ scope: 'read' }))), 403, 'Invalid JWT.');
    expect(lastRequest(gw)).toMatchObject({
      status: 403,
      reason: 'claim_mismatch',
      gateway_reason: 'TokenClaimValueNotAllowed',
    });
  });

  test('without a separator the whole value is compared; a missing claim is TokenClaimNotFound', async () => {
    const whole = await gateway(
      policy(
        validateJwt(
          '',
          `<required-claims>
              <claim name="scope" match="any"><value>read</value></claim>
          </required-claims>`,
        ),
      ),
    );
    expect((await call(whole, bearer(await token({ scope: 'read' })))).status).toBe(200);
    expectApim(
      await call(whole, bearer(await token({ scope: 'read write' }))),
      401,
      'Invalid JWT.',
    );
    expect(lastRequest(whole)).toMatchObject({ gateway_reason: 'TokenClaimValueNotAllowed' });

    const missing = await gateway(
      policy(
        validateJwt(
          'failed-validation-error-message="Access denied: no group."',
          '<required-claims><claim name="group" /></required-claims>',
        ),
      ),
    );
    expectApim(await call(missing, bearer(await token())), 401, 'Access denied: no group.');
    expect(lastRequest(missing)).toMatchObject({
      reason: 'claim_missing',
      gateway_reason: 'TokenClaimNotFound',
    });
  });
});

describe('two openid-config', () => {
  test('tokens of both IdPs pass; a key neither publishes is refused', async () => {
    const gw = await gateway(
      policy(
        `<validate-jwt header-name="Authorization" require-scheme="Bearer" failed-validation-httpcode="401" failed-validation-error-message="Unauthorized. Access token is missing or invalid.">
            ${openidConfig(idp)}
            ${openidConfig(idp2)}
            <audiences>
                <audience>${idp.audience}</audience>
            </audiences>
        </validate-jwt>`,
      ),
    );
    expect(idp.issuer).not.toBe(idp2.issuer);
    const one = await token({ from: idp });
    const two = await token({ from: idp2 });
    expect((await call(gw, bearer(one))).status).toBe(200);
    expect((await call(gw, bearer(two))).status).toBe(200);
    expect(lastRequest(gw)).toMatchObject({ status: 200, iss: idp2.issuer });

    // Same claims as the IdP's, signed by a key neither IdP publishes.
    const key = await makeKey('RS256', 'not-published');
    const now = Math.floor(Date.now() / 1000);
    const forged = await sign(key, {
      iss: idp.issuer,
      aud: idp.audience,
      sub: 'test-post',
      iat: now,
      exp: now + 600,
    });
    expectApim(
      await call(gw, bearer(forged)),
      401,
      'Unauthorized. Access token is missing or invalid.',
    );
    expect(lastRequest(gw)).toMatchObject({
      reason: 'unknown_kid',
      gateway_reason: 'TokenSignatureKeyNotFound',
    });
  });
});

describe('rate-limit-by-key', () => {
  test('keyed by the JWT subject: a re-issued token keeps its count, another subject is not limited', async () => {
    const c = clock();
    const gw = await gateway(
      policy(`${validateJwt()}
        <rate-limit-by-key calls="2"
            renewal-period="60"
            counter-key="${SUBJECT_KEY}"
            remaining-calls-header-name="X-Remaining-Calls"
            total-calls-header-name="X-Total-Calls" />`),
      { now: c.now },
    );
    expect(gw.plan.warnings.filter((w) => w.path.endsWith('@counter-key'))).toEqual([]);
    const first = await token({ client: 'post' });
    const reissued = await token({ client: 'post' });
    expect(reissued).not.toBe(first);

    const a = await call(gw, bearer(first));
    expect(a.status).toBe(200);
    expect(a.headers.get('x-remaining-calls')).toBe('1');
    expect(a.headers.get('x-total-calls')).toBe('2');
    const b = await call(gw, bearer(reissued));
    expect(b.status).toBe(200);
    expect(b.headers.get('x-remaining-calls')).toBe('0');

    const refused = await call(gw, bearer(first));
    expect(refused.status).toBe(429);
    const n = refused.headers.get('retry-after');
    expect(n).toMatch(/^\d+$/);
    expect(Number(n)).toBeGreaterThanOrEqual(1);
    // An exact sliding log: the first call leaves the window one period after it was made.
    expect(Number(n)).toBe(60);
    expectApim(refused, 429, `Rate limit is exceeded. Try again in ${n} seconds.`);
    expect(lastRequest(gw)).toMatchObject({
      status: 429,
      reason: 'rate_limited',
      gateway_reason: 'RateLimitExceeded',
      limit: '/policies/inbound/rate-limit-by-key[1]',
      key: 'test-post',
      sub: 'test-post',
    });

    // Another subject has its own counter.
    expect((await call(gw, bearer(await token({ client: 'basic' })))).status).toBe(200);
    // Retry-After is honest: one second earlier still refused (429s are not counted), then free.
    c.shift = (Number(n) - 1) * 1000;
    expect((await call(gw, bearer(reissued))).status).toBe(429);
    c.shift = Number(n) * 1000;
    expect((await call(gw, bearer(reissued))).status).toBe(200);
  });

  test('keyed by IP: every token from one address shares the counter', async () => {
    const c = clock();
    const gw = await gateway(
      policy(`${validateJwt()}
        <rate-limit-by-key calls="2" renewal-period="30" counter-key="@(context.Request.IpAddress)" retry-after-header-name="X-Retry-After" />`),
      { now: c.now },
    );
    expect((await call(gw, bearer(await token({ client: 'post' })))).status).toBe(200);
    expect((await call(gw, bearer(await token({ client: 'basic' })))).status).toBe(200);
    const refused = await call(gw, bearer(await token({ client: 'basic' })));
    const n = refused.headers.get('x-retry-after');
    expect(n).toMatch(/^\d+$/);
    expect(Number(n)).toBe(30);
    expect(refused.headers.get('retry-after')).toBeNull();
    expectApim(refused, 429, `Rate limit is exceeded. Try again in ${n} seconds.`);
    expect(lastRequest(gw)).toMatchObject({
      key: '127.0.0.1',
      gateway_reason: 'RateLimitExceeded',
    });
  });
});

describe('quota-by-key', () => {
  test('windows from first-period-start: 403 with the time to replenish and Retry-After, then replenished', async () => {
    // A whole second, near the real time (the IdP's tokens must be valid at it).
    const start = Math.floor(Date.now() / 1000) * 1000;
    const c = clock(start);
    // The current hour-long window began 1234 s ago: 2366 s are left.
    const firstPeriodStart = new Date(start - 1234_000 - 24 * 3600_000).toISOString();
    const gw = await gateway(
      policy(`${validateJwt()}
        <quota-by-key calls="2" renewal-period="3600" first-period-start="${firstPeriodStart.replace('.000Z', 'Z')}"
            counter-key="${SUBJECT_KEY}" />`),
      { now: c.now },
    );
    const t = await token();
    expect((await call(gw, bearer(t))).status).toBe(200);
    expect((await call(gw, bearer(t))).status).toBe(200);
    const refused = await call(gw, bearer(t));
    expectApim(refused, 403, 'Out of call volume quota. Quota will be replenished in 00:39:26.');
    expect(refused.headers.get('retry-after')).toBe('2366');
    expect(lastRequest(gw)).toMatchObject({
      status: 403,
      reason: 'quota_exceeded',
      gateway_reason: 'QuotaExceeded',
      limit: '/policies/inbound/quota-by-key[1]',
    });
    // One second before the window ends: still out; at its end: replenished.
    c.shift = 2365_000;
    const last = await call(gw, bearer(t));
    expectApim(last, 403, 'Out of call volume quota. Quota will be replenished in 00:00:01.');
    c.shift = 2366_000;
    expect((await call(gw, bearer(t))).status).toBe(200);
  });

  test('a period of days is written as a TimeSpan d.hh:mm:ss', async () => {
    const start = Math.floor(Date.now() / 1000) * 1000;
    const c = clock(start);
    const gw = await gateway(
      policy(`${validateJwt()}
        <quota-by-key calls="1" renewal-period="604800" first-period-start="${new Date(start - 7 * 3600_000).toISOString()}"
            counter-key="@(context.Request.IpAddress)" />`),
      { now: c.now },
    );
    const t = await token();
    expect((await call(gw, bearer(t))).status).toBe(200);
    const refused = await call(gw, bearer(t));
    expectApim(refused, 403, 'Out of call volume quota. Quota will be replenished in 6.17:00:00.');
    expect(refused.headers.get('retry-after')).toBe(String(7 * 86400 - 7 * 3600));
  });
});

describe('a counter key that is null', () => {
  const NULL_KEY = 'Expression value is invalid. The counter-key field is required.';

  test('without validate-jwt: a Basic header (or none) is a 500, a JWT is counted by its subject', async () => {
    const gw = await gateway(
      policy(`<rate-limit-by-key calls="5" renewal-period="60" counter-key="${SUBJECT_KEY}" />`),
    );
    expect(gw.plan.warnings).toContainEqual(
      expect.objectContaining({
        path: '/policies/inbound/rate-limit-by-key[1]/@counter-key',
        message: expect.stringContaining(NULL_KEY) as string,
      }),
    );
    const before = upstream.requests.length;
    expectApim(await call(gw, { authorization: 'Basic dXNlcjpwYXNz' }), 500, NULL_KEY);
    expect(lastRequest(gw)).toMatchObject({
      status: 500,
      reason: 'limit_key_missing',
      gateway_reason: 'ExpressionValueEvaluationFailure',
      limit: '/policies/inbound/rate-limit-by-key[1]',
    });
    expectApim(await call(gw), 500, NULL_KEY);
    expect(upstream.requests.length).toBe(before);
    // AsJwt() decodes without verifying: any JWT gives a subject.
    const ok = await call(gw, bearer(await token()));
    expect(ok.status).toBe(200);
  });

  test('validate-jwt on another header does not protect a key read from Authorization', async () => {
    const gw = await gateway(
      policy(`<validate-jwt header-name="X-Access-Token">
            ${openidConfig()}
            <audiences><audience>${idp.audience}</audience></audiences>
        </validate-jwt>
        <rate-limit-by-key calls="5" renewal-period="60" counter-key="${SUBJECT_KEY}" />`),
    );
    expect(gw.plan.warnings.map((w) => w.path)).toContain(
      '/policies/inbound/rate-limit-by-key[1]/@counter-key',
    );
    const t = await token();
    expectApim(
      await call(gw, { 'x-access-token': t, authorization: 'Basic dXNlcjpwYXNz' }),
      500,
      NULL_KEY,
    );
    expect(lastRequest(gw)).toMatchObject({ gateway_reason: 'ExpressionValueEvaluationFailure' });
    expect((await call(gw, { 'x-access-token': t, ...bearer(t) })).status).toBe(200);
  });
});

describe('a counter key from the subscription', () => {
  test('context.Subscription?.Key is the Ocp-Apim-Subscription-Key header as sent; none is a 500', async () => {
    const gw = await gateway(
      policy(`${validateJwt()}
        <rate-limit-by-key calls="1" renewal-period="60" counter-key="@(context.Subscription?.Key)" />`),
    );
    expect(gw.plan.warnings).toContainEqual(
      expect.objectContaining({
        path: '/policies/inbound/rate-limit-by-key[1]/@counter-key',
        message: expect.stringContaining('Ocp-Apim-Subscription-Key header as sent') as string,
      }),
    );
    const t = await token();
    const withKey = (k: string) => ({ ...bearer(t), 'ocp-apim-subscription-key': k });
    expect((await call(gw, withKey('key-one'))).status).toBe(200);
    expect((await call(gw, withKey('key-one'))).status).toBe(429);
    // A subscription key is a secret: counted, and logged, by its hash.
    expect(lastRequest(gw)).toMatchObject({ reason: 'rate_limited', key: shortHash('key-one') });
    expect(gw.logText()).not.toContain('key-one');
    expect((await call(gw, withKey('key-two'))).status).toBe(200);
    expectApim(
      await call(gw, bearer(t)),
      500,
      'Expression value is invalid. The counter-key field is required.',
    );
  });
});

describe('a counter key that is a credential', () => {
  test('the raw Authorization header as the key counts per token, and only its hash is logged', async () => {
    const gw = await gateway(
      policy(`${validateJwt()}
        <rate-limit-by-key calls="1" renewal-period="60" counter-key="@(context.Request.Headers.GetValueOrDefault("Authorization",""))" />`),
    );
    const first = await token();
    expect((await call(gw, bearer(first))).status).toBe(200);
    expect((await call(gw, bearer(first))).status).toBe(429);
    expect(lastRequest(gw)).toMatchObject({ key: shortHash(`Bearer ${first}`) });
    // A re-issued token is another key here (unlike a subject key).
    expect((await call(gw, bearer(await token()))).status).toBe(200);
    expect(gw.logText()).not.toContain(first.split('.')[2] as string);
  });
});

describe('validate-jwt without require-scheme', () => {
  test('a bare token passes, a Basic header is refused by validate-jwt before the counter key is read', async () => {
    const gw = await gateway(
      policy(`<validate-jwt header-name="Authorization">
            ${openidConfig()}
            <audiences><audience>${idp.audience}</audience></audiences>
        </validate-jwt>
        <rate-limit-by-key calls="5" renewal-period="60" counter-key="${SUBJECT_KEY}" />`),
    );
    // Cautious: --check warns, although validate-jwt leaves only JWTs through.
    expect(gw.plan.warnings.map((w) => w.path)).toContain(
      '/policies/inbound/rate-limit-by-key[1]/@counter-key',
    );
    const t = await token();
    expect((await call(gw, { authorization: t })).status).toBe(200);
    expect((await call(gw, bearer(t))).status).toBe(200);
    expect(lastRequest(gw)).toMatchObject({ status: 200, sub: 'test-post' });
    expectApim(await call(gw, { authorization: 'Basic dXNlcjpwYXNz' }), 401, 'Invalid JWT.');
    expect(lastRequest(gw)).toMatchObject({ gateway_reason: 'JwtInvalid' });
    expectApim(await call(gw), 401, 'JWT not present.');
  });
});

describe('check-header and the 403 patterns', () => {
  test('check-header 401 and 403 run before the token; choose/return-response refuses on a claim', async () => {
    const gw = await gateway(
      policy(`<check-header name="X-Tenant" failed-check-httpcode="401" failed-check-error-message="Missing or wrong tenant" ignore-case="true">
            <value>contoso</value>
        </check-header>
        <check-header name="X-Api-Version" failed-check-httpcode="403" failed-check-error-message="Version not allowed" ignore-case="false">
            <value>v2</value>
            <value>v3</value>
        </check-header>
        ${validateJwt('output-token-variable-name="jwt"')}
        <choose>
            <when condition="@(!((Jwt)context.Variables["jwt"]).Claims["client_id"].Contains("test-basic"))">
                <return-response>
                    <set-status code="403" reason="Forbidden" />
                    <set-header name="X-Refused-By" exists-action="override">
                        <value>policy</value>
                    </set-header>
                    <set-body>only the basic client</set-body>
                </return-response>
            </when>
        </choose>`),
    );
    const t = await token({ client: 'basic' });
    expectApim(await call(gw, bearer(t)), 401, 'Missing or wrong tenant');
    expect(lastRequest(gw)).toMatchObject({ status: 401, reason: 'header_check_failed' });
    expectApim(
      await call(gw, { ...bearer(t), 'x-tenant': 'fabrikam', 'x-api-version': 'v2' }),
      401,
      'Missing or wrong tenant',
    );
    expectApim(await call(gw, { ...bearer(t), 'x-tenant': 'CONTOSO' }), 403, 'Version not allowed');
    expectApim(
      await call(gw, { ...bearer(t), 'x-tenant': 'CONTOSO', 'x-api-version': 'V2' }),
      403,
      'Version not allowed',
    );
    const headers = { 'x-tenant': 'Contoso', 'x-api-version': 'v3' };
    // Header checks passed: now validate-jwt answers.
    expectApim(await call(gw, headers), 401, 'JWT not present.');
    expect((await call(gw, { ...headers, ...bearer(t) })).status).toBe(200);

    const other = await call(gw, { ...headers, ...bearer(await token({ client: 'post' })) });
    expect(other.status).toBe(403);
    expect(other.body).toBe('only the basic client');
    expect(other.headers.get('x-refused-by')).toBe('policy');
    expect(lastRequest(gw)).toMatchObject({ status: 403, reason: 'claim_forbidden' });
  });
});

describe('document order', () => {
  test("a check-header after validate-jwt runs after it: a request failing both gets validate-jwt's answer", async () => {
    const gw = await gateway(
      policy(`${validateJwt()}
        <check-header name="X-Tenant" failed-check-httpcode="403" failed-check-error-message="Missing or wrong tenant" ignore-case="true">
            <value>contoso</value>
        </check-header>`),
    );
    expectApim(await call(gw), 401, 'JWT not present.');
    expect(lastRequest(gw)).toMatchObject({ reason: 'missing_token' });
    const t = await token();
    expectApim(await call(gw, bearer(t)), 403, 'Missing or wrong tenant');
    expect(lastRequest(gw)).toMatchObject({ reason: 'header_check_failed', sub: 'test-post' });
    expect((await call(gw, { ...bearer(t), 'x-tenant': 'contoso' })).status).toBe(200);
  });
});

describe('limits before validate-jwt', () => {
  test('a limit written before validate-jwt counts requests validate-jwt then refuses, as APIM does', async () => {
    const gw = await gateway(
      policy(`<rate-limit-by-key calls="2" renewal-period="60" counter-key="@(context.Request.IpAddress)" remaining-calls-header-name="X-Remaining-Calls" />
        ${validateJwt()}`),
    );
    expectApim(await call(gw, bearer('not-a-jwt')), 401, 'Invalid JWT.');
    const t = await token();
    const ok = await call(gw, bearer(t));
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-remaining-calls')).toBe('0');
    const refused = await call(gw, bearer(t));
    expect(refused.status).toBe(429);
    expect(lastRequest(gw)).toMatchObject({ reason: 'rate_limited', key: '127.0.0.1' });
    // Refused by the limit before the token is looked at.
    expect((await call(gw)).status).toBe(429);
  });

  test('a JWT-subject key before validate-jwt: a Basic header gets the 500 before the 401', async () => {
    const gw = await gateway(
      policy(`<rate-limit-by-key calls="5" renewal-period="60" counter-key="${SUBJECT_KEY}" />
        ${validateJwt()}`),
    );
    expectApim(
      await call(gw, { authorization: 'Basic dXNlcjpwYXNz' }),
      500,
      'Expression value is invalid. The counter-key field is required.',
    );
    // A forged JWT has a subject: counted, then refused by validate-jwt.
    const key = await makeKey('RS256', 'forger');
    const now = Math.floor(Date.now() / 1000);
    const forged = await sign(key, { sub: 'test-post', iat: now, exp: now + 60 });
    expectApim(await call(gw, bearer(forged)), 401, 'Invalid JWT.');
    expect((await call(gw, bearer(await token()))).status).toBe(200);
  });
});

describe('named values', () => {
  test('{{name}} in the openid-config URL and the audience', async () => {
    const plan = await load(
      policy(`<validate-jwt header-name="Authorization" require-scheme="Bearer">
            <openid-config url="{{idp-openid-config}}" />
            <audiences><audience>{{api-audience}}</audience></audiences>
        </validate-jwt>`),
      {
        'idp-openid-config': `${idp.issuer}/.well-known/openid-configuration`,
        'api-audience': idp.audience,
      },
    );
    const gw = await startPlanGateway(plan);
    open.push(gw);
    expect((await call(gw, bearer(await token()))).status).toBe(200);
    await expect(
      load(
        policy(
          '<validate-jwt header-name="Authorization"><openid-config url="{{missing}}" /></validate-jwt>',
        ),
      ),
    ).rejects.toThrow(
      /named value "missing" is not defined: give --named-value missing=VALUE or set OIDC_GW_NV_MISSING/,
    );
  });
});

describe('increment-count', () => {
  test('a rate limit counting 4 per call and a quota counting 1, on one key: each with its own cost', async () => {
    // The real in-memory store, with the calls it gets recorded.
    const real = new MemoryStore();
    const calls: Array<{ rules: string[]; cost: number | undefined }> = [];
    const store: LimitStore = {
      get healthy() {
        return real.healthy;
      },
      hit(key: CounterKey, rules: readonly LimitRule[], nowMs: number, cost?: number) {
        calls.push({ rules: rules.map((r) => r.kind), cost });
        return real.hit(key, rules, nowMs, cost);
      },
      close: () => real.close(),
    };
    const gw = await gateway(
      `<policies><inbound>
        <rate-limit-by-key calls="10" renewal-period="60" increment-count="4" counter-key="@(context.Request.IpAddress)" />
        <quota-by-key calls="100" renewal-period="3600" counter-key="@(context.Request.IpAddress)" />
      </inbound></policies>`,
      { store },
    );
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${gw.url}/x`);
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    // 4 + 4 fit in 10, the third 4 does not.
    expect(statuses).toEqual([200, 200, 429]);
    expect(calls[0]).toEqual({ rules: ['rate'], cost: 4 });
    expect(calls[1]).toEqual({ rules: ['quota'], cost: 1 });
  });
});

describe('increment-condition', () => {
  /** The upstream answers the status named by the path (`/status/500`), else 200. */
  function statusFromPath(): void {
    upstream.handler = (req, res) => {
      const m = /\/status\/(\d{3})$/.exec(req.url ?? '');
      res.writeHead(m ? Number(m[1]) : 200, { 'content-type': 'text/plain', 'x-cache': 'miss' });
      res.end('ok');
    };
  }
  afterEach(() => {
    upstream.handler = undefined;
  });

  async function statuses(url: string, paths: string[], t?: string): Promise<number[]> {
    const out: number[] = [];
    for (const p of paths) {
      const res = await fetch(`${url}${p}`, {
        headers: t === undefined ? {} : { authorization: `Bearer ${t}` },
      });
      await res.arrayBuffer();
      out.push(res.status);
    }
    return out;
  }

  test("Microsoft's sample: only the 200s count; the others pass, and are still refused once the 200s use the limit up", async () => {
    statusFromPath();
    const gw = await gateway(
      policy(
        '<rate-limit-by-key calls="2" renewal-period="60" increment-condition="@(context.Response.StatusCode == 200)" counter-key="@(context.Request.IpAddress)" />',
      ),
    );
    const before = upstream.requests.length;
    // Five 500s: none counted.
    expect(await statuses(gw.url, Array(5).fill('/status/500'))).toEqual(Array(5).fill(500));
    // Two 200s fit in 2; the third request is refused whatever it would have got.
    expect(await statuses(gw.url, ['/ok', '/status/201', '/ok', '/ok', '/status/500'])).toEqual([
      200, 201, 200, 429, 429,
    ]);
    // The refused requests never reached the upstream.
    expect(upstream.requests.length - before).toBe(8);
  });

  test('a condition between two statuses, on a quota; a refusal by a later policy is an answer too', async () => {
    statusFromPath();
    const gw = await gateway(
      policy(
        `<quota-by-key calls="3" renewal-period="3600" increment-condition="@(context.Response.StatusCode >= 200 && context.Response.StatusCode < 400)" counter-key="@(context.Request.IpAddress)" />
        ${validateJwt()}`,
      ),
    );
    const t = await token();
    // 401s from validate-jwt (after the quota) do not count...
    expect(await statuses(gw.url, Array(4).fill('/ok'))).toEqual([401, 401, 401, 401]);
    // ...nor do 404s from the upstream; 200 and 302 do.
    expect(await statuses(gw.url, ['/status/404', '/ok', '/status/302', '/ok'], t)).toEqual([
      404, 200, 302, 200,
    ]);
    const refused = await fetch(`${gw.url}/ok`, { headers: { authorization: `Bearer ${t}` } });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toMatch(
      /^\{ "statusCode": 403, "message": "Out of call volume quota\. Quota will be replenished in \d\d:\d\d:\d\d\." \}$/,
    );
  });

  test('a condition on a response header and the request method', async () => {
    statusFromPath();
    const gw = await gateway(
      policy(
        '<rate-limit-by-key calls="1" renewal-period="60" increment-condition="@(context.Request.Method != &quot;OPTIONS&quot; &amp;&amp; context.Response.Headers.GetValueOrDefault(&quot;X-Cache&quot;,&quot;&quot;) == &quot;miss&quot;)" counter-key="@(context.Request.IpAddress)" />',
      ),
    );
    const options = await fetch(`${gw.url}/ok`, { method: 'OPTIONS' });
    await options.arrayBuffer();
    expect(options.status).toBe(200);
    expect(await statuses(gw.url, ['/ok', '/ok'])).toEqual([200, 429]);
  });

  test('increment-condition="false": checked, never counted', async () => {
    const gw = await gateway(
      policy(
        '<rate-limit-by-key calls="1" renewal-period="60" increment-condition="false" counter-key="@(context.Request.IpAddress)" />',
      ),
    );
    expect(await statuses(gw.url, Array(6).fill('/x'))).toEqual(Array(6).fill(200));
  });

  test('counted by the deferred step in Redis: a second gateway sees the count', async () => {
    const { startRedis } = await import('../helpers/redis.js');
    const { connectRedisStore } = await import('../../src/gateway/limits/redis-store.js');
    const redis = await startRedis();
    const stores = await Promise.all([
      connectRedisStore({ url: redis.url }),
      connectRedisStore({ url: redis.url }),
    ]);
    try {
      statusFromPath();
      const xml = policy(
        '<rate-limit-by-key calls="2" renewal-period="60" increment-condition="@(context.Response.StatusCode == 200)" counter-key="@(context.Request.IpAddress)" />',
      );
      // One file, two gateways (as two replicas of one deployment): one counter scope.
      const plan = await load(xml);
      const a = await startPlanGateway(plan, { store: stores[0] });
      open.push(a);
      const b = await startPlanGateway(plan, { store: stores[1] });
      open.push(b);
      expect(await statuses(a.url, ['/status/503', '/status/503', '/ok'])).toEqual([503, 503, 200]);
      expect(await statuses(b.url, ['/status/503', '/ok', '/ok', '/status/503'])).toEqual([
        503, 200, 429, 429,
      ]);
      expect(await statuses(a.url, ['/ok'])).toEqual([429]);
    } finally {
      await Promise.all(open.splice(0).map((g) => g.close()));
      await Promise.all(stores.map((s) => s.close()));
      await redis.stop();
    }
  });
});

describe("Microsoft's validate-jwt samples that read the request", () => {
  test('simple token validation: a named-value HMAC key, the audience is the host the client called', async () => {
    const secret = 'a-shared-secret-of-at-least-32-bytes!!';
    const plan = await load(
      policy(`<validate-jwt header-name="Authorization" require-scheme="Bearer">
            <issuer-signing-keys>
                <key>{{jwt-signing-key}}</key>
            </issuer-signing-keys>
            <audiences>
                <audience>@(context.Request.OriginalUrl.Host)</audience>
            </audiences>
            <issuers>
                <issuer>http://contoso.com/</issuer>
            </issuers>
        </validate-jwt>`),
      { 'jwt-signing-key': Buffer.from(secret).toString('base64') },
    );
    expect(plan.warnings.map((w) => w.message).join('\n')).not.toContain('no <audiences>');
    expect(plan.warnings).toContainEqual(
      expect.objectContaining({
        kind: 'note',
        path: '/policies/inbound/validate-jwt[1]/audiences',
        message: expect.stringContaining('a client can pick the audience'),
      }),
    );
    const gw = await startPlanGateway(plan);
    open.push(gw);
    const now = Math.floor(Date.now() / 1000);
    const claims = (aud: unknown) => ({
      iss: 'http://contoso.com/',
      aud,
      sub: 'svc',
      iat: now,
      exp: now + 300,
    });
    const port = new URL(gw.url).port;
    // node:http, not fetch: fetch does not let a caller set Host.
    const get = (t: string, host?: string) =>
      new Promise<Reply>((resolve, reject) => {
        const req = httpRequest(
          `${gw.url}/orders/42`,
          { headers: { authorization: `Bearer ${t}`, ...(host ? { host } : {}) } },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const headers = new Headers();
              for (const [k, v] of Object.entries(res.headers))
                if (typeof v === 'string') headers.set(k, v);
              resolve({
                status: res.statusCode ?? 0,
                headers,
                body: Buffer.concat(chunks).toString('utf8'),
              });
            });
          },
        );
        req.on('error', reject);
        req.end();
      });
    // The client called 127.0.0.1: a token for 127.0.0.1 passes (the port is not part of Host).
    expect((await get(await hmacToken(secret, claims('127.0.0.1')))).status).toBe(200);
    expect((await get(await hmacToken(secret, claims(['x', '127.0.0.1'])))).status).toBe(200);
    // Called as api.contoso.com: that token is for another host now.
    expect(
      (await get(await hmacToken(secret, claims('api.contoso.com')), `api.contoso.com:${port}`))
        .status,
    ).toBe(200);
    // The same token as the first request above (HS256 over the same claims): its verdict is
    // cached, and the host is checked again all the same.
    expectApim(
      await get(await hmacToken(secret, claims('127.0.0.1')), `api.contoso.com:${port}`),
      401,
      'Invalid JWT.',
    );
    expect(lastRequest(gw)).toMatchObject({
      reason: 'audience_not_allowed',
      gateway_reason: 'TokenAudienceNotAllowed',
    });
    // No aud at all: refused whatever the host.
    expectApim(await get(await hmacToken(secret, claims(undefined))), 401, 'Invalid JWT.');
    expect(lastRequest(gw)).toMatchObject({ reason: 'audience_missing' });
  });

  test('authorize by claim for one method: POST needs group finance, GET does not', async () => {
    const gw = await gateway(
      policy(`${validateJwt('output-token-variable-name="jwt"')}
        <choose>
            <when condition="@(context.Request.Method == "POST" && !((Jwt)context.Variables["jwt"]).Claims["group"].Contains("finance"))">
                <return-response>
                    <set-status code="403" reason="Forbidden" />
                </return-response>
            </when>
        </choose>`),
    );
    expect(gw.plan.warnings.filter((w) => w.path.includes('choose'))).toEqual([]);
    const t = await token();
    const send = async (method: string) => {
      const res = await fetch(`${gw.url}/orders/42`, {
        method,
        headers: bearer(t),
        ...(method === 'POST' ? { body: '{}' } : {}),
      });
      return { status: res.status, body: await res.text() };
    };
    expect((await send('GET')).status).toBe(200);
    expect(await send('POST')).toEqual({ status: 403, body: '' });
    expect(lastRequest(gw)).toMatchObject({ status: 403, reason: 'claim_forbidden' });
    expect((await send('DELETE')).status).toBe(200);
  });

  test('the method-scoped claim rule lets a POST with the claim through', async () => {
    const secret = 'a-shared-secret-of-at-least-32-bytes!!';
    const gw = await gateway(
      policy(`<validate-jwt header-name="Authorization" require-scheme="Bearer" output-token-variable-name="jwt">
            <issuer-signing-keys><key>${Buffer.from(secret).toString('base64')}</key></issuer-signing-keys>
        </validate-jwt>
        <choose>
            <when condition="@(context.Request.Method == "POST" && !((Jwt)context.Variables["jwt"]).Claims["group"].Contains("finance"))">
                <return-response><set-status code="403" reason="Forbidden" /></return-response>
            </when>
        </choose>`),
    );
    const now = Math.floor(Date.now() / 1000);
    const post = async (group: string[]) => {
      const t = await hmacToken(secret, { sub: 's', group, iat: now, exp: now + 300 });
      const res = await fetch(`${gw.url}/orders/42`, {
        method: 'POST',
        headers: bearer(t),
        body: '{}',
      });
      await res.arrayBuffer();
      return res.status;
    };
    expect(await post(['finance', 'ops'])).toBe(200);
    expect(await post(['ops'])).toBe(403);
  });
});
