import { fstatSync, writeSync } from 'node:fs';
import type { Stream, TextOut } from '../context.js';

/**
 * stdout or stderr for text, without creating `process.stdout` (and with it
 * Node's stream and socket modules, a few milliseconds of start-up) until a
 * command needs the stream itself (`call` streams bodies, `serve` logs).
 *
 * Until then text is written straight to the file descriptor, which the
 * parent gives us blocking (pipes, files and terminals alike), so each write
 * completes before the next. Once the stream exists every write goes through
 * it, so nothing is reordered. When the descriptor would block (EAGAIN: a
 * non-blocking pipe that is full) or fails in any other way, the rest goes
 * through the stream, which queues it or reports the error as Node does. A
 * closed pipe (EPIPE: `oidc-gw token | head -c 10`) calls `onClosed`.
 */
export class Stdio implements TextOut {
  #stream: Stream | undefined;
  #tty: boolean | undefined;

  constructor(
    private readonly fd: number,
    private readonly open: () => Stream,
    private readonly onClosed: () => void,
  ) {}

  /** The stream itself, created on first use; from then on all text goes through it. */
  stream(): Stream {
    if (!this.#stream) {
      const stream = this.open();
      stream.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE') throw error;
        this.onClosed();
      });
      this.#stream = stream;
    }
    return this.#stream;
  }

  get isTTY(): boolean {
    if (this.#stream) return this.#stream.isTTY === true;
    if (this.#tty === undefined) {
      let characterDevice = false;
      try {
        characterDevice = fstatSync(this.fd).isCharacterDevice();
      } catch {
        characterDevice = false;
      }
      // Pipes and files are never terminals; a character device may be one
      // (or /dev/null): then the stream, which knows, is created.
      this.#tty = characterDevice ? this.stream().isTTY === true : false;
    }
    return this.#tty;
  }

  get columns(): number | undefined {
    return this.isTTY ? this.stream().columns : undefined;
  }

  write(data: string | Uint8Array): boolean {
    if (this.#stream) return this.#stream.write(data);
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(this.fd, bytes, offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EPIPE') {
          this.onClosed();
          return false;
        }
        return this.stream().write(bytes.subarray(offset));
      }
    }
    return true;
  }
}
