/**
 * The one terminal sanitizer. Text that comes from outside (a token's claims
 * and header, an IdP's error_description, a server's headers and body, a
 * parser message quoting any of them) is escaped before it reaches a
 * terminal, so that it can never move the cursor, clear the screen, set the
 * window title or reorder what the terminal shows:
 *
 * - C0 controls (ESC, CR, NUL, BEL, TAB...), DEL and the C1 controls
 *   (U+0080-U+009F, CSI U+009B among them);
 * - the Unicode bidirectional controls: U+061C ALM, U+200E LRM, U+200F RLM,
 *   U+202A-U+202E (embeddings and overrides), U+2066-U+2069 (isolates)
 *   (Unicode UAX #9; CVE-2021-42574 "Trojan Source");
 * - U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR.
 *
 * Each becomes a JSON-style escape: `\n`, `\r`, `\t`, else `\uXXXX`, so a
 * JSON value shown in a report stays valid JSON after escaping.
 */

const UNSAFE =
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069]/g;

const SHORT: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** Every control and bidi character of `text` escaped; everything else kept as it is. */
export function escapeControls(text: string): string {
  return text.replace(
    UNSAFE,
    (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** One line: line breaks (and the spaces around them) become one space, trimmed, at most `max` characters (then `…`), controls escaped. */
export function printableLine(text: string, max = 300): string {
  const collapsed = text.replace(/\s*[\r\n\u2028\u2029]+\s*/g, ' ').trim();
  const cut = collapsed.length > max ? `${collapsed.slice(0, max)}…` : collapsed;
  return escapeControls(cut);
}
