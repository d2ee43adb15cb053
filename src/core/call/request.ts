/**
 * The request `call` builds from curl-style flags: -H header lines, the
 * method, and the body from -d / --data-binary / --data-raw / --json parts.
 * Pure; reading `@file` and `@-` happens in the service, which hands the
 * bytes back here.
 */
import { GwError } from '../errors/index.js';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export type HeaderArg =
  | { readonly kind: 'set'; readonly name: string; readonly value: string }
  /** `-H "Name:"`: do not send the header oidc-gw would add. */
  | { readonly kind: 'remove'; readonly name: string }
  /** `-H "Name;"`: send the header with an empty value. */
  | { readonly kind: 'empty'; readonly name: string };

/** Reads one -H argument the way curl does: `Name: value`, `Name:` (remove), `Name;` (empty). */
export function parseHeaderArg(arg: string): HeaderArg {
  if (/[\r\n\0]/.test(arg)) {
    throw new GwError(
      'ERR_USAGE',
      '-H takes one header line; this one has a line break or NUL in it',
    );
  }
  const colon = arg.indexOf(':');
  const semi = arg.indexOf(';');
  if (semi !== -1 && (colon === -1 || semi < colon) && arg.slice(semi + 1).trim() === '') {
    const name = arg.slice(0, semi).trim();
    checkName(name, arg);
    return { kind: 'empty', name };
  }
  if (colon === -1) {
    throw new GwError('ERR_USAGE', `-H takes "Name: value", not "${arg}"`, {
      hint: 'curl forms: -H "Name: value" sends it, -H "Name:" removes a header oidc-gw adds, -H "Name;" sends it empty',
    });
  }
  const name = arg.slice(0, colon).trim();
  checkName(name, arg);
  const value = arg.slice(colon + 1).trim();
  if (value === '') return { kind: 'remove', name };
  return { kind: 'set', name, value };
}

function checkName(name: string, arg: string): void {
  if (!TOKEN.test(name))
    throw new GwError('ERR_USAGE', `-H "${arg}": "${name}" is not a valid header name`);
}

/** -X: an HTTP method token (sent as given, like curl). */
export function checkMethod(method: string): string {
  if (!TOKEN.test(method))
    throw new GwError('ERR_USAGE', `-X takes an HTTP method, not "${method}"`);
  return method;
}

export type DataKind = 'data' | 'binary' | 'raw' | 'json';

/** One -d / --data-binary / --data-raw / --json argument, in command-line order. */
export interface DataArg {
  readonly kind: DataKind;
  readonly value: string;
  /** Command-line position, to keep the order across flags. */
  readonly seq: number;
}

/** Where an argument's bytes come from: inline text, a file, or stdin. */
export type DataSource =
  | { readonly from: 'inline'; readonly text: string }
  | { readonly from: 'file'; readonly path: string }
  | { readonly from: 'stdin' };

export function dataSource(arg: DataArg): DataSource {
  if (arg.kind !== 'raw' && arg.value.startsWith('@')) {
    const path = arg.value.slice(1);
    if (path === '-') return { from: 'stdin' };
    if (path === '')
      throw new GwError('ERR_USAGE', `${flagOf(arg.kind)} @ needs a file name (or @- for stdin)`);
    return { from: 'file', path };
  }
  return { from: 'inline', text: arg.value };
}

export function flagOf(kind: DataKind): string {
  return kind === 'data'
    ? '-d/--data'
    : kind === 'binary'
      ? '--data-binary'
      : kind === 'raw'
        ? '--data-raw'
        : '--json';
}

/**
 * The body from the parts' bytes (in order), as curl joins them: -d parts
 * are joined with `&`, and a -d file has its CR and LF bytes removed;
 * --data-binary keeps every byte; --json parts are concatenated as they are.
 */
export function joinBody(
  parts: ReadonlyArray<{
    readonly arg: DataArg;
    readonly bytes: Uint8Array;
    readonly fromFile: boolean;
  }>,
): Buffer | undefined {
  if (parts.length === 0) return undefined;
  const isJson = parts.some((p) => p.arg.kind === 'json');
  if (isJson && parts.some((p) => p.arg.kind !== 'json')) {
    throw new GwError(
      'ERR_USAGE',
      '--json cannot be combined with -d, --data-binary or --data-raw',
    );
  }
  const chunks: Buffer[] = [];
  parts.forEach((p, i) => {
    let bytes = Buffer.from(p.bytes);
    if (p.arg.kind === 'data' && p.fromFile)
      bytes = Buffer.from(bytes.filter((b) => b !== 0x0d && b !== 0x0a));
    if (i > 0 && !isJson) chunks.push(Buffer.from('&'));
    chunks.push(bytes);
  });
  return Buffer.concat(chunks);
}
