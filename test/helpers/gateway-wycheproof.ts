/**
 * The Wycheproof JWS vectors (C2SP/wycheproof, json_web_signature_test.json),
 * read from test/vectors/wycheproof/ (C2SP/wycheproof testvectors_v1; see
 * the README there). Missing vectors fail the test loudly: a skipped
 * security suite must never look like a passing one.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface WycheproofTest {
  tcId: number;
  comment: string;
  jws: string;
  result: 'valid' | 'invalid' | 'acceptable';
  flags: string[];
}

export interface WycheproofGroup {
  private: Record<string, unknown>;
  public?: Record<string, unknown>;
  tests: WycheproofTest[];
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * The Wycheproof JOSE vectors, unchanged copies of C2SP/wycheproof testvectors_v1/
 * (Apache 2.0, LICENSE and README beside them) kept in the repository, so that
 * a clone tests on its own wherever CI puts it.
 */
export const VECTORS_DIR = path.resolve(repoRoot, 'test', 'vectors', 'wycheproof');

export function loadJwsVectors(): WycheproofGroup[] {
  const file = path.join(VECTORS_DIR, 'json_web_signature_test.json');
  if (!existsSync(file)) {
    throw new Error(
      `Wycheproof vectors not found at ${file}: the security suite cannot run. ` +
        'Copy them from https://github.com/C2SP/wycheproof (testvectors_v1/) into test/vectors/wycheproof/.',
    );
  }
  const data = JSON.parse(readFileSync(file, 'utf8')) as {
    testGroups: WycheproofGroup[];
    numberOfTests: number;
  };
  const count = data.testGroups.reduce((n, g) => n + g.tests.length, 0);
  if (count !== data.numberOfTests || count < 400) {
    throw new Error(
      `Wycheproof file ${file} has ${count} tests, expected ${data.numberOfTests} (at least 400)`,
    );
  }
  return data.testGroups;
}

const PRIVATE = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth']);

/** The JWKS a gateway should trust for a group: its public key(s), private members removed. */
export function groupJwks(group: WycheproofGroup): { keys: Array<Record<string, unknown>> } {
  const source = group.public ?? group.private;
  const keys = Array.isArray(source['keys'])
    ? (source['keys'] as Array<Record<string, unknown>>)
    : [source];
  return {
    keys: keys.map((k) =>
      Object.fromEntries(Object.entries(k).filter(([name]) => !PRIVATE.has(name))),
    ),
  };
}

/** For HMAC groups: the raw secret (`k`), as `--secret` would give it. */
export function groupSecret(group: WycheproofGroup): Uint8Array | undefined {
  const source = group.public ?? group.private;
  const keys = Array.isArray(source['keys'])
    ? (source['keys'] as Array<Record<string, unknown>>)
    : [source];
  const oct = keys.find((k) => k['kty'] === 'oct' && typeof k['k'] === 'string');
  return oct ? new Uint8Array(Buffer.from(oct['k'] as string, 'base64url')) : undefined;
}
