/**
 * Rate limit for the probe's log lines: the first line of a kind is passed on at once; repeats
 * within `windowMs` are counted and folded into one summary line when the window has passed (on
 * the next repeat, or on `flush()`). A stream that misbehaves steadily thus logs about one line per
 * kind per window instead of one per row.
 */
import type { Clock } from '../clock.js';
import { nanosFromMillis } from '../units.js';

interface Window {
  startedNanos: bigint;
  suppressed: number;
  lastDetail: string;
}

export class RepeatLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly windowNanos: bigint;

  constructor(
    windowMs: number,
    private readonly clock: Clock,
    private readonly emit: (type: string, detail: string) => void,
  ) {
    this.windowNanos = nanosFromMillis(windowMs);
  }

  /** Logs `detail` under `type`, or counts it when a line of that type went out in this window. */
  note(type: string, detail: string): void {
    const now = this.clock.monoNanos();
    const window = this.windows.get(type);
    if (window && now - window.startedNanos < this.windowNanos) {
      window.suppressed += 1;
      window.lastDetail = detail;
      return;
    }
    if (window && window.suppressed > 0) this.emitSummary(type, window.suppressed + 1, detail, window, now);
    else this.emit(type, detail);
    this.windows.set(type, { startedNanos: now, suppressed: 0, lastDetail: detail });
  }

  /** Emits the summary of every window that has suppressed lines (call on close). */
  flush(): void {
    const now = this.clock.monoNanos();
    for (const [type, window] of this.windows) {
      if (window.suppressed > 0) this.emitSummary(type, window.suppressed, window.lastDetail, window, now);
    }
    this.windows.clear();
  }

  private emitSummary(type: string, count: number, latest: string, window: Window, now: bigint): void {
    const seconds = (now - window.startedNanos) / 1_000_000_000n;
    this.emit(type, `${count} more in the last ${seconds} s, latest: ${latest}`);
  }
}
