import { type MicroJoules, type MilliWatts, NANOS_PER_MILLI } from '../units.js';

/** Length of one constant-power step of the simulated load. */
export const SIMULATED_STEP_NANOS = 250n * NANOS_PER_MILLI;
/** The seeded load pattern repeats after this many steps (4096 × 250 ms = 1024 s). */
export const SIMULATED_PERIOD_STEPS = 4096;
const PERIOD_NANOS = SIMULATED_STEP_NANOS * BigInt(SIMULATED_PERIOD_STEPS);
/** 1 µJ = 10^6 mW·ns. */
const MILLIWATT_NANOS_PER_MICROJOULE = 1_000_000n;

/**
 * A deterministic GPU power model: idle power plus a load-dependent part, constant over 250 ms
 * steps. The load of each step comes from a seeded hash of the step's index in a 1024 s period,
 * unless a caller has pinned it with {@link SimulatedPowerModel.setLoadPermille}, so two runs with
 * the same seed and clock produce the same numbers. Energy is the exact integral of that
 * piecewise-constant power, in integer µJ.
 *
 * The integral of the seeded pattern has a closed form (whole periods plus a prefix sum), so with
 * `absolute: true` the cumulative energy is a pure function of time: the integral from time 0.
 * The simulated probe runs the model on wall time since its epoch, so its counter is one monotonic
 * counter across agent restarts, like real hardware, and what it gained while no agent read it
 * is exactly the energy of the power the model drew meanwhile (never more than max power × time).
 */
export class SimulatedPowerModel {
  private readonly idleMilliWatts: MilliWatts;
  private readonly maxMilliWatts: MilliWatts;
  private readonly seed: number;
  private pinnedLoadPermille: number | null = null;
  private cursorNanos: bigint;
  /** Integrated power up to the cursor, in mW·ns (exact). */
  private milliWattNanos: bigint;
  /** prefix[i] = Σ power of steps 0…i−1 of the period × step length, in mW·ns. */
  private prefix: bigint[] | null = null;

  constructor(options: {
    idleMilliWatts: MilliWatts;
    maxMilliWatts: MilliWatts;
    seed: number;
    startNanos: bigint;
    /** Count from time 0 (the pattern's integral up to `startNanos` included); default: from `startNanos`. */
    absolute?: boolean;
  }) {
    this.idleMilliWatts = options.idleMilliWatts;
    this.maxMilliWatts = Math.max(options.maxMilliWatts, options.idleMilliWatts);
    this.seed = options.seed;
    this.cursorNanos = options.startNanos;
    this.milliWattNanos = options.absolute ? this.patternIntegral(options.startNanos) : 0n;
  }

  /** Pins the load (0–1000 ‰) from the last {@link energyAt} on; `null` returns to the seeded pattern. */
  setLoadPermille(permille: number | null): void {
    this.pinnedLoadPermille = permille === null ? null : Math.min(1000, Math.max(0, Math.trunc(permille)));
  }

  /** Power at a time, in mW. */
  powerAt(nanos: bigint): MilliWatts {
    const load = this.pinnedLoadPermille ?? this.patternLoadPermille(stepInPeriod(nanos));
    return this.powerOfLoad(load);
  }

  /** Advances the integral to `nanos` and returns the cumulative energy in µJ (never decreases). */
  energyAt(nanos: bigint): MicroJoules {
    if (nanos > this.cursorNanos) {
      this.milliWattNanos +=
        this.pinnedLoadPermille !== null
          ? BigInt(this.powerOfLoad(this.pinnedLoadPermille)) * (nanos - this.cursorNanos)
          : this.patternIntegral(nanos) - this.patternIntegral(this.cursorNanos);
      this.cursorNanos = nanos;
    }
    return this.milliWattNanos / MILLIWATT_NANOS_PER_MICROJOULE;
  }

  /** ∫ of the seeded pattern's power from 0 to `nanos` (≥ 0), in mW·ns: closed form. */
  private patternIntegral(nanos: bigint): bigint {
    const t = nanos > 0n ? nanos : 0n;
    const prefix = this.prefixSums();
    const periods = t / PERIOD_NANOS;
    const within = t % PERIOD_NANOS;
    const step = Number(within / SIMULATED_STEP_NANOS);
    const intoStep = within % SIMULATED_STEP_NANOS;
    const power = BigInt(this.powerOfLoad(this.patternLoadPermille(step)));
    return periods * (prefix[SIMULATED_PERIOD_STEPS] as bigint) + (prefix[step] as bigint) + power * intoStep;
  }

  private prefixSums(): bigint[] {
    if (this.prefix) return this.prefix;
    const prefix: bigint[] = [0n];
    let sum = 0n;
    for (let step = 0; step < SIMULATED_PERIOD_STEPS; step++) {
      sum += BigInt(this.powerOfLoad(this.patternLoadPermille(step))) * SIMULATED_STEP_NANOS;
      prefix.push(sum);
    }
    this.prefix = prefix;
    return prefix;
  }

  private powerOfLoad(load: number): MilliWatts {
    return this.idleMilliWatts + Math.trunc(((this.maxMilliWatts - this.idleMilliWatts) * load) / 1000);
  }

  private patternLoadPermille(step: number): number {
    // Bursty inference-like load: most steps busy, some idle, a few at full power.
    const r = hash32(this.seed, step) % 1000;
    if (r < 200) return 0;
    if (r < 900) return 400 + (r % 400);
    return 1000;
  }
}

function stepInPeriod(nanos: bigint): number {
  const t = nanos > 0n ? nanos : 0n;
  return Number((t % PERIOD_NANOS) / SIMULATED_STEP_NANOS);
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
