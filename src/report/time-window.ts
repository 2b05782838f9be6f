import { unixNanosFromRfc3339 } from '../keys/trusted-keys.js';
import { NANOS_PER_SECOND, type UnixNanos } from '../units.js';
import { ReportError } from './errors.js';

/**
 * The time window of a report: records whose `endedAt` is in `[from, to)` (from inclusive, to
 * exclusive, so consecutive windows never count a request twice). A `null` bound is open.
 */
export interface TimeWindow {
  readonly fromUnixNanos: UnixNanos | null;
  readonly toUnixNanos: UnixNanos | null;
}

const UNIT_SECONDS: Readonly<Record<string, bigint>> = { s: 1n, m: 60n, h: 3600n, d: 86_400n, w: 604_800n };
const RELATIVE = /^(\d{1,9})([smhdw])$/;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
const TIME_HINT =
  'give an RFC 3339 time (2026-11-01T00:00:00Z, offsets allowed), a date (2026-11-01, midnight UTC), ' +
  '`now`, or a duration before now: 30m, 24h, 7d, 2w';

/**
 * Parses one bound: RFC 3339 with `Z` or an offset; a date alone (midnight UTC); `now`; or a
 * duration before `nowUnixNanos` (`90s`, `30m`, `24h`, `7d`, `2w`). Throws `REPORT_BAD_TIME`.
 */
export function parseTimeBound(name: string, text: string, nowUnixNanos: UnixNanos): UnixNanos {
  const trimmed = text.trim();
  if (trimmed === 'now') return nowUnixNanos;
  const relative = RELATIVE.exec(trimmed);
  if (relative !== null) {
    const seconds = BigInt(relative[1] as string) * (UNIT_SECONDS[relative[2] as string] as bigint);
    return nowUnixNanos - seconds * NANOS_PER_SECOND;
  }
  const absolute = unixNanosFromRfc3339(DATE_ONLY.test(trimmed) ? `${trimmed}T00:00:00Z` : trimmed);
  if (absolute === null)
    throw new ReportError('REPORT_BAD_TIME', `${name} ${JSON.stringify(text)} is not a time`, {
      hint: TIME_HINT,
    });
  return absolute;
}

/** The window of `--from`/`--to` (either may be absent: open). Throws `REPORT_BAD_TIME`/`REPORT_BAD_RANGE`. */
export function parseTimeWindow(
  from: string | undefined,
  to: string | undefined,
  nowUnixNanos: UnixNanos,
): TimeWindow {
  const window = {
    fromUnixNanos: from === undefined ? null : parseTimeBound('--from', from, nowUnixNanos),
    toUnixNanos: to === undefined ? null : parseTimeBound('--to', to, nowUnixNanos),
  };
  checkWindow(window);
  return window;
}

/** Throws `REPORT_BAD_RANGE` unless `from < to` (when both are given). */
export function checkWindow(window: TimeWindow): void {
  const { fromUnixNanos: from, toUnixNanos: to } = window;
  if (from !== null && to !== null && from >= to)
    throw new ReportError(
      'REPORT_BAD_RANGE',
      `the window is empty: from (${from} ns) is not before to (${to} ns)`,
      { hint: 'the window is [from, to): from inclusive, to exclusive; give a from earlier than to' },
    );
}

/** Whether a time falls in the window. */
export function inWindow(window: TimeWindow, unixNanos: UnixNanos): boolean {
  return (
    (window.fromUnixNanos === null || unixNanos >= window.fromUnixNanos) &&
    (window.toUnixNanos === null || unixNanos < window.toUnixNanos)
  );
}
