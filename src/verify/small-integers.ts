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
