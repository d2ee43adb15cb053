/**
 * A Context for running `call`'s service in-process, with streams the test
 * reads back and terminal flags it chooses (isTTY on stdout or stderr), so
 * that terminal-only behaviour (pretty JSON, summary line, progress bar) can
 * be checked without a pseudo-terminal.
 */
import { PassThrough, Readable } from 'node:stream';
import type { Context, GlobalOptions, Io, Stream } from '../../src/context.js';
import { createOutput } from '../../src/output/output.js';

export interface Captured {
  readonly ctx: Context;
  stdout(): Buffer;
  stderr(): string;
}

export interface ContextOptions {
  readonly stdoutTty?: boolean;
  readonly stderrTty?: boolean;
  readonly verbose?: boolean;
  readonly env?: Record<string, string | undefined>;
  readonly stdin?: string | Buffer;
  readonly timeout?: number;
  readonly now?: () => number;
}

function sink(tty: boolean): { stream: Stream; bytes: () => Buffer } {
  const stream = new PassThrough() as PassThrough & Stream;
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  if (tty) {
    stream.isTTY = true;
    stream.columns = 100;
  }
  return { stream, bytes: () => Buffer.concat(chunks) };
}

export function captureContext(options: ContextOptions = {}): Captured {
  const out = sink(options.stdoutTty ?? false);
  const err = sink(options.stderrTty ?? false);
  const stdin = Readable.from(options.stdin === undefined ? [] : [Buffer.from(options.stdin)]);
  const io: Io = {
    stdout: out.stream,
    stderr: err.stream,
    stdin,
    text: { stdout: out.stream, stderr: err.stream },
  };
  const env = { NO_COLOR: '1', ...(options.env ?? {}) };
  const globals: GlobalOptions = {
    json: false,
    verbose: options.verbose ?? false,
    noColor: true,
    profile: undefined,
    config: undefined,
    insecureHttp: false,
    timeout: options.timeout ?? 30,
  };
  const ctx: Context = {
    io,
    env,
    globals,
    out: createOutput(io, { json: false, verbose: globals.verbose, noColor: true, env }),
    now: options.now ?? (() => Date.now()),
    prompter: {
      canPrompt: false,
      input: () => Promise.reject(new Error('no prompt in tests')),
      password: () => Promise.reject(new Error('no prompt in tests')),
      confirm: () => Promise.reject(new Error('no prompt in tests')),
      select: () => Promise.reject(new Error('no prompt in tests')),
    },
    openUrl: () => Promise.resolve(),
    onShutdown: () => () => {},
    signal: new AbortController().signal,
  };
  return { ctx, stdout: out.bytes, stderr: () => err.bytes().toString('utf8') };
}
