import { Chalk, type ChalkInstance } from 'chalk';
import type { Io, Output, Stream } from '../context.js';

export interface ColorOptions {
  readonly noColor: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * SPEC §1: colour only when the stream is a terminal; NO_COLOR and --no-color
 * disable it, FORCE_COLOR forces it (FORCE_COLOR=0 disables it).
 */
export function colorLevel(stream: Stream, { noColor, env }: ColorOptions): 0 | 1 | 2 | 3 {
  if (noColor) return 0;
  const force = env['FORCE_COLOR'];
  if (force !== undefined) {
    if (force === '0' || force === 'false') return 0;
    if (force === '2') return 2;
    if (force === '3') return 3;
    return 1;
  }
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return 0;
  if (!stream.isTTY) return 0;
  if (env['TERM'] === 'dumb') return 0;
  const colorterm = env['COLORTERM'];
  if (colorterm === 'truecolor' || colorterm === '24bit') return 3;
  if (env['TERM']?.includes('256')) return 2;
  return 1;
}

export interface OutputOptions extends ColorOptions {
  readonly json: boolean;
  readonly verbose: boolean;
}

export function createOutput(io: Io, options: OutputOptions): Output {
  const style: ChalkInstance = new Chalk({ level: colorLevel(io.stderr, options) });
  const styleOut: ChalkInstance = new Chalk({ level: colorLevel(io.stdout, options) });
  const line = (text: string) => io.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  return {
    json: options.json,
    verbose: options.verbose,
    style,
    styleOut,
    data: (text) => {
      io.stdout.write(text);
    },
    printJson: (value) => {
      io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    info: (message) => {
      line(message);
    },
    warn: (message) => {
      line(`${style.yellow('warning:')} ${message}`);
    },
    debug: (message) => {
      if (options.verbose) line(style.dim(message));
    },
  };
}
