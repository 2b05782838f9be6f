import type { DeviceInterval } from '../meter/types.js';
import { averageMilliWatts, type MilliWatts, type MonoNanos, NANOS_PER_SECOND } from '../units.js';
import type { IdleBaseline, IdleBaselineUse, IntervalWork } from './types.js';

/** Defaults of the learned idle baseline. */
export const DEFAULT_IDLE_SETTLE_NANOS = 5n * NANOS_PER_SECOND;
export const DEFAULT_IDLE_WINDOW_NANOS = 600n * NANOS_PER_SECOND;
export const DEFAULT_IDLE_MIN_NANOS = 60n * NANOS_PER_SECOND;
/** The median is recomputed after this much new idle time (and when it first becomes usable). */
const RECOMPUTE_EVERY_NANOS = NANOS_PER_SECOND;

/** Options of {@link LearnedIdleBaseline}. */
export interface LearnedIdleOptions {
  /** Fallback per device until enough idle time has been seen (the configured values). */
  readonly configured: ReadonlyMap<string, MilliWatts>;
  /**
   * Devices (the GPUs) whose prior, when no value is configured for them, is measured: the lowest
   * average power of any of their intervals so far, this one included. A device never draws less
   * than its idle power, so this is an upper bound of it: it never gives requests energy that could
   * be idle, and it is never 0 for a device that draws power.
   */
  readonly measuredPriorDeviceIds?: ReadonlySet<string>;
  /** Values learned by an earlier run (persisted, see `idle-store.ts`): the prior until this run learns. */
  readonly restored?: ReadonlyMap<string, IdleBaselineUse>;
  /** An interval is idle only if it starts this long after the engine's last request ended. */
  readonly settleNanos?: bigint;
  /** The most recent idle time kept for the statistic (default 600 s of idle time). */
  readonly windowNanos?: bigint;
  /** Idle time needed before the learned value replaces the configured one (default 60 s). */
  readonly minIdleNanos?: bigint;
  /**
   * Told when a device's learned value is first in use, and each time it then moves by at least
   * {@link REPORT_CHANGE_PERCENT} % from the value last told (for the operator's log).
   */
  readonly onLearned?: (
    deviceId: string,
    use: IdleBaselineUse,
    previousMilliWatts: MilliWatts | null,
  ) => void;
}

/** How far (in %) a learned value must move from the one last reported before it is reported again. */
export const REPORT_CHANGE_PERCENT = 5;

interface Sample {
  readonly powerMilliWatts: MilliWatts;
  readonly nanos: bigint;
}

interface DeviceState {
  /** The end of the engine's last known activity (a request, or utilization > 0). */
  lastBusyMonoNanos: MonoNanos | null;
  readonly samples: Sample[];
  /** Σ nanos of `samples`. */
  idleNanos: bigint;
  sinceRecomputeNanos: bigint;
  learned: IdleBaselineUse | null;
  /** The learned power last passed to `onLearned`. */
  reportedMilliWatts: MilliWatts | null;
  /** The lowest average power of an interval so far (the measured prior). */
  lowest: { readonly powerMilliWatts: MilliWatts; readonly nanos: bigint } | null;
}

/**
 * An idle baseline learned per GPU from genuinely idle periods only (DESIGN §4): intervals in which
 * no request of the GPU's engine was in flight, that start at least `settleNanos` after the
 * engine's last request ended, and whose utilization, where the probe reports it, is 0. The value
 * is the time-weighted median power of the most recent `windowNanos` of such intervals, integer mW.
 * It is never derived from the residual of attribution: only from the measured energy of intervals
 * that had no request at all. Until `minIdleNanos` of idle time has been seen, the configured value
 * is used, and every split says so (`source: configured`).
 *
 * The attributor calls `idleFor` before splitting an interval and `observe` after, in order per
 * device, so a split never uses its own interval's energy.
 */
export class LearnedIdleBaseline implements IdleBaseline {
  readonly description: string;
  private readonly configured: ReadonlyMap<string, MilliWatts>;
  private readonly settleNanos: bigint;
  private readonly windowNanos: bigint;
  private readonly minIdleNanos: bigint;
  private readonly devices = new Map<string, DeviceState>();
  private readonly onLearned: LearnedIdleOptions['onLearned'];
  private readonly measuredPrior: ReadonlySet<string>;
  private readonly restored: ReadonlyMap<string, IdleBaselineUse>;

  /** Throws `RangeError` for a negative duration or a window shorter than the minimum. */
  constructor(options: LearnedIdleOptions) {
    this.configured = options.configured;
    this.settleNanos = options.settleNanos ?? DEFAULT_IDLE_SETTLE_NANOS;
    this.windowNanos = options.windowNanos ?? DEFAULT_IDLE_WINDOW_NANOS;
    this.minIdleNanos = options.minIdleNanos ?? DEFAULT_IDLE_MIN_NANOS;
    this.onLearned = options.onLearned;
    this.measuredPrior = options.measuredPriorDeviceIds ?? new Set();
    this.restored = options.restored ?? new Map();
    if (this.settleNanos < 0n || this.minIdleNanos <= 0n || this.windowNanos < this.minIdleNanos) {
      throw new RangeError(
        `learned idle baseline needs settle ≥ 0 and 0 < min idle (${this.minIdleNanos} ns) ≤ window (${this.windowNanos} ns)`,
      );
    }
    const ms = (nanos: bigint) => `${nanos / 1_000_000n}ms`;
    this.description = `learned(median,settle=${ms(this.settleNanos)},window=${ms(this.windowNanos)},min=${ms(this.minIdleNanos)})`;
  }

  /**
   * The idle power for this interval: this run's learned value; else one an earlier run learned
   * (restored); else the configured value; else, for a measured-prior device, the lowest average
   * power seen on it so far (source `learned`, from that one interval); else 0 (configured).
   */
  idleFor(deviceId: string, interval: DeviceInterval): IdleBaselineUse {
    const state = this.stateOf(deviceId);
    this.noteLowest(state, interval);
    if (state.learned) return state.learned;
    const restored = this.restored.get(deviceId);
    if (restored) return restored;
    const configured = this.configured.get(deviceId);
    if (configured === undefined && this.measuredPrior.has(deviceId) && state.lowest !== null) {
      return {
        source: 'learned',
        powerMilliWatts: state.lowest.powerMilliWatts,
        sampleCount: 1,
        idleNanos: state.lowest.nanos,
      };
    }
    return { source: 'configured', powerMilliWatts: configured ?? 0, sampleCount: 0, idleNanos: 0n };
  }

  /** The values learned so far (this run's, else restored ones): what to persist. */
  snapshot(): Map<string, IdleBaselineUse> {
    const out = new Map(this.restored);
    for (const [deviceId, state] of this.devices) if (state.learned) out.set(deviceId, state.learned);
    return out;
  }

  private noteLowest(state: DeviceState, interval: DeviceInterval): void {
    const nanos = interval.endMonoNanos - interval.startMonoNanos;
    if (interval.energyMicroJoules === null || nanos <= 0n || interval.bridgedGapNanos > 0n) return;
    const power = averageMilliWatts(interval.energyMicroJoules, nanos);
    if (power === null) return;
    if (state.lowest === null || power < state.lowest.powerMilliWatts)
      state.lowest = { powerMilliWatts: power, nanos };
  }

  observe(deviceId: string, interval: DeviceInterval, works: readonly IntervalWork[]): void {
    const state = this.stateOf(deviceId);
    const start = interval.startMonoNanos;
    const end = interval.endMonoNanos;
    const utilization = interval.utilizationGpuPercent;
    if (works.length > 0 || (utilization !== undefined && utilization > 0)) {
      let busy = end;
      for (const work of works) {
        const requestEnd = work.request.endMonoNanos;
        if (requestEnd !== null && requestEnd > busy) busy = requestEnd;
      }
      if (state.lastBusyMonoNanos === null || busy > state.lastBusyMonoNanos) state.lastBusyMonoNanos = busy;
      return;
    }
    // Nothing is known before the first interval seen: it counts as busy until then.
    if (state.lastBusyMonoNanos === null) state.lastBusyMonoNanos = start;
    if (start < state.lastBusyMonoNanos + this.settleNanos) return;
    const power =
      interval.energyMicroJoules === null ? null : averageMilliWatts(interval.energyMicroJoules, end - start);
    if (power === null) return;
    this.addSample(state, { powerMilliWatts: power, nanos: end - start });
    this.report(deviceId, state);
  }

  private stateOf(deviceId: string): DeviceState {
    let state = this.devices.get(deviceId);
    if (!state) {
      state = {
        lastBusyMonoNanos: null,
        samples: [],
        idleNanos: 0n,
        sinceRecomputeNanos: 0n,
        learned: null,
        reportedMilliWatts: null,
        lowest: null,
      };
      this.devices.set(deviceId, state);
    }
    return state;
  }

  private report(deviceId: string, state: DeviceState): void {
    const learned = state.learned;
    if (learned === null || this.onLearned === undefined) return;
    const previous = state.reportedMilliWatts;
    const moved =
      previous === null ||
      Math.abs(learned.powerMilliWatts - previous) * 100 >= REPORT_CHANGE_PERCENT * Math.max(previous, 1);
    if (!moved) return;
    state.reportedMilliWatts = learned.powerMilliWatts;
    this.onLearned(deviceId, learned, previous);
  }

  private addSample(state: DeviceState, sample: Sample): void {
    state.samples.push(sample);
    state.idleNanos += sample.nanos;
    state.sinceRecomputeNanos += sample.nanos;
    // Keep the most recent window of idle time (at least one sample).
    while (
      state.samples.length > 1 &&
      state.idleNanos - (state.samples[0] as Sample).nanos >= this.windowNanos
    ) {
      state.idleNanos -= (state.samples.shift() as Sample).nanos;
    }
    if (state.idleNanos < this.minIdleNanos) return;
    if (state.learned !== null && state.sinceRecomputeNanos < RECOMPUTE_EVERY_NANOS) return;
    state.sinceRecomputeNanos = 0n;
    state.learned = {
      source: 'learned',
      powerMilliWatts: weightedMedian(state.samples, state.idleNanos),
      sampleCount: state.samples.length,
      idleNanos: state.idleNanos,
    };
  }
}

/** The time-weighted median power: the lowest power at which half of the idle time is reached. */
function weightedMedian(samples: readonly Sample[], totalNanos: bigint): MilliWatts {
  const sorted = [...samples].sort((a, b) => a.powerMilliWatts - b.powerMilliWatts);
  let cumulative = 0n;
  for (const sample of sorted) {
    cumulative += sample.nanos;
    if (2n * cumulative >= totalNanos) return sample.powerMilliWatts;
  }
  return (sorted.at(-1) as Sample).powerMilliWatts;
}
