/**
 * The values of one distribution, for percentiles. Exact up to `exactLimit` values (default one
 * million): 8 bytes per value in a growable `Float64Array` (integers up to 2^53 are exact), and
 * every percentile is a value that occurred. Past the limit the values move into logarithmic
 * buckets (γ = 1.01: bucket k holds (γ^(k−1), γ^k]) and a percentile is its bucket's midpoint
 * 2γ^k / (γ + 1), within 0.5 % of the exact value; memory is then a few thousand buckets, however
 * many values arrive. `exact` says which.
 */
export class Distribution {
  #values: Float64Array | null = new Float64Array(256);
  #size = 0;
  #zeros = 0;
  #buckets: Map<number, number> | null = null;

  constructor(private readonly exactLimit = DEFAULT_EXACT_LIMIT) {}

  get size(): number {
    return this.#size;
  }

  /** True while every value is kept (percentiles are exact); false once they are bucketed. */
  get exact(): boolean {
    return this.#buckets === null;
  }

  /** Adds a non-negative finite value. */
  add(value: number): void {
    if (this.#values !== null && this.#size === this.exactLimit) this.#toBuckets();
    this.#size += 1;
    if (this.#values === null) {
      this.#bucket(value);
      return;
    }
    if (this.#size > this.#values.length) {
      const grown = new Float64Array(Math.min(this.#values.length * 2, Math.max(this.exactLimit, 1)));
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#size - 1] = value;
  }

  /**
   * Nearest-rank percentiles (no interpolation): the p-th percentile of n values is the value of
   * rank ⌈p × n / 100⌉ in ascending order (its bucket's midpoint once bucketed). `null` when there
   * are no values. `percents` are integers from 1 to 100.
   */
  percentiles(percents: readonly number[]): number[] | null {
    if (this.#size === 0) return null;
    const ranks = percents.map((p) => nearestRank(p, this.#size));
    if (this.#values !== null) {
      const sorted = this.#values.subarray(0, this.#size).sort();
      return ranks.map((rank) => sorted[rank - 1] as number);
    }
    return ranks.map((rank) => this.#bucketValueAtRank(rank));
  }

  #toBuckets(): void {
    const values = this.#values as Float64Array;
    this.#values = null;
    this.#buckets = new Map();
    for (let i = 0; i < this.#size; i++) this.#bucket(values[i] as number);
  }

  #bucket(value: number): void {
    if (!(value > 0)) {
      this.#zeros += 1;
      return;
    }
    const key = Math.ceil(Math.log(value) / LOG_GAMMA);
    const buckets = this.#buckets as Map<number, number>;
    buckets.set(key, (buckets.get(key) ?? 0) + 1);
  }

  #bucketValueAtRank(rank: number): number {
    if (rank <= this.#zeros) return 0;
    let seen = this.#zeros;
    const keys = [...(this.#buckets as Map<number, number>).keys()].sort((a, b) => a - b);
    for (const key of keys) {
      seen += (this.#buckets as Map<number, number>).get(key) as number;
      if (seen >= rank) return (2 * GAMMA ** key) / (GAMMA + 1);
    }
    throw new RangeError(`rank ${rank} beyond ${this.#size} values`);
  }
}

/** Values kept exactly per distribution before bucketing (8 MB each). */
export const DEFAULT_EXACT_LIMIT = 1_000_000;
/** Bucket ratio; a bucket's midpoint is within (γ − 1) / (γ + 1) < 0.5 % of any value in it. */
export const GAMMA = 1.01;
const LOG_GAMMA = Math.log(GAMMA);

/** ⌈p × n / 100⌉ in integers, at least 1. */
export function nearestRank(percent: number, count: number): number {
  if (!Number.isInteger(percent) || percent < 1 || percent > 100)
    throw new RangeError(`percentile ${percent} is not an integer from 1 to 100`);
  return Math.max(1, Math.floor((percent * count + 99) / 100));
}
