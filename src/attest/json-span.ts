/**
 * Finds the exact text of a member inside canonical JSON text, without parsing or re-encoding it.
 * RFC 8785 serialisation is compositional: the canonical form of a sub-value appears verbatim
 * inside the canonical form of the whole. So once a payload is known to be canonical, hashing the
 * span of, say, `predicate.devices` equals hashing `canonicalString(predicate.devices)`, at the
 * cost of one scan. Only for text already checked to be canonical JSON (no whitespace).
 */

/** The text of the value at `path` (object member names), or null when a name is missing. */
export function canonicalMemberText(text: string, path: readonly string[]): string | null {
  let pos = 0;
  for (const name of path) {
    const found = findMember(text, pos, name);
    if (found < 0) return null;
    pos = found;
  }
  return text.slice(pos, skipValue(text, pos));
}

/** Position of member `name`'s value in the object starting at `pos`, or −1. */
function findMember(text: string, pos: number, name: string): number {
  if (text[pos] !== '{') return -1;
  let i = pos + 1;
  while (i < text.length && text[i] !== '}') {
    const keyEnd = skipString(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = keyEnd + 1; // the ':'
    if (key === name) return i;
    i = skipValue(text, i);
    if (text[i] === ',') i += 1;
  }
  return -1;
}

/** Index just past the string that starts (with its quote) at `pos`. */
function skipString(text: string, pos: number): number {
  for (let i = pos + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c)
      i += 1; // backslash: skip the escaped character
    else if (c === 0x22) return i + 1;
  }
  return text.length;
}

/** Index just past the value that starts at `pos`. */
function skipValue(text: string, pos: number): number {
  const first = text[pos];
  if (first === '"') return skipString(text, pos);
  if (first !== '{' && first !== '[') {
    let i = pos;
    while (i < text.length && text[i] !== ',' && text[i] !== '}' && text[i] !== ']') i += 1;
    return i;
  }
  let depth = 0;
  for (let i = pos; i < text.length; i++) {
    const c = text[i];
    if (c === '"') i = skipString(text, i) - 1;
    else if (c === '{' || c === '[') depth += 1;
    else if ((c === '}' || c === ']') && --depth === 0) return i + 1;
  }
  return text.length;
}
