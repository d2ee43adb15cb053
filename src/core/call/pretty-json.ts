/**
 * Re-indents JSON text for a terminal without parsing its values: strings and
 * numbers are copied exactly as sent (so 12345678901234567890 stays what it
 * is, and `\u00e9` stays escaped), only the whitespace between tokens changes.
 * Returns undefined when the text is not one well-formed JSON value; the
 * caller then shows the bytes as they came.
 */

const WS = new Set([' ', '\t', '\n', '\r']);
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
// eslint-disable-next-line no-control-regex -- JSON forbids raw control characters in strings
const STRING = /"(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const LITERAL = /true|false|null/y;

export interface PrettyOptions {
  readonly indent?: number;
  /** Colours for the parts (identity by default). */
  readonly key?: (s: string) => string;
  readonly string?: (s: string) => string;
  readonly literal?: (s: string) => string;
  /** Nesting deeper than this is not re-indented (default 256). */
  readonly maxDepth?: number;
}

export function prettyJson(text: string, options: PrettyOptions = {}): string | undefined {
  const step = ' '.repeat(options.indent ?? 2);
  const key = options.key ?? ((s: string) => s);
  const str = options.string ?? ((s: string) => s);
  const lit = options.literal ?? ((s: string) => s);
  const maxDepth = options.maxDepth ?? 256;
  let i = 0;
  const out: string[] = [];
  const skip = () => {
    while (i < text.length && WS.has(text[i] as string)) i++;
  };
  const sticky = (re: RegExp): string | undefined => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (!m) return undefined;
    i += m[0].length;
    return m[0];
  };
  const value = (depth: number): boolean => {
    if (depth > maxDepth) return false;
    skip();
    const c = text[i];
    if (c === '{' || c === '[') {
      const close = c === '{' ? '}' : ']';
      i++;
      skip();
      if (text[i] === close) {
        i++;
        out.push(c + close);
        return true;
      }
      out.push(c);
      const pad = step.repeat(depth + 1);
      for (let first = true; ; first = false) {
        out.push(first ? '\n' : ',\n', pad);
        skip();
        if (c === '{') {
          const k = sticky(STRING);
          if (k === undefined) return false;
          out.push(key(k));
          skip();
          if (text[i] !== ':') return false;
          i++;
          out.push(': ');
        }
        if (!value(depth + 1)) return false;
        skip();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === close) {
          i++;
          out.push('\n', step.repeat(depth), close);
          return true;
        }
        return false;
      }
    }
    if (c === '"') {
      const s = sticky(STRING);
      if (s === undefined) return false;
      out.push(str(s));
      return true;
    }
    const n = sticky(NUMBER);
    if (n !== undefined) {
      out.push(n);
      return true;
    }
    const l = sticky(LITERAL);
    if (l !== undefined) {
      out.push(lit(l));
      return true;
    }
    return false;
  };
  if (!value(0)) return undefined;
  skip();
  if (i !== text.length) return undefined;
  return `${out.join('')}\n`;
}

/** True for JSON media types: application/json, application/problem+json, text/json... */
export function isJsonType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || type === 'text/json' || type.endsWith('+json');
}
