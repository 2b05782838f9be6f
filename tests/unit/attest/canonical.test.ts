import { runInNewContext } from 'node:vm';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { hexFromBytes } from '../../../src/attest/bytes.js';
import { canonicalBytes, canonicalString, parseCanonicalJson } from '../../../src/attest/canonical.js';
import type { AttestError } from '../../../src/attest/errors.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return (error as AttestError).code;
  }
  return undefined;
}

// RFC 8785 §3.2.2 input, as JSON text (the numbers are floats, which our guard refuses).
const RFC8785_322_INPUT = String.raw`{
  "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
  "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
  "literals": [null, true, false]
}`;
const RFC8785_322_OUTPUT = String.raw`{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}`;

describe('canonicalBytes: RFC 8785 examples', () => {
  it('sorts keys by UTF-16 code units as RFC 8785 §3.2.3 does', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // U+1F600 is the surrogate pair D83D DE00, so it sorts before U+FB33 by code units.
    expect(canonicalString(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","ö":"Latin Small Letter O With Diaeresis",' +
        '"€":"Euro Sign","😀":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
  });

  it('writes the strings and literals of RFC 8785 §3.2.2 exactly, with minimal escapes', () => {
    const { string, literals } = JSON.parse(RFC8785_322_INPUT) as { string: string; literals: unknown };
    expect(canonicalString({ string, literals })).toBe(
      String.raw`{"literals":[null,true,false],"string":"€$\u000f\nA'B\"\\\\\"/"}`,
    );
  });

  it('relies on a canonicalize package that reproduces the full §3.2.2 output, numbers included', () => {
    expect(canonicalize(JSON.parse(RFC8785_322_INPUT))).toBe(RFC8785_322_OUTPUT);
  });

  it('refuses the §3.2.2 floats and names the first one by its JSON path', () => {
    expect(() => canonicalBytes(JSON.parse(RFC8785_322_INPUT))).toThrow(/\$\.numbers\[0\]/);
  });

  it('encodes the canonical text as UTF-8', () => {
    expect(hexFromBytes(canonicalBytes({ a: '€' }))).toBe(hexFromBytes(utf8('{"a":"€"}')));
    expect(hexFromBytes(canonicalBytes('€'))).toBe('22e282ac22');
  });

  it('sorts nested objects recursively and keeps array order', () => {
    expect(canonicalString({ z: [{ b: 1, a: 2 }, 3], a: { d: false, c: null } })).toBe(
      '{"a":{"c":null,"d":false},"z":[{"a":2,"b":1},3]}',
    );
  });
});

describe('canonicalBytes: the signed-path guard', () => {
  it('accepts integers up to ±(2^53 − 1), and writes −0 as 0', () => {
    expect(canonicalString([Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, -0])).toBe(
      '[9007199254740991,-9007199254740991,0]',
    );
  });

  it('accepts objects without a prototype', () => {
    const bare = Object.assign(Object.create(null) as object, { b: 1, a: 'x' });
    expect(canonicalString(bare)).toBe('{"a":"x","b":1}');
  });

  it('accepts plain objects from another realm (iframe, vm context)', () => {
    const foreign = runInNewContext('({ b: [1, { d: null }], a: "x" })') as object;
    expect(Object.getPrototypeOf(foreign)).not.toBe(Object.prototype);
    expect(canonicalString(foreign)).toBe('{"a":"x","b":[1,{"d":null}]}');
  });

  it('refuses an inherited toJSON, which canonicalize would otherwise call', () => {
    const proto = Object.assign(Object.create(null) as object, { toJSON: () => 'hijacked' });
    expect(codeOf(() => canonicalBytes(Object.create(proto)))).toBe('ATTEST_CANONICAL_UNSUPPORTED_VALUE');
  });

  it('carries large integers as decimal strings', () => {
    expect(canonicalString({ energyMicroJoules: (2n ** 64n).toString() })).toBe(
      '{"energyMicroJoules":"18446744073709551616"}',
    );
  });

  const refused: readonly (readonly [string, unknown, RegExp])[] = [
    ['a float', { a: 1.5 }, /\$\.a: 1\.5 is not an integer/],
    ['NaN', [Number.NaN], /\$\[0\]/],
    ['Infinity', { a: Number.POSITIVE_INFINITY }, /\$\.a/],
    ['2^53', { a: 2 ** 53 }, /decimal string/],
    ['−2^53', { a: -(2 ** 53) }, /decimal string/],
    ['a bigint', { a: { b: 10n } }, /\$\.a\.b: bigint/],
    ['undefined as a property value', { a: undefined }, /\$\.a: undefined/],
    ['undefined in an array', [1, undefined], /\$\[1\]: undefined/],
    ['a hole in an array', new Array<number>(3).fill(1, 0, 1).fill(3, 2), /\$\[1\]: undefined/],
    ['a function', { f: () => 1 }, /\$\.f: function/],
    ['a symbol', { s: Symbol('s') }, /\$\.s: symbol/],
    ['a Date', { d: new Date(0) }, /plain objects/],
    ['a Map', new Map(), /plain objects/],
    ['a class instance', { c: new (class Point {})() }, /plain objects/],
    ['an own toJSON', { a: { toJSON: () => 'x' } }, /\$\.a: only plain objects \(without toJSON\)/],
    ['an odd key, quoted in the path', { 'a b': 0.5 }, /\$\["a b"\]/],
    ['a lone surrogate in a value', { a: '\ud800' }, /surrogate/i],
    ['a lone surrogate in a key', { '\udc00': 1 }, /surrogate/i],
    ['top-level undefined', undefined, /\$: undefined/],
  ];
  for (const [name, value, message] of refused) {
    it(`refuses ${name} with ATTEST_CANONICAL_UNSUPPORTED_VALUE`, () => {
      expect(codeOf(() => canonicalBytes(value))).toBe('ATTEST_CANONICAL_UNSUPPORTED_VALUE');
      expect(() => canonicalBytes(value)).toThrow(message);
    });
  }

  it('refuses nesting deeper than 64 levels, which also stops cycles', () => {
    let deep: unknown = 0;
    for (let i = 0; i < 65; i++) deep = [deep];
    expect(codeOf(() => canonicalBytes(deep))).toBe('ATTEST_CANONICAL_UNSUPPORTED_VALUE');
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    expect(codeOf(() => canonicalBytes(cycle))).toBe('ATTEST_CANONICAL_UNSUPPORTED_VALUE');
  });
});

describe('parseCanonicalJson', () => {
  it('returns the value of bytes that are already canonical', () => {
    expect(parseCanonicalJson(utf8('{"a":[1,"€",null],"b":true}'))).toEqual({ a: [1, '€', null], b: true });
  });

  const rejected: readonly (readonly [string, Uint8Array, string])[] = [
    ['insignificant whitespace', utf8('{"a": 1}'), 'ATTEST_CANONICAL_MISMATCH'],
    ['keys out of order', utf8('{"b":1,"a":2}'), 'ATTEST_CANONICAL_MISMATCH'],
    ['a duplicate key (JSON.parse keeps the last)', utf8('{"a":1,"a":1}'), 'ATTEST_CANONICAL_MISMATCH'],
    ['an escape RFC 8785 would not write', utf8('["\\u0041"]'), 'ATTEST_CANONICAL_MISMATCH'],
    ['a number spelled "1.0"', utf8('[1.0]'), 'ATTEST_CANONICAL_MISMATCH'],
    ['a float', utf8('[1.5]'), 'ATTEST_CANONICAL_UNSUPPORTED_VALUE'],
    ['an integer beyond 2^53', utf8('[9007199254740993]'), 'ATTEST_CANONICAL_UNSUPPORTED_VALUE'],
    ['a byte-order mark', Uint8Array.of(0xef, 0xbb, 0xbf, ...utf8('{}')), 'ATTEST_CANONICAL_MISMATCH'],
    ['text that is not JSON', utf8('{"a":'), 'ATTEST_CANONICAL_MISMATCH'],
    ['invalid UTF-8', Uint8Array.of(0x22, 0xff, 0x22), 'ATTEST_ENCODING_INVALID'],
  ];
  for (const [name, bytes, code] of rejected) {
    it(`rejects ${name} with ${code}`, () => {
      expect(codeOf(() => parseCanonicalJson(bytes))).toBe(code);
    });
  }
});
