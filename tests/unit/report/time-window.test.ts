/** Parsing `--from`/`--to`: absolute, date-only, `now` and relative forms; errors with stable codes. */
import { describe, expect, it } from 'vitest';
import { ReportError } from '../../../src/report/errors.js';
import { inWindow, parseTimeBound, parseTimeWindow } from '../../../src/report/time-window.js';

// 2025-11-24T16:00:00Z
const NOW = 1_764_000_000_000_000_000n;
const HOUR = 3_600_000_000_000n;

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof ReportError ? error.code : 'other';
  }
  return undefined;
}

describe('time bounds', () => {
  it('reads RFC 3339 with Z or an offset, to the nanosecond', () => {
    expect(parseTimeBound('--from', '2025-11-24T16:00:00Z', NOW)).toBe(NOW);
    expect(parseTimeBound('--from', '2025-11-24T17:00:00+01:00', NOW)).toBe(NOW);
    expect(parseTimeBound('--from', '2025-11-24T16:00:00.000000001Z', NOW)).toBe(NOW + 1n);
  });

  it('reads a date as midnight UTC, now, and durations before now', () => {
    expect(parseTimeBound('--from', '2025-11-24', NOW)).toBe(NOW - 16n * HOUR);
    expect(parseTimeBound('--to', 'now', NOW)).toBe(NOW);
    expect(parseTimeBound('--from', '24h', NOW)).toBe(NOW - 24n * HOUR);
    expect(parseTimeBound('--from', '30m', NOW)).toBe(NOW - HOUR / 2n);
    expect(parseTimeBound('--from', '7d', NOW)).toBe(NOW - 168n * HOUR);
    expect(parseTimeBound('--from', '2w', NOW)).toBe(NOW - 336n * HOUR);
    expect(parseTimeBound('--from', '90s', NOW)).toBe(NOW - 90_000_000_000n);
  });

  it('refuses anything else with REPORT_BAD_TIME', () => {
    for (const text of [
      'yesterday',
      '2025-13-01',
      '2025-02-30',
      '2025-11-24T16:00:00',
      '-24h',
      '24',
      '1y',
      '',
    ])
      expect(
        codeOf(() => parseTimeBound('--from', text, NOW)),
        text,
      ).toBe('REPORT_BAD_TIME');
  });
});

describe('the window', () => {
  it('is open where a bound is absent', () => {
    expect(parseTimeWindow(undefined, undefined, NOW)).toEqual({ fromUnixNanos: null, toUnixNanos: null });
    expect(inWindow({ fromUnixNanos: null, toUnixNanos: null }, 0n)).toBe(true);
  });

  it('includes from and excludes to', () => {
    const window = parseTimeWindow('2h', '1h', NOW);
    expect(inWindow(window, NOW - 2n * HOUR)).toBe(true);
    expect(inWindow(window, NOW - 2n * HOUR - 1n)).toBe(false);
    expect(inWindow(window, NOW - HOUR - 1n)).toBe(true);
    expect(inWindow(window, NOW - HOUR)).toBe(false);
  });

  it('refuses from at or after to with REPORT_BAD_RANGE', () => {
    expect(codeOf(() => parseTimeWindow('1h', '2h', NOW))).toBe('REPORT_BAD_RANGE');
    expect(codeOf(() => parseTimeWindow('now', 'now', NOW))).toBe('REPORT_BAD_RANGE');
  });
});
