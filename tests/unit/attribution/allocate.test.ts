import { describe, expect, it } from 'vitest';
import { allocate, minBigint, sumBigints } from '../../../src/attribution/allocate.js';
import { seeded } from './fixtures.js';

/**
 * Every property that defines the largest-remainder result, for one case: Σ exact, each share its
 * quota's floor or floor + 1, zero weights 0, and the +1s on the largest remainders (ties: lowest
 * index). Returns the first violation, or null (plain code: one `expect` per case keeps it fast).
 */
function violation(total: bigint, weights: readonly bigint[], shares: readonly bigint[]): string | null {
  const sum = sumBigints(weights);
  if (shares.length !== weights.length) return 'length';
  if (sumBigints(shares) !== total) return 'sum';
  let lowestBumped: [bigint, number] | null = null;
  let highestPlain: [bigint, number] | null = null;
  for (let i = 0; i < weights.length; i++) {
    const weight = weights[i] as bigint;
    const share = shares[i] as bigint;
    const floor = (total * weight) / sum;
    const rem = (total * weight) % sum;
    if (weight === 0n && share !== 0n) return `zero weight ${i} got ${share}`;
    if (share !== floor && share !== floor + 1n) return `share ${i} is not floor or floor + 1`;
    if (share === floor + 1n) {
      if (!lowestBumped || rem < lowestBumped[0] || (rem === lowestBumped[0] && i > lowestBumped[1]))
        lowestBumped = [rem, i];
    } else if (!highestPlain || rem > highestPlain[0]) {
      highestPlain = [rem, i];
    }
  }
  if (lowestBumped && highestPlain) {
    const [bumpedRem, bumpedIndex] = lowestBumped;
    const [plainRem, plainIndex] = highestPlain;
    if (bumpedRem < plainRem || (bumpedRem === plainRem && bumpedIndex > plainIndex))
      return 'remainder order';
  }
  return null;
}

describe('allocate', () => {
  it('gives each weight its floor and the leftover to the largest remainders', () => {
    expect(allocate(10n, [1n, 2n, 3n, 4n])).toEqual([1n, 2n, 3n, 4n]);
    expect(allocate(100n, [1n, 1n, 1n])).toEqual([34n, 33n, 33n]);
    // Quotas 2.5, 1.5, 1.0: remainders tie between index 0 and 1; the lower index wins.
    expect(allocate(5n, [5n, 3n, 2n])).toEqual([3n, 1n, 1n]);
  });

  it('breaks ties by the lowest index, deterministically', () => {
    expect(allocate(2n, [1n, 1n, 1n])).toEqual([1n, 1n, 0n]);
    expect(allocate(1n, [7n, 7n, 7n, 7n])).toEqual([1n, 0n, 0n, 0n]);
  });

  it('never gives anything to a zero weight', () => {
    expect(allocate(5n, [0n, 1n, 0n, 1n])).toEqual([0n, 3n, 0n, 2n]);
    expect(allocate(7n, [0n, 0n, 9n])).toEqual([0n, 0n, 7n]);
  });

  it('splits a zero total into zeros', () => {
    expect(allocate(0n, [3n, 0n, 5n])).toEqual([0n, 0n, 0n]);
  });

  it('throws when the weights sum to 0, leaving the bucket to the caller', () => {
    expect(() => allocate(10n, [0n, 0n])).toThrow(RangeError);
    expect(() => allocate(10n, [])).toThrow(/sum to 0/);
    expect(() => allocate(0n, [])).toThrow(RangeError);
  });

  it('refuses negative totals and weights', () => {
    expect(() => allocate(-1n, [1n])).toThrow(/negative total/);
    expect(() => allocate(10n, [2n, -1n])).toThrow(/negative weight/);
  });

  it('keeps Σ exact and the largest-remainder rule over 3,000 seeded random cases', () => {
    const rand = seeded(0x5eed);
    for (let c = 0; c < 3000; c++) {
      const n = 1 + rand.int(c % 10 === 0 ? 400 : 12);
      const weights = Array.from({ length: n }, () => (rand.int(4) === 0 ? 0n : rand.big(1 + rand.int(62))));
      if (sumBigints(weights) === 0n) weights[rand.int(n)] = 1n;
      const total = c % 3 === 0 ? rand.big(61) : BigInt(rand.int(1000));
      const shares = allocate(total, weights);
      expect(violation(total, weights, shares)).toBeNull();
      expect(allocate(total, weights)).toEqual(shares);
    }
  });

  it('handles 2^60 µJ over 10,000 weights exactly', () => {
    const rand = seeded(42);
    const total = 2n ** 60n + 12_345n;
    const weights = Array.from({ length: 10_000 }, (_, i) => (i % 7 === 0 ? 0n : rand.big(40)));
    const shares = allocate(total, weights);
    expect(violation(total, weights, shares)).toBeNull();
    // Equal weights: the leftover (total mod n) goes one each to the first indices.
    const equalTotal = 2n ** 60n + 9_999n;
    const left = Number(equalTotal % 10_000n);
    const equal = allocate(
      equalTotal,
      Array.from({ length: 10_000 }, () => 3n),
    );
    expect(sumBigints(equal)).toBe(equalTotal);
    expect(equal[0]).toBe(equalTotal / 10_000n + 1n);
    expect(equal[left - 1]).toBe(equal[0]);
    expect(equal[left]).toBe(equalTotal / 10_000n);
    expect(equal[9_999]).toBe(equal[left]);
  });

  it('gives the smaller bigint', () => {
    expect(minBigint(3n, 2n ** 70n)).toBe(3n);
    expect(minBigint(2n ** 70n, 3n)).toBe(3n);
  });
});
