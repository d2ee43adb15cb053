/**
 * What people paste into `decode`: a bare token, `Bearer TOKEN`, a whole
 * `Authorization: Bearer TOKEN` line, or a token response (`{"access_token":
 * ...}`), with white space around it. This module finds the token in it.
 */
import { GwError } from '../errors/index.js';

export type InputForm = 'bare' | 'bearer' | 'authorization_header' | 'token_response';

export interface ExtractedToken {
  readonly token: string;
  readonly form: InputForm;
}

export interface ExtractOptions {
  /** From a token response, take `id_token` instead of `access_token`. */
  idToken?: boolean;
}

function malformed(message: string, hint?: string): GwError {
  return new GwError('ERR_TOKEN_MALFORMED', message, hint ? { hint } : {});
}

function describeChar(ch: string): string {
  const code = ch.codePointAt(0) ?? 0;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  // Control characters (C0, DEL, C1) and bidi overrides are never echoed to a terminal.
  if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return `control character ${hex}`;
  if (/\s/u.test(ch)) return 'white space';
  if (
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  ) {
    return `bidirectional control ${hex}`;
  }
  if (code > 0x7e) return `"${ch}" (${hex})`;
  return `"${ch}"`;
}

function fromTokenResponse(text: string, options: ExtractOptions): string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw malformed(
      'the input starts with "{" but is not JSON (a token is not JSON; a token response is)',
    );
  }
  const member = options.idToken ? 'id_token' : 'access_token';
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw malformed('the input is JSON but not a token response object');
  }
  const token = (value as Record<string, unknown>)[member];
  if (typeof token !== 'string' || token.length === 0) {
    throw malformed(
      `the input is JSON without a string "${member}" member`,
      options.idToken ? undefined : 'for an ID token add --id-token',
    );
  }
  return token.trim();
}

/**
 * Finds the token in `raw`. Throws ERR_TOKEN_MALFORMED (exit 2) when there is
 * none: empty input, a scheme other than Bearer, nothing or several words
 * after `Bearer`.
 */
export function extractToken(raw: string, options: ExtractOptions = {}): ExtractedToken {
  let text = raw.replace(/^\uFEFF/, '').trim();
  if (text.length === 0) throw malformed('the input is empty: no token');
  if (text.startsWith('{')) {
    const token = fromTokenResponse(text, options);
    if (token.length === 0) throw malformed('the token in the token response is empty');
    return { token, form: 'token_response' };
  }
  let form: InputForm = 'bare';
  const header = /^authorization[ \t]*:[ \t]*/i.exec(text);
  if (header) {
    text = text.slice(header[0].length);
    form = 'authorization_header';
    const scheme = /^(\S+)/.exec(text)?.[1];
    if (scheme === undefined) throw malformed('the Authorization line has no value');
    if (scheme.toLowerCase() !== 'bearer') {
      throw malformed(
        `the Authorization line uses the "${scheme}" scheme: decode reads Bearer tokens`,
      );
    }
  }
  const bearer = /^bearer(?:\s+|$)/i.exec(text);
  if (bearer) {
    text = text.slice(bearer[0].length);
    if (form === 'bare') form = 'bearer';
    if (text.length === 0) throw malformed('"Bearer" is not followed by a token');
  }
  const inner = /\s/u.exec(text);
  if (inner) {
    const words = text.split(/\s+/u).length;
    throw malformed(
      form === 'bare'
        ? `the token has white space inside it (at position ${inner.index + 1}): a token is one word`
        : `"Bearer" is followed by ${words} words: a bearer token is one word`,
      'paste the token alone, `Bearer TOKEN`, or the whole `Authorization: Bearer TOKEN` line',
    );
  }
  // A token as pasted with quotes around it (from JSON or a shell line).
  const quoted = /^(["'])(.*)\1$/s.exec(text);
  if (quoted && (quoted[2] ?? '').length > 0) text = quoted[2] ?? '';
  return { token: text, form };
}

/**
 * RFC 6750 b64token characters plus nothing else. Returns a precise reason
 * when `token` has a character no token can carry, else undefined.
 */
export function invalidTokenCharacter(token: string): string | undefined {
  const m = /[^A-Za-z0-9\-._~+/=]/u.exec(token);
  if (!m) return undefined;
  const ch = String.fromCodePoint(m[0].codePointAt(0) ?? 0);
  return `${describeChar(ch)} at position ${m.index + 1}`;
}
