/**
 * `decode --verify` and `serve` share one verification (docs/commands/decode.md):
 * the verdict on a signature is the gateway's `Verifier` (the same strict
 * compact form, duplicate-member check, header rules — `crit`, `b64`, nested
 * `cty: JWT` — key policy, kid rules and algorithm tables), given the key the
 * user chose. decode's own explanations (which kids a set has, which
 * algorithm a key takes) are kept for the message, but never decide.
 */
import type { JWK } from 'jose';
import type { KeySource } from '../jwt/keys.js';
import type { SignatureCause, SignatureResult } from '../jwt/verify.js';
import { keysFromJwks, secretKey, HMAC_ALGS, type KeyEntry } from './keys.js';
import { GwError } from '../errors/index.js';
import { readBoundedText } from '../http-body.js';
import type { FetchLike } from './jwks.js';
import { REASONS, type ReasonCode } from './reasons.js';
import { Verifier, type Trust } from './verify.js';

const CAUSES: Partial<Record<ReasonCode, SignatureCause>> = {
  token_too_large: 'encoding',
  jws_json: 'not_jws',
  token_malformed: 'not_jws',
  not_base64url: 'encoding',
  non_canonical_base64url: 'encoding',
  header_invalid: 'header',
  payload_invalid: 'invalid',
  duplicate_member: 'encoding',
  jwe_not_accepted: 'not_jws',
  alg_not_allowed: 'alg_mismatch',
  crit_unsupported: 'header',
  b64_unsupported: 'header',
  nested_jwt: 'header',
  kid_invalid: 'header',
  unknown_kid: 'unknown_kid',
  no_key: 'alg_mismatch',
  signature_invalid: 'bad_signature',
};

/** The gateway's reason code as decode's cause. */
export function causeOf(reason: ReasonCode): SignatureCause {
  return CAUSES[reason] ?? 'invalid';
}

async function trustFor(source: Exclude<KeySource, { kind: 'remote' }>): Promise<{ trust: Trust }> {
  const pinned = async (keys: readonly JWK[], wildcard: boolean): Promise<readonly KeyEntry[]> =>
    (await keysFromJwks({ keys }, source.origin, { wildcardWithoutKid: wildcard })).entries;
  switch (source.kind) {
    case 'secret':
      return {
        trust: { issuers: [], jwksSets: [], staticKeys: [secretKey(source.secret, HMAC_ALGS)] },
      };
    case 'key':
      // The user chose this one key: without a kid it is tried whatever kid the token names, as serve's --public-key.
      return { trust: { issuers: [], jwksSets: [], staticKeys: await pinned([source.jwk], true) } };
    case 'jwks':
      return { trust: { issuers: [], jwksSets: [], staticKeys: await pinned(source.keys, false) } };
  }
}

/** A key set that cannot be fetched or read (jwks.ts is not loaded: it pulls in discovery). */
class KeySetError extends Error {
  constructor(
    readonly kind: 'network' | 'timeout' | 'http' | 'invalid',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The gateway's verdict on `token`'s signature with the key `source`.
 * `explain` gives decode's own message for a failure (or undefined).
 */
export async function gatewayVerdict(
  token: string,
  source: KeySource,
  options: {
    fetch: FetchLike;
    timeoutSeconds: number;
    /** decode's own explanation, with the key set already fetched when it was remote. */
    explain: (source: KeySource) => Promise<SignatureResult>;
  },
): Promise<SignatureResult> {
  let local: Exclude<KeySource, { kind: 'remote' }>;
  try {
    local = source.kind === 'remote' ? await fetchSet(source, options) : source;
  } catch (error) {
    if (!(error instanceof KeySetError)) throw error;
    // An unreachable key set is a network error (exit 3); a document that is not a JWKS fails the check.
    if (error.kind === 'network' || error.kind === 'timeout') {
      throw new GwError(error.kind === 'timeout' ? 'ERR_TIMEOUT' : 'ERR_NETWORK', error.message, {
        cause: error,
      });
    }
    return { ok: false, cause: 'invalid', message: error.message };
  }
  const { trust } = await trustFor(local);
  const verifier = new Verifier({
    trust,
    issuers: [],
    audiences: [],
    clockSkewSeconds: 0,
    requiredClaims: [],
    requiredScopes: [],
    maxTokenBytes: 64 * 1024,
    cacheSize: 0,
  });
  const outcome = await verifier.verifySignature(token, { jsonPayload: false });
  const explained = await options.explain(local).catch(() => undefined);
  if (outcome.ok) {
    const alg = outcome.header['alg'] as string;
    return explained?.ok
      ? explained
      : { ok: true, message: `valid ${alg} signature with ${source.origin}`, alg };
  }
  const reason = outcome.refusal.reason;
  const cause = causeOf(reason);
  const serveSays = `${REASONS[reason].description} (serve refuses it: ${reason})`;
  if (explained && !explained.ok && causeOf(reason) !== 'header') {
    return { ...explained, cause, message: `${explained.message}; ${serveSays}` };
  }
  return {
    ok: false,
    cause,
    message: serveSays,
    ...(explained?.alg !== undefined ? { alg: explained.alg } : {}),
    ...(explained?.kid !== undefined ? { kid: explained.kid } : {}),
  };
}

/** A JWKS at a URL, fetched once (bounded to 1 MiB while read) for both the verdict and the explanation. */
async function fetchSet(
  source: Extract<KeySource, { kind: 'remote' }>,
  options: { fetch: FetchLike; timeoutSeconds: number },
): Promise<Extract<KeySource, { kind: 'jwks' }>> {
  let response: Response;
  try {
    response = await options.fetch(source.url, {
      headers: { accept: 'application/jwk-set+json, application/json' },
      signal: AbortSignal.timeout(options.timeoutSeconds * 1000),
    });
  } catch (error) {
    const timedOut = (error as { name?: string }).name === 'TimeoutError';
    throw new KeySetError(
      timedOut ? 'timeout' : 'network',
      `cannot fetch ${source.url}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    throw new KeySetError('http', `${source.url} answered HTTP ${response.status}`);
  }
  const text = await readBoundedText(response, 1024 * 1024, `the JWKS at ${source.url}`);
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    throw new KeySetError('invalid', `${source.url} is not JSON`);
  }
  const keys = (document as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys))
    throw new KeySetError('invalid', `${source.url} is not a JWK Set (no "keys" array)`);
  return { kind: 'jwks', keys: keys as JWK[], origin: source.origin };
}
