/**
 * Largest-remainder (Hamilton) integer allocation: the one way energy is split in this program.
 * Every share is floor(total × wᵢ / Σw); the few units the floors leave over go one each to the
 * largest remainders, ties to the lowest index. The result sums to `total` exactly, is
 * deterministic, and never gives anything to a zero weight.
 */

/**
 * Splits `total` in proportion to `weights`. Returns one share per weight, each ≥ 0, summing
 * exactly to `total`; a zero weight gets 0.
 *
 * Throws `RangeError` when `total` or a weight is negative, or when the weights sum to 0 (also for
 * an empty list, even with a total of 0): where such a total goes (unattributed, idle) is the
 * caller's decision, so it must check Σ weights first.
 */
export function allocate(total: bigint, weights: readonly bigint[]): bigint[] {
  if (total < 0n) throw new RangeError(`allocate: negative total ${total}`);
  let sum = 0n;
  for (const weight of weights) {
    if (weight < 0n) throw new RangeError(`allocate: negative weight ${weight}`);
    sum += weight;
  }
  if (sum === 0n)
    throw new RangeError('allocate: the weights sum to 0; the caller decides where the total goes');
  const shares = new Array<bigint>(weights.length);
  const remainders = new Array<bigint>(weights.length);
  let given = 0n;
  for (let i = 0; i < weights.length; i++) {
    const product = total * (weights[i] as bigint);
    const share = product / sum;
    shares[i] = share;
    remainders[i] = product % sum;
    given += share;
  }
  // Σ remainders = left × Σw with each remainder < Σw, so at least `left` remainders are > 0:
  // the extra units never reach a zero weight, and `left` < weights.length fits a number.
  const left = Number(total - given);
  if (left > 0) {
    for (const index of largestRemainders(remainders, left)) shares[index] = (shares[index] as bigint) + 1n;
  }
  return shares;
}

/** Indices of the `count` largest positive remainders, ties to the lowest index. */
function largestRemainders(remainders: readonly bigint[], count: number): number[] {
  const candidates: number[] = [];
  for (let i = 0; i < remainders.length; i++) if ((remainders[i] as bigint) > 0n) candidates.push(i);
  candidates.sort((i, j) => {
    const a = remainders[i] as bigint;
    const b = remainders[j] as bigint;
    return a === b ? i - j : a > b ? -1 : 1;
  });
  return candidates.slice(0, count);
}

/** Σ of bigints (0n for none). */
export function sumBigints(values: Iterable<bigint>): bigint {
  let sum = 0n;
  for (const value of values) sum += value;
  return sum;
}

/** The smaller of two bigints (`Math.min` takes numbers only). */
export function minBigint(a: bigint, b: bigint): bigint {
  if (a < b) return a;
  return b;
}

/**
 * Splits at most `total` in proportion to `weights`, no share above its cap: proportional shares
 * (largest remainder), then the shares over their caps are set to their caps and what they leave
 * goes again, in proportion, to the others, until no share passes its cap. Returns the shares (each
 * in [0, cap], 0 for a zero weight) and what no share could take (`left`, ≥ 0): Σ shares + left =
 * total, exactly. Throws `RangeError` for a negative total, weight or cap.
 */
export function allocateCapped(
  total: bigint,
  weights: readonly bigint[],
  caps: readonly bigint[],
): { shares: bigint[]; left: bigint } {
  if (total < 0n) throw new RangeError(`allocateCapped: negative total ${total}`);
  if (caps.length !== weights.length) throw new RangeError('allocateCapped: one cap per weight');
  const shares = weights.map(() => 0n);
  let open: number[] = [];
  for (let i = 0; i < weights.length; i++) {
    const weight = weights[i] as bigint;
    const cap = caps[i] as bigint;
    if (weight < 0n || cap < 0n) throw new RangeError(`allocateCapped: negative weight or cap at ${i}`);
    if (weight > 0n && cap > 0n) open.push(i);
  }
  let left = total;
  while (left > 0n && open.length > 0) {
    const round = allocate(
      left,
      open.map((i) => weights[i] as bigint),
    );
    const over = open.filter((i, k) => (round[k] as bigint) >= (caps[i] as bigint));
    if (over.length === 0) {
      open.forEach((i, k) => {
        shares[i] = round[k] as bigint;
      });
      return { shares, left: 0n };
    }
    // Those at or over their cap take exactly their cap and leave the round; the rest goes again.
    for (const i of over) {
      shares[i] = caps[i] as bigint;
      left -= caps[i] as bigint;
    }
    const capped = new Set(over);
    open = open.filter((i) => !capped.has(i));
  }
  return { shares, left };
}
