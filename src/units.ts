/**
 * The one units module. Every conversion between physical units happens here, with integer
 * arithmetic only, so that nothing on the path from a hardware counter to a signed number is
 * rounded by floating point.
 *
 * Canonical units: energy in integer microjoules (`bigint`), power in integer milliwatts
 * (`number`), monotonic time in `bigint` nanoseconds, wall time in `bigint` nanoseconds since the
 * Unix epoch.
 */

/** Integer microjoules. Every energy value in the program is this type, never `number`. */
export type MicroJoules = bigint;
/** Integer milliwatts: an instantaneous or averaged power reading, never summed over time. */
export type MilliWatts = number;
/** Monotonic nanoseconds (`process.hrtime.bigint()`); only differences are meaningful. */
export type MonoNanos = bigint;
/** Wall-clock nanoseconds since the Unix epoch. */
export type UnixNanos = bigint;

export const NANOS_PER_MILLI = 1_000_000n;
export const NANOS_PER_SECOND = 1_000_000_000n;
export const MICROJOULES_PER_JOULE = 1_000_000n;

/** NVML reports energy in millijoules; 1 mJ = 1000 µJ exactly. */
export function microJoulesFromMilliJoules(milliJoules: bigint): MicroJoules {
  return milliJoules * 1000n;
}

/** NVML reports power in milliwatts already; this only checks the value is a usable integer. */
export function milliWattsFromInteger(value: number): MilliWatts | null {
  return Number.isSafeInteger(value) && value >= 0 ? value : null;
}

const DECIMAL = /^(\d{1,12})(?:\.(\d{1,9}))?$/;

/**
 * Parses a decimal number of watts as printed by nvidia-smi (`"627.40"`) into integer milliwatts
 * without floating point. Digits beyond the third decimal are truncated toward zero (nvidia-smi
 * prints two). Returns `null` for anything that is not a plain non-negative decimal.
 */
export function milliWattsFromDecimalWatts(text: string): MilliWatts | null {
  const match = DECIMAL.exec(text.trim());
  if (!match) return null;
  const whole = match[1] ?? '0';
  const fraction = (match[2] ?? '').padEnd(3, '0').slice(0, 3);
  const milliWatts = Number(whole) * 1000 + Number(fraction);
  return Number.isSafeInteger(milliWatts) ? milliWatts : null;
}

/** Parses an unsigned decimal integer string (a sysfs counter, an NVML value) into a bigint. */
export function bigintFromDecimal(text: string): bigint | null {
  const trimmed = text.trim();
  if (!/^\d{1,30}$/.test(trimmed)) return null;
  return BigInt(trimmed);
}

/** µJ = mW × ns / 10^6: the scale between a power×time product and microjoules. */
const MILLIWATT_NANOS_PER_MICROJOULE = 1_000_000n;

/**
 * Exact trapezoidal integration of power over time, with a remainder carried between calls so
 * that a long series of short steps does not drift: the sum of the returned energies always
 * equals floor(Σ (p0+p1)/2 × dt) over the whole series.
 *
 * `carry` is in units of (mW × ns / 2); start with 0n and pass back the returned carry.
 */
export function integratePowerTrapezoid(
  startMilliWatts: MilliWatts,
  endMilliWatts: MilliWatts,
  durationNanos: bigint,
  carry: bigint,
): { energyMicroJoules: MicroJoules; carry: bigint } {
  if (durationNanos < 0n) throw new RangeError(`negative duration ${durationNanos} ns`);
  const doubled = BigInt(startMilliWatts + endMilliWatts) * durationNanos + carry;
  const divisor = 2n * MILLIWATT_NANOS_PER_MICROJOULE;
  return { energyMicroJoules: doubled / divisor, carry: doubled % divisor };
}

/** Power × duration for a constant power, in µJ, truncated toward zero. */
export function energyFromConstantPower(powerMilliWatts: MilliWatts, durationNanos: bigint): MicroJoules {
  return (BigInt(powerMilliWatts) * durationNanos) / MILLIWATT_NANOS_PER_MICROJOULE;
}

/**
 * The physics bound (docs/FORMAT.md, device window): energy over a span is at most the enforced
 * power limit × the span × 12/10, the 20 % margin covering sensor tolerance and transient excursions
 * above the limit. Exact: `energy × 10^6 × 10 ≤ limit × span × 12`, no division.
 */
export const POWER_LIMIT_MARGIN_NUMERATOR = 12n;
export const POWER_LIMIT_MARGIN_DENOMINATOR = 10n;
/** The largest energy {@link withinPowerLimit} accepts over `spanNanos`, in µJ. */
export function powerLimitCeilingMicroJoules(
  powerLimitMilliWatts: MilliWatts,
  spanNanos: bigint,
): MicroJoules {
  return (
    (BigInt(powerLimitMilliWatts) * spanNanos * POWER_LIMIT_MARGIN_NUMERATOR) /
    (POWER_LIMIT_MARGIN_DENOMINATOR * MILLIWATT_NANOS_PER_MICROJOULE)
  );
}
export function withinPowerLimit(
  energyMicroJoules: MicroJoules,
  powerLimitMilliWatts: MilliWatts,
  spanNanos: bigint,
): boolean {
  return (
    energyMicroJoules * MILLIWATT_NANOS_PER_MICROJOULE * POWER_LIMIT_MARGIN_DENOMINATOR <=
    BigInt(powerLimitMilliWatts) * spanNanos * POWER_LIMIT_MARGIN_NUMERATOR
  );
}

/** Mean power over an interval in mW, truncated; `null` for an empty interval. */
export function averageMilliWatts(energyMicroJoules: MicroJoules, durationNanos: bigint): MilliWatts | null {
  if (durationNanos <= 0n) return null;
  return Number((energyMicroJoules * MILLIWATT_NANOS_PER_MICROJOULE) / durationNanos);
}

/** Milliseconds (config durations) to nanoseconds. */
export function nanosFromMillis(millis: number): bigint {
  return BigInt(Math.trunc(millis)) * NANOS_PER_MILLI;
}

/** Bytes from MiB as nvidia-smi prints them. */
export function bytesFromMebibytes(mebibytes: bigint): bigint {
  return mebibytes * 1_048_576n;
}

// ---- display only: floats are allowed below this line, never on the measurement path ----

/** Human text for an energy value: `12.345 J`, `4.20 kJ`, `1.23 kWh`. Display only. */
export function formatEnergy(energyMicroJoules: MicroJoules): string {
  const joules = Number(energyMicroJoules) / 1e6;
  if (Math.abs(joules) >= 3.6e6) return `${(joules / 3.6e6).toFixed(3)} kWh`;
  if (Math.abs(joules) >= 1e3) return `${(joules / 1e3).toFixed(3)} kJ`;
  return `${joules.toFixed(3)} J`;
}

/** Human text for a power value: `627.40 W`. Display only. */
export function formatPower(powerMilliWatts: MilliWatts): string {
  return `${(powerMilliWatts / 1000).toFixed(2)} W`;
}
