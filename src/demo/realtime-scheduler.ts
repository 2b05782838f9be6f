import type { Clock } from '../clock.js';
import type { Scheduler } from '../harness/virtual-time.js';
import type { MonoNanos } from '../units.js';

/**
 * The harness's {@link Scheduler} on real time: each callback runs on a timer at its instant of
 * `clock` (the system clock in the demo). Timers are `unref()`'d, so a pending token never keeps
 * the process alive; {@link cancelAll} drops every pending callback at stop.
 */
export class RealTimeScheduler implements Scheduler {
  private readonly clock: Clock;
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(clock: Clock) {
    this.clock = clock;
  }

  at(t: MonoNanos, fn: () => void): () => void {
    const delayNanos = t - this.clock.monoNanos();
    // Nanoseconds → whole milliseconds, rounded up so a callback never runs before its instant.
    const delayMs = delayNanos > 0n ? Number((delayNanos + 999_999n) / 1_000_000n) : 0;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, delayMs);
    timer.unref();
    this.timers.add(timer);
    return () => {
      clearTimeout(timer);
      this.timers.delete(timer);
    };
  }

  /** Cancels every pending callback. */
  cancelAll(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}
