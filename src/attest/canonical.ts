import canonicalize from 'canonicalize';
import { isWellFormedString, stringFromUtf8, utf8FromString } from './bytes.js';
import { AttestError } from './errors.js';

/**
 * RFC 8785 (JCS) canonical JSON for everything that is signed or hashed.
 * https://www.rfc-editor.org/rfc/rfc8785
 *
 * The serialiser admits only the JSON subset our signed path uses: integers within ±(2^53 − 1), strings, booleans, null, arrays and plain
 * objects. Floats are refused because their shortest round-trip form differs between languages,
 * and a Go or Python verifier must reproduce our bytes exactly. Integers beyond 2^53 and `bigint`
 * (energy in µJ) must be passed as decimal strings. `undefined`, which JSON.stringify and
 * `canonicalize` silently drop, is refused so that a missing field is a bug rather than a
 * different signature.
 */

/** Deepest nesting accepted; also stops cycles (and `canonicalize` 4.x recursion) early. */
export const MAX_CANONICAL_DEPTH = 64;

function unsupported(path: string, what: string): AttestError {
  return new AttestError('ATTEST_CANONICAL_UNSUPPORTED_VALUE', `${path}: ${what}`, { details: { path } });
}

function childPath(path: string, key: string): string {
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/**
 * A plain object: its prototype is null or some realm's Object.prototype (objects built in an
 * iframe or vm context count too), and no toJSON, which `canonicalize` would call.
 */
function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as object | null;
  const plain = proto === null || Object.getPrototypeOf(proto) === null;
  return plain && typeof (value as { toJSON?: unknown }).toJSON !== 'function';
}

/** Member names V8 enumerates before all others, in numeric order ("array index" keys). */
const INDEX_LIKE = /^(?:0|[1-9][0-9]{0,9})$/;

/** Well-formed UTF-16 (no lone surrogates); native where the runtime has it. */
const wellFormed: (text: string) => boolean =
  typeof (String.prototype as { isWellFormed?: () => boolean }).isWellFormed === 'function'
    ? (text) => (text as unknown as { isWellFormed: () => boolean }).isWellFormed()
    : isWellFormedString;

/**
 * Validates `value` and returns a copy whose objects hold their members in RFC 8785 order. For
 * this subset, RFC 8785 reduces to: strings as ECMAScript's JSON.stringify writes them (§3.2.2.2)
 * once they are well-formed, integers in decimal, and members sorted by UTF-16 code units (what
 * the default `Array.prototype.sort` compares). The copy is then serialised by the native
 * JSON.stringify, which keeps insertion order for every key that is not an array index; objects
 * with index-like keys go through the `canonicalize` package instead. A property test checks byte
 * equality with `canonicalize` over random values. Every signed and every verified batch passes
 * here, so the fast path matters.
 */
function sortedCopy(
  value: unknown,
  path: (string | number)[],
  depth: number,
  state: { indexKeys: boolean },
): unknown {
  if (depth > MAX_CANONICAL_DEPTH)
    throw unsupported(pathText(path), `nested deeper than ${MAX_CANONICAL_DEPTH}`);
  switch (typeof value) {
    case 'string':
      if (!wellFormed(value))
        throw unsupported(pathText(path), 'string holds a lone surrogate (not well-formed Unicode)');
      return value;
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw unsupported(
          pathText(path),
          `${value} is not an integer within ±(2^53-1); pass it as a decimal string`,
        );
      }
      return value;
    case 'bigint':
      throw unsupported(pathText(path), 'bigint is not JSON; pass it as a decimal string');
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        const out: unknown[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          path.push(i);
          out[i] = sortedCopy(value[i], path, depth + 1, state);
          path.pop();
        }
        return out;
      }
      if (!isPlainObject(value))
        throw unsupported(pathText(path), 'only plain objects (without toJSON) and arrays are signable');
      const record = value as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(record).sort()) {
        if (!wellFormed(key)) throw unsupported(pathText(path), 'member name holds a lone surrogate');
        if (INDEX_LIKE.test(key)) state.indexKeys = true;
        path.push(key);
        out[key] = sortedCopy(record[key], path, depth + 1, state);
        path.pop();
      }
      return out;
    }
    default:
      // undefined, function, symbol: JSON would drop or null them silently.
      throw unsupported(pathText(path), `${typeof value} is not JSON`);
  }
}

function pathText(path: readonly (string | number)[]): string {
  return path.reduce<string>(
    (text, part) => (typeof part === 'number' ? `${text}[${part}]` : childPath(text, part)),
    '$',
  );
}

/**
 * RFC 8785 canonical JSON text of `value`. Throws `ATTEST_CANONICAL_UNSUPPORTED_VALUE` naming the
 * JSON path of the first value outside the signed-path subset, or a lone surrogate in a string.
 */
export function canonicalString(value: unknown): string {
  const state = { indexKeys: false };
  const copy = sortedCopy(value, [], 0, state);
  return state.indexKeys ? (canonicalize(copy) as string) : JSON.stringify(copy);
}

/** RFC 8785 canonical JSON of `value` as UTF-8 bytes: the exact bytes to hash or sign. */
export function canonicalBytes(value: unknown): Uint8Array {
  return utf8FromString(canonicalString(value));
}

/**
 * Parses JSON bytes that must already be canonical, as a verifier does with a signed payload
 * after its signature checked out (attacker-controlled until then). Re-canonicalises the parsed
 * value and requires byte equality, which also rejects duplicate keys (JSON.parse keeps the last
 * one, so the re-encoding is shorter), insignificant whitespace, escapes RFC 8785 would not
 * write, and a byte-order mark. Throws `ATTEST_ENCODING_INVALID` (not UTF-8),
 * `ATTEST_CANONICAL_MISMATCH` (not JSON, or not canonical) or
 * `ATTEST_CANONICAL_UNSUPPORTED_VALUE` (e.g. a float).
 */
export function parseCanonicalJson(bytes: Uint8Array): unknown {
  const text = stringFromUtf8(bytes);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new AttestError('ATTEST_CANONICAL_MISMATCH', 'payload is not JSON', { cause });
  }
  if (canonicalTextOfParsed(value) !== text) {
    throw new AttestError(
      'ATTEST_CANONICAL_MISMATCH',
      'payload is JSON but not its RFC 8785 canonical form',
      {
        details: { sizeBytes: bytes.length },
      },
    );
  }
  return value;
}

/**
 * The canonical text of a value fresh from JSON.parse, cheaply: JSON.parse keeps members in text
 * order (except array-index-like names), so when every object's members are already in RFC 8785
 * order, JSON.stringify of the parsed value is its canonical form and no sorted copy is needed.
 * Validation (integers, well-formed strings) is the same as {@link canonicalString}'s.
 */
function canonicalTextOfParsed(value: unknown): string {
  const state = { indexKeys: false, sorted: true };
  inspect(value, [], 0, state);
  return state.sorted && !state.indexKeys ? JSON.stringify(value) : canonicalString(value);
}

function inspect(
  value: unknown,
  path: (string | number)[],
  depth: number,
  state: { indexKeys: boolean; sorted: boolean },
): void {
  if (typeof value !== 'object' || value === null) {
    sortedCopy(value, path, depth, state); // validates the scalar, copies nothing
    return;
  }
  if (depth > MAX_CANONICAL_DEPTH)
    throw unsupported(pathText(path), `nested deeper than ${MAX_CANONICAL_DEPTH}`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) inspect(value[i], path, depth + 1, state);
    return;
  }
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    if (i > 0 && (keys[i - 1] as string) >= key) state.sorted = false;
    if (!wellFormed(key)) throw unsupported(pathText(path), 'member name holds a lone surrogate');
    if (INDEX_LIKE.test(key)) state.indexKeys = true;
    inspect((value as Record<string, unknown>)[key], path, depth + 1, state);
  }
}
