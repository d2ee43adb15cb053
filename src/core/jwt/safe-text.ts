/**
 * Text that comes from a token (claims, JSON parser messages quoting it) is
 * shown with every control character (C0, DEL, C1) and bidirectional control
 * escaped as `\uXXXX` (a newline as `\n`): a token must not be able to move
 * the cursor, clear the screen or reorder what a terminal shows.
 */
export function safeText(text: string): string {
  return text.replace(UNSAFE, (ch) =>
    ch === '\n' ? '\\n' : `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
