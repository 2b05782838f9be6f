import type { EnergySource, ProbeKind } from '../probes/types.js';
import type { MicroJoules, MilliWatts, MonoNanos, UnixNanos } from '../units.js';

/** Why an interval has no counter energy. Gaps are data: never a silent 0, never negative. */
export type GapReason =
  | 'read-failed'
  | 'probe-timeout'
  | 'device-lost'
  | 'no-data'
  | 'counter-reset'
  | 'implausible-counter'
  /** Set by the batch window, never the meter: a counter delta across a gap begun in an earlier batch. */
  | 'unbridged-gap';

export interface IntervalGap {
  readonly reason: GapReason;
  /** The probe's error code (`NVML_GPU_IS_LOST`, `PROBE_TIMEOUT`), when a read failed. */
  readonly code?: string;
  readonly message?: string;
}

/**
 * The energy of one device over one interval. Intervals of a device tile time without overlap,
 * except that a successful interval following failed ones starts at the last good reading, so that
 * its counter energy also covers the failed intervals (`bridgedGapNanos` says how much). Summing
 * `energyMicroJoules` over a device's intervals therefore gives exactly the counter's advance.
 */
export interface DeviceInterval {
  readonly deviceId: string;
  readonly startMonoNanos: MonoNanos;
  readonly endMonoNanos: MonoNanos;
  /** The chosen energy: the counter's where it has one, else integrated power; `null` in a gap. */
  readonly energyMicroJoules: MicroJoules | null;
  readonly source: EnergySource | null;
  readonly counterEnergyMicroJoules: MicroJoules | null;
  readonly integratedEnergyMicroJoules: MicroJoules | null;
  /** Raw counter values bounding the interval (µJ), for continuity checks across batches. */
  readonly counterStartMicroJoules: MicroJoules | null;
  readonly counterEndMicroJoules: MicroJoules | null;
  /** Latest power reading in the interval. */
  readonly powerMilliWatts: MilliWatts | null;
  readonly powerSampleCount: number;
  /** The counter wrapped (RAPL) inside this interval; the energy accounts for it. */
  readonly wrapped: boolean;
  readonly gap: IntervalGap | null;
  /** Nanoseconds of earlier failed intervals that this interval's energy also covers. */
  readonly bridgedGapNanos: bigint;
  readonly utilizationGpuPercent?: number;
  readonly memoryUsedBytes?: bigint;
}

/** One sampling tick of one probe: an interval for every device of that probe. */
export interface MeterTick {
  readonly probe: ProbeKind;
  /** Contiguous per probe for the life of the process. */
  readonly seq: number;
  readonly monoNanos: MonoNanos;
  readonly unixNanos: UnixNanos;
  readonly intervals: readonly DeviceInterval[];
}
