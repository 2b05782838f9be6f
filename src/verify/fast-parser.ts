import { isWellFormedString } from '../attest/bytes.js';

/**
 * The machinery of the verifier's one-pass reading (`canonical-statement.ts`, `fast-envelope.ts`):
 * a parser of the canonical-JSON subset the fast path accepts, and combinators that state a closed
 * schema rule for rule. Any input outside that subset throws {@link NOT_FAST}, and the caller
 * takes the reference path.
 */

/** Thrown (one shared instance, no stack) when the fast path does not apply. */
export const NOT_FAST: unique symbol = Symbol('not-fast');

/** Names V8 enumerates first (array index); canonical.ts refuses the fast path for them too. */
const INDEX_LIKE = /^(?:0|[1-9][0-9]{0,9})$/;
/** Well-formed UTF-16 (no lone surrogate); native where the runtime has it. */
export const wellFormed: (text: string) => boolean =
  typeof (String.prototype as { isWellFormed?: () => boolean }).isWellFormed === 'function'
    ? (text) => (text as unknown as { isWellFormed: () => boolean }).isWellFormed()
    : isWellFormedString;
/** Deepest nesting of `factors` followed here (the reference path allows 64; deeper goes there). */
export const MAX_FACTORS_DEPTH = 32;

/** No control character: JSON.parse refuses them raw in a string (only free text is checked). */
export function noControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) < 0x20) return false;
  return true;
}

export type Parse = (p: Parser) => unknown;

export class Parser {
  pos = 0;
  devicesStart = -1;
  devicesEnd = -1;
  constructor(readonly text: string) {}

  fail(): never {
    throw NOT_FAST;
  }

  /** Whether `literal` is next (slice and compare: faster than startsWith in V8). */
  at(literal: string): boolean {
    return this.text.slice(this.pos, this.pos + literal.length) === literal;
  }

  expect(literal: string): void {
    if (!this.at(literal)) this.fail();
    this.pos += literal.length;
  }

  /** The one-character token `code` (e.g. `{`) is next; consumes it. */
  char(code: number): void {
    if (this.text.charCodeAt(this.pos) !== code) this.fail();
    this.pos += 1;
  }

  /** A string without escapes (the text holds no backslash). */
  string(): string {
    const { text, pos } = this;
    if (text.charCodeAt(pos) !== 0x22) this.fail();
    const end = text.indexOf('"', pos + 1);
    if (end < 0) this.fail();
    this.pos = end + 1;
    return text.slice(pos + 1, end);
  }

  /**
   * A string holding a decimal integer: `^(0|[1-9]\d{0,29})$`, or with `signed`
   * `^(0|-?[1-9]\d{0,29})$` (the schema's patterns), read in one scan.
   */
  decimal(signed: boolean): string {
    const { text, pos } = this;
    if (text.charCodeAt(pos) !== 0x22) this.fail();
    let i = pos + 1;
    if (signed && text.charCodeAt(i) === 0x2d) i += 1;
    const first = i;
    let c = text.charCodeAt(i);
    while (c >= 0x30 && c <= 0x39) {
      i += 1;
      c = text.charCodeAt(i);
    }
    const digits = i - first;
    if (c !== 0x22 || digits < 1 || digits > 30) this.fail();
    // A leading zero only as "0" itself (no "00", no "-0").
    if (text.charCodeAt(first) === 0x30 && (digits > 1 || first > pos + 1)) this.fail();
    this.pos = i + 1;
    return text.slice(pos + 1, i);
  }

  /** A string of free text: no control character either (JSON.parse refuses them raw). */
  plainString(): string {
    const s = this.string();
    if (!noControl(s)) this.fail();
    return s;
  }

  /** An integer as JSON.stringify writes it (no leading zero, no −0), within ±(2^53 − 1). */
  integer(): number {
    const { text } = this;
    const start = this.pos;
    let i = start;
    if (text.charCodeAt(i) === 0x2d) i += 1;
    const firstDigit = i;
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      i += 1;
    }
    const digits = i - firstDigit;
    if (digits === 0 || digits > 16) this.fail();
    if (text.charCodeAt(firstDigit) === 0x30 && (digits > 1 || firstDigit > start)) this.fail();
    const value = Number(text.slice(start, i));
    if (!Number.isSafeInteger(value)) this.fail();
    this.pos = i;
    return value;
  }

  literal<T>(word: string, value: T): T {
    this.expect(word);
    return value;
  }

  boolean(): boolean {
    if (this.at('true')) return this.literal('true', true);
    return this.literal('false', false);
  }

  isNull(): boolean {
    if (!this.at('null')) return false;
    this.pos += 4;
    return true;
  }

  array(item: Parse, max: number): unknown[] {
    this.expect('[');
    const out: unknown[] = [];
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos += 1;
      return out;
    }
    for (;;) {
      out.push(item(this));
      if (out.length > max) this.fail();
      const c = this.text.charCodeAt(this.pos);
      this.pos += 1;
      if (c === 0x5d) return out;
      if (c !== 0x2c) this.fail();
    }
  }

  /** Any canonical JSON value (for `factors`), as JSON.parse would build it. */
  anyValue(depth: number): unknown {
    if (depth > MAX_FACTORS_DEPTH) this.fail();
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x22) return this.plainString();
    if (c === 0x7b) return this.anyObject(depth);
    if (c === 0x5b) return this.array((p) => p.anyValue(depth + 1), Number.MAX_SAFE_INTEGER);
    if (c === 0x74 || c === 0x66) return this.boolean();
    if (this.isNull()) return null;
    return this.integer();
  }

  anyObject(depth: number): Record<string, unknown> {
    this.expect('{');
    const out: Record<string, unknown> = {};
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos += 1;
      return out;
    }
    let previous: string | null = null;
    for (;;) {
      const key = this.plainString();
      // Strictly increasing names: RFC 8785 order and no duplicates. No index-like names (V8
      // reorders them) and no __proto__ (assigning it would not make a member).
      if ((previous !== null && !(previous < key)) || INDEX_LIKE.test(key) || key === '__proto__')
        this.fail();
      previous = key;
      this.expect(':');
      out[key] = this.anyValue(depth + 1);
      const c = this.text.charCodeAt(this.pos);
      this.pos += 1;
      if (c === 0x7d) return out;
      if (c !== 0x2c) this.fail();
    }
  }
}

export const checked =
  (test: (s: string) => boolean): Parse =>
  (p) => {
    const s = p.string();
    if (!test(s)) p.fail();
    return s;
  };
export const decimal: Parse = (p) => p.decimal(false);
export const signedDecimal: Parse = (p) => p.decimal(true);
export const oneOf = (...values: string[]): Parse => checked((s) => values.includes(s));
export const integer =
  (max: number): Parse =>
  (p) => {
    const n = p.integer();
    if (n < 0 || n > max) p.fail();
    return n;
  };
export const boolean: Parse = (p) => p.boolean();
export const nullable =
  (inner: Parse): Parse =>
  (p) =>
    p.isNull() ? null : inner(p);
export const arrayOf =
  (item: Parse, max: number): Parse =>
  (p) =>
    p.array(item, max);

interface Field {
  readonly key: string;
  readonly first: string;
  readonly next: string;
  readonly parse: Parse;
  readonly optional: boolean;
}

/**
 * A closed object (zod strictObject): members in RFC 8785 order, optional ones may be absent.
 * `build`, for shapes without optional members, makes the object from the values in member order
 * as one object literal: V8 builds that far faster than member-by-member stores. It is checked
 * against the shape when the module loads.
 */
export function object(
  shape: Record<string, Parse | { optional: Parse }>,
  build?: (values: unknown[]) => Record<string, unknown>,
): Parse {
  const fields: Field[] = Object.keys(shape)
    .sort()
    .map((key) => {
      const spec = shape[key] as Parse | { optional: Parse };
      const optional = typeof spec !== 'function';
      return {
        key,
        first: `"${key}":`,
        next: `,"${key}":`,
        parse: optional ? spec.optional : spec,
        optional,
      };
    });
  if (build) {
    const built = Object.keys(build(fields.map(() => null))).join();
    if (fields.some((f) => f.optional) || built !== fields.map((f) => f.key).join())
      throw new Error(`object builder does not match its shape: ${built}`);
    const n = fields.length;
    return (p) => {
      p.char(0x7b);
      const values: unknown[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const field = fields[i] as Field;
        p.expect(i === 0 ? field.first : field.next);
        values[i] = field.parse(p);
      }
      p.char(0x7d);
      return build(values);
    };
  }
  return (p) => {
    p.char(0x7b);
    const out: Record<string, unknown> = {};
    let first = true;
    for (const field of fields) {
      const name = first ? field.first : field.next;
      if (p.at(name)) {
        p.pos += name.length;
        out[field.key] = field.parse(p);
        first = false;
      } else if (!field.optional) p.fail();
    }
    p.char(0x7d);
    return out;
  };
}

export const optional = (parse: Parse): { optional: Parse } => ({ optional: parse });
