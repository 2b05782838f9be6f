/**
 * Exact integer arithmetic on Numbers where it is provably exact, for the verifier's hot checks;
 * callers fall back to BigInt whenever these return undefined or false.
 *
 * A decimal string of at most 15 digits (|x| < 10^15 < 2^53) is exact as a Number. A sum or
 * difference of exact integers is exact while every partial result stays within ±(2^53 − 1):
 * a true result beyond that would round to at least 2^53, which {@link safe} rejects.
 */

/** Longest decimal string (digits, plus a sign) read as a Number. */
const EXACT_CHARS = 15;

/** The Number of a schema-checked decimal string, or undefined when it may not be exact. */
export function small(decimal: string): number | undefined {
  return decimal.length <= EXACT_CHARS ? Number(decimal) : undefined;
}

/** `value` when it is a safe integer (so the arithmetic that produced it was exact), else undefined. */
export function safe(value: number): number | undefined {
  return value <= Number.MAX_SAFE_INTEGER && value >= -Number.MAX_SAFE_INTEGER ? value : undefined;
}

/**
 * Whether `a ≤ ⌊b × c / 10^6⌋` certainly holds, for non-negative safe integers, from doubles: the
 * products are rounded (relative error ≤ 2^−53 each), so a margin of 10^−9 makes a yes certain. A
 * no means "not certain": the caller decides with BigInt.
 */
export function certainlyAtMostProduct(a: number, b: number, c: number): boolean {
  return a * 1_000_000 * (1 + 1e-9) <= b * c;
}

/** 10^15: the split of {@link difference}; multiples up to 8 × 10^15 are exact. */
const LIMB = 1e15;

/**
 * `a − b` for non-negative decimal strings of up to 30 digits (energy counters run to 17 and
 * more), exactly, or undefined when the difference may not be a safe integer. Each is split into
 * a high and a low part of at most 15 digits, both exact; with high parts at most 8 apart,
 * (highA − highB) × 10^15 + (lowA − lowB) stays below 9 × 10^15 < 2^53 in magnitude.
 */
export function difference(a: string, b: string): number | undefined {
  if (a.length > 30 || b.length > 30) return undefined;
  const highA = a.length > 15 ? Number(a.slice(0, a.length - 15)) : 0;
  const highB = b.length > 15 ? Number(b.slice(0, b.length - 15)) : 0;
  const high = highA - highB;
  if (high < -8 || high > 8) return undefined;
  const lowA = Number(a.length > 15 ? a.slice(a.length - 15) : a);
  const lowB = Number(b.length > 15 ? b.slice(b.length - 15) : b);
  return safe(high * LIMB + (lowA - lowB));
}
