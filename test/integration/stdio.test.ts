/**
 * cli/stdio.ts: text straight to the descriptor, then through the stream,
 * without losing or reordering a byte; EPIPE ends the command quietly.
 * Real processes, real pipes and a real FIFO.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { craft } from '../helpers/jwt-fixtures.js';
import { BIN, ROOT, baseEnv } from '../helpers/cli.js';

const STDIO = join(ROOT, 'dist', 'cli', 'stdio.js');
const dir = mkdtempSync(join(tmpdir(), 'oidc-gw-stdio-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const now = Math.floor(Date.now() / 1000);
const token = craft(
  { alg: 'RS256', kid: 'k' },
  { iss: 'https://idp.example/', aud: 'api', sub: 'a', exp: now + 600, iat: now },
);

describe('Stdio', () => {
  it('direct writes, then the stream, then more text: all of it, in order', () => {
    const script = `
      const { Stdio } = await import(${JSON.stringify(STDIO)});
      const out = new Stdio(1, () => process.stdout, () => process.exit(9));
      out.write('one ');
      out.write(new Uint8Array([116, 119, 111, 32]));
      out.stream().write('three ');
      out.write('four');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('one two three four');
  });

  it('a full non-blocking pipe (EAGAIN): the rest goes through the stream, nothing lost', async () => {
    // A FIFO opened non-blocking at both ends: writes fail with EAGAIN once
    // its buffer (64 KiB) is full, which a blocking stdout never does.
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const size = 1024 * 1024;
    const script = `
      const { openSync, constants } = await import('node:fs');
      const net = await import('node:net');
      const { Stdio } = await import(${JSON.stringify(STDIO)});
      const fd = openSync(${JSON.stringify(fifo)}, constants.O_WRONLY | constants.O_NONBLOCK);
      const out = new Stdio(fd, () => new net.Socket({ fd, readable: false, writable: true }), () => process.exit(9));
      for (let i = 0; i < 16; i++) out.write(Buffer.alloc(${size / 16}, 65 + i));
      out.stream().end();
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // Read slowly, so that the writer meets a full pipe many times.
    const received: Buffer[] = [];
    let total = 0;
    const chunk = Buffer.alloc(65536);
    const deadline = Date.now() + 20_000;
    let done = false;
    void exited.then(() => (done = true));
    while (total < size && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
      try {
        const n = readSync(reader, chunk);
        if (n > 0) {
          received.push(Buffer.from(chunk.subarray(0, n)));
          total += n;
        } else if (done) break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EAGAIN') throw error;
      }
    }
    closeSync(reader);
    expect(await exited).toBe(0);
    expect(stderr).toBe('');
    const all = Buffer.concat(received);
    expect(all.length).toBe(size);
    for (let i = 0; i < 16; i++) {
      const part = all.subarray((i * size) / 16, ((i + 1) * size) / 16);
      expect(part.every((b) => b === 65 + i)).toBe(true);
    }
  });

  it('the reader goes away (EPIPE): the command ends quietly with its own exit code', async () => {
    const child = spawn(process.execPath, [BIN, 'decode', token], {
      env: baseEnv(dir),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy(); // like `| head -c 0`: nobody reads what decode prints
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('stderr goes away (EPIPE): exit 1, so that a supervisor notices', async () => {
    // A usage error (exit 2), reported on stderr only.
    const child = spawn(process.execPath, [BIN, 'config', 'set', 'isuer', 'x'], {
      env: baseEnv(dir),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stderr.destroy(); // the error message has nowhere to go
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stdout).toBe('');
    expect(code).toBe(1);
  });

  it('stdout on a file, or on /dev/null (a character device, no terminal): plain output', () => {
    const file = join(dir, 'out.json');
    const fd = openSync(file, 'w');
    try {
      const r = spawnSync(process.execPath, [BIN, 'decode', '--json', token], {
        env: baseEnv(dir),
        stdio: ['ignore', fd, 'pipe'],
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      closeSync(fd);
    }
    expect(JSON.parse(readFileSync(file, 'utf8')).payload.sub).toBe('a');
    const devNull = spawnSync(process.execPath, [BIN, 'decode', token], {
      env: baseEnv(dir),
      stdio: ['ignore', 'ignore', 'pipe'],
      encoding: 'utf8',
    });
    expect(devNull.stderr).toBe('');
    expect(devNull.status).toBe(0);
  });
});
