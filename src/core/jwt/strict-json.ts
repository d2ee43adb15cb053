/**
 * JSON.parse, but refusing duplicate object members (RFC 7515 §5.2 and RFC
 * 7519 §4 let a verifier reject them, and a gateway must: two parsers reading
 * the same token differently is how claims get smuggled).
 *
 * The scan walks the text once to find duplicate keys, then JSON.parse does
 * the actual parsing (so numbers, escapes and errors are exactly JSON's).
 */
export class DuplicateMemberError extends Error {
  constructor(readonly member: string) {
    super(`duplicate member "${member}"`);
  }
}

export function parseStrictJson(text: string): unknown {
  const value: unknown = JSON.parse(text); // throws SyntaxError on invalid JSON
  if (text.indexOf('{') !== -1) findDuplicates(text);
  return value;
}

/** Assumes `text` is valid JSON (already checked by JSON.parse). */
function findDuplicates(text: string): void {
  // A stack of key sets, one per open object; `null` for arrays.
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i + 1;
      i++;
      let hasEscape = false;
      while (i < n) {
        const d = text.charCodeAt(i);
        if (d === 0x5c /* \ */) {
          hasEscape = true;
          i += 2;
          continue;
        }
        if (d === 0x22) break;
        i++;
      }
      const raw = text.slice(start, i);
      i++; // closing quote
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        // JSON.parse of the quoted literal gives the member name as the parser sees it
        // (so "a" and "\u0061" are the same member).
        const key = hasEscape ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.has(key)) throw new DuplicateMemberError(key);
        top.add(key);
        expectKey = false;
      }
      continue;
    }
    if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] != null;
    }
    i++;
  }
}
