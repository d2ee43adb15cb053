/**
 * Bounded reads of HTTP response bodies.
 *
 * Every byte read from the network is bounded while it is read: a server (or
 * a man in the middle of a plain-http hop) that streams gigabytes must cost us
 * at most the cap, not the whole body. `Response.text()` and
 * `Response.arrayBuffer()` read everything first; these helpers check
 * `Content-Length` before reading, count bytes as they arrive, and cancel the
 * body (which closes the connection) as soon as the cap is passed.
 */
import { GwError } from './errors/index.js';

/** A response body larger than the cap its reader allows. */
export class BodyTooLargeError extends GwError {
  constructor(
    /** What was being read, e.g. "the JWK Set at https://idp/jwks". */
    readonly what: string,
    readonly maxBytes: number,
    /** The Content-Length the server declared, when that is how it was caught. */
    readonly declaredBytes?: number,
  ) {
    super(
      'ERR_IDP_RESPONSE',
      declaredBytes === undefined
        ? `${what} is larger than ${describeBytes(maxBytes)}: stopped reading`
        : `${what} is ${declaredBytes} bytes (Content-Length), more than the ${describeBytes(maxBytes)} allowed`,
      { details: { maxBytes, ...(declaredBytes === undefined ? {} : { declaredBytes }) } },
    );
  }
}

export function isBodyTooLarge(value: unknown): value is BodyTooLargeError {
  return value instanceof BodyTooLargeError;
}

function describeBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}

/** The declared Content-Length when it is a plain non-negative integer. */
function declaredLength(headers: Headers): number | undefined {
  const value = headers.get('content-length');
  if (value === null || !/^\s*\d+\s*$/.test(value)) return undefined;
  return Number(value);
}

/**
 * Reads the body as bytes, at most `maxBytes` of them. Throws
 * BodyTooLargeError (and cancels the body) when the declared or the actual
 * length passes the cap. A body of exactly `maxBytes` is accepted.
 */
export async function readBoundedBytes(
  response: Response,
  maxBytes: number,
  what: string,
): Promise<Uint8Array> {
  const declared = declaredLength(response.headers);
  if (declared !== undefined && declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new BodyTooLargeError(what, maxBytes, declared);
  }
  if (!response.body) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw new BodyTooLargeError(what, maxBytes);
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Reads the body as UTF-8 text, at most `maxBytes` bytes of it (see readBoundedBytes). */
export async function readBoundedText(
  response: Response,
  maxBytes: number,
  what: string,
): Promise<string> {
  return new TextDecoder().decode(await readBoundedBytes(response, maxBytes, what));
}

/**
 * The same response with a body that errors with BodyTooLargeError once more
 * than `maxBytes` have passed (the original body is then cancelled). For code
 * that reads bodies itself (openid-client through customFetch): whatever it
 * calls, `.json()` or `.text()`, stops at the cap. A declared Content-Length
 * over the cap throws at once.
 */
export async function boundResponse(
  response: Response,
  maxBytes: number,
  what: string,
): Promise<Response> {
  const declared = declaredLength(response.headers);
  if (declared !== undefined && declared > maxBytes) {
    await response.body?.cancel().catch(() => {});
    throw new BodyTooLargeError(what, maxBytes, declared);
  }
  const source = response.body;
  // 204, 205 and 304 carry no body (and Response refuses one for them).
  if (!source || [204, 205, 304].includes(response.status)) return response;
  const reader = source.getReader();
  let total = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) {
        controller.close();
        return;
      }
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        controller.error(new BodyTooLargeError(what, maxBytes));
        return;
      }
      controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
  const bounded = new Response(body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  // Keep the final URL (Response's constructor cannot set it).
  if (response.url) Object.defineProperty(bounded, 'url', { value: response.url });
  if (response.redirected) Object.defineProperty(bounded, 'redirected', { value: true });
  return bounded;
}
