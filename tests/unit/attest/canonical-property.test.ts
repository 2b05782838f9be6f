import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { canonicalString } from '../../../src/attest/canonical.js';
import { seededBytes } from './prng.js';

// Our single-pass serialiser against the `canonicalize` package (the reference implementation of
// RFC 8785) over random values of the signed-path subset: they must agree byte for byte.
const KEY_POOL = [
  'a',
  'b',
  'B',
  '10',
  '9',
  '0',
  '_x',
  'é',
  '\u{1f600}',
  'aa',
  '',
  'energyMicroJoules',
  'z\u0000',
  '€',
  'A1',
];
const STRING_POOL = [
  '',
  'plain',
  'quote " and \\ backslash',
  'line\nbreak\ttab',
  '\u0001\u001f',
  'émoji \u{1f600}',
  '\u2028\u2029',
  '</script>',
];

function randomValue(next: () => number, depth: number): unknown {
  const kind = depth > 3 ? next() % 4 : next() % 6;
  switch (kind) {
    case 0:
      return STRING_POOL[next() % STRING_POOL.length];
    case 1:
      return (
        (next() % 2 ? -1 : 1) *
        Math.floor((next() / 0xff) * Number.MAX_SAFE_INTEGER) *
        (next() % 3 === 0 ? 0 : 1)
      );
    case 2:
      return next() % 2 === 0;
    case 3:
      return null;
    case 4:
      return Array.from({ length: next() % 5 }, () => randomValue(next, depth + 1));
    default: {
      const out: Record<string, unknown> = {};
      for (let i = next() % 6; i > 0; i--)
        out[KEY_POOL[next() % KEY_POOL.length] as string] = randomValue(next, depth + 1);
      return out;
    }
  }
}

describe('canonicalString against canonicalize', () => {
  it('agrees byte for byte on 5,000 random values, index-like keys and escapes included', () => {
    const bytes = seededBytes(8785);
    const next = (): number => bytes(1)[0] as number;
    for (let i = 0; i < 5000; i++) {
      const value = randomValue(next, 0);
      expect(canonicalString(value)).toBe(canonicalize(value));
    }
  });

  it('orders index-like keys as strings, as RFC 8785 requires (V8 would put them first)', () => {
    expect(canonicalString({ b: 1, '10': 2, '9': 3, a: 4 })).toBe('{"10":2,"9":3,"a":4,"b":1}');
  });
});
