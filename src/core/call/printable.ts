/**
 * Text from a server (headers, bodies) or from a token, made safe to show on
 * a terminal: control characters (ESC, CR, NUL, C1...) and bidi overrides are
 * escaped so that a response can never move the cursor, rewrite a line or
 * hide text; long text is cut.
 */

// C0 controls (TAB included), DEL, C1 controls, and Unicode bidi/format controls.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.codePointAt(0) ?? 0;
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** One line, controls escaped, at most `max` characters (then `…`). */
export function printableLine(text: string, max = 300): string {
  const collapsed = text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  const cut = collapsed.length > max ? `${collapsed.slice(0, max)}…` : collapsed;
  return escapeControls(cut);
}
