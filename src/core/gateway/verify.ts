/**
 * Token verification for `serve`, in the order of docs/commands/serve.md:
 * size, strict compact form, header (alg, crit, b64, cty, kid), key by
 * `kid`, signature (jose compactVerify, algorithm pinned to the key), then
 * the claims. Keys named inside a token (`jwk`, `jku`, `x5u`, `x5c`) are
 * never read: keys come only from the trust configured by the operator.
 */
import { hash } from 'node:crypto';
import { compactVerify } from 'jose';
import { CompactError, parseCompact, type ParsedJws } from '../jwt/compact.js';
import { VerifiedTokenCache } from './cache.js';
import {
  checkPlanClaims,
  checksFromPolicy,
  claimAt,
  type Checks,
  type ClaimPolicy,
} from './claims.js';
import { forwardedHeaders, type ForwardClaim } from './forward.js';
import type { RemoteKeySet } from './jwks.js';
import { importedKey, SUPPORTED_ALGS, type KeyEntry } from './keys.js';
import { refusal, type Refusal } from './reasons.js';

export interface IssuerTrust {
  /** The issuer identifier, exactly as its discovery document names it. */
  readonly issuer: string;
  readonly keys: RemoteKeySet;
}

export interface Trust {
  /** Issuers found by discovery: their keys verify only tokens whose `iss` is theirs. */
  readonly issuers: readonly IssuerTrust[];
  /** `--jwks-uri` sets: trusted for any (allowed) issuer. */
  readonly jwksSets: readonly RemoteKeySet[];
  /** `--public-key` keys and the `--secret` key. */
  readonly staticKeys: readonly KeyEntry[];
  /**
   * Kong's jwt plugin: a claim's value (payload first, then header) selects
   * one credential, and only its key, with its one algorithm, verifies.
   * When set, the other trust sources are not used.
   */
  readonly keyed?: KeyedCredentials;
}

export interface KeyedCredential {
  readonly algorithm: string;
  readonly keys: readonly KeyEntry[];
  /** What the gateway forwards about the credential (consumer headers); opaque here. */
  readonly info: Readonly<Record<string, string>>;
}

export interface KeyedCredentials {
  readonly claim: string;
  readonly byValue: ReadonlyMap<string, KeyedCredential>;
}

interface VerifierBase {
  readonly trust: Trust;
  /** `--algs`: when set, only these; otherwise every algorithm of the trusted keys. */
  readonly algorithms?: readonly string[] | undefined;
  /** Largest token accepted, in bytes (checked before any parsing). */
  readonly maxTokenBytes: number;
  /** Verified-token cache size (0: no cache). */
  readonly cacheSize: number;
  /** `--forward-claim`: the headers are computed once per token and cached with it. */
  readonly forwardClaims?: readonly ForwardClaim[] | undefined;
  /**
   * Claims (paths) whose values a plan needs per request (limit identities,
   * policies): kept with the verdict, in this order, in `Verified.kept`.
   */
  readonly keepClaims?: readonly (readonly string[])[] | undefined;
}

/** `serve`'s flag-shaped options, or a plan's checks. */
export type VerifierOptions = VerifierBase & (ClaimPolicy | { readonly checks: Checks });

/**
 * What a verified token leaves behind, and what the cache keeps: only what
 * the gateway needs per request (the log's sub and iss, the forwarded
 * headers), not the token's claims.
 */
export interface Verified {
  readonly sub: string | undefined;
  readonly iss: string | undefined;
  /** The values of `keepClaims`, in order (strings, numbers, arrays of strings...). */
  readonly kept: readonly unknown[];
  /** Keyed trust: the credential that verified the token. */
  readonly credential?: Readonly<Record<string, string>>;
  /** The `--forward-claim` headers, flat [name, value, ...], or why they cannot be sent. */
  readonly forward: { readonly headers: readonly string[] } | { readonly refusal: Refusal };
}

const NO_HEADERS = Object.freeze({ headers: Object.freeze([] as string[]) });

/** The cache key of a token: its SHA-256 (tokens are up to --max-token-size; keys stay 43 bytes). */
export function tokenKey(token: string): string {
  return hash('sha256', token, 'base64url');
}

/** Facts about a refused token that a gateway's own message may quote. */
export interface RefusalDetail {
  readonly iss?: string;
  readonly aud?: readonly string[];
  readonly claim?: string;
  readonly check?: string;
  readonly value?: string;
}

export type Outcome =
  | { readonly ok: true; readonly verified: Verified }
  | { readonly ok: false; readonly refusal: Refusal; readonly detail?: RefusalDetail };

const COMPACT_REASONS = {
  empty: 'token_malformed',
  parts: 'token_malformed',
  base64url: 'not_base64url',
  non_canonical: 'non_canonical_base64url',
  header_json: 'header_invalid',
  payload_json: 'payload_invalid',
  duplicate_member: 'duplicate_member',
} as const;

function countDots(token: string): number {
  let n = 0;
  for (let i = token.indexOf('.'); i !== -1; i = token.indexOf('.', i + 1)) n++;
  return n;
}

const NO_KEPT: readonly unknown[] = Object.freeze([]);

export class Verifier {
  readonly cache: VerifiedTokenCache<Verified>;
  /** The checks made after the signature (flags compile into these too). */
  readonly checks: Checks;
  /** The `iss` values accepted: the checks' list, or the discovered issuers' ids. */
  readonly issuers: readonly string[];
  private readonly explicitAlgs: ReadonlySet<string> | undefined;

  constructor(readonly options: VerifierOptions) {
    this.cache = new VerifiedTokenCache(options.cacheSize);
    this.checks =
      'checks' in options
        ? options.checks
        : checksFromPolicy(options, {
            algorithms: options.algorithms,
            maxTokenBytes: options.maxTokenBytes,
          });
    const algorithms = options.algorithms ?? this.checks.algorithms;
    this.explicitAlgs = algorithms ? new Set(algorithms) : undefined;
    this.issuers =
      this.checks.issuers.length > 0
        ? this.checks.issuers
        : options.trust.issuers.map((i) => i.issuer);
  }

  /** A cached verdict for `token`, if one is still valid (synchronous: the fast path). */
  lookup(token: string, nowMs: number): Verified | undefined {
    if (this.options.cacheSize === 0 || token.length > this.options.maxTokenBytes) return undefined;
    return this.cache.getRecent(token, nowMs) ?? this.cache.get(tokenKey(token), nowMs, token);
  }

  /** Every remote key set, for readiness and refresh. */
  remoteSets(): RemoteKeySet[] {
    const { trust } = this.options;
    return [...trust.issuers.map((i) => i.keys), ...trust.jwksSets];
  }

  /** The algorithms a token may use now: those of the trusted keys, narrowed by `--algs`. */
  allowedAlgorithms(): Set<string> {
    const algs = new Set<string>();
    for (const c of this.options.trust.keyed?.byValue.values() ?? []) algs.add(c.algorithm);
    for (const set of this.remoteSets())
      for (const e of set.entries) for (const a of e.algs) algs.add(a);
    for (const e of this.options.trust.staticKeys) for (const a of e.algs) algs.add(a);
    if (this.explicitAlgs) for (const a of algs) if (!this.explicitAlgs.has(a)) algs.delete(a);
    return algs;
  }

  /** Full verification (no cache lookup; a success is cached). */
  async verify(token: string, nowMs: number): Promise<Outcome> {
    const signed = await this.verifySignature(token, { jsonPayload: true });
    if (!signed.ok) return signed;
    const claims = signed.payload as Record<string, unknown>;
    return this.acceptClaims(claims, nowMs, token, signed.credential);
  }

  /**
   * The checks after the signature, for a payload already trusted (a
   * verified signature, or an introspection answer). A success is cached
   * under `cacheToken` when given, never past its `exp` (tokens without one
   * are not cached).
   */
  acceptClaims(
    claims: Record<string, unknown>,
    nowMs: number,
    cacheToken?: string,
    credential?: Readonly<Record<string, string>>,
  ): Outcome {
    const problem = checkPlanClaims(claims, nowMs, this.checks, this.issuers);
    if (problem)
      return {
        ok: false,
        refusal: problem.refusal,
        ...(problem.detail ? { detail: problem.detail } : {}),
      };
    const forwards = this.options.forwardClaims ?? [];
    const keep = this.options.keepClaims;
    const result: Verified = {
      sub: typeof claims['sub'] === 'string' ? claims['sub'] : undefined,
      iss: typeof claims['iss'] === 'string' ? claims['iss'] : undefined,
      kept: keep && keep.length > 0 ? keep.map((path) => claimAt(claims, path)) : NO_KEPT,
      ...(credential ? { credential } : {}),
      forward: forwards.length === 0 ? NO_HEADERS : forwardedHeaders(claims, forwards),
    };
    const exp = claims['exp'];
    if (this.options.cacheSize > 0 && cacheToken !== undefined && typeof exp === 'number') {
      this.cache.set(tokenKey(cacheToken), result, exp * 1000, nowMs);
    }
    return { ok: true, verified: result };
  }

  /**
   * Every check up to and including the signature: size, strict compact
   * form, header, payload (a JSON object, unless `jsonPayload` is false, as
   * for JWS test vectors whose payloads are raw bytes), key by kid, and the
   * signature with jose, the algorithm pinned to the key.
   */
  async verifySignature(
    token: string,
    options: { jsonPayload: boolean },
  ): Promise<
    | {
        ok: true;
        header: Record<string, unknown>;
        payload: Record<string, unknown> | undefined;
        credential?: Readonly<Record<string, string>>;
      }
    | { ok: false; refusal: Refusal; detail?: RefusalDetail }
  > {
    const { maxTokenBytes } = this.options;
    if (token.length > maxTokenBytes) {
      return {
        ok: false,
        refusal: refusal('token_too_large', {
          description: `token larger than ${maxTokenBytes} bytes`,
        }),
      };
    }
    if (token.charCodeAt(0) === 0x7b /* { */) return { ok: false, refusal: refusal('jws_json') };
    if (countDots(token) === 4) return { ok: false, refusal: refusal('jwe_not_accepted') };
    let parsed: ParsedJws;
    try {
      // The payload is checked after the header, so that a nested JWT is named as such.
      const p = parseCompact(token, { requireJsonPayload: false });
      if (p.kind !== 'JWS') return { ok: false, refusal: refusal('jwe_not_accepted') };
      parsed = p;
    } catch (error) {
      if (error instanceof CompactError) {
        return { ok: false, refusal: refusal(COMPACT_REASONS[error.problem]) };
      }
      throw error;
    }
    const header = parsed.header;
    const headerProblem = this.checkHeader(header);
    if (headerProblem) return { ok: false, refusal: headerProblem };
    if (options.jsonPayload && parsed.payload === undefined) {
      return { ok: false, refusal: refusal('payload_invalid') };
    }
    const alg = header['alg'] as string;
    const kid = header['kid'] as string | undefined;

    const keyed = this.options.trust.keyed;
    if (keyed) {
      // Kong's order: the key claim, its credential, the credential's algorithm, the signature.
      const payloadValue = parsed.payload?.[keyed.claim];
      const value = payloadValue !== undefined ? payloadValue : header[keyed.claim];
      if (value === undefined || value === null || value === '') {
        return {
          ok: false,
          refusal: refusal('key_claim_missing', {
            description: `token has no ${keyed.claim} to select its credential`,
          }),
          // Kong tells an empty value ("Invalid 'iss' in claims") from a missing one.
          ...(value === '' ? { detail: { claim: keyed.claim, value: '' } } : {}),
        };
      }
      const credential = typeof value === 'string' ? keyed.byValue.get(value) : undefined;
      if (!credential) return { ok: false, refusal: refusal('credential_not_found') };
      if (credential.algorithm !== alg) return { ok: false, refusal: refusal('alg_not_allowed') };
      for (const entry of credential.keys) {
        try {
          const key = await importedKey(entry, alg);
          await compactVerify(token, key, { algorithms: [alg] });
          return { ok: true, header, payload: parsed.payload, credential: credential.info };
        } catch {
          // Not this key.
        }
      }
      return { ok: false, refusal: refusal('signature_invalid') };
    }

    const keyOutcome = await this.findKeys(parsed.payload?.['iss'], kid, alg);
    if ('refusal' in keyOutcome) return { ok: false, refusal: keyOutcome.refusal };

    for (const entry of keyOutcome.keys) {
      try {
        const key = await importedKey(entry, alg);
        await compactVerify(token, key, { algorithms: [alg] });
        return { ok: true, header, payload: parsed.payload };
      } catch {
        // Signature mismatch, or a key jose will not use for this alg: try the next candidate.
      }
    }
    return { ok: false, refusal: refusal('signature_invalid') };
  }

  private checkHeader(header: Record<string, unknown>): Refusal | undefined {
    const alg = header['alg'];
    if (typeof alg !== 'string' || !SUPPORTED_ALGS.has(alg) || !this.isAllowed(alg)) {
      return refusal('alg_not_allowed');
    }
    if (header['b64'] !== undefined && header['b64'] !== true) return refusal('b64_unsupported');
    if (header['crit'] !== undefined) return refusal('crit_unsupported');
    const cty = header['cty'];
    if (typeof cty === 'string' && /^(application\/)?jwt$/i.test(cty)) return refusal('nested_jwt');
    if (header['kid'] !== undefined && typeof header['kid'] !== 'string')
      return refusal('kid_invalid');
    return undefined;
  }

  private isAllowed(alg: string): boolean {
    if (this.options.trust.keyed) return this.explicitAlgs ? this.explicitAlgs.has(alg) : true;
    if (this.explicitAlgs) return this.explicitAlgs.has(alg) && this.anyKeySupports(alg);
    return this.anyKeySupports(alg);
  }

  private anyKeySupports(alg: string): boolean {
    for (const set of this.remoteSets())
      for (const e of set.entries) if (e.algs.has(alg)) return true;
    for (const e of this.options.trust.staticKeys) if (e.algs.has(alg)) return true;
    return false;
  }

  /**
   * The keys that may verify a token: its issuer's set (when `iss` names a
   * discovered issuer), the `--jwks-uri` sets and the static keys. With a
   * `kid`, only keys with that `kid` (and pinned keys without one); an
   * unknown `kid` re-fetches the remote sets, rate-limited by each set.
   */
  private async findKeys(
    iss: unknown,
    kid: string | undefined,
    alg: string,
  ): Promise<{ keys: KeyEntry[] } | { refusal: Refusal }> {
    const { trust } = this.options;
    const issuerTrust =
      typeof iss === 'string' ? trust.issuers.find((i) => i.issuer === iss) : undefined;
    const sets: RemoteKeySet[] = issuerTrust
      ? [issuerTrust.keys, ...trust.jwksSets]
      : [...trust.jwksSets];
    if (sets.length === 0 && trust.staticKeys.length === 0) {
      return { refusal: refusal(iss === undefined ? 'issuer_missing' : 'issuer_not_allowed') };
    }
    const collect = (): { keys: KeyEntry[]; kidKnown: boolean } => {
      const keys: KeyEntry[] = [];
      let kidKnown = false;
      for (const set of sets) {
        if (kid !== undefined && !set.kids.has(kid)) continue;
        for (const e of set.entries) {
          if (kid !== undefined && e.kid !== kid) continue;
          kidKnown = true;
          if (e.algs.has(alg)) keys.push(e);
        }
      }
      for (const e of trust.staticKeys) {
        if (kid !== undefined && e.kid !== kid && !e.wildcard) continue;
        if (kid !== undefined && e.kid === kid) kidKnown = true;
        if (e.algs.has(alg)) keys.push(e);
      }
      return { keys, kidKnown };
    };
    let found = collect();
    if (kid !== undefined && !found.kidKnown && sets.length > 0) {
      const refreshes = sets.map((s) => s.refreshForUnknownKid()).filter((p) => p !== undefined);
      if (refreshes.length > 0) {
        await Promise.all(refreshes);
        found = collect();
      }
    }
    for (const set of sets) set.refreshIfStale();
    if (found.keys.length > 0) return { keys: found.keys };
    if (kid !== undefined && !found.kidKnown) return { refusal: refusal('unknown_kid') };
    if (kid !== undefined)
      return {
        refusal: refusal('alg_not_allowed', { description: 'algorithm not allowed for this key' }),
      };
    return { refusal: refusal('no_key') };
  }
}
