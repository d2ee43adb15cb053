/**
 * Strict reading of compact JWS/JWE serializations, shared by `decode` and
 * `serve`. Pure functions: no I/O, no verification (jose does that).
 */
import { parseStrictJson, DuplicateMemberError } from './strict-json.js';

const B64URL = /^[A-Za-z0-9_-]*$/;

export type CompactKind = 'JWS' | 'JWE';

export type CompactProblem =
  | 'empty'
  | 'parts' // not 3 (JWS) or 5 (JWE) dot-separated parts
  | 'base64url' // a segment has a character outside [A-Za-z0-9_-]
  | 'non_canonical' // a segment decodes but does not re-encode to itself
  | 'header_json' // the header is not a JSON object
  | 'payload_json' // the payload is not a JSON object (only checked when asked)
  | 'duplicate_member'; // a duplicate member in header or payload JSON

export class CompactError extends Error {
  constructor(
    readonly problem: CompactProblem,
    message: string,
    readonly segment?:
      'header' | 'payload' | 'signature' | 'encrypted_key' | 'iv' | 'ciphertext' | 'tag',
  ) {
    super(message);
  }
}

const JWS_SEGMENTS = ['header', 'payload', 'signature'] as const;
const JWE_SEGMENTS = ['header', 'encrypted_key', 'iv', 'ciphertext', 'tag'] as const;

/** True when `s` is canonical unpadded base64url: only [A-Za-z0-9_-] and re-encoding gives `s` back. */
export function isCanonicalBase64url(s: string): boolean {
  if (!B64URL.test(s)) return false;
  if (s.length % 4 === 1) return false;
  return Buffer.from(s, 'base64url').toString('base64url') === s;
}

export function decodeSegment(s: string, name: CompactError['segment']): Buffer {
  if (!B64URL.test(s)) {
    throw new CompactError(
      'base64url',
      `the ${name} is not base64url (it has characters outside A-Z a-z 0-9 - _)`,
      name,
    );
  }
  const bytes = Buffer.from(s, 'base64url');
  if (s.length % 4 === 1 || bytes.toString('base64url') !== s) {
    throw new CompactError(
      'non_canonical',
      `the ${name} is not canonical base64url (it does not re-encode to itself)`,
      name,
    );
  }
  return bytes;
}

function parseObject(bytes: Buffer, name: 'header' | 'payload'): Record<string, unknown> {
  let value: unknown;
  try {
    value = parseStrictJson(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (error) {
    if (error instanceof DuplicateMemberError) {
      throw new CompactError(
        'duplicate_member',
        `the ${name} has a duplicate member "${error.member}"`,
        name,
      );
    }
    throw new CompactError(
      name === 'header' ? 'header_json' : 'payload_json',
      `the ${name} is not valid UTF-8 JSON`,
      name,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new CompactError(
      name === 'header' ? 'header_json' : 'payload_json',
      `the ${name} is not a JSON object`,
      name,
    );
  }
  return value as Record<string, unknown>;
}

export interface ParsedJws {
  readonly kind: 'JWS';
  readonly header: Record<string, unknown>;
  /** The payload as an object, or undefined when it is not JSON (`payloadBytes` has it). */
  readonly payload: Record<string, unknown> | undefined;
  readonly payloadBytes: Buffer;
  readonly signature: Buffer;
  /** `header.payload`, the bytes the signature covers. */
  readonly signingInput: string;
  readonly segments: readonly [string, string, string];
}

export interface ParsedJwe {
  readonly kind: 'JWE';
  readonly header: Record<string, unknown>;
  readonly segments: readonly string[];
}

export interface ParseOptions {
  /** Require the JWS payload to be a JSON object (true for JWTs). Default true. */
  requireJsonPayload?: boolean;
}

/**
 * Parses a compact JWS (3 parts) or JWE (5 parts) strictly: canonical
 * base64url in every segment, a JSON object header with no duplicate members,
 * and (for JWTs) a JSON object payload with no duplicate members.
 */
export function parseCompact(token: string, options: ParseOptions = {}): ParsedJws | ParsedJwe {
  const requireJsonPayload = options.requireJsonPayload ?? true;
  if (token.length === 0) throw new CompactError('empty', 'the token is empty');
  const parts = token.split('.');
  if (parts.length === 5) {
    parts.forEach((p, i) => decodeSegment(p, JWE_SEGMENTS[i]));
    const header = parseObject(decodeSegment(parts[0] as string, 'header'), 'header');
    return { kind: 'JWE', header, segments: parts };
  }
  if (parts.length !== 3) {
    throw new CompactError(
      'parts',
      `a JWT has 3 dot-separated parts (JWS) or 5 (JWE); this has ${parts.length}`,
    );
  }
  const [h, p, s] = parts as [string, string, string];
  const headerBytes = decodeSegment(h, JWS_SEGMENTS[0]);
  const payloadBytes = decodeSegment(p, JWS_SEGMENTS[1]);
  const signature = decodeSegment(s, JWS_SEGMENTS[2]);
  const header = parseObject(headerBytes, 'header');
  let payload: Record<string, unknown> | undefined;
  if (requireJsonPayload) {
    payload = parseObject(payloadBytes, 'payload');
  } else {
    try {
      payload = parseObject(payloadBytes, 'payload');
    } catch (error) {
      if (error instanceof CompactError && error.problem === 'duplicate_member') throw error;
      payload = undefined;
    }
  }
  return {
    kind: 'JWS',
    header,
    payload,
    payloadBytes,
    signature,
    signingInput: `${h}.${p}`,
    segments: [h, p, s],
  };
}
