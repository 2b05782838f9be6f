import canonicalize from 'canonicalize';
import { stringFromUtf8, utf8FromString } from './bytes.js';
import { AttestError } from './errors.js';

/**
 * RFC 8785 (JCS) canonical JSON for everything that is signed or hashed.
 * https://www.rfc-editor.org/rfc/rfc8785
 *
 * The serialisation itself is the `canonicalize` package (key order by UTF-16 code units, ES2015
 * number and string formatting). In front of it sits a guard that admits only the JSON subset our
 * signed path uses: integers within ±(2^53 − 1), strings, booleans, null, arrays and plain
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

/** Throws unless `value` is in the signed-path JSON subset (see module comment). */
function assertSignable(value: unknown, path: string, depth: number): void {
  if (depth > MAX_CANONICAL_DEPTH) throw unsupported(path, `nested deeper than ${MAX_CANONICAL_DEPTH}`);
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw unsupported(path, `${value} is not an integer within ±(2^53-1); pass it as a decimal string`);
      }
      return;
    case 'bigint':
      throw unsupported(path, 'bigint is not JSON; pass it as a decimal string');
    case 'object':
      if (value === null) return;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) assertSignable(value[i], `${path}[${i}]`, depth + 1);
        return;
      }
      if (!isPlainObject(value))
        throw unsupported(path, 'only plain objects (without toJSON) and arrays are signable');
      for (const [key, child] of Object.entries(value))
        assertSignable(child, childPath(path, key), depth + 1);
      return;
    default:
      // undefined, function, symbol: JSON would drop or null them silently.
      throw unsupported(path, `${typeof value} is not JSON`);
  }
}

/**
 * RFC 8785 canonical JSON text of `value`. Throws `ATTEST_CANONICAL_UNSUPPORTED_VALUE` naming the
 * JSON path of the first value outside the signed-path subset, or a lone surrogate in a string.
 */
export function canonicalString(value: unknown): string {
  assertSignable(value, '$', 0);
  let text: string | undefined;
  try {
    text = canonicalize(value);
  } catch (cause) {
    // canonicalize throws for lone surrogates (RFC 8785 §3.2.2.2 requires well-formed strings).
    throw new AttestError('ATTEST_CANONICAL_UNSUPPORTED_VALUE', `$: ${(cause as Error).message}`, { cause });
  }
  if (text === undefined) throw unsupported('$', 'value has no JSON form');
  return text;
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
  if (canonicalString(value) !== text) {
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
