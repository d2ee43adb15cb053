/**
 * Fuzzing decode's core with fast-check: random strings, random JSON
 * headers and payloads, and mutations of real tokens. Every input must end
 * as a report (checks ok/warn/fail), or an input error (ERR_TOKEN_MALFORMED,
 * exit 2); verification must end as a result. Never another exception.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { extractToken } from '../../src/core/jwt/input.js';
import { exitCodeOf, inspectToken, type Report } from '../../src/core/jwt/inspect.js';
import { renderReport, type Style } from '../../src/core/jwt/report-text.js';
import { verifySignature } from '../../src/core/jwt/verify.js';
import type { KeySource } from '../../src/core/jwt/keys.js';
import { isGwError } from '../../src/core/errors/index.js';
import { b64u, claims, hmacToken, signingKey, type SigningKey } from '../helpers/jwt-fixtures.js';

const NOW_S = 1_750_000_000;
const id = (s: string) => s;
const plain: Style = { bold: id, dim: id, red: id, green: id, yellow: id, cyan: id, magenta: id };

type Outcome = { kind: 'report'; report: Report } | { kind: 'input-error' };

/** A cheap assertion for hot loops (vitest's expect is too slow for 10,000 runs). */
function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

const STATUSES = new Set(['ok', 'warn', 'fail']);

/** The whole decode pipeline without I/O; anything but a report or an input error fails the property. */
function decode(raw: string): Outcome {
  let report: Report;
  try {
    const { token } = extractToken(raw);
    report = inspectToken(token, {
      now: NOW_S * 1000,
      issuer: 'https://issuer.example.test/',
      audiences: ['https://api.example.test/'],
    });
  } catch (error) {
    if (isGwError(error) && error.code === 'ERR_TOKEN_MALFORMED' && error.exitCode === 2) {
      assert(
        error.message.length > 0 && !error.message.includes('\n'),
        `bad message: ${error.message}`,
      );
      return { kind: 'input-error' };
    }
    throw error;
  }
  assert(['JWS', 'JWE', 'opaque'].includes(report.kind), `kind ${report.kind}`);
  for (const c of report.checks) assert(STATUSES.has(c.status), `status ${c.status}`);
  assert(exitCodeOf(report) === 0 || exitCodeOf(report) === 1, 'exit code');
  // Both outputs must be producible.
  assert(JSON.stringify(report).length > 0, 'JSON output');
  assert(renderReport(report, plain, { verifyRequested: false }).endsWith('\n'), 'text output');
  return { kind: 'report', report };
}

let key: SigningKey;
let source: KeySource;
let seeds: string[] = [];

beforeAll(async () => {
  key = await signingKey('ES256', 'fuzz');
  source = { kind: 'jwks', keys: [key.publicJwk], origin: 'fuzz' };
  seeds = [
    await key.sign(claims(NOW_S)),
    await key.sign(claims(NOW_S, { aud: ['a', 'b'], nbf: NOW_S + 10 }), {
      jku: 'https://x/',
      jwk: key.publicJwk,
    }),
    await hmacToken('secret', claims(NOW_S)),
    `${b64u({ alg: 'none' })}.${b64u(claims(NOW_S))}.`,
    `${b64u({ alg: 'RSA-OAEP', enc: 'A128GCM' })}.${b64u('k')}.${b64u('iv')}.${b64u('ct')}.${b64u('tag')}`,
    '2YotnFZFEjr1zCsicMWpAA',
  ];
});

const NASTY = [
  '.',
  '=',
  '+',
  '/',
  ' ',
  '\n',
  '?',
  '-',
  '_',
  'A',
  'e',
  'y',
  'J',
  '\u00e9',
  '\u0000',
  '\ud83d\ude00',
  '{',
  '"',
];

/** A mutation of a seed token: replace, insert, delete, truncate, or rearrange segments. */
const mutated = () =>
  fc
    .record({
      seed: fc.nat(),
      ops: fc.array(
        fc.oneof(
          fc.record({
            op: fc.constant('set' as const),
            at: fc.nat(),
            ch: fc.constantFrom(...NASTY),
          }),
          fc.record({
            op: fc.constant('insert' as const),
            at: fc.nat(),
            ch: fc.constantFrom(...NASTY),
          }),
          fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
          fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }),
          fc.record({ op: fc.constant('swap' as const), a: fc.nat(4), b: fc.nat(4) }),
          fc.record({ op: fc.constant('dup' as const), a: fc.nat(4) }),
          fc.record({
            op: fc.constant('wrap' as const),
            prefix: fc.constantFrom('Bearer ', 'Authorization: Bearer ', '  ', 'bearer\t', '"'),
          }),
        ),
        { minLength: 1, maxLength: 4 },
      ),
    })
    .map(({ seed, ops }) => {
      let t = seeds[seed % seeds.length] as string;
      for (const o of ops) {
        const at = 'at' in o ? o.at % (t.length + 1) : 0;
        if (o.op === 'set') t = t.slice(0, at) + o.ch + t.slice(at + 1);
        else if (o.op === 'insert') t = t.slice(0, at) + o.ch + t.slice(at);
        else if (o.op === 'delete') t = t.slice(0, at) + t.slice(at + 1);
        else if (o.op === 'truncate') t = t.slice(0, at);
        else if (o.op === 'swap') {
          const parts = t.split('.');
          const a = o.a % parts.length;
          const b = o.b % parts.length;
          [parts[a], parts[b]] = [parts[b] as string, parts[a] as string];
          t = parts.join('.');
        } else if (o.op === 'dup') {
          const parts = t.split('.');
          parts.splice(o.a % parts.length, 0, parts[o.a % parts.length] as string);
          t = parts.join('.');
        } else t = o.prefix + t;
      }
      return t;
    });

/** A token from arbitrary JSON header and payload (valid base64url, any JSON). */
const arbitraryJson = () =>
  fc
    .tuple(
      fc.oneof(
        fc.jsonValue(),
        fc.dictionary(
          fc.constantFrom('alg', 'kid', 'typ', 'jku', 'jwk', 'crit', 'enc'),
          fc.jsonValue(),
        ),
      ),
      fc.oneof(
        fc.jsonValue(),
        fc.dictionary(
          fc.constantFrom('iss', 'aud', 'exp', 'nbf', 'iat', 'sub', 'scope', 'nonce'),
          fc.jsonValue(),
        ),
      ),
      fc.constantFrom('', 'c2ln', 'AB', 'AA'),
      fc.boolean(),
    )
    .map(([h, p, s, five]) =>
      five ? `${b64u(h)}.${b64u(p)}.${s}.${s}.${s}` : `${b64u(h)}.${b64u(p)}.${s}`,
    );

describe('decode fuzzing (>= 10,000 inputs)', () => {
  it('random strings: a report or an input error', () => {
    let counted = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string({ unit: 'grapheme' }),
          fc.string({ unit: 'binary' }),
          fc.base64String(),
        ),
        (s) => {
          decode(s);
          counted++;
        },
      ),
      { numRuns: 4000 },
    );
    expect(counted).toBe(4000);
  });

  it('arbitrary JSON headers and payloads: a report or an input error', () => {
    let reports = 0;
    fc.assert(
      fc.property(arbitraryJson(), (t) => {
        if (decode(t).kind === 'report') reports++;
      }),
      { numRuns: 3000 },
    );
    // Most of these are objects with claims: the report path is exercised, not only refusals.
    expect(reports).toBeGreaterThan(300);
  });

  it('mutated real tokens: a report or an input error, and verification ends with a result', async () => {
    let failedVerification = 0;
    const signedByKey = new Set([seeds[0], seeds[1]]);
    await fc.assert(
      fc.asyncProperty(mutated(), async (t) => {
        const outcome = decode(t);
        if (outcome.kind !== 'report' || outcome.report.kind !== 'JWS') return;
        const token = extractToken(t).token;
        const result = await verifySignature(token, source);
        assert(typeof result.message === 'string' && result.message.length > 0, 'message');
        if (result.ok) {
          // Only an untouched token (maybe wrapped in Bearer or white space) may verify.
          assert(signedByKey.has(token), `a mutated token verified: ${token}`);
        } else {
          failedVerification++;
          assert(result.cause !== undefined, 'a failure without a cause');
        }
      }),
      { numRuns: 4000 },
    );
    expect(failedVerification).toBeGreaterThan(100);
  });

  it('the unmutated seeds verify or fail as they should', async () => {
    expect((await verifySignature(seeds[0] as string, source)).ok).toBe(true);
    expect((await verifySignature(seeds[2] as string, source)).cause).toBe('alg_mismatch');
    expect((await verifySignature(seeds[3] as string, source)).cause).toBe('alg_none');
  });
});
