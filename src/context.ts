/**
 * The seams every command receives (docs/architecture.md: context.ts): streams,
 * environment, clock, HTTP, prompter, browser opener and shutdown hooks. Only
 * `cli/` builds a real one; tests build their own.
 */
import type { Readable, Writable } from 'node:stream';
import type { ChalkInstance } from 'chalk';

export interface Stream extends Writable {
  isTTY?: boolean;
  columns?: number;
}

export interface InStream extends Readable {
  isTTY?: boolean;
}

/** Where text goes: a stream is one; the CLI's own writes to the descriptor (cli/stdio.ts). */
export interface TextOut {
  write(data: string | Uint8Array): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number | undefined;
}

export interface Io {
  /** The streams themselves: for commands that stream bytes (call) or log (serve). */
  readonly stdout: Stream;
  readonly stderr: Stream;
  readonly stdin: InStream;
  /**
   * The same stdout and stderr for text: what Output and usage messages use.
   * The CLI writes these straight to the descriptor until a command asks for
   * the stream (start-up time); anywhere else they may be the streams.
   */
  readonly text: { readonly stdout: TextOut; readonly stderr: TextOut };
}

/** Options every command accepts (program-level flags). */
export interface GlobalOptions {
  readonly json: boolean;
  readonly verbose: boolean;
  /** --no-color given. */
  readonly noColor: boolean;
  readonly profile: string | undefined;
  readonly config: string | undefined;
  readonly insecureHttp: boolean;
  /** Network timeout in seconds (default 30). */
  readonly timeout: number;
}

export interface Prompter {
  /** True when both stdin and stdout are terminals. */
  readonly canPrompt: boolean;
  input(
    message: string,
    options?: { default?: string; validate?: (v: string) => true | string },
  ): Promise<string>;
  password(message: string): Promise<string>;
  confirm(message: string, defaultValue?: boolean): Promise<boolean>;
  select<T extends string>(
    message: string,
    choices: ReadonlyArray<{ value: T; name?: string }>,
  ): Promise<T>;
}

/** Where commands write: data to stdout, everything else to stderr. */
export interface Output {
  /** --json was given: stdout carries exactly one JSON document. */
  readonly json: boolean;
  readonly verbose: boolean;
  /** Colours for text written to stderr / stdout (level 0 when colour is off). */
  readonly style: ChalkInstance;
  readonly styleOut: ChalkInstance;
  /** Writes `text` to stdout as is. */
  data(text: string | Uint8Array): void;
  /** Writes `value` to stdout as one JSON document (2-space indent, final newline). */
  printJson(value: unknown): void;
  /** A line on stderr. */
  info(message: string): void;
  /** `warning: MESSAGE` on stderr. */
  warn(message: string): void;
  /** A line on stderr, only with --verbose. Callers redact secrets first. */
  debug(message: string): void;
}

export interface Context {
  readonly io: Io;
  readonly out: Output;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly globals: GlobalOptions;
  /** Milliseconds since the epoch. */
  now(): number;
  readonly prompter: Prompter;
  /** Opens a URL in the user's browser. */
  openUrl(url: string): Promise<void>;
  /**
   * Registers a handler for SIGINT/SIGTERM. While at least one handler is
   * registered, the default (exit 130) is replaced by the handlers. Returns
   * a function that unregisters it.
   */
  onShutdown(handler: (signal: 'SIGINT' | 'SIGTERM') => void): () => void;
  /**
   * Registers a handler for SIGHUP (serve: reload the configuration). Only
   * while a handler is registered is SIGHUP caught. Returns a function that
   * unregisters it.
   */
  onReload?(handler: () => void): () => void;
  /** How to run oidc-gw itself again (for `demo`, which drives the real CLI): node and the script. */
  readonly self?: { readonly execPath: string; readonly script: string };
  /** Aborted when the user interrupts (SIGINT/SIGTERM) and no shutdown handler is registered. */
  readonly signal: AbortSignal;
}
