import { type MonoNanos, NANOS_PER_MILLI, type UnixNanos } from './units.js';

/**
 * The one in-process seam for time. Production uses {@link systemClock}; tests pass a
 * `ManualClock` and advance it explicitly. Never patch global timers instead.
 */
export interface Clock {
  /** Monotonic nanoseconds; only differences are meaningful. */
  monoNanos(): MonoNanos;
  /** Wall-clock nanoseconds since the Unix epoch. */
  wallUnixNanos(): UnixNanos;
}

export const systemClock: Clock = {
  monoNanos: () => process.hrtime.bigint(),
  wallUnixNanos: () => BigInt(Date.now()) * NANOS_PER_MILLI,
};

/** RFC 3339 UTC text for a wall-clock time, millisecond precision (what people read). */
export function rfc3339(unixNanos: UnixNanos): string {
  return new Date(Number(unixNanos / NANOS_PER_MILLI)).toISOString();
}
