/**
 * The keys `serve` trusts: what a JWK may be used for, which JWKs in a set
 * are dropped (and why), and the import of each key through jose.
 *
 * Policy (docs/commands/serve.md: Keys over time; docs/security.md):
 * - a JWKS contributes public signature keys only: symmetric keys (`oct`),
 *   `use` other than `sig`, `key_ops` without `verify`, RSA under 2048 bits,
 *   RSA with a public exponent below 3 or even, unknown curves and key types
 *   are dropped with a log line; private members are ignored;
 * - a key whose `alg` is set is used for that algorithm only; otherwise for
 *   every algorithm of its type (RSA: RS* and PS*; EC: the ES* of its curve;
 *   OKP Ed25519: EdDSA);
 * - HMAC secrets come only from `--secret`.
 */
import { createPublicKey } from 'node:crypto';
import { importJWK, type CryptoKey, type JWK } from 'jose';

export const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
export const HMAC_ALGS = ['HS256', 'HS384', 'HS512'] as const;
const EC_ALGS: Readonly<Record<string, string>> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
};
/** Every algorithm `serve` can verify. `none` is not one of them, and never will be. */
export const SUPPORTED_ALGS: ReadonlySet<string> = new Set([
  ...RSA_ALGS,
  ...HMAC_ALGS,
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
]);
export const MIN_RSA_BITS = 2048;

/**
 * Why an operator may not list `alg` (serve --algs, a file's algorithms, the
 * library's algorithms): `none` never; an algorithm the verifier does not
 * support; an HMAC one without a shared secret. Undefined when it may.
 */
export function algorithmProblem(
  alg: string,
  hasSecret: boolean,
): 'none' | 'unknown' | 'needs_secret' | undefined {
  if (alg.toLowerCase() === 'none') return 'none';
  if (!SUPPORTED_ALGS.has(alg)) return 'unknown';
  if (!hasSecret && (HMAC_ALGS as readonly string[]).includes(alg)) return 'needs_secret';
  return undefined;
}
/** More keys than this in one set is not a JWKS anyone publishes; the rest are dropped. */
export const MAX_KEYS_PER_SET = 100;

export interface KeyEntry {
  /** The key's `kid`, when it has one. */
  readonly kid: string | undefined;
  /**
   * A key the operator pinned without a `kid` (`--public-key` PEM, `--secret`):
   * it is tried whatever `kid` a token names. JWKS keys never are.
   */
  readonly wildcard: boolean;
  /** Algorithms this key may verify. */
  readonly algs: ReadonlySet<string>;
  /** For logs: `kid "abc"` or `key #2`, plus where it came from. */
  readonly label: string;
  /** The public JWK (asymmetric keys) or the raw secret (HMAC). */
  readonly material: { readonly jwk: JWK } | { readonly secret: Uint8Array };
  /** Imported keys by algorithm (jose importJWK), filled on first use. */
  readonly imported: Map<string, Promise<CryptoKey | Uint8Array>>;
}

export type Classified =
  | { readonly ok: true; readonly jwk: JWK; readonly algs: readonly string[] }
  | { readonly ok: false; readonly why: string };

const PUBLIC_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  RSA: ['n', 'e'],
  EC: ['crv', 'x', 'y'],
  OKP: ['crv', 'x'],
};

function b64urlBytes(value: unknown): Buffer | undefined {
  if (typeof value !== 'string' || !/^[A-Za-z0-9_-]+$/.test(value)) return undefined;
  return Buffer.from(value, 'base64url');
}

function bitLength(bytes: Buffer): number {
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i] as number));
}

/**
 * The ROCA fingerprint (CVE-2017-15361, Nemec et al. 2017): moduli made by
 * the flawed Infineon library are, modulo each of these small primes, a
 * power of 65537. A random modulus passes all 38 tests with negligible
 * probability; a ROCA modulus always does. Such keys can be factored.
 */
const ROCA_PRIMES = [
  3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101,
  103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];
const ROCA_POWERS: ReadonlyArray<ReadonlySet<number>> = ROCA_PRIMES.map((p) => {
  const powers = new Set<number>();
  for (let x = 1; !powers.has(x); x = (x * (65537 % p)) % p) powers.add(x);
  return powers;
});

export function hasRocaFingerprint(modulus: Buffer): boolean {
  if (modulus.length === 0) return false;
  const n = BigInt(`0x${modulus.toString('hex')}`);
  return ROCA_PRIMES.every((p, i) =>
    (ROCA_POWERS[i] as ReadonlySet<number>).has(Number(n % BigInt(p))),
  );
}

/** A printable, bounded rendering of a kid for log lines (never for responses). */
export function kidLabel(kid: unknown, index: number): string {
  if (typeof kid !== 'string') return `key #${index}`;
  const safe = kid.replace(/[^\x20-\x7e]/g, '?');
  return `kid "${safe.length > 64 ? `${safe.slice(0, 64)}…` : safe}"`;
}

/** Decides whether one JWK may verify signatures, and for which algorithms. */
export function classifyJwk(input: unknown): Classified {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { ok: false, why: 'not a JSON object' };
  }
  const jwk = input as Record<string, unknown>;
  const kty = jwk['kty'];
  if (typeof kty !== 'string') return { ok: false, why: 'no kty' };
  if (kty === 'oct')
    return { ok: false, why: 'a symmetric key (kty "oct") is never trusted from a key set' };
  if (jwk['use'] !== undefined && jwk['use'] !== 'sig') {
    return { ok: false, why: `"use" is ${JSON.stringify(jwk['use'])}, not "sig"` };
  }
  const ops = jwk['key_ops'];
  if (ops !== undefined && (!Array.isArray(ops) || !ops.includes('verify'))) {
    return { ok: false, why: '"key_ops" does not include "verify"' };
  }
  if (jwk['kid'] !== undefined && typeof jwk['kid'] !== 'string') {
    return { ok: false, why: '"kid" is not a string' };
  }
  const members = PUBLIC_MEMBERS[kty];
  if (!members) return { ok: false, why: `unsupported key type "${kty.slice(0, 16)}"` };
  const pub: Record<string, unknown> = { kty };
  for (const m of members) {
    if (typeof jwk[m] !== 'string') return { ok: false, why: `"${m}" missing` };
    pub[m] = jwk[m];
  }
  let algs: string[];
  if (kty === 'RSA') {
    const n = b64urlBytes(jwk['n']);
    const e = b64urlBytes(jwk['e']);
    if (!n || !e) return { ok: false, why: 'RSA "n" or "e" is not base64url' };
    const bits = bitLength(n);
    if (bits < MIN_RSA_BITS)
      return { ok: false, why: `RSA key of ${bits} bits (minimum ${MIN_RSA_BITS})` };
    const eBits = bitLength(e);
    const eLast = e[e.length - 1] as number;
    if (eBits < 2 || eBits > 64 || (eLast & 1) === 0) {
      return { ok: false, why: 'RSA public exponent is below 3, even, or huge' };
    }
    if (hasRocaFingerprint(n)) {
      return {
        ok: false,
        why: 'RSA key with the ROCA fingerprint (CVE-2017-15361): it can be factored',
      };
    }
    algs = [...RSA_ALGS];
  } else if (kty === 'EC') {
    const alg = EC_ALGS[jwk['crv'] as string];
    if (!alg) return { ok: false, why: `unsupported curve "${String(jwk['crv']).slice(0, 16)}"` };
    algs = [alg];
  } else {
    if (jwk['crv'] !== 'Ed25519') {
      return { ok: false, why: `unsupported curve "${String(jwk['crv']).slice(0, 16)}"` };
    }
    algs = ['EdDSA', 'Ed25519'];
  }
  const alg = jwk['alg'];
  if (alg !== undefined) {
    if (typeof alg !== 'string' || !algs.includes(alg)) {
      return {
        ok: false,
        why: `"alg" ${JSON.stringify(alg).slice(0, 24)} does not fit a ${kty} key${kty === 'RSA' ? '' : ` on ${String(jwk['crv'])}`}`,
      };
    }
    algs = [alg];
    pub['alg'] = alg;
  }
  if (typeof jwk['kid'] === 'string') pub['kid'] = jwk['kid'];
  return { ok: true, jwk: pub as JWK, algs };
}

/** Imports `entry` for `alg` with jose (once per entry and algorithm). */
export function importedKey(entry: KeyEntry, alg: string): Promise<CryptoKey | Uint8Array> {
  let key = entry.imported.get(alg);
  if (!key) {
    const material = entry.material;
    key =
      'secret' in material
        ? Promise.resolve(material.secret)
        : (importJWK(material.jwk, alg) as Promise<CryptoKey>);
    key.catch(() => entry.imported.delete(alg));
    entry.imported.set(alg, key);
  }
  return key;
}

export interface KeySetResult {
  readonly entries: readonly KeyEntry[];
  /** One line per dropped key, for the log. */
  readonly dropped: readonly string[];
}

/**
 * The usable keys of a JWKS document. Each kept key is imported once with
 * jose for its first algorithm, so a key the crypto layer refuses (a point
 * not on the curve, say) is dropped here rather than failing requests later.
 */
export async function keysFromJwks(
  document: unknown,
  source: string,
  options: { wildcardWithoutKid?: boolean } = {},
): Promise<KeySetResult> {
  const dropped: string[] = [];
  if (
    document === null ||
    typeof document !== 'object' ||
    !Array.isArray((document as { keys?: unknown }).keys)
  ) {
    throw new TypeError('not a JWK Set (no "keys" array)');
  }
  const keys = (document as { keys: unknown[] }).keys;
  const entries: KeyEntry[] = [];
  for (let i = 0; i < keys.length; i++) {
    const raw = keys[i] as Record<string, unknown> | undefined;
    const label = kidLabel(raw?.['kid'], i);
    if (entries.length >= MAX_KEYS_PER_SET) {
      dropped.push(`${source}: ${label} dropped: more than ${MAX_KEYS_PER_SET} keys in the set`);
      continue;
    }
    const c = classifyJwk(raw);
    if (!c.ok) {
      dropped.push(`${source}: ${label} dropped: ${c.why}`);
      continue;
    }
    const entry: KeyEntry = {
      kid: c.jwk.kid,
      wildcard: options.wildcardWithoutKid === true && c.jwk.kid === undefined,
      algs: new Set(c.algs),
      label: `${label} (${source})`,
      material: { jwk: c.jwk },
      imported: new Map(),
    };
    try {
      await importedKey(entry, c.algs[0] as string);
    } catch (error) {
      dropped.push(
        `${source}: ${label} dropped: cannot be imported (${error instanceof Error ? error.message : String(error)})`,
      );
      continue;
    }
    entries.push(entry);
  }
  return { entries, dropped };
}

export class KeyFileError extends Error {}

/**
 * The keys in a `--public-key` file: PEM (SPKI public key, PKCS#1 RSA public
 * key, X.509 certificate; a private key's public half), a JWK, or a JWKS.
 * Keys without a `kid` are pinned for any `kid` (see KeyEntry.wildcard).
 */
export async function keysFromFile(text: string, source: string): Promise<KeySetResult> {
  const trimmed = text.trim();
  let document: unknown;
  if (trimmed.startsWith('-----BEGIN')) {
    const blocks =
      trimmed.match(/-----BEGIN [A-Z0-9 ]+-----[\s\S]+?-----END [A-Z0-9 ]+-----/g) ?? [];
    if (blocks.length === 0) throw new KeyFileError('no complete PEM block');
    const jwks: JWK[] = [];
    for (const block of blocks) {
      try {
        // createPublicKey takes SPKI, PKCS#1, certificates, and private keys (their public half).
        jwks.push(createPublicKey(block).export({ format: 'jwk' }) as JWK);
      } catch (error) {
        throw new KeyFileError(
          `a PEM block is not a public key, certificate or private key (${error instanceof Error ? error.message : String(error)})`,
        );
      }
    }
    document = { keys: jwks };
  } else {
    try {
      document = JSON.parse(trimmed);
    } catch {
      throw new KeyFileError('neither PEM nor JSON');
    }
    if (document !== null && typeof document === 'object' && !Array.isArray(document)) {
      const obj = document as Record<string, unknown>;
      if (
        obj['kty'] === 'oct' ||
        (Array.isArray(obj['keys']) &&
          obj['keys'].some((k) => (k as { kty?: unknown })?.kty === 'oct'))
      ) {
        throw new KeyFileError(
          'a symmetric key (kty "oct") is not a public key: use --secret for HMAC',
        );
      }
      if (typeof obj['kty'] === 'string') document = { keys: [obj] };
    }
  }
  let result: KeySetResult;
  try {
    result = await keysFromJwks(document, source, { wildcardWithoutKid: true });
  } catch (error) {
    throw new KeyFileError(error instanceof Error ? error.message : String(error));
  }
  if (result.entries.length === 0) {
    throw new KeyFileError(result.dropped[0]?.replace(`${source}: `, '') ?? 'no key in the file');
  }
  return result;
}

/** The `--secret` key: HS256/384/512, tried whatever the token's `kid`. */
export function secretKey(secret: Uint8Array, algs: readonly string[] = HMAC_ALGS): KeyEntry {
  return {
    kid: undefined,
    wildcard: true,
    algs: new Set(algs),
    label: '--secret',
    material: { secret },
    imported: new Map(),
  };
}
