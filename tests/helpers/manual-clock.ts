import type { Clock } from '../../src/clock.js';
import { NANOS_PER_MILLI } from '../../src/units.js';

/** A clock that only moves when a test says so. */
export class ManualClock implements Clock {
  private mono: bigint;
  private wall: bigint;
  constructor(startMonoNanos = 1_000_000_000n, startUnixNanos = 1_764_000_000_000n * NANOS_PER_MILLI) {
    this.mono = startMonoNanos;
    this.wall = startUnixNanos;
  }
  monoNanos(): bigint {
    return this.mono;
  }
  wallUnixNanos(): bigint {
    return this.wall;
  }
  advanceMillis(millis: number): void {
    this.advanceNanos(BigInt(millis) * NANOS_PER_MILLI);
  }
  advanceNanos(nanos: bigint): void {
    this.mono += nanos;
    this.wall += nanos;
  }
}
