/**
 * The Wycheproof JWS vectors through a real gateway: for each group, a
 * gateway trusting the group's public key as its JWKS (and, for HMAC groups,
 * a second one with the group's secret as --secret), every vector is sent
 * as a bearer token. None is a JWT with claims, so every one must be refused
 * (401 or 400), and the upstream must receive nothing.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { Pool } from 'undici';
import {
  startJwksServer,
  startUpstream,
  type JwksServer,
  type Upstream,
} from '../helpers/gateway-servers.js';
import { startTestGateway } from '../helpers/gateway-harness.js';
import { groupJwks, groupSecret, loadJwsVectors } from '../helpers/gateway-wycheproof.js';

const groups = loadJwsVectors();
let upstream: Upstream;
let jwks: JwksServer;

beforeAll(async () => {
  upstream = await startUpstream();
  jwks = await startJwksServer({ keys: [] });
});
afterAll(async () => {
  await upstream?.close();
  await jwks?.close();
});

test('every Wycheproof JWS vector is refused, and none reaches the upstream', async () => {
  const reasons = new Map<string, number>();
  let sent = 0;
  for (const group of groups) {
    jwks.jwks = groupJwks(group);
    const secret = groupSecret(group);
    const configs = secret
      ? [{ jwksUris: [jwks.jwksUri] }, { jwksUris: [jwks.jwksUri], secret }]
      : [{ jwksUris: [jwks.jwksUri] }];
    for (const config of configs) {
      const gw = await startTestGateway({ upstream: upstream.url, ...config });
      const pool = new Pool(gw.url, { connections: 4 });
      try {
        for (const t of group.tests) {
          const r = await pool.request({
            path: `/v/${t.tcId}`,
            method: 'GET',
            headers: { authorization: `Bearer ${t.jws}` },
          });
          const body = (await r.body.json()) as { error: string; error_description: string };
          sent++;
          expect([400, 401], `tcId ${t.tcId}`).toContain(r.statusCode);
          expect(['invalid_token', 'invalid_request', 'unauthorized']).toContain(body.error);
          expect(r.headers['www-authenticate']).toMatch(/^Bearer realm="oidc-gw"/);
        }
      } finally {
        await pool.close();
        for (const line of gw.logs()) {
          if (typeof line['reason'] === 'string')
            reasons.set(line['reason'], (reasons.get(line['reason']) ?? 0) + 1);
        }
        await gw.close();
      }
    }
  }
  expect(sent).toBeGreaterThanOrEqual(401);
  expect(upstream.requests).toHaveLength(0);
  // The refusals are spread over the checks, not one blanket rejection. (Most
  // vectors carry raw-byte payloads such as "foo", refused before the
  // signature; the signature layer itself is checked against every vector's
  // label in test/unit/gateway-wycheproof.test.ts.)
  for (const reason of [
    'payload_invalid',
    'alg_not_allowed',
    'not_base64url',
    'non_canonical_base64url',
    'token_malformed',
  ]) {
    expect(reasons.get(reason), reason).toBeGreaterThan(0);
  }
  expect([...reasons.values()].reduce((a, b) => a + b, 0)).toBe(sent);
});
