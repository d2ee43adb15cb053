/**
 * `decode` without the network: tells a JWS from a JWE from an opaque
 * token, reads the header and claims strictly, and runs the checks a gateway
 * makes (docs/commands/decode.md). Signature verification is verify.ts.
 *
 * Silent and pure: the clock is a parameter; nothing here loads jose.
 */
import { isUtf8 } from 'node:buffer';
import { GwError } from '../errors/index.js';
import { isCanonicalBase64url } from './compact.js';
import { DuplicateMemberError, parseStrictJson } from './strict-json.js';
import { invalidTokenCharacter } from './input.js';
import { describeTime, timeView, type TimeView } from './time.js';
import { escapeControls } from '../terminal-text.js';
import { gatewaySettings, type GatewaySettings } from './gateway.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  readonly name: string;
  readonly status: CheckStatus;
  readonly message: string;
}

export type TokenKind = 'JWS' | 'JWE' | 'opaque';

/** The claims a gateway cares about, normalised for display. */
export interface ClaimsSummary {
  readonly iss: unknown;
  readonly aud: unknown;
  readonly sub: unknown;
  readonly azp: unknown;
  readonly client_id: unknown;
  readonly scope: unknown;
  readonly scp: unknown;
  readonly exp: TimeView | null;
  readonly iat: TimeView | null;
  readonly nbf: TimeView | null;
  readonly alg: unknown;
  readonly kid: unknown;
  readonly typ: unknown;
}

export interface Report {
  readonly kind: TokenKind;
  /** The protected header; null for an opaque token. */
  readonly header: Record<string, unknown> | null;
  /** The claims; null for a JWE (encrypted) or an opaque token. */
  readonly payload: Record<string, unknown> | null;
  readonly checks: Check[];
  /** true/false after --verify; null when the signature was not checked. */
  verified: boolean | null;
  readonly claims: ClaimsSummary | null;
  gateway: GatewaySettings | null;
}

export interface InspectOptions {
  /** Milliseconds since the epoch. */
  now: number;
  /** Seconds of leeway for exp/nbf/iat (default 0). */
  clockSkew?: number;
  /** --issuer: compared exactly with `iss`. */
  issuer?: string;
  /** --audience: any of them in `aud` passes. */
  audiences?: readonly string[];
  /** The token is known to be an ID token (--id-token): no "looks like an ID token" warning. */
  idToken?: boolean;
}

/** Algorithms registered for JWS (IANA JOSE registry). */
const REGISTERED_ALGS = new Set([
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'ES256K',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
  'Ed25519',
  'Ed448',
  'ML-DSA-44',
  'ML-DSA-65',
  'ML-DSA-87',
]);

/** Header members that carry key material or say where to fetch it. */
export const EMBEDDED_KEY_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;

const JWS_NAMES = ['header', 'payload', 'signature'] as const;
const JWE_NAMES = [
  'header',
  'encrypted key',
  'initialization vector',
  'ciphertext',
  'authentication tag',
] as const;

function malformed(message: string, hint?: string): GwError {
  return new GwError('ERR_TOKEN_MALFORMED', message, {
    hint:
      hint ?? 'decode reads a JWT (header.payload.signature), a JWE (5 parts) or an opaque token',
  });
}

interface Segment {
  readonly bytes: Buffer;
  /** Why the segment is not canonical base64url, or undefined when it is. */
  readonly nonCanonical: string | undefined;
}

const LENIENT_B64 = /^[A-Za-z0-9_\-+/]*={0,2}$/;

/**
 * Reads a segment leniently (padding, `+` and `/` are decoded) so that a
 * non-canonical token can still be shown, and says what is not canonical.
 * Characters that no base64 variant has make the input "not a token".
 */
function readSegment(seg: string, name: string, offset: number): Segment {
  if (!LENIENT_B64.test(seg)) {
    const bad = /[^A-Za-z0-9_\-+/=]/.exec(seg);
    if (bad) {
      throw malformed(
        `the ${name} is not base64url: "${bad[0]}" at position ${offset + bad.index + 1} of the token`,
      );
    }
    throw malformed(`the ${name} is not base64url: "=" inside it`);
  }
  const unpadded = seg.replace(/=+$/, '');
  const normalised = unpadded.replace(/\+/g, '-').replace(/\//g, '_');
  if (normalised.length % 4 === 1) {
    throw malformed(
      `the ${name} is not base64url: ${normalised.length} characters cannot be decoded (a character too many or too few)`,
    );
  }
  const bytes = Buffer.from(normalised, 'base64url');
  if (isCanonicalBase64url(seg)) return { bytes, nonCanonical: undefined };
  let why: string;
  if (seg !== unpadded) why = 'it has "=" padding';
  else if (unpadded !== normalised) why = 'it uses "+" or "/" (base64, not base64url)';
  else why = 'it does not re-encode to itself (its last character has stray bits)';
  return { bytes, nonCanonical: why };
}

/** True when `seg` decodes to something that starts like a JSON object: a JOSE header. */
function looksLikeJoseHeader(seg: string): boolean {
  if (seg.length < 2 || !LENIENT_B64.test(seg)) return false;
  const normalised = seg.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  const head = Buffer.from(normalised.slice(0, 8), 'base64url').toString('latin1');
  return /^\s*\{/.test(head);
}

/** True when `seg` decodes (leniently) to a JSON object: the claims of a JWT. */
function decodesToJsonObject(seg: string): boolean {
  if (seg.length < 2 || !LENIENT_B64.test(seg)) return false;
  const normalised = seg.replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  if (normalised.length % 4 === 1) return false;
  const bytes = Buffer.from(normalised, 'base64url');
  if (!isUtf8(bytes)) return false;
  const text = bytes.toString('utf8');
  if (!/^\s*\{/.test(text) || jsonDepth(text) > MAX_JSON_DEPTH) return false;
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  } catch {
    return false;
  }
}

/**
 * A three-part token whose payload is a JSON object but whose header is not
 * a JSON object is a JWT with a broken header (a bad copy, a hand-made
 * token), not an opaque token: the reason, or undefined when the payload is
 * not JSON either (dotted opaque tokens such as Google's `ya29.` ones stay
 * opaque).
 */
function brokenHeaderReason(parts: readonly string[]): string | undefined {
  const [header = '', payload = ''] = parts;
  if (!decodesToJsonObject(payload)) return undefined;
  const what =
    header === ''
      ? 'the header is empty'
      : !LENIENT_B64.test(header) || header.replace(/=+$/, '').length % 4 === 1
        ? 'the header is not base64url'
        : 'the header is not JSON';
  return `${what}, while the payload is a JSON object of claims: a broken JWT, not an opaque token`;
}

/** Deeper JSON than this is refused: no real token nests so, and printing it would exhaust the stack. */
export const MAX_JSON_DEPTH = 64;

/** The nesting depth of valid JSON text (strings skipped), without recursion. */
function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth > max) max = depth;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    }
  }
  return max;
}

interface JsonRead {
  readonly value: Record<string, unknown>;
  readonly duplicate: string | undefined;
}

function readJsonObject(bytes: Buffer, name: 'header' | 'payload'): JsonRead {
  if (!isUtf8(bytes)) throw malformed(`the ${name} is not valid UTF-8`);
  const text = bytes.toString('utf8');
  if (text.trim().length === 0) throw malformed(`the ${name} is empty`);
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw malformed(
      `the ${name} nests JSON deeper than ${MAX_JSON_DEPTH} levels: not a token anyone issues`,
    );
  }
  let value: unknown;
  let duplicate: string | undefined;
  try {
    value = parseStrictJson(text);
  } catch (error) {
    if (error instanceof DuplicateMemberError) {
      duplicate = error.member;
      value = JSON.parse(text) as unknown;
    } else {
      // V8 quotes the input in its messages: escape what came from the token.
      const why = error instanceof Error ? `: ${escapeControls(error.message)}` : '';
      throw malformed(`the ${name} is not JSON${why}`);
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const what = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
    throw malformed(
      name === 'payload'
        ? `the payload is JSON ${what}, not an object of claims: a JWS, but not a JWT`
        : `the header is JSON ${what}, not an object`,
    );
  }
  return { value: value as Record<string, unknown>, duplicate };
}

function quote(value: unknown): string {
  if (typeof value === 'string') return `"${value}"`;
  const json = JSON.stringify(value);
  return json === undefined ? String(value) : json;
}

/** Reads `aud` as a list of strings, or undefined when it has another type. */
export function audienceList(aud: unknown): string[] | undefined {
  if (typeof aud === 'string') return [aud];
  if (Array.isArray(aud) && aud.every((a) => typeof a === 'string')) return aud as string[];
  return undefined;
}

function isNumericDate(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

function stripSlash(s: string): string {
  return s.endsWith('/') ? s.slice(0, -1) : s;
}

function algCheck(alg: unknown): Check {
  if (alg === undefined) return { name: 'alg', status: 'fail', message: 'the header has no "alg"' };
  if (typeof alg !== 'string')
    return { name: 'alg', status: 'fail', message: `"alg" is not a string: ${quote(alg)}` };
  if (alg.toLowerCase() === 'none') {
    return {
      name: 'alg',
      status: 'fail',
      message: `alg is "${alg}": the token is not signed, anyone can make one; a gateway must refuse it`,
    };
  }
  if (/^HS(256|384|512)$/.test(alg)) {
    return {
      name: 'alg',
      status: 'warn',
      message: `${alg} is symmetric: the gateway needs the shared secret, and whoever holds it can mint tokens`,
    };
  }
  if (!REGISTERED_ALGS.has(alg)) {
    return {
      name: 'alg',
      status: 'fail',
      message: `alg "${alg}" is not a registered JWS algorithm: no gateway verifies it`,
    };
  }
  return {
    name: 'alg',
    status: 'ok',
    message: `${alg}, asymmetric: verified with the issuer's public key`,
  };
}

/**
 * `oidc-gw serve --clock-skew` defaults to 30 s (as most gateways allow some
 * leeway), while `decode --clock-skew` defaults to 0: decode shows the token
 * exactly as it is. Where the two differ (a token expired or not yet valid by
 * less than that), the check says so, so that a FAIL here and an accepted
 * request there are not a mystery.
 */
export const SERVE_DEFAULT_CLOCK_SKEW = 30;

/** The note for a time check that fails here but that serve's default leeway would pass. */
function serveLeewayNote(offBySeconds: number, skew: number): string {
  if (skew >= SERVE_DEFAULT_CLOCK_SKEW || offBySeconds >= SERVE_DEFAULT_CLOCK_SKEW) return '';
  return `; within the ${SERVE_DEFAULT_CLOCK_SKEW}s leeway oidc-gw serve allows by default (decode's --clock-skew defaults to 0: exact)`;
}

function timeChecks(payload: Record<string, unknown>, nowS: number, skew: number): Check[] {
  const checks: Check[] = [];
  const skewNote = skew > 0 ? ` (clock skew allowed: ${skew}s)` : '';
  const { exp, nbf, iat } = payload;
  if (exp === undefined) {
    checks.push({
      name: 'exp',
      status: 'warn',
      message: 'no "exp": the token never expires; oidc-gw serve and most gateways refuse it',
    });
  } else if (!isNumericDate(exp)) {
    checks.push({
      name: 'exp',
      status: 'fail',
      message: `"exp" is not a number of seconds: ${quote(exp)}`,
    });
  } else if (exp <= nowS - skew) {
    checks.push({
      name: 'exp',
      status: 'fail',
      message: `expired: exp ${describeTime(exp, nowS)}${skewNote}${serveLeewayNote(nowS - exp, skew)}`,
    });
  } else if (exp > 1e11) {
    checks.push({
      name: 'exp',
      status: 'warn',
      message: `exp ${describeTime(exp, nowS)} is absurdly far: it looks like milliseconds, not seconds`,
    });
  } else {
    checks.push({ name: 'exp', status: 'ok', message: `expires ${describeTime(exp, nowS)}` });
  }
  // nbf and iat: a number of seconds, and not after now (plus the skew).
  const notAfterNow = (
    name: 'nbf' | 'iat',
    value: unknown,
    future: (when: string) => string,
    ok: (when: string) => string,
  ) => {
    if (value === undefined) return;
    if (!isNumericDate(value)) {
      checks.push({
        name,
        status: 'fail',
        message: `"${name}" is not a number of seconds: ${quote(value)}`,
      });
    } else if (value > nowS + skew) {
      checks.push({
        name,
        status: 'fail',
        message: `${future(describeTime(value, nowS))}${serveLeewayNote(value - nowS, skew)}`,
      });
    } else {
      checks.push({ name, status: 'ok', message: ok(describeTime(value, nowS)) });
    }
  };
  notAfterNow(
    'nbf',
    nbf,
    (when) => `not yet valid: nbf ${when}${skewNote}`,
    (when) => `valid since ${when}`,
  );
  notAfterNow(
    'iat',
    iat,
    (when) => `issued in the future: iat ${when}${skewNote}; check the clocks`,
    (when) => `issued ${when}`,
  );
  return checks;
}

function issuerCheck(iss: unknown, expected: string | undefined): Check | undefined {
  if (iss !== undefined && typeof iss !== 'string') {
    return { name: 'iss', status: 'fail', message: `"iss" is not a string: ${quote(iss)}` };
  }
  if (expected === undefined) {
    if (iss === undefined) {
      return {
        name: 'iss',
        status: 'warn',
        message: 'no "iss": a gateway cannot tell who issued this token',
      };
    }
    return undefined;
  }
  if (iss === undefined)
    return { name: 'iss', status: 'fail', message: `no "iss" claim; expected "${expected}"` };
  if (iss === expected)
    return { name: 'iss', status: 'ok', message: `iss is "${iss}", as expected` };
  if (stripSlash(iss) === stripSlash(expected)) {
    return {
      name: 'iss',
      status: 'fail',
      message: `iss is "${iss}", expected "${expected}": they differ by a trailing slash, and issuers are compared exactly`,
    };
  }
  return { name: 'iss', status: 'fail', message: `iss is "${iss}", expected "${expected}"` };
}

function audienceCheck(aud: unknown, expected: readonly string[] | undefined): Check | undefined {
  const list = audienceList(aud);
  if (aud !== undefined && list === undefined) {
    return {
      name: 'aud',
      status: 'fail',
      message: `"aud" is neither a string nor an array of strings: ${quote(aud)}`,
    };
  }
  const wanted = expected && expected.length > 0 ? expected : undefined;
  if (!wanted) {
    if (aud === undefined) {
      return {
        name: 'aud',
        status: 'warn',
        message: 'no "aud": any API that trusts this issuer would accept this token',
      };
    }
    return undefined;
  }
  const wantedText = wanted.map((w) => `"${w}"`).join(' or ');
  if (list === undefined)
    return { name: 'aud', status: 'fail', message: `no "aud" claim; expected ${wantedText}` };
  const match = list.find((a) => wanted.includes(a));
  if (match !== undefined) {
    return {
      name: 'aud',
      status: 'ok',
      message:
        list.length > 1
          ? `aud contains "${match}" (of ${list.length} audiences)`
          : `aud is "${match}", as expected`,
    };
  }
  const near = list.find((a) => wanted.some((w) => stripSlash(w) === stripSlash(a)));
  const nearNote =
    near !== undefined
      ? ` ("${near}" differs by a trailing slash; audiences are compared exactly)`
      : '';
  return {
    name: 'aud',
    status: 'fail',
    message: `aud is ${list.length === 1 ? `"${list[0]}"` : `[${list.map((a) => `"${a}"`).join(', ')}]`}, expected ${wantedText}${nearNote}`,
  };
}

function embeddedKeysCheck(header: Record<string, unknown>): Check | undefined {
  const present = EMBEDDED_KEY_HEADERS.filter((h) => header[h] !== undefined);
  if (present.length === 0) return undefined;
  const shown = present.map((h) =>
    (h === 'jku' || h === 'x5u') && typeof header[h] === 'string' ? `${h} (${header[h]})` : h,
  );
  return {
    name: 'embedded_keys',
    status: 'warn',
    message: `the header carries ${shown.join(', ')}: key material chosen by the token; oidc-gw never uses it to verify, and no gateway should (it is how forged tokens get accepted)`,
  };
}

function tokenTypeCheck(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): Check | undefined {
  const typ = typeof header['typ'] === 'string' ? header['typ'].toLowerCase() : '';
  if (typ === 'at+jwt' || typ === 'application/at+jwt') return undefined;
  const marks = ['nonce', 'at_hash', 'c_hash'].filter((c) => payload[c] !== undefined);
  if (marks.length === 0) return undefined;
  return {
    name: 'token_type',
    status: 'warn',
    message: `this looks like an ID token (it has ${marks.join(', ')}): APIs and gateways expect an access token`,
  };
}

function claimsSummary(
  header: Record<string, unknown>,
  payload: Record<string, unknown> | null,
  nowS: number,
): ClaimsSummary {
  const p = payload ?? {};
  const t = (v: unknown) => (isNumericDate(v) ? timeView(v, nowS) : null);
  return {
    iss: p['iss'],
    aud: p['aud'],
    sub: p['sub'],
    azp: p['azp'],
    client_id: p['client_id'],
    scope: p['scope'],
    scp: p['scp'],
    exp: t(p['exp']),
    iat: t(p['iat']),
    nbf: t(p['nbf']),
    alg: header['alg'],
    kid: header['kid'],
    typ: header['typ'],
  };
}

function encodingCheck(names: readonly string[], segments: readonly Segment[]): Check {
  const bad = segments
    .map((s, i) => ({ name: names[i] ?? `part ${i + 1}`, why: s.nonCanonical }))
    .filter((b) => b.why);
  if (bad.length === 0)
    return { name: 'encoding', status: 'ok', message: 'every segment is canonical base64url' };
  return {
    name: 'encoding',
    status: 'fail',
    message: `${bad.map((b) => `the ${b.name} is not canonical base64url (${b.why})`).join('; ')}: a sign of tampering or a broken encoder, and a strict gateway refuses it`,
  };
}

/** The --issuer / --audience checks, failed, for a token whose claims cannot be read. */
function unreadableClaimChecks(options: InspectOptions, why: string): Check[] {
  const checks: Check[] = [];
  if (options.issuer !== undefined) {
    checks.push({ name: 'iss', status: 'fail', message: `cannot compare the issuer: ${why}` });
  }
  if (options.audiences && options.audiences.length > 0) {
    checks.push({ name: 'aud', status: 'fail', message: `cannot compare the audience: ${why}` });
  }
  return checks;
}

/**
 * Why an access token is opaque, and how to get a JWT instead: the same words
 * as `call`'s diagnosis. Auth0 issues an opaque access token when the request
 * names no `audience` (its token is then only good for /userinfo).
 */
export const OPAQUE_AUDIENCE_NOTE =
  'Auth0 gives opaque access tokens when no audience is asked for: for a JWT a gateway can check, ask for a token for the API: --audience API (Auth0) or --resource API (RFC 8707)';

function opaqueReport(token: string, options: InspectOptions): Report {
  const checks: Check[] = [
    {
      name: 'format',
      status: 'warn',
      message: `not a JWT: an opaque token (${token.length} characters) that only its issuer can read; inspect it with the issuer's introspection endpoint (RFC 7662). ${OPAQUE_AUDIENCE_NOTE}`,
    },
  ];
  checks.push(...unreadableClaimChecks(options, 'an opaque token carries no claims'));
  return {
    kind: 'opaque',
    header: null,
    payload: null,
    checks,
    verified: null,
    claims: null,
    gateway: null,
  };
}

/**
 * Inspects a token (already extracted from its input form, see input.ts).
 * Returns the report; throws ERR_TOKEN_MALFORMED (exit 2) when the input is
 * not a token, with the precise reason (part count, base64url, JSON).
 */
export function inspectToken(token: string, options: InspectOptions): Report {
  if (token.length === 0) throw malformed('the token is empty');
  const badChar = invalidTokenCharacter(token);
  if (badChar) throw malformed(`not a token: ${badChar}`);
  const parts = token.split('.');
  if (parts.length === 1 || !looksLikeJoseHeader(parts[0] ?? '')) {
    const broken = parts.length === 3 ? brokenHeaderReason(parts) : undefined;
    if (broken) throw malformed(broken);
    return opaqueReport(token, options);
  }
  if (parts.length !== 3 && parts.length !== 5) {
    throw malformed(
      `a JWT has 3 dot-separated parts (JWS) or 5 (JWE); this one has ${parts.length}`,
    );
  }
  const names = parts.length === 3 ? JWS_NAMES : JWE_NAMES;
  let offset = 0;
  const segments = parts.map((p, i) => {
    const s = readSegment(p, names[i] ?? `part ${i + 1}`, offset);
    offset += p.length + 1;
    return s;
  });
  const nowS = Math.floor(options.now / 1000);
  const skew = options.clockSkew ?? 0;
  const header = readJsonObject((segments[0] as Segment).bytes, 'header');
  const checks: Check[] = [encodingCheck(names, segments)];
  if (parts.length === 5) {
    if (header.duplicate !== undefined) checks.push(duplicateCheck('header', header.duplicate));
    const alg = typeof header.value['alg'] === 'string' ? header.value['alg'] : '?';
    const enc = typeof header.value['enc'] === 'string' ? header.value['enc'] : '?';
    checks.push({
      name: 'encrypted',
      status: 'warn',
      message: `an encrypted JWE (alg ${alg}, enc ${enc}): its claims cannot be read without the recipient's private key`,
    });
    checks.push(...unreadableClaimChecks(options, 'the claims are encrypted'));
    return {
      kind: 'JWE',
      header: header.value,
      payload: null,
      checks,
      verified: null,
      claims: claimsSummary(header.value, null, nowS),
      gateway: null,
    };
  }
  const payload = readJsonObject((segments[1] as Segment).bytes, 'payload');
  if (header.duplicate !== undefined) checks.push(duplicateCheck('header', header.duplicate));
  if (payload.duplicate !== undefined) checks.push(duplicateCheck('payload', payload.duplicate));
  const h = header.value;
  const p = payload.value;
  const alg = algCheck(h['alg']);
  checks.push(alg);
  const isNone = typeof h['alg'] === 'string' && h['alg'].toLowerCase() === 'none';
  if (!isNone && parts[2] === '') {
    checks.push({ name: 'signature', status: 'fail', message: 'the signature is empty' });
  }
  const embedded = embeddedKeysCheck(h);
  if (embedded) checks.push(embedded);
  checks.push(...timeChecks(p, nowS, skew));
  const iss = issuerCheck(p['iss'], options.issuer);
  if (iss) checks.push(iss);
  const aud = audienceCheck(p['aud'], options.audiences);
  if (aud) checks.push(aud);
  if (!options.idToken) {
    const typ = tokenTypeCheck(h, p);
    if (typ) checks.push(typ);
  }
  const report: Report = {
    kind: 'JWS',
    header: h,
    payload: p,
    checks,
    verified: null,
    claims: claimsSummary(h, p, nowS),
    gateway: null,
  };
  report.gateway = gatewayFor(report, options);
  return report;
}

function duplicateCheck(where: 'header' | 'payload', member: string): Check {
  return {
    name: 'duplicate_members',
    status: 'fail',
    message: `the ${where} has "${member}" more than once: parsers disagree on which one counts (claim smuggling); a strict gateway refuses it (the last one is shown)`,
  };
}

/** The gateway settings for a JWS report, with the JWKS URI when discovery found it. */
export function gatewayFor(
  report: Report,
  options: Pick<InspectOptions, 'issuer' | 'audiences'>,
  discovered?: { jwksUri?: string | null; discoveryUrl?: string | null; issuer?: string | null },
): GatewaySettings | null {
  if (report.kind !== 'JWS' || !report.payload || !report.header) return null;
  const iss = report.payload['iss'];
  const issuer = discovered?.issuer ?? (typeof iss === 'string' ? iss : (options.issuer ?? null));
  const auds = audienceList(report.payload['aud']) ?? [...(options.audiences ?? [])];
  const alg = typeof report.header['alg'] === 'string' ? report.header['alg'] : null;
  return gatewaySettings({
    issuer,
    audiences: auds,
    jwksUri: discovered?.jwksUri ?? null,
    discoveryUrl: discovered?.discoveryUrl ?? null,
    alg,
  });
}

/**
 * Records the outcome of --verify in the report: an optional `trust`
 * warning (keys found from the token's own iss), the `signature` check (it
 * replaces an earlier one), and `verified`: true only when nothing failed, so
 * that a valid signature on an expired token is not "verified".
 */
export function applySignature(
  report: Report,
  signature: { ok: boolean; message: string },
  trust?: Check,
): void {
  for (let i = report.checks.length - 1; i >= 0; i--) {
    const name = report.checks[i]?.name;
    if (name === 'signature' || name === 'trust') report.checks.splice(i, 1);
  }
  if (trust) report.checks.push(trust);
  report.checks.push({
    name: 'signature',
    status: signature.ok ? 'ok' : 'fail',
    message: signature.message,
  });
  report.verified = !report.checks.some((c) => c.status === 'fail');
}

/**
 * The issuer named by an `--issuer` value, which may also be its metadata
 * URL (docs/configuration.md: Issuers): `…/.well-known/openid-configuration` (OpenID Connect, a
 * suffix) or `…/.well-known/oauth-authorization-server/…` (RFC 8414, an
 * infix). Anything else is returned as given: issuers are compared exactly.
 */
export function issuerFromInput(input: string): string {
  const oidc = '/.well-known/openid-configuration';
  if (input.endsWith(oidc)) return input.slice(0, -oidc.length);
  const m = /^(https?:\/\/[^/]+)\/\.well-known\/oauth-authorization-server(\/.*)?$/.exec(input);
  if (m) return `${m[1]}${m[2] ?? ''}`;
  return input;
}

/** Exit code of a report: 1 when a check failed, else 0. */
export function exitCodeOf(report: Report): 0 | 1 {
  return report.checks.some((c) => c.status === 'fail') ? 1 : 0;
}
