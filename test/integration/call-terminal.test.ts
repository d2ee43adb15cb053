/**
 * `call`'s terminal-only behaviour, run in-process with streams that say they
 * are terminals: pretty JSON on stdout, the summary line and the progress bar
 * on stderr, the binary-output guard. Real HTTP servers on 127.0.0.1.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCall, type CallOptions } from '../../src/services/call.js';
import { GwError } from '../../src/core/errors/index.js';
import { captureContext } from '../helpers/call-context.js';
import { startServer, type TestServer } from '../helpers/call-servers.js';

const JSON_BODY = '{"id":12345678901234567890,"name":"caf\\u00e9","tags":["a","b"]}';
const BINARY = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x0d, 0x0a, 0x1a, 0xff, 0x00]);

let server: TestServer;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'oidc-gw-call-tty-'));
  server = await startServer(async (req, res) => {
    if (req.url === '/json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON_BODY);
    } else if (req.url === '/binary') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(BINARY);
    } else if (req.url === '/stream') {
      // Unknown length (chunked), several chunks: the progress bar shows.
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      for (let i = 0; i < 8; i++) {
        res.write(Buffer.alloc(64 * 1024, i));
        await new Promise((r) => setTimeout(r, 5));
      }
      res.end();
    } else {
      res.writeHead(404);
      res.end();
    }
  });
});
afterAll(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function options(url: string, extra: Partial<CallOptions> = {}): CallOptions {
  return {
    url,
    headers: [],
    data: [],
    include: false,
    silent: false,
    fail: false,
    failWithBody: false,
    location: false,
    maxRedirs: 20,
    insecure: false,
    clientCredentials: false,
    idToken: false,
    noAuth: true,
    settingsOpts: {},
    ...extra,
  };
}

describe('stdout', () => {
  test('JSON is re-indented on a terminal, literals untouched', async () => {
    const c = captureContext({ stdoutTty: true });
    expect(await runCall(c.ctx, options(`${server.origin}/json`))).toBe(0);
    expect(c.stdout().toString()).toBe(
      '{\n  "id": 12345678901234567890,\n  "name": "caf\\u00e9",\n  "tags": [\n    "a",\n    "b"\n  ]\n}\n',
    );
  });

  test('JSON goes out byte for byte when stdout is not a terminal', async () => {
    const c = captureContext({ stdoutTty: false });
    await runCall(c.ctx, options(`${server.origin}/json`));
    expect(c.stdout().toString()).toBe(JSON_BODY);
  });

  test('binary is not written to a terminal unless -o - says so', async () => {
    const c = captureContext({ stdoutTty: true });
    const error = await runCall(c.ctx, options(`${server.origin}/binary`)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GwError);
    expect((error as GwError).code).toBe('ERR_CALL_OUTPUT');
    expect(c.stdout().length).toBe(0);
    const d = captureContext({ stdoutTty: true });
    await runCall(d.ctx, options(`${server.origin}/binary`, { output: '-' }));
    expect(d.stdout().equals(BINARY)).toBe(true);
  });
});

describe('stderr', () => {
  test('a one-line summary (status, time, size) when stderr is a terminal', async () => {
    const c = captureContext({ stderrTty: true });
    await runCall(c.ctx, options(`${server.origin}/json`));
    expect(c.stderr()).toMatch(/^200 OK · \d+(\.\d+)? m?s · 63 B\n$/);
  });

  test('no summary when stderr is not a terminal, nor with -s', async () => {
    const a = captureContext({ stderrTty: false });
    await runCall(a.ctx, options(`${server.origin}/json`));
    expect(a.stderr()).toBe('');
    const b = captureContext({ stderrTty: true });
    await runCall(b.ctx, options(`${server.origin}/json`, { silent: true }));
    expect(b.stderr()).toBe('');
  });

  test('a progress bar for a download of unknown length to a file, cleared at the end', async () => {
    const c = captureContext({ stderrTty: true });
    const file = join(dir, 'stream.bin');
    await runCall(c.ctx, options(`${server.origin}/stream`, { output: file, progressDelayMs: 0 }));
    const err = c.stderr();
    const CLEAR = '\r\u001b[2K';
    expect(err.startsWith(CLEAR)).toBe(true);
    const frames = err.split(CLEAR).filter(Boolean);
    // Progress frames (no known length: size and rate), then the summary after the last clear.
    expect(frames.length).toBeGreaterThan(1);
    for (const frame of frames.slice(0, -1))
      expect(frame).toMatch(/^\d+(\.\d)? (B|KiB) {2}\d+(\.\d)? (B|KiB|MiB|GiB)\/s$/);
    expect(frames.at(-1)).toMatch(/^200 OK · .* · 512 KiB\n$/);
    expect(readFileSync(file).length).toBe(8 * 64 * 1024);
  });

  test('no progress bar with -s or when stderr is not a terminal', async () => {
    const c = captureContext({ stderrTty: true });
    await runCall(
      c.ctx,
      options(`${server.origin}/stream`, {
        output: join(dir, 's2.bin'),
        progressDelayMs: 0,
        silent: true,
      }),
    );
    expect(c.stderr()).toBe('');
    const d = captureContext({ stderrTty: false });
    await runCall(
      d.ctx,
      options(`${server.origin}/stream`, { output: join(dir, 's3.bin'), progressDelayMs: 0 }),
    );
    expect(d.stderr()).toBe('');
  });
});
