/**
 * Wycheproof JWS vectors (test/vectors/wycheproof/, from C2SP/wycheproof; see its README)
 * through decode's verification core, the algorithm pinned to the key:
 * accepted <=> "valid", except the eight data quirks the README lists.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JWK } from 'jose';
import { verifySignature } from '../../src/core/jwt/verify.js';
import { VECTORS_DIR } from '../helpers/gateway-wycheproof.js';

const FILE = join(VECTORS_DIR, 'json_web_signature_test.json');

interface Vector {
  tcId: number;
  comment: string;
  jws: string;
  result: 'valid' | 'invalid';
  flags: string[];
}
interface Group {
  private: JWK | { keys: JWK[] };
  public?: JWK | { keys: JWK[] };
  tests: Vector[];
}

/**
 * Vectors whose label disagrees with what a strict verifier with the
 * algorithm pinned to the key must do. Each with its reason.
 */
const QUIRKS: Record<number, { expected: boolean; reason: string }> = {
  346: {
    expected: false,
    reason:
      'labelled valid, but the key says alg PS256 and the header PS384: pinned to the key, refused',
  },
  350: {
    expected: false,
    reason:
      'labelled valid, but the key says alg PS256 and the header PS384: pinned to the key, refused',
  },
  347: {
    expected: false,
    reason:
      'labelled valid, but the key says alg "ES521" (no such algorithm; ES512 is meant): refused',
  },
  351: {
    expected: false,
    reason:
      'labelled valid, but the key says alg "ES521" (no such algorithm; ES512 is meant): refused',
  },
  367: {
    expected: true,
    reason: 'labelled invalid, but the token is byte for byte the valid 357: accepted',
  },
  370: {
    expected: true,
    reason: 'labelled invalid, but the token is byte for byte the valid 357: accepted',
  },
  372: {
    expected: false,
    reason: 'labelled valid, but a "?" is inserted in the header: not base64url, refused',
  },
  373: {
    expected: false,
    reason: 'labelled valid, but a "?" is inserted in the payload: not base64url, refused',
  },
};

function loadVectors(): Group[] {
  if (!existsSync(FILE)) {
    throw new Error(
      `the Wycheproof JWS vectors are missing: ${FILE} (see test/vectors/wycheproof/README.md)`,
    );
  }
  const data = JSON.parse(readFileSync(FILE, 'utf8')) as {
    numberOfTests: number;
    testGroups: Group[];
  };
  const count = data.testGroups.reduce((n, g) => n + g.tests.length, 0);
  if (count !== data.numberOfTests || count !== 401) {
    throw new Error(`expected the 401 vectors of the pinned Wycheproof commit, found ${count}`);
  }
  return data.testGroups;
}

describe('Wycheproof JWS vectors', () => {
  const groups = loadVectors();

  it('the quirks are the ones the README lists, and are still there', () => {
    const byId = new Map(groups.flatMap((g) => g.tests.map((t) => [t.tcId, t] as const)));
    for (const [id, quirk] of Object.entries(QUIRKS)) {
      const t = byId.get(Number(id));
      expect(t, `tcId ${id}`).toBeDefined();
      // A quirk is where our expectation and the label disagree.
      expect(t?.result === 'valid', `tcId ${id}`).toBe(!quirk.expected);
    }
    expect(byId.get(367)?.jws).toBe(byId.get(357)?.jws);
    expect(byId.get(370)?.jws).toBe(byId.get(357)?.jws);
  });

  it('accepted <=> valid (quirks aside), with the algorithm pinned to the key', async () => {
    const mismatches: string[] = [];
    let accepted = 0;
    let total = 0;
    for (const group of groups) {
      const jwk = (group.public ?? group.private) as JWK & { keys?: JWK[] };
      const source = Array.isArray(jwk.keys)
        ? { kind: 'jwks' as const, keys: jwk.keys, origin: 'wycheproof' }
        : { kind: 'key' as const, jwk, origin: 'wycheproof' };
      for (const t of group.tests) {
        total++;
        const result = await verifySignature(t.jws, source);
        if (result.ok) accepted++;
        const expected = QUIRKS[t.tcId]?.expected ?? t.result === 'valid';
        if (result.ok !== expected) {
          mismatches.push(
            `tcId ${t.tcId} (${t.comment}, labelled ${t.result}): ${result.ok ? 'accepted' : `refused: ${result.message}`}`,
          );
        }
      }
    }
    expect(mismatches).toEqual([]);
    expect(total).toBe(401);
    // 46 valid, minus the 6 labelled-valid quirks, plus the 2 labelled-invalid duplicates of a valid token.
    expect(accepted).toBe(46 - 6 + 2);
  });

  it('every vector is refused when pinned to the wrong kind of key (no vector verifies with an unrelated secret)', async () => {
    for (const group of groups) {
      for (const t of group.tests) {
        const r = await verifySignature(t.jws, {
          kind: 'secret',
          secret: new TextEncoder().encode('unrelated'),
          origin: 's',
        });
        expect(r.ok, `tcId ${t.tcId}`).toBe(false);
      }
    }
  });
});
