/**
 * The values of one distribution, kept exactly for percentiles: 8 bytes per value in a growable
 * `Float64Array` (integers up to 2^53 are exact). A month of 10 million requests costs 80 MB per
 * distribution; the report keeps three per group and three for the totals (docs/REPORT.md).
 */
export class Distribution {
  #values = new Float64Array(256);
  #size = 0;

  get size(): number {
    return this.#size;
  }

  add(value: number): void {
    if (this.#size === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#size++] = value;
  }

  /**
   * Nearest-rank percentiles (no interpolation): the p-th percentile of n values is the value of
   * rank ⌈p × n / 100⌉ in ascending order, so every percentile is a value that occurred. `null`
   * when there are no values. `percents` are integers from 1 to 100.
   */
  percentiles(percents: readonly number[]): number[] | null {
    if (this.#size === 0) return null;
    const sorted = this.#values.subarray(0, this.#size).sort();
    return percents.map((p) => sorted[nearestRank(p, this.#size) - 1] as number);
  }
}

/** ⌈p × n / 100⌉ in integers, at least 1. */
export function nearestRank(percent: number, count: number): number {
  if (!Number.isInteger(percent) || percent < 1 || percent > 100)
    throw new RangeError(`percentile ${percent} is not an integer from 1 to 100`);
  return Math.max(1, Math.floor((percent * count + 99) / 100));
}
