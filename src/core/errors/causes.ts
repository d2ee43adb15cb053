/** Walking an error's `cause` chain (fetch, undici and openid-client nest the real reason). */

/** The error and its causes, outermost first; at most `max` of them. */
export function* causeChain(error: unknown, max = 8): Generator<object> {
  let e: unknown = error;
  for (let i = 0; i < max && e !== null && typeof e === 'object'; i++) {
    yield e;
    e = (e as { cause?: unknown }).cause;
  }
}

/** The first string `code` in the chain that `accept` accepts. */
export function findCauseCode(
  error: unknown,
  accept: (code: string) => boolean,
): string | undefined {
  for (const e of causeChain(error)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && accept(code)) return code;
  }
  return undefined;
}

/** Error codes that mean the network failed (exit 3): Node's socket errors and undici's. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/** TLS failures (untrusted, expired or mismatched certificates): network errors too (exit 3, docs/errors.md). */
export const TLS_ERROR_CODE =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL/;

export function isNetworkErrorCode(code: string): boolean {
  return NETWORK_ERROR_CODES.has(code) || TLS_ERROR_CODE.test(code);
}
