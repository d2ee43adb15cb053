/**
 * Counter names (docs/limits.md, "Keys"): whose counter a request moves, as
 * a string that is safe in a Redis key and readable by an operator.
 *
 * `identityKey(kind, value)` gives `<kind>=<body>`:
 *  - secret-like identities (a client id, a credential, a header value that
 *    may be an API key, an APIM counter-key expression's result) are never
 *    stored as they are: body = `sha256-` + the first 22 base64url characters
 *    (132 bits) of SHA-256(value);
 *  - the others (a claim such as `sub`, an IP address, a Kong consumer, the
 *    API itself) stay readable: every byte outside a small safe set
 *    (letters, digits and `. _ - ~ @ + ! $ & ' ( ) , ; = / |`) is written
 *    `%XX` (UTF-8), so `:` (the key separator), `%`, spaces, control
 *    characters and the glob characters `* ? [ ]` of KEYS/SCAN never appear
 *    raw; a body longer than 100 characters keeps its first 64 and ends with
 *    `~sha256-` + the hash of the whole value, so two values never share a
 *    counter by truncation.
 *
 * The same identity always gives the same key: a re-issued token for the
 * same `sub` keeps its counters.
 */
import { createHash } from 'node:crypto';
import type { LimitKey, LimitRule } from '../plan.js';

export type IdentityKind = LimitKey['by'];

const SECRET_KINDS: ReadonlySet<IdentityKind> = new Set<IdentityKind>([
  'client_id',
  'credential',
  'header',
  'expression',
]);

const MAX_READABLE = 100;
const KEEP_READABLE = 64;
const SAFE = /^[A-Za-z0-9._\-~@+!$&'(),;=/|]$/;
const ALL_SAFE = /^[A-Za-z0-9._\-~@+!$&'(),;=/|]*$/;

/** SHA-256, base64url, first 22 characters. */
export function shortHash(value: string): string {
  return 'sha256-' + createHash('sha256').update(value, 'utf8').digest('base64url').slice(0, 22);
}

/** Percent-escapes every byte outside the safe set (see the header). */
export function escapeKeyPart(value: string): string {
  if (ALL_SAFE.test(value)) return value;
  let out = '';
  for (const ch of value) {
    if (SAFE.test(ch)) {
      out += ch;
    } else {
      for (const byte of Buffer.from(ch, 'utf8')) {
        out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
      }
    }
  }
  return out;
}

/** A readable, bounded key part: escaped, and cut with a hash suffix past 100 characters. */
export function boundedKeyPart(value: string): string {
  const escaped = escapeKeyPart(value);
  if (escaped.length <= MAX_READABLE) return escaped;
  let cut = escaped.slice(0, KEEP_READABLE);
  // Never end inside a %XX escape.
  const pct = cut.lastIndexOf('%');
  if (pct !== -1 && pct > cut.length - 3) cut = cut.slice(0, pct);
  return `${cut}~${shortHash(value)}`;
}

/** Whether `identityKey` hashes this kind of identity. */
export function isSecretKind(kind: IdentityKind): boolean {
  return SECRET_KINDS.has(kind);
}

/** The identity part of a counter key: `<kind>=<escaped value>` or `<kind>=sha256-...`. */
export function identityKey(kind: IdentityKind, value: string): string {
  const body = SECRET_KINDS.has(kind) ? shortHash(value) : boundedKeyPart(value);
  return `${kind}=${body}`;
}

/** The key prefix of every counter oidc-gw writes. */
export const KEY_PREFIX = 'oidcgw:';

/**
 * The base of a counter's key: `oidcgw:<api>:<rule id>:<algorithm>:<identity>`.
 * Algorithms with windows add `:<window start ms>` (redis-scripts.ts).
 * The API name and rule id are escaped like readable identities; the
 * identity is expected from `identityKey` (it is escaped again only if it
 * holds a character outside the safe set, which `identityKey` never emits).
 */
export function counterKeyBase(api: string, rule: LimitRule, identity: string): string {
  const id =
    /^[A-Za-z0-9._\-~@+!$&'(),;=/|%]*$/.test(identity) && identity.length <= 200
      ? identity
      : boundedKeyPart(identity);
  return `${keyPrefix(api, rule)}${id}`;
}

/** `oidcgw:<api>:<rule>:<algorithm>:` per rule and API, escaped once (a rule lives as long as its plan). */
const prefixes = new WeakMap<LimitRule, Map<string, string>>();

function keyPrefix(api: string, rule: LimitRule): string {
  let byApi = prefixes.get(rule);
  if (byApi === undefined) {
    byApi = new Map();
    prefixes.set(rule, byApi);
  }
  let prefix = byApi.get(api);
  if (prefix === undefined) {
    prefix = `${KEY_PREFIX}${boundedKeyPart(api)}:${boundedKeyPart(rule.id)}:${rule.algorithm}:`;
    if (byApi.size < 16) byApi.set(api, prefix);
  }
  return prefix;
}
