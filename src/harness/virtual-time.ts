import type { Clock } from '../clock.js';
import type { MonoNanos, UnixNanos } from '../units.js';

/** Runs callbacks at instants of a clock; returns a function that cancels the callback. */
export interface Scheduler {
  at(t: MonoNanos, fn: () => void): () => void;
}

/**
 * A clock that only moves when the harness says so. Everything of a harness run reads it (the
 * simulated server, the probe, the proxy, the meter), so an event and its observation through
 * real loopback HTTP carry the same timestamp: while the harness waits for the I/O of one
 * instant to settle, time stands still.
 */
export class VirtualClock implements Clock {
  private mono: MonoNanos;
  private readonly wallOffset: UnixNanos;

  constructor(
    startMonoNanos: MonoNanos = 1_000_000_000n,
    startUnixNanos: UnixNanos = 1_767_225_600n * 10n ** 9n,
  ) {
    this.mono = startMonoNanos;
    this.wallOffset = startUnixNanos - startMonoNanos;
  }

  monoNanos(): MonoNanos {
    return this.mono;
  }

  wallUnixNanos(): UnixNanos {
    return this.mono + this.wallOffset;
  }

  /** Moves time to `t`; it never goes back. */
  set(t: MonoNanos): void {
    if (t < this.mono) throw new RangeError(`virtual time cannot go back from ${this.mono} to ${t}`);
    this.mono = t;
  }
}

interface Entry {
  readonly t: MonoNanos;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * Callbacks ordered by virtual time, then by scheduling order. {@link runDue} runs everything due
 * at or before an instant, including what those callbacks schedule for that same instant.
 */
export class VirtualScheduler implements Scheduler {
  private readonly queue: Entry[] = [];
  private seq = 0;

  at(t: MonoNanos, fn: () => void): () => void {
    const entry: Entry = { t, seq: this.seq++, fn, cancelled: false };
    // Binary search for the first entry later than t: equal times keep their scheduling order.
    let low = 0;
    let high = this.queue.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((this.queue[mid] as Entry).t <= t) low = mid + 1;
      else high = mid;
    }
    this.queue.splice(low, 0, entry);
    return () => {
      entry.cancelled = true;
    };
  }

  /** The earliest pending instant, or null when nothing is pending. */
  nextTime(): MonoNanos | null {
    while (this.queue.length > 0 && (this.queue[0] as Entry).cancelled) this.queue.shift();
    return this.queue[0]?.t ?? null;
  }

  /** Runs, in order, every callback due at or before `t`. */
  runDue(t: MonoNanos): void {
    while (this.queue.length > 0 && (this.queue[0] as Entry).t <= t) {
      const entry = this.queue.shift() as Entry;
      if (!entry.cancelled) entry.fn();
    }
  }
}
