/**
 * `serve`'s key-set policy against the Wycheproof JWK-set vectors
 * (json_web_key_test.json): each group's keys served as a JWKS. A JWKS
 * contributes public signature keys only, so the HMAC vectors labelled valid
 * are refused here on purpose (HMAC secrets come only from --secret), and
 * every vector labelled invalid is refused.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { RemoteKeySet } from '../../src/core/gateway/jwks.js';
import { Verifier } from '../../src/core/gateway/verify.js';
import {
  groupJwks,
  VECTORS_DIR,
  loadJwsVectors,
  type WycheproofGroup,
} from '../helpers/gateway-wycheproof.js';

test('JWK-set vectors: only valid signatures by usable asymmetric keys pass', async () => {
  loadJwsVectors(); // fails loudly when the vectors are missing
  const data = JSON.parse(
    readFileSync(path.join(VECTORS_DIR, 'json_web_key_test.json'), 'utf8'),
  ) as {
    testGroups: WycheproofGroup[];
  };
  const results: string[] = [];
  const dropped: string[] = [];
  let total = 0;
  for (const group of data.testGroups) {
    const jwks = groupJwks(group);
    const set = new RemoteKeySet({
      uri: 'https://vectors.invalid/jwks.json',
      fetch: async () => new Response(JSON.stringify(jwks), { status: 200 }),
      timeoutMs: 1000,
      maxAgeMs: 3_600_000,
      cooldownMs: 30_000,
      now: () => 0,
      log: (line) => dropped.push(line),
    });
    await set.load();
    const verifier = new Verifier({
      trust: { issuers: [], jwksSets: [set], staticKeys: [] },
      issuers: [],
      audiences: [],
      clockSkewSeconds: 30,
      requiredClaims: [],
      requiredScopes: [],
      maxTokenBytes: 64 * 1024,
      cacheSize: 0,
    });
    for (const t of group.tests) {
      total++;
      const outcome = await verifier.verifySignature(t.jws, { jsonPayload: false });
      if (outcome.ok) results.push(`${t.tcId} ${t.comment} ${t.result}`);
    }
  }
  expect(total).toBe(26);
  // The one valid RSA vector passes; nothing else does.
  expect(results).toEqual(['5 acceptsValid valid']);
  expect(dropped.some((l) => /RSA key of 1024 bits/.test(l))).toBe(true);
  expect(dropped.some((l) => /public exponent/.test(l))).toBe(true);
  expect(dropped.some((l) => /symmetric key/.test(l))).toBe(true);
  expect(dropped.some((l) => /"use" is "enc"/.test(l))).toBe(true);
  expect(dropped.some((l) => /ROCA fingerprint/.test(l))).toBe(true);
});
