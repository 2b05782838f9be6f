/**
 * The export edge: the only place in `src/export` where integer measurements become the doubles
 * OTLP carries. Everything before this point stays integer (µJ `bigint`, mW, ns), as DESIGN §2
 * requires; the conversions here are for telemetry, never for anything that is signed.
 */
import type { HrTime } from '@opentelemetry/api';
import { MICROJOULES_PER_JOULE, type MicroJoules, type MilliWatts, NANOS_PER_SECOND } from '../units.js';

/**
 * µJ → J as a double. The whole joules and the remainder are converted separately, so a total
 * beyond 2^53 µJ (~149 days of one 700 W GPU) still converts with only the rounding of the final
 * double: `Number(µJ) / 1e6` would first round the integer, then divide.
 */
export function joulesFromMicroJoules(energy: MicroJoules): number {
  const whole = energy / MICROJOULES_PER_JOULE;
  const fraction = energy % MICROJOULES_PER_JOULE;
  return Number(whole) + Number(fraction) / 1e6;
}

/** µg → g as a double (CO2e), with the precision of {@link joulesFromMicroJoules}. */
export function gramsFromMicrograms(mass: bigint): number {
  return joulesFromMicroJoules(mass);
}

/** µL → L as a double (water), with the precision of {@link joulesFromMicroJoules}. */
export function litersFromMicroliters(volume: bigint): number {
  return joulesFromMicroJoules(volume);
}

/** mW → W as a double. */
export function wattsFromMilliWatts(power: MilliWatts): number {
  return power / 1000;
}

/** Integer nanoseconds (a `bigint` or the decimal string records carry) → seconds as a double. */
export function secondsFromNanos(nanos: bigint | string): number {
  const value = typeof nanos === 'string' ? BigInt(nanos) : nanos;
  return Number(value / NANOS_PER_SECOND) + Number(value % NANOS_PER_SECOND) / 1e9;
}

/** Percent (0–100) → the ratio (0–1) that `hw.gpu.utilization` (unit `1`) expects. */
export function ratioFromPercent(percent: number): number {
  return percent / 100;
}

/** Wall-clock nanoseconds → the `[seconds, nanos]` pair the SDK's records carry, exactly. */
export function hrTimeFromUnixNanos(unixNanos: bigint): HrTime {
  return [Number(unixNanos / NANOS_PER_SECOND), Number(unixNanos % NANOS_PER_SECOND)];
}
