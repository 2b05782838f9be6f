import type { Clock } from '../clock.js';
import { type MonoNanos, NANOS_PER_MILLI, NANOS_PER_SECOND, type UnixNanos } from '../units.js';

/**
 * Event times. Clients send RFC 3339 wall-clock times; attribution runs on the daemon's monotonic
 * clock. The conversion anchors each time to "now" on both clocks, so a wall-clock step (NTP)
 * between events moves at most the events sent across it, never the monotonic timeline.
 */

/** Oldest event time accepted, relative to now: older events can no longer be attributed well. */
export const MAX_EVENT_AGE_NANOS = 10n * 60n * NANOS_PER_SECOND;
/**
 * A time at most this far ahead is taken as now. The daemon's wall clock has millisecond
 * granularity and a client stamping with microseconds is legitimately "ahead" by up to 1 ms;
 * further ahead is a client bug or a wrong clock and is refused.
 */
export const FUTURE_TOLERANCE_NANOS = NANOS_PER_SECOND;

/** RFC 3339 date-time with up to nanosecond fractions; `Z` or a numeric offset. */
export const RFC3339_PATTERN =
  '^(\\d{4})-(\\d{2})-(\\d{2})[Tt](\\d{2}):(\\d{2}):(\\d{2})(?:\\.(\\d{1,9}))?(?:([Zz])|([+-])(\\d{2}):(\\d{2}))$';
const RFC3339 = new RegExp(RFC3339_PATTERN);

/**
 * Parses RFC 3339 text into Unix nanoseconds, exactly (no float). `null` for anything else,
 * including impossible dates (`2025-02-30`), leap seconds (`:60`) and offsets beyond ±23:59.
 */
export function parseRfc3339(text: string): UnixNanos | null {
  const m = RFC3339.exec(text);
  if (m === null) return null;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as number[];
  const offsetHours = Number(m[10] ?? 0);
  const offsetMinutes = Number(m[11] ?? 0);
  if (hour! > 23 || minute! > 59 || second! > 59 || offsetHours > 23 || offsetMinutes > 59) return null;
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0–99 to 1900–1999.
  date.setUTCFullYear(year!, month! - 1, day!);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month! - 1 || date.getUTCDate() !== day)
    return null;
  date.setUTCHours(hour!, minute!, second!, 0);
  const fraction = BigInt((m[7] ?? '').padEnd(9, '0'));
  const sign = m[9] === '-' ? -1n : 1n;
  const offsetNanos = sign * BigInt(offsetHours * 60 + offsetMinutes) * 60n * NANOS_PER_SECOND;
  return BigInt(date.getTime()) * NANOS_PER_MILLI + fraction - offsetNanos;
}

/** Why a parsed time is refused right now, or `null` when it is inside the accepted window. */
export function timeWindowProblem(unixNanos: UnixNanos, nowUnixNanos: UnixNanos): string | null {
  if (unixNanos > nowUnixNanos + FUTURE_TOLERANCE_NANOS)
    return 'is in the future (more than 1 s ahead of the daemon clock)';
  if (unixNanos < nowUnixNanos - MAX_EVENT_AGE_NANOS)
    return 'is more than 10 minutes in the past; send events as they happen';
  return null;
}

/** An event time on both of the daemon's clocks. */
export interface DaemonTime {
  readonly monoNanos: MonoNanos;
  readonly unixNanos: UnixNanos;
}

/**
 * Places a client wall-clock time (default: now) on the daemon's clocks:
 * `mono = clock.monoNanos() − (clock.wallUnixNanos() − t)`. A time slightly ahead (within
 * {@link FUTURE_TOLERANCE_NANOS}, already checked) is clamped to now so that no event is stamped
 * after the moment it was received.
 */
export function toDaemonTime(clock: Clock, unixNanos: UnixNanos | undefined): DaemonTime {
  const mono = clock.monoNanos();
  const wall = clock.wallUnixNanos();
  const t = unixNanos === undefined || unixNanos > wall ? wall : unixNanos;
  return { monoNanos: mono - (wall - t), unixNanos: t };
}

/** The wall time of a monotonic time, by the same anchoring (for events the server makes up). */
export function wallOf(clock: Clock, monoNanos: MonoNanos): UnixNanos {
  return clock.wallUnixNanos() - (clock.monoNanos() - monoNanos);
}
