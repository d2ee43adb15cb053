/**
 * Crafted tokens and a small local issuer (discovery document + JWKS over
 * HTTP on 127.0.0.1, ephemeral port) for the decode tests.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CompactSign, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

export function b64u(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64url');
  if (typeof value === 'string') return Buffer.from(value, 'utf8').toString('base64url');
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** An unsigned compact token from raw header / payload (objects are JSON-encoded) and a signature segment. */
export function craft(header: unknown, payload: unknown, signature = 'c2ln'): string {
  return `${b64u(header)}.${b64u(payload)}.${signature}`;
}

export interface SigningKey {
  readonly alg: string;
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  sign(payload: unknown, header?: Record<string, unknown>): Promise<string>;
}

export async function signingKey(
  alg = 'RS256',
  kid = `k-${alg.toLowerCase()}`,
): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return {
    alg,
    kid,
    privateKey,
    publicJwk,
    async sign(payload, header = {}) {
      const bytes = typeof payload === 'string' ? payload : JSON.stringify(payload);
      return new CompactSign(new TextEncoder().encode(bytes))
        .setProtectedHeader({ alg, kid, typ: 'JWT', ...header })
        .sign(privateKey);
    },
  };
}

export async function hmacToken(
  secret: string,
  payload: unknown,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header })
    .sign(new TextEncoder().encode(secret));
}

/** Replaces the payload of a signed token, keeping its header and signature (a tampered token). */
export function tamper(token: string, payload: unknown): string {
  const [h, , s] = token.split('.');
  return `${h}.${b64u(payload)}.${s}`;
}

export interface LocalIssuer {
  /** http://127.0.0.1:PORT */
  readonly issuer: string;
  readonly jwksUri: string;
  /** Requests per path. */
  readonly hits: Map<string, number>;
  setKeys(keys: JWK[]): void;
  close(): Promise<void>;
}

/**
 * A minimal issuer: `/.well-known/openid-configuration` and `/jwks`. Only
 * what `decode --verify` reads (discovery metadata and the key set).
 */
export async function startLocalIssuer(
  keys: JWK[],
  options: { jwksBody?: string; jwksStatus?: number } = {},
): Promise<LocalIssuer> {
  let current = keys;
  const hits = new Map<string, number>();
  let base = '';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const json = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
    };
    if (path === '/.well-known/openid-configuration') {
      json(
        200,
        JSON.stringify({
          issuer: base,
          jwks_uri: `${base}/jwks`,
          authorization_endpoint: `${base}/auth`,
          token_endpoint: `${base}/token`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
        }),
      );
      return;
    }
    if (path === '/jwks') {
      json(options.jwksStatus ?? 200, options.jwksBody ?? JSON.stringify({ keys: current }));
      return;
    }
    json(404, '{"error":"not_found"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  base = `http://127.0.0.1:${port}`;
  return {
    issuer: base,
    jwksUri: `${base}/jwks`,
    hits,
    setKeys(next) {
      current = next;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

/** Claims for a token valid around `nowSeconds`. */
export function claims(
  nowSeconds: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    iss: 'https://issuer.example.test/',
    aud: 'https://api.example.test/',
    sub: 'user-123',
    client_id: 'cli',
    scope: 'read write',
    iat: nowSeconds - 60,
    nbf: nowSeconds - 60,
    exp: nowSeconds + 3540,
    ...extra,
  };
}
