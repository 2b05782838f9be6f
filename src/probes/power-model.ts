import { type MicroJoules, type MilliWatts, NANOS_PER_MILLI } from '../units.js';

/** Length of one constant-power step of the simulated load. */
export const SIMULATED_STEP_NANOS = 250n * NANOS_PER_MILLI;

/**
 * A deterministic GPU power model: idle power plus a load-dependent part, constant over 250 ms
 * steps. The load of each step comes from a seeded hash unless a caller has pinned it with
 * {@link SimulatedPowerModel.setLoadPermille}, so two runs with the same seed and clock produce
 * the same numbers. Energy is the exact integral of that piecewise-constant power, in integer µJ.
 */
export class SimulatedPowerModel {
  private readonly idleMilliWatts: MilliWatts;
  private readonly maxMilliWatts: MilliWatts;
  private readonly seed: number;
  private pinnedLoadPermille: number | null = null;
  private cursorNanos: bigint;
  private energyMicroJoules: MicroJoules = 0n;
  /** Remainder of mW × ns not yet a whole µJ (1 µJ = 10^6 mW·ns). */
  private carry = 0n;

  constructor(options: {
    idleMilliWatts: MilliWatts;
    maxMilliWatts: MilliWatts;
    seed: number;
    startNanos: bigint;
  }) {
    this.idleMilliWatts = options.idleMilliWatts;
    this.maxMilliWatts = Math.max(options.maxMilliWatts, options.idleMilliWatts);
    this.seed = options.seed;
    this.cursorNanos = options.startNanos;
  }

  /** Pins the load (0–1000 ‰) from now on; `null` returns to the seeded pattern. */
  setLoadPermille(permille: number | null): void {
    this.pinnedLoadPermille = permille === null ? null : Math.min(1000, Math.max(0, Math.trunc(permille)));
  }

  /** Power at a monotonic time, in mW. */
  powerAt(monoNanos: bigint): MilliWatts {
    const load = this.loadPermilleAt(monoNanos);
    return this.idleMilliWatts + Math.trunc(((this.maxMilliWatts - this.idleMilliWatts) * load) / 1000);
  }

  /** Advances the integral to `monoNanos` and returns the cumulative energy in µJ. */
  energyAt(monoNanos: bigint): MicroJoules {
    while (this.cursorNanos < monoNanos) {
      const stepEnd = (this.cursorNanos / SIMULATED_STEP_NANOS + 1n) * SIMULATED_STEP_NANOS;
      const until = stepEnd < monoNanos ? stepEnd : monoNanos;
      const product = BigInt(this.powerAt(this.cursorNanos)) * (until - this.cursorNanos) + this.carry;
      this.energyMicroJoules += product / 1_000_000n;
      this.carry = product % 1_000_000n;
      this.cursorNanos = until;
    }
    return this.energyMicroJoules;
  }

  private loadPermilleAt(monoNanos: bigint): number {
    if (this.pinnedLoadPermille !== null) return this.pinnedLoadPermille;
    const step = Number((monoNanos / SIMULATED_STEP_NANOS) % 0x7fffffffn);
    // Bursty inference-like load: most steps busy, some idle, a few at full power.
    const r = hash32(this.seed, step) % 1000;
    if (r < 200) return 0;
    if (r < 900) return 400 + (r % 400);
    return 1000;
  }
}

/** A small integer hash (xorshift-multiply); deterministic across platforms. */
function hash32(seed: number, value: number): number {
  let h = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(value, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d) >>> 0;
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}
