/**
 * The signature layer of `serve` against the Wycheproof JWS vectors: for
 * each group, its public key as the JWKS (and, for HMAC groups, its secret as
 * --secret), each vector's signature is accepted exactly when Wycheproof says
 * valid, except the data quirks listed in the vectors' README (each checked
 * here to behave as documented). Payloads are raw bytes here; through the
 * gateway every vector is refused (test/integration/serve-wycheproof.test.ts).
 */
import { describe, expect, test } from 'vitest';
import { RemoteKeySet } from '../../src/core/gateway/jwks.js';
import { secretKey } from '../../src/core/gateway/keys.js';
import { Verifier } from '../../src/core/gateway/verify.js';
import { groupJwks, groupSecret, loadJwsVectors } from '../helpers/gateway-wycheproof.js';

const groups = loadJwsVectors();

/**
 * Vectors where the gateway's decision differs from the label, on purpose:
 * 346/350: key alg PS256, header PS384: the key's alg pins it (refused).
 * 347/351: key alg "ES521" is not an algorithm: the key is dropped (refused).
 * 367/370: identical to valid 357 but labelled invalid (accepted, as 357).
 * 372/373: a "?" inserted into a segment, labelled valid: not base64url (refused).
 */
const QUIRKS: Record<number, 'accepted' | 'refused'> = {
  346: 'refused',
  350: 'refused',
  347: 'refused',
  351: 'refused',
  367: 'accepted',
  370: 'accepted',
  372: 'refused',
  373: 'refused',
};

async function verifierFor(group: (typeof groups)[number]): Promise<Verifier> {
  const jwks = groupJwks(group);
  const set = new RemoteKeySet({
    uri: 'https://vectors.invalid/jwks.json',
    fetch: async () => new Response(JSON.stringify(jwks), { status: 200 }),
    timeoutMs: 1000,
    maxAgeMs: 3_600_000,
    cooldownMs: 30_000,
    now: () => 0,
    log: () => {},
  });
  await set.load();
  const secret = groupSecret(group);
  return new Verifier({
    trust: { issuers: [], jwksSets: [set], staticKeys: secret ? [secretKey(secret)] : [] },
    issuers: [],
    audiences: [],
    clockSkewSeconds: 30,
    requiredClaims: [],
    requiredScopes: [],
    maxTokenBytes: 64 * 1024,
    cacheSize: 0,
  });
}

describe('Wycheproof JWS vectors at the signature layer', () => {
  test('every vector: accepted exactly when valid (quirks as documented)', async () => {
    const mismatches: string[] = [];
    let accepted = 0;
    let total = 0;
    const seenQuirks = new Set<number>();
    for (const group of groups) {
      const verifier = await verifierFor(group);
      for (const t of group.tests) {
        total++;
        const outcome = await verifier.verifySignature(t.jws, { jsonPayload: false });
        const got = outcome.ok ? 'accepted' : 'refused';
        if (outcome.ok) accepted++;
        const want = QUIRKS[t.tcId] ?? (t.result === 'valid' ? 'accepted' : 'refused');
        if (QUIRKS[t.tcId]) seenQuirks.add(t.tcId);
        if (got !== want) {
          mismatches.push(
            `tcId ${t.tcId} (${t.comment}): ${got}, want ${want}${outcome.ok ? '' : ` [${outcome.refusal.reason}]`}`,
          );
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(total).toBe(401);
    expect(seenQuirks.size).toBe(Object.keys(QUIRKS).length);
    // 46 valid, minus 6 quirks refused, plus 2 quirks accepted.
    expect(accepted).toBe(46 - 6 + 2);
  });
});
