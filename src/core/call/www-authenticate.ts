/**
 * A small, strict parser for the `WWW-Authenticate` response header (RFC 9110
 * §11.6.1 and §11.3) and the reading of its `Bearer` challenge (RFC 6750 §3).
 * Pure: no I/O. A header that does not follow the grammar is refused with the
 * position of the first problem, never guessed at.
 *
 *   WWW-Authenticate = #challenge
 *   challenge  = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param = token BWS "=" BWS ( token / quoted-string )
 *   token68    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
 */

export interface Challenge {
  /** The scheme as sent (compare case-insensitively). */
  readonly scheme: string;
  /** A token68 credential-like value instead of parameters (e.g. `Negotiate abc==`). */
  readonly token68?: string;
  /** Parameters, names lower-cased, values unquoted. */
  readonly params: Readonly<Record<string, string>>;
}

export class WwwAuthenticateError extends Error {
  constructor(
    message: string,
    /** 0-based index in the header value where parsing stopped. */
    readonly position: number,
  ) {
    super(`${message} (at character ${position + 1})`);
    this.name = 'WwwAuthenticateError';
  }
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68_CHAR = /[A-Za-z0-9\-._~+/]/;

class Reader {
  pos = 0;
  constructor(readonly s: string) {}
  get done(): boolean {
    return this.pos >= this.s.length;
  }
  peek(): string {
    return this.s[this.pos] ?? '';
  }
  ows(): number {
    const start = this.pos;
    while (this.peek() === ' ' || this.peek() === '\t') this.pos++;
    return this.pos - start;
  }
  token(): string {
    const start = this.pos;
    while (!this.done && TCHAR.test(this.peek())) this.pos++;
    return this.s.slice(start, this.pos);
  }
  fail(message: string): never {
    throw new WwwAuthenticateError(message, this.pos);
  }
  quoted(): string {
    // at '"'
    this.pos++;
    let value = '';
    for (;;) {
      if (this.done) this.fail('unterminated quoted string');
      const c = this.s.charCodeAt(this.pos);
      if (c === 0x22) {
        this.pos++;
        return value;
      }
      if (c === 0x5c) {
        const next = this.s.charCodeAt(this.pos + 1);
        if (
          Number.isNaN(next) ||
          !(next === 0x09 || (next >= 0x20 && next !== 0x7f && next <= 0xff))
        ) {
          this.fail('bad escape in quoted string');
        }
        value += this.s[this.pos + 1];
        this.pos += 2;
        continue;
      }
      // qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
      if (!(c === 0x09 || (c >= 0x20 && c !== 0x7f && c <= 0xff))) {
        this.fail('control character in quoted string');
      }
      value += this.s[this.pos];
      this.pos++;
    }
  }
}

/** Parses one or more header values (several header lines are one list). */
export function parseWwwAuthenticate(values: string | readonly string[]): Challenge[] {
  const list = typeof values === 'string' ? [values] : values;
  const challenges: Challenge[] = [];
  for (const value of list) challenges.push(...parseOne(value));
  return challenges;
}

function skipSeparators(r: Reader): void {
  // Empty list elements are allowed (RFC 9110 §5.6.1.2).
  for (;;) {
    r.ows();
    if (r.peek() !== ',') return;
    r.pos++;
  }
}

function parseOne(value: string): Challenge[] {
  const r = new Reader(value);
  const out: Challenge[] = [];
  skipSeparators(r);
  while (!r.done) {
    const scheme = r.token();
    if (!scheme) r.fail('expected an authentication scheme');
    const spaces = r.ows();
    if (r.done || r.peek() === ',') {
      out.push({ scheme, params: {} });
      skipSeparators(r);
      continue;
    }
    if (spaces === 0) r.fail(`expected a space after the scheme "${scheme}"`);
    const t68 = tryToken68(r);
    if (t68 !== undefined) {
      out.push({ scheme, token68: t68, params: {} });
      skipSeparators(r);
      continue;
    }
    const params: Record<string, string> = {};
    for (;;) {
      const name = r.token();
      if (!name) r.fail('expected a parameter name');
      r.ows();
      if (r.peek() !== '=') r.fail(`expected "=" after the parameter "${name}"`);
      r.pos++;
      r.ows();
      let v: string;
      if (r.peek() === '"') v = r.quoted();
      else {
        v = r.token();
        if (!v) r.fail(`expected a value for the parameter "${name}"`);
      }
      const lower = name.toLowerCase();
      if (Object.hasOwn(params, lower)) r.fail(`the parameter "${lower}" appears twice`);
      params[lower] = v;
      r.ows();
      if (r.done) break;
      if (r.peek() !== ',') r.fail('expected "," between parameters');
      skipSeparators(r);
      if (r.done) break;
      if (!startsParam(r)) break; // the next challenge begins here
    }
    out.push({ scheme, params });
    skipSeparators(r);
  }
  return out;
}

/** A token68 followed by the end of the challenge, or undefined (position unchanged). */
function tryToken68(r: Reader): string | undefined {
  const start = r.pos;
  while (!r.done && TOKEN68_CHAR.test(r.peek())) r.pos++;
  if (r.pos === start) return undefined;
  while (r.peek() === '=') r.pos++;
  const end = r.pos;
  r.ows();
  if (r.done || r.peek() === ',') return r.s.slice(start, end);
  r.pos = start;
  return undefined;
}

/** True when the reader is at `token BWS "="` (an auth-param, not a new challenge). */
function startsParam(r: Reader): boolean {
  const start = r.pos;
  const name = r.token();
  r.ows();
  const is = name !== '' && r.peek() === '=';
  r.pos = start;
  return is;
}

/** The Bearer challenge's parameters (RFC 6750 §3), with anything that breaks its rules noted. */
export interface BearerChallenge {
  readonly realm?: string;
  readonly error?: string;
  readonly errorDescription?: string;
  readonly errorUri?: string;
  /** The scope the resource needs (space-separated in the header). */
  readonly scope?: readonly string[];
  /** Other parameters, as sent. */
  readonly other: Readonly<Record<string, string>>;
  /** Ways the challenge departs from RFC 6750 (shown as notes, never fatal). */
  readonly problems: readonly string[];
}

export const BEARER_ERRORS: readonly string[] = [
  'invalid_request',
  'invalid_token',
  'insufficient_scope',
];

// error, error_description: %x20-21 / %x23-5B / %x5D-7E
const ERROR_CHARS = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
// scope-token: 1*( %x21 / %x23-5B / %x5D-7E )
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;

/** The first `Bearer` challenge among `challenges`, read as RFC 6750 says. */
export function bearerChallenge(challenges: readonly Challenge[]): BearerChallenge | undefined {
  const c = challenges.find((x) => x.scheme.toLowerCase() === 'bearer');
  if (!c) return undefined;
  const problems: string[] = [];
  if (c.token68 !== undefined)
    problems.push('the Bearer challenge carries a token68 value instead of parameters');
  const p = c.params;
  const other: Record<string, string> = {};
  for (const [k, v] of Object.entries(p)) {
    if (!['realm', 'error', 'error_description', 'error_uri', 'scope'].includes(k)) other[k] = v;
  }
  const error = p['error'];
  if (error !== undefined) {
    if (!ERROR_CHARS.test(error)) problems.push('error has characters RFC 6750 does not allow');
    else if (!BEARER_ERRORS.includes(error))
      problems.push(`error "${error}" is not one of RFC 6750's (${BEARER_ERRORS.join(', ')})`);
  }
  const description = p['error_description'];
  if (description !== undefined && !ERROR_CHARS.test(description)) {
    problems.push('error_description has characters RFC 6750 does not allow');
  }
  let scope: string[] | undefined;
  if (p['scope'] !== undefined) {
    scope = p['scope'].split(' ').filter((s) => s !== '');
    if (scope.some((s) => !SCOPE_TOKEN.test(s)) || /^ | $| {2}/.test(p['scope'])) {
      problems.push('scope is not a space-separated list of RFC 6750 scope tokens');
    }
  }
  if (error === 'insufficient_scope' && scope === undefined) {
    problems.push('insufficient_scope without a scope parameter naming what is needed');
  }
  return {
    ...(p['realm'] !== undefined ? { realm: p['realm'] } : {}),
    ...(error !== undefined ? { error } : {}),
    ...(description !== undefined ? { errorDescription: description } : {}),
    ...(p['error_uri'] !== undefined ? { errorUri: p['error_uri'] } : {}),
    ...(scope !== undefined ? { scope } : {}),
    other,
    problems,
  };
}
