import type { ChalkInstance } from 'chalk';
import type { Io, Output, TextOut } from '../context.js';

export interface ColorOptions {
  readonly noColor: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * Colour only when the stream is a terminal; NO_COLOR and --no-color
 * disable it, FORCE_COLOR forces it (FORCE_COLOR=0 disables it)
 * (docs/configuration.md, "Output conventions").
 */
export function colorLevel(stream: TextOut, { noColor, env }: ColorOptions): 0 | 1 | 2 | 3 {
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

/** A chalk look-alike that leaves text as it is: used when colour is off, so chalk need not load. */
const plain: ChalkInstance = new Proxy(function plainStyle() {}, {
  get: (_target, property) => (property === 'level' ? 0 : plain),
  apply: (_target, _this, args: unknown[]) => args.join(' '),
}) as unknown as ChalkInstance;

let ChalkClass: (typeof import('chalk'))['Chalk'] | undefined;

/** Loads chalk; call before createOutput when a stream may get colour (cheap start-up otherwise). */
export async function loadColors(): Promise<void> {
  ChalkClass ??= (await import('chalk')).Chalk;
}

/** Whether stdout or stderr would get colour, i.e. whether loadColors() is needed. */
export function wantsColor(io: Io, options: ColorOptions): boolean {
  return colorLevel(io.text.stderr, options) > 0 || colorLevel(io.text.stdout, options) > 0;
}

function styleFor(level: 0 | 1 | 2 | 3): ChalkInstance {
  // Without loadColors() (tests, or colour off) text stays plain.
  return level === 0 || !ChalkClass ? plain : new ChalkClass({ level });
}

export function createOutput(io: Io, options: OutputOptions): Output {
  const { stdout, stderr } = io.text;
  const style: ChalkInstance = styleFor(colorLevel(stderr, options));
  const styleOut: ChalkInstance = styleFor(colorLevel(stdout, options));
  const line = (text: string) => stderr.write(text.endsWith('\n') ? text : `${text}\n`);
  return {
    json: options.json,
    verbose: options.verbose,
    style,
    styleOut,
    data: (text) => {
      stdout.write(text);
    },
    printJson: (value) => {
      stdout.write(`${JSON.stringify(value, null, 2)}\n`);
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
