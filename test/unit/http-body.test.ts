/**
 * Bounded body reads against a real HTTP server on 127.0.0.1 that streams
 * far more than the cap: the read must stop early. The measure is what the
 * server managed to send before the client closed the connection, not
 * memory: with backpressure the server can only get ahead of the reader by
 * the socket buffers, so a reader that read everything lets it send it all.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  BodyTooLargeError,
  boundResponse,
  readBoundedBytes,
  readBoundedText,
} from '../../src/core/http-body.js';

const MiB = 1024 * 1024;
/** What the server would send if nobody stopped it. */
const PLANNED = 256 * MiB;
const CHUNK = new Uint8Array(64 * 1024).fill(0x61); // "aaaa..."

interface Sent {
  bytes: number;
  /** True when the connection closed before the server had sent everything. */
  cutShort: boolean;
}

let server: Server;
let base: string;
const sent = new Map<string, Promise<Sent>>();

async function stream(res: ServerResponse, total: number): Promise<Sent> {
  let bytes = 0;
  let closed = false;
  const closedEvent = new Promise<void>((resolve) =>
    res.on('close', () => {
      closed = true;
      resolve();
    }),
  );
  // Bounded: at most PLANNED / CHUNK iterations.
  while (!closed && bytes < total) {
    const piece = CHUNK.subarray(0, Math.min(CHUNK.byteLength, total - bytes));
    bytes += piece.byteLength;
    if (!res.write(piece)) {
      await Promise.race([new Promise((r) => res.once('drain', r)), closedEvent]);
    }
  }
  const cutShort = closed && bytes < total;
  if (!closed) res.end();
  await closedEvent;
  return { bytes, cutShort };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const total = Number(url.searchParams.get('bytes') ?? PLANNED);
    const id = url.searchParams.get('id') ?? '';
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (url.searchParams.has('declare')) headers['content-length'] = total;
    res.writeHead(200, headers);
    sent.set(id, stream(res, total));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function outcome(id: string): Promise<Sent> {
  // Set by the request handler before the response headers reach the client.
  const result = sent.get(id);
  if (!result) throw new Error(`the server saw no request ${id}`);
  return result;
}

describe('readBoundedText', () => {
  test('a chunked body past the cap: stops reading, closes the connection, names what and the cap', async () => {
    const response = await fetch(`${base}/?id=chunked`);
    const error = await readBoundedText(response, MiB, 'the JWK Set at X').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BodyTooLargeError);
    expect((error as Error).message).toMatch(/the JWK Set at X is larger than 1 MiB/);
    expect((error as BodyTooLargeError).maxBytes).toBe(MiB);
    const result = await outcome('chunked');
    expect(result.cutShort).toBe(true);
    // The reader stopped a little past 1 MiB; socket buffers let the server get a few MiB ahead at most.
    expect(result.bytes).toBeLessThan(32 * MiB);
  });

  test('a declared Content-Length over the cap is refused before reading', async () => {
    const response = await fetch(`${base}/?id=declared&declare=1`);
    const error = await readBoundedText(response, MiB, 'the discovery document').catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BodyTooLargeError);
    expect((error as BodyTooLargeError).declaredBytes).toBe(PLANNED);
    expect((error as Error).message).toContain(`is ${PLANNED} bytes (Content-Length)`);
    const result = await outcome('declared');
    expect(result.cutShort).toBe(true);
    expect(result.bytes).toBeLessThan(32 * MiB);
  });

  test('a body of exactly the cap is read whole; one byte more is not', async () => {
    const exact = await readBoundedBytes(await fetch(`${base}/?id=exact&bytes=${MiB}`), MiB, 'x');
    expect(exact.byteLength).toBe(MiB);
    expect((await outcome('exact')).cutShort).toBe(false);
    const over = await readBoundedText(
      await fetch(`${base}/?id=over&bytes=${MiB + 1}`),
      MiB,
      'x',
    ).catch((e: unknown) => e);
    expect(over).toBeInstanceOf(BodyTooLargeError);
  });

  test('a small body comes back as its text', async () => {
    const text = await readBoundedText(await fetch(`${base}/?id=small&bytes=5`), MiB, 'x');
    expect(text).toBe('aaaaa');
  });
});

describe('boundResponse', () => {
  test('.text() of the bounded response stops at the cap and closes the connection', async () => {
    const response = await boundResponse(
      await fetch(`${base}/?id=wrapped`),
      MiB,
      'the token response',
    );
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    const error = await response.text().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BodyTooLargeError);
    expect((error as Error).message).toContain('the token response is larger than 1 MiB');
    const result = await outcome('wrapped');
    expect(result.cutShort).toBe(true);
    expect(result.bytes).toBeLessThan(32 * MiB);
  });

  test('a declared Content-Length over the cap throws at once', async () => {
    const response = await fetch(`${base}/?id=wrapped-declared&declare=1`);
    await expect(boundResponse(response, MiB, 'the token response')).rejects.toBeInstanceOf(
      BodyTooLargeError,
    );
    expect((await outcome('wrapped-declared')).cutShort).toBe(true);
  });

  test('a body within the cap reads unchanged, and the URL is kept', async () => {
    const response = await boundResponse(await fetch(`${base}/?id=ok&bytes=3`), MiB, 'x');
    expect(await response.text()).toBe('aaa');
    expect(response.url).toBe(`${base}/?id=ok&bytes=3`);
  });
});
