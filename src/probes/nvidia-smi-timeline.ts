/**
 * Places nvidia-smi rows on the monotonic clock by their own `timestamp` field, not by when they
 * arrived: rows that come in bursts (block-buffered stdout) or late keep the spacing nvidia-smi
 * sampled them at. `timestamp` is host wall time, so the mapping is wall + offset, with the offset
 * the smallest arrival delay seen (the row that came fastest tells the true relation). A row is
 * never placed after its arrival; a wall-clock step (NTP, DST: a row placed more than `resyncMs`
 * before its arrival) re-anchors the offset on that row.
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

  /** The monotonic time a row was taken; its arrival time when it has no timestamp. */
  place(timestampMillis: number | undefined, arrivalMonoNanos: MonoNanos): MonoNanos {
    if (timestampMillis === undefined) return arrivalMonoNanos;
    const wallNanos = nanosFromMillis(timestampMillis);
    const candidate = arrivalMonoNanos - wallNanos;
    if (this.offsetNanos === undefined || candidate < this.offsetNanos) this.offsetNanos = candidate;
    else if (candidate - this.offsetNanos > this.resyncNanos) {
      this.offsetNanos = candidate;
      this.resyncs += 1;
    }
    return wallNanos + this.offsetNanos;
  }
}
