/**
 * `--forward-claim HEADER=CLAIM`: a verified claim sent to the upstream as a
 * header (docs/commands/serve.md: Forwarded claims). Strings and numbers go as they are, other
 * values as JSON. A value with a control character refuses the request
 * (never a raw CR/LF/NUL upstream); other characters outside printable ASCII
 * are percent-encoded as UTF-8, so names in any language pass.
 */
import { refusal, type Refusal } from './reasons.js';

export interface ForwardClaim {
  /** The header name as given (sent in this spelling). */
  readonly header: string;
  readonly claim: string;
}

/** RFC 9110 token characters: a valid header name. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

export function isHeaderName(name: string): boolean {
  return TOKEN.test(name);
}

/**
 * How header names are compared for spoofing: case-insensitive, `_` equal to
 * `-` (many servers and frameworks, CGI-style, read `X_User` as `X-User`).
 */
export function normalizeHeaderName(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes('_') ? lower.replaceAll('_', '-') : lower;
}

// C0 controls, DEL and C1 controls.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** The header value for a claim value; `undefined` when the claim is absent or null. */
export function encodeClaimValue(
  value: unknown,
): { value: string } | { refusal: Refusal } | undefined {
  if (value === undefined || value === null) return undefined;
  let text: string;
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number') text = String(value);
  else {
    // Functions, symbols and the like have no JSON form: nothing to forward.
    const json: unknown = JSON.stringify(value);
    if (typeof json !== 'string') return undefined;
    text = json;
  }
  if (PRINTABLE_ASCII.test(text)) return { value: text };
  if (CONTROL.test(text)) return { refusal: refusal('forward_claim_invalid') };
  // Printable ASCII stays as is; everything else is UTF-8 percent-encoded.
  let out = '';
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    if (code >= 0x20 && code <= 0x7e) {
      out += ch;
    } else if (code >= 0xd800 && code <= 0xdfff) {
      // A lone surrogate has no UTF-8 form: U+FFFD, as TextEncoder does.
      out += '%EF%BF%BD';
    } else {
      for (const byte of Buffer.from(ch, 'utf8'))
        out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
  }
  return { value: out };
}

/** The headers to send for `claims`, or the refusal when a value cannot be sent. */
export function forwardedHeaders(
  claims: Record<string, unknown>,
  forwards: readonly ForwardClaim[],
): { headers: string[] } | { refusal: Refusal } {
  const headers: string[] = [];
  for (const f of forwards) {
    // Own members only: `constructor` or `__proto__` are not claims of the token.
    const encoded = encodeClaimValue(Object.hasOwn(claims, f.claim) ? claims[f.claim] : undefined);
    if (encoded === undefined) continue;
    if ('refusal' in encoded) {
      return {
        refusal: refusal('forward_claim_invalid', {
          description: `claim ${f.claim} contains a control character and cannot be forwarded`,
        }),
      };
    }
    headers.push(f.header, encoded.value);
  }
  return { headers };
}

/** Headers a forwarded claim may never set: the gateway's own, or ones that change the request. */
const NOT_FORWARDABLE = [
  'authorization',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'cookie',
];

/**
 * Why `header` cannot carry a forwarded claim (`name`: not a header name;
 * `reserved`: a header the gateway sets or the request depends on), or
 * undefined when it can. One rule for --forward-claim, the oidc-gw file's
 * forward_claims and the library's forwardClaims.
 */
export function forwardHeaderProblem(header: string): 'name' | 'reserved' | undefined {
  if (!isHeaderName(header)) return 'name';
  const lower = header.toLowerCase().replaceAll('_', '-');
  if (NOT_FORWARDABLE.includes(lower) || lower.startsWith('x-forwarded-')) return 'reserved';
  return undefined;
}
