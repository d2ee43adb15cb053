/**
 * Building the gateway's trust at start: discovery for each `--issuer`,
 * `--jwks-uri` sets, `--public-key` files and the `--secret`. Every remote
 * set is fetched before the gateway listens; one that cannot be fetched stops
 * the start (ERR_SERVE_JWKS, exit 3).
 */
import { GwError, isGwError } from '../errors/index.js';
import { checkUrl, discoverIssuer, type FetchLike } from '../issuer.js';
import { JwksFetchError, RemoteKeySet } from './jwks.js';
import { HMAC_ALGS, keysFromFile, KeyFileError, secretKey, type KeyEntry } from './keys.js';
import type { IssuerTrust, Trust } from './verify.js';

export interface TrustInput {
  readonly issuers: readonly string[];
  readonly jwksUris: readonly string[];
  /** Contents of `--public-key` files, with the file name for messages. */
  readonly publicKeys: ReadonlyArray<{ readonly text: string; readonly source: string }>;
  readonly secret?: Uint8Array | undefined;
  readonly fetch: FetchLike;
  readonly timeoutSeconds: number;
  readonly insecureHttp: boolean;
  /** JWKS lifetime in memory. */
  readonly jwksMaxAgeMs: number;
  /** Minimum time between two fetches of one JWKS (unknown kid, failures). */
  readonly jwksCooldownMs: number;
  readonly now: () => number;
  readonly log: (line: string) => void;
  readonly onFetch?: (uri: string, result: 'ok' | 'error') => void;
  readonly onChange?: () => void;
  /**
   * Shared between the APIs of one plan: discovery results and key sets by
   * URL, so twenty APIs trusting one issuer fetch its metadata and keys once.
   */
  readonly shared?: Map<string, Promise<unknown>>;
}

export interface BuiltTrust {
  readonly trust: Trust;
  /** The issuers' identifiers as their metadata names them: the allowed `iss` values. */
  readonly issuerIds: readonly string[];
  /** Things to tell the operator at start. */
  readonly notes: readonly string[];
}

function jwksError(error: unknown, what: string): GwError {
  if (isGwError(error)) return error;
  if (error instanceof JwksFetchError) {
    return new GwError('ERR_SERVE_JWKS', `cannot load ${what}: ${error.message}`, {
      cause: error,
      hint:
        error.kind === 'invalid' || error.kind === 'http'
          ? 'check the URL: it must serve a JWK Set ({"keys": [...]})'
          : 'check that the IdP is running and reachable from this machine',
    });
  }
  return new GwError(
    'ERR_SERVE_JWKS',
    `cannot load ${what}: ${error instanceof Error ? error.message : String(error)}`,
    {
      cause: error,
    },
  );
}

export async function buildTrust(input: TrustInput): Promise<BuiltTrust> {
  const notes: string[] = [];
  const makeSet = (uri: string) =>
    new RemoteKeySet({
      uri,
      fetch: input.fetch,
      timeoutMs: input.timeoutSeconds * 1000,
      maxAgeMs: input.jwksMaxAgeMs,
      cooldownMs: input.jwksCooldownMs,
      now: input.now,
      log: input.log,
      ...(input.onFetch ? { onFetch: (r: 'ok' | 'error') => input.onFetch?.(uri, r) } : {}),
      ...(input.onChange ? { onChange: input.onChange } : {}),
    });

  const once = <T>(key: string, make: () => Promise<T>): Promise<T> => {
    if (!input.shared) return make();
    let p = input.shared.get(key) as Promise<T> | undefined;
    if (!p) {
      p = make();
      input.shared.set(key, p);
    }
    return p;
  };

  const issuers = await Promise.all(
    input.issuers.map((given) => once(`issuer ${given}`, () => trustIssuer(given))),
  );

  async function trustIssuer(given: string): Promise<IssuerTrust> {
    const found = await discoverIssuer(given, {
      fetch: input.fetch,
      timeoutSeconds: input.timeoutSeconds,
      insecureHttp: input.insecureHttp,
    });
    notes.push(...found.notes);
    const jwksUri = found.metadata.jwks_uri;
    if (typeof jwksUri !== 'string') {
      throw new GwError('ERR_DISCOVERY', `the metadata of ${found.issuer} has no jwks_uri`, {
        hint: 'give the key set with --jwks-uri or the key with --public-key',
      });
    }
    const checked = checkUrl(jwksUri, 'jwks_uri', input.insecureHttp);
    if (checked.note && !notes.includes(checked.note)) notes.push(checked.note);
    const keys = makeSet(jwksUri);
    try {
      await keys.load();
    } catch (error) {
      throw jwksError(error, `the JWKS of ${found.issuer} (${jwksUri})`);
    }
    return { issuer: found.issuer, keys };
  }

  const jwksSets = await Promise.all(
    input.jwksUris.map((uri) => once(`jwks ${uri}`, () => trustJwks(uri))),
  );

  async function trustJwks(uri: string): Promise<RemoteKeySet> {
    const checked = checkUrl(uri, '--jwks-uri', input.insecureHttp);
    if (checked.note && !notes.includes(checked.note)) notes.push(checked.note);
    const set = makeSet(checked.url.href);
    try {
      await set.load();
    } catch (error) {
      throw jwksError(error, `the JWKS at ${checked.url.href}`);
    }
    return set;
  }

  const staticKeys: KeyEntry[] = [];
  for (const file of input.publicKeys) {
    try {
      const result = await keysFromFile(file.text, file.source);
      for (const line of result.dropped) input.log(line);
      staticKeys.push(...result.entries);
    } catch (error) {
      if (error instanceof KeyFileError) {
        throw new GwError('ERR_INPUT_INVALID', `${file.source}: ${error.message}`, {
          hint: 'give a PEM public key or certificate, a JWK or a JWK Set',
        });
      }
      throw error;
    }
  }
  if (input.secret !== undefined) {
    if (input.secret.length < 32) {
      notes.push(
        `--secret is ${input.secret.length} bytes: HS256 needs at least 32 (RFC 7518 §3.2); a short secret can be guessed`,
      );
    }
    staticKeys.push(secretKey(input.secret, HMAC_ALGS));
  }

  for (const set of [...issuers.map((i) => i.keys), ...jwksSets]) {
    if (set.entries.length === 0) {
      notes.push(
        `the JWKS at ${set.uri} has no usable signing key: its tokens are refused until it has one`,
      );
    }
  }
  return {
    trust: { issuers, jwksSets, staticKeys },
    issuerIds: issuers.map((i) => i.issuer),
    notes,
  };
}
