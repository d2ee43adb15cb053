/**
 * Signing keys of the dev IdP: RSA keys (RS256) as a private JWKS, newest
 * first (the first key signs, the others only verify), optionally persisted
 * to a file (mode 0600, written atomically).
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { GwError } from '../core/errors/index.js';

export interface PrivateRsaJwk {
  kty: 'RSA';
  kid: string;
  alg: 'RS256';
  use: 'sig';
  n: string;
  e: string;
  d: string;
  p: string;
  q: string;
  dp: string;
  dq: string;
  qi: string;
}

export interface PrivateJwks {
  keys: PrivateRsaJwk[];
}

/** How many keys a rotation keeps: the new signing key and the one before it. */
export const KEYS_KEPT_AFTER_ROTATION = 2;

const RSA_MEMBERS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const;

/** A fresh RS256 key pair as a private JWK with a thumbprint `kid`. */
export async function generateSigningKey(): Promise<PrivateRsaJwk> {
  const jose = await import('jose');
  const { privateKey } = await jose.generateKeyPair('RS256', {
    modulusLength: 2048,
    extractable: true,
  });
  const jwk = await jose.exportJWK(privateKey);
  const kid = await jose.calculateJwkThumbprint(jwk, 'sha256');
  const out: Record<string, string> = { kty: 'RSA', kid, alg: 'RS256', use: 'sig' };
  for (const member of RSA_MEMBERS) out[member] = String(jwk[member]);
  return out as unknown as PrivateRsaJwk;
}

/** The public half of a private JWK, as published at the JWKS endpoint. */
export function publicJwk(jwk: PrivateRsaJwk): Record<string, string> {
  return { kty: jwk.kty, kid: jwk.kid, alg: jwk.alg, use: jwk.use, n: jwk.n, e: jwk.e };
}

/** `[fresh, ...current]`, keeping at most KEYS_KEPT_AFTER_ROTATION keys. */
export async function rotate(current: PrivateJwks): Promise<PrivateJwks> {
  const fresh = await generateSigningKey();
  return { keys: [fresh, ...current.keys].slice(0, KEYS_KEPT_AFTER_ROTATION) };
}

export interface LoadedKeys {
  jwks: PrivateJwks;
  /** True when the file did not exist and was created with a fresh key. */
  created: boolean;
  /** The file's permission bits when they let others than its owner read it (e.g. 0o644). */
  looseMode: number | undefined;
}

/**
 * Reads the private JWKS at `file`, or creates it (mode 0600, parent
 * directories 0700) with one fresh key when it does not exist.
 */
export async function loadOrCreateKeysFile(file: string): Promise<LoadedKeys> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new GwError('ERR_IDP_KEYS', `cannot read the keys file ${file}: ${errnoText(cause)}`, {
        cause,
      });
    }
    const jwks: PrivateJwks = { keys: [await generateSigningKey()] };
    await saveKeysFile(file, jwks);
    return { jwks, created: true, looseMode: undefined };
  }
  const jwks = await parsePrivateJwks(text, file);
  const mode = (await stat(file)).mode & 0o777;
  return { jwks, created: false, looseMode: (mode & 0o077) === 0 ? undefined : mode };
}

/** Writes `jwks` to `file` atomically (temporary file, then rename), mode 0600. */
export async function saveKeysFile(file: string, jwks: PrivateJwks): Promise<void> {
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(tmp, `${JSON.stringify(jwks, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    await chmod(tmp, 0o600);
    await rename(tmp, file);
  } catch (cause) {
    await unlink(tmp).catch(() => {});
    throw new GwError('ERR_IDP_KEYS', `cannot write the keys file ${file}: ${errnoText(cause)}`, {
      cause,
    });
  }
}

/** Parses and checks a private JWKS of RSA signing keys; `source` names it in errors. */
export async function parsePrivateJwks(text: string, source: string): Promise<PrivateJwks> {
  const invalid = (why: string) =>
    new GwError('ERR_IDP_KEYS', `the keys file ${source} is not usable: ${why}`, {
      hint: 'give a private JWKS of RSA keys ({"keys": [...]}), or a path that does not exist yet to create one',
    });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw invalid('not JSON');
  }
  if (!isRecord(value) || !Array.isArray(value.keys)) throw invalid('no "keys" array');
  if (value.keys.length === 0) throw invalid('"keys" is empty');
  const jose = await import('jose');
  const keys: PrivateRsaJwk[] = [];
  const kids = new Set<string>();
  for (const [i, raw] of value.keys.entries()) {
    if (!isRecord(raw) || raw.kty !== 'RSA') throw invalid(`keys[${i}] is not an RSA key`);
    for (const member of RSA_MEMBERS) {
      if (typeof raw[member] !== 'string' || raw[member] === '') {
        throw invalid(`keys[${i}] has no "${member}" (a private RSA key is needed)`);
      }
    }
    if (raw.alg !== undefined && raw.alg !== 'RS256') throw invalid(`keys[${i}] is not for RS256`);
    if (raw.use !== undefined && raw.use !== 'sig') throw invalid(`keys[${i}] is not for signing`);
    const jwk: Record<string, string> = { kty: 'RSA' };
    for (const member of RSA_MEMBERS) jwk[member] = raw[member] as string;
    try {
      await jose.importJWK(jwk, 'RS256');
    } catch {
      throw invalid(`keys[${i}] is not a valid RSA private key`);
    }
    const kid =
      typeof raw.kid === 'string' && raw.kid !== ''
        ? raw.kid
        : await jose.calculateJwkThumbprint(jwk, 'sha256');
    if (kids.has(kid)) throw invalid(`two keys have the kid "${kid}"`);
    kids.add(kid);
    keys.push({
      ...(jwk as Omit<PrivateRsaJwk, 'kid' | 'alg' | 'use' | 'kty'>),
      kty: 'RSA',
      kid,
      alg: 'RS256',
      use: 'sig',
    });
  }
  return { keys };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errnoText(cause: unknown): string {
  const err = cause as NodeJS.ErrnoException;
  if (err.code === 'EACCES' || err.code === 'EPERM') return 'permission denied';
  if (err.code === 'EISDIR') return 'it is a directory';
  if (err.code === 'ENOTDIR') return 'a parent is not a directory';
  return err.code ?? err.message;
}
