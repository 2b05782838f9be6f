/**
 * Places nvidia-smi rows on the monotonic clock by their own `timestamp` field, not by when they
 * arrived: rows that come in bursts (block-buffered stdout) or late keep the spacing nvidia-smi
 * sampled them at. `timestamp` is host wall time, so the mapping is wall + offset, with the offset
 * the smallest arrival delay seen (the row that came fastest tells the true relation). Rows are
 * placed when they are read, not when they arrive, so the rows of a burst are placed with the
 * offset its last, least delayed row taught. A row is never placed after its arrival; a wall-clock
 * step (NTP, DST: a row that arrives more than `resyncMs` later than the offset predicts)
 * re-anchors the offset on that row.
 */
import { type MonoNanos, nanosFromMillis } from '../units.js';

export class SmiTimeline {
  private offsetNanos: bigint | undefined;
  private readonly resyncNanos: bigint;
  /** Re-anchorings after a wall-clock step, for diagnostics. */
  resyncs = 0;

  constructor(resyncMs: number) {
    this.resyncNanos = nanosFromMillis(resyncMs);
  }

  /** Learns from one row's timestamp and arrival; call for every row as it arrives. */
  observe(timestampMillis: number | undefined, arrivalMonoNanos: MonoNanos): void {
    if (timestampMillis === undefined) return;
    const candidate = arrivalMonoNanos - nanosFromMillis(timestampMillis);
    if (this.offsetNanos === undefined || candidate < this.offsetNanos) this.offsetNanos = candidate;
    else if (candidate - this.offsetNanos > this.resyncNanos) {
      this.offsetNanos = candidate;
      this.resyncs += 1;
    }
  }

  /** The monotonic time a row was taken: wall + offset, never after its arrival. */
  place(timestampMillis: number | undefined, arrivalMonoNanos: MonoNanos): MonoNanos {
    if (timestampMillis === undefined || this.offsetNanos === undefined) return arrivalMonoNanos;
    const placed = nanosFromMillis(timestampMillis) + this.offsetNanos;
    return placed < arrivalMonoNanos ? placed : arrivalMonoNanos;
  }
}
