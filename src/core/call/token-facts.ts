/**
 * What a token says about itself, read without verifying it: enough for
 * `call` to explain why a gateway may have refused it. Pure; never returns the
 * token itself.
 */
import { CompactError, parseCompact } from '../jwt/compact.js';

export interface JwsFacts {
  readonly kind: 'JWS';
  readonly alg: string | undefined;
  readonly kid: string | undefined;
  readonly typ: string | undefined;
  readonly iss: string | undefined;
  readonly aud: readonly string[];
  readonly sub: string | undefined;
  readonly azp: string | undefined;
  readonly clientId: string | undefined;
  readonly scopes: readonly string[] | undefined;
  readonly exp: number | undefined;
  readonly nbf: number | undefined;
  readonly iat: number | undefined;
  /** Claims and header values that mark an OpenID Connect ID token. */
  readonly idTokenMarks: readonly string[];
}

export type TokenFacts =
  | { readonly kind: 'none' }
  | { readonly kind: 'opaque'; readonly length: number }
  | { readonly kind: 'malformed'; readonly problem: string }
  | { readonly kind: 'JWE'; readonly alg: string | undefined; readonly enc: string | undefined }
  | JwsFacts;

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Reads `token` (a bare token, without `Bearer `). `expectedClientId` helps spot an ID token (its `aud`). */
export function tokenFacts(token: string | undefined, expectedClientId?: string): TokenFacts {
  if (token === undefined) return { kind: 'none' };
  const dots = token.split('.').length - 1;
  if (dots !== 2 && dots !== 4) return { kind: 'opaque', length: token.length };
  let parsed;
  try {
    parsed = parseCompact(token);
  } catch (error) {
    if (error instanceof CompactError) return { kind: 'malformed', problem: error.message };
    throw error;
  }
  if (parsed.kind === 'JWE') {
    return { kind: 'JWE', alg: str(parsed.header['alg']), enc: str(parsed.header['enc']) };
  }
  const h = parsed.header;
  const p = parsed.payload ?? {};
  const audRaw = p['aud'];
  const aud =
    typeof audRaw === 'string'
      ? [audRaw]
      : Array.isArray(audRaw)
        ? audRaw.filter((a): a is string => typeof a === 'string')
        : [];
  let scopes: string[] | undefined;
  if (typeof p['scope'] === 'string') scopes = p['scope'].split(' ').filter(Boolean);
  else if (Array.isArray(p['scp']))
    scopes = p['scp'].filter((s): s is string => typeof s === 'string');
  else if (typeof p['scp'] === 'string') scopes = p['scp'].split(' ').filter(Boolean);
  const typ = str(h['typ']);
  const azp = str(p['azp']);
  const clientId = str(p['client_id']);
  const isAccessTyp = typ !== undefined && /^(application\/)?at\+jwt$/i.test(typ);
  const marks: string[] = [];
  if (!isAccessTyp) {
    // Claims only an ID token carries (OpenID Connect Core §2, §3.1.3.6); Keycloak also says typ "ID".
    for (const claim of ['nonce', 'at_hash', 'c_hash'])
      if (p[claim] !== undefined) marks.push(claim);
    if (p['typ'] === 'ID') marks.push('"typ": "ID"');
    if (
      expectedClientId &&
      aud.length === 1 &&
      aud[0] === expectedClientId &&
      clientId === undefined &&
      scopes === undefined
    ) {
      marks.push(`aud = the client id ${expectedClientId}`);
    }
  }
  return {
    kind: 'JWS',
    alg: str(h['alg']),
    kid: str(h['kid']),
    typ,
    iss: str(p['iss']),
    aud,
    sub: str(p['sub']),
    azp,
    clientId,
    scopes,
    exp: num(p['exp']),
    nbf: num(p['nbf']),
    iat: num(p['iat']),
    idTokenMarks: marks,
  };
}

export function isoTime(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  return Number.isNaN(d.getTime()) ? String(epochSeconds) : d.toISOString().replace(/\.000Z$/, 'Z');
}
