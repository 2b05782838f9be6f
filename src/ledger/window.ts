import type { DeviceInterval, GapReason } from '../meter/types.js';
import type { DeviceInfo } from '../probes/types.js';
import type { MicroJoules, MilliWatts, MonoNanos } from '../units.js';
import { type AttributionCarry, startCarry, WindowAttribution } from './window-attribution.js';

/** At most this many gaps are listed per device and batch; the rest are only counted. */
export const MAX_LISTED_GAPS = 32;

/** Why a device's counter does not continue from the previous batch's end value. */
export type DiscontinuityReason = 'counter-reset' | 'implausible-counter' | 'agent-downtime-reset';

/** A declared break in a device's counter: the verifier accepts the jump because it is listed. */
export interface CounterDiscontinuity {
  readonly reason: DiscontinuityReason;
  readonly fromMicroJoules: MicroJoules;
  readonly toMicroJoules: MicroJoules;
}

/** A listed gap in a batch. `bridged`: the counter still measured the energy across it. */
export interface WindowGap {
  readonly reason: GapReason | 'agent-downtime';
  readonly startMonoNanos: MonoNanos | null;
  readonly endMonoNanos: MonoNanos | null;
  readonly durationNanos: bigint;
  readonly bridged: boolean;
  readonly code?: string;
}

/** Everything one batch says about one device. */
export interface DeviceWindow {
  readonly device: DeviceInfo;
  /** Counter value at the start of the window (the previous batch's end value), or null without a counter. */
  counterStartMicroJoules: MicroJoules | null;
  counterEndMicroJoules: MicroJoules | null;
  /** Σ counter deltas, wraps included. */
  counterEnergyMicroJoules: MicroJoules;
  /** Σ integrated power over intervals that had power samples. */
  integratedEnergyMicroJoules: MicroJoules;
  /** Σ integrated power used where the counter could not give a delta (resets). */
  fallbackEnergyMicroJoules: MicroJoules;
  /** The device's energy for the window: counter energy + fallback energy (or integrated only). */
  energyMicroJoules: MicroJoules;
  /** Energy measured by the counter across agent downtime before this window (first batch after a restart). */
  downtimeEnergyMicroJoules: MicroJoules;
  /** Σ counter − integrated over intervals where both exist (the residual); signed. */
  residualMicroJoules: MicroJoules;
  comparedMicroJoules: MicroJoules;
  wrapCount: number;
  discontinuities: CounterDiscontinuity[];
  gaps: WindowGap[];
  gapCount: number;
  gapNanos: bigint;
  intervalCount: number;
  powerSampleCount: number;
  peakPowerMilliWatts: MilliWatts | null;
  /** Σ duration of the intervals whose energy is counted (bridged spans included), for plausibility. */
  coveredNanos: bigint;
}

/** What the previous batch left for a device, to carry the counter across a restart. */
export interface CarriedCounter {
  readonly counterEndMicroJoules: MicroJoules;
  readonly endUnixNanos: bigint;
}

/**
 * Accumulates meter intervals into per-device windows for one batch, and the attributor's
 * allocations into the window's attribution account. Pure: the caller feeds intervals and
 * allocations and takes the windows and `attribution.close(…)` when it seals.
 */
export class BatchWindow {
  readonly devices = new Map<string, DeviceWindow>();
  /** Which allocation splits an interval of this window (fresh) or of an earlier one (resolved). */
  readonly attribution: WindowAttribution;
  private readonly downtimeNanos: bigint;
  private readonly checked = new Set<string>();

  /**
   * `carried` holds each device's counter value at the end of the previous batch (null when it had
   * none). `downtimeNanos` is the wall time between the previous batch's end and this window's
   * start: 0 within a run, the agent's downtime for the first window after a restart.
   * `attribution` is what the previous window's account carries on; by default nothing is
   * attributed.
   */
  constructor(
    devices: readonly DeviceInfo[],
    carried: ReadonlyMap<string, MicroJoules | null>,
    downtimeNanos = 0n,
    attribution: AttributionCarry = startCarry(new Set(), new Map()),
  ) {
    this.downtimeNanos = downtimeNanos;
    this.attribution = new WindowAttribution(attribution);
    for (const device of devices)
      this.devices.set(device.id, emptyWindow(device, carried.get(device.id) ?? null));
  }

  /** Adds one interval; intervals of unknown devices are ignored. */
  add(interval: DeviceInterval): void {
    const window = this.devices.get(interval.deviceId);
    if (!window) return;
    window.intervalCount += 1;
    window.powerSampleCount += interval.powerSampleCount;
    if (interval.powerMilliWatts !== null) {
      window.peakPowerMilliWatts = Math.max(window.peakPowerMilliWatts ?? 0, interval.powerMilliWatts);
    }
    if (interval.energyMicroJoules === null) {
      recordGap(window, interval, false, false);
      // A reset with nothing to fall back on still moves the counter chain.
      if (interval.counterEndMicroJoules !== null) this.followCounter(window, interval);
      return;
    }
    // A counter reset or an implausible jump: the energy is integrated power, not the counter's.
    if (interval.gap) recordGap(window, interval, false, true);
    else if (interval.bridgedGapNanos > 0n) markBridged(window);
    this.addEnergy(window, interval);
    this.attribution.counted(interval.deviceId, interval.endMonoNanos, interval.energyMicroJoules);
  }

  private addEnergy(window: DeviceWindow, interval: DeviceInterval): void {
    const energy = interval.energyMicroJoules ?? 0n;
    window.energyMicroJoules += energy;
    window.coveredNanos += interval.endMonoNanos - interval.startMonoNanos;
    if (interval.wrapped) window.wrapCount += 1;
    if (interval.integratedEnergyMicroJoules !== null)
      window.integratedEnergyMicroJoules += interval.integratedEnergyMicroJoules;
    if (interval.counterEnergyMicroJoules !== null) {
      window.counterEnergyMicroJoules += interval.counterEnergyMicroJoules;
      if (interval.integratedEnergyMicroJoules !== null) {
        window.comparedMicroJoules += interval.counterEnergyMicroJoules;
        window.residualMicroJoules +=
          interval.counterEnergyMicroJoules - interval.integratedEnergyMicroJoules;
      }
    } else if (interval.source === 'integrated-power' && window.device.hasEnergyCounter) {
      window.fallbackEnergyMicroJoules += energy;
    }
    if (interval.counterEndMicroJoules !== null) this.followCounter(window, interval);
  }

  /** Keeps the counter chain: start value, end value, declared resets. */
  private followCounter(window: DeviceWindow, interval: DeviceInterval): void {
    const start = interval.counterStartMicroJoules;
    if (window.counterStartMicroJoules === null) window.counterStartMicroJoules = start;
    else if (start !== null && !this.checked.has(window.device.id))
      joinCarriedCounter(window, start, this.downtimeNanos);
    this.checked.add(window.device.id);
    const reason = interval.gap?.reason;
    if (
      (reason === 'counter-reset' || reason === 'implausible-counter') &&
      start !== null &&
      interval.counterEndMicroJoules !== null
    ) {
      // The counter moved but its delta was not used: declare the jump so continuity still holds.
      window.discontinuities.push({
        reason,
        fromMicroJoules: start,
        toMicroJoules: interval.counterEndMicroJoules,
      });
    }
    window.counterEndMicroJoules = interval.counterEndMicroJoules;
  }
}

/** Longest downtime across which a wrapping counter is trusted to have wrapped at most once. */
const MAX_TRUSTED_WRAP_DOWNTIME_NANOS = 60_000_000_000n;

/** Joins a new run's first counter value to the value carried from the ledger. */
function joinCarriedCounter(window: DeviceWindow, start: MicroJoules, downtimeNanos: bigint): void {
  const carried = window.counterEndMicroJoules;
  if (carried === null || carried === start) return;
  const wraps = window.device.energyWrapMicroJoules !== undefined;
  if (start > carried && (!wraps || downtimeNanos <= MAX_TRUSTED_WRAP_DOWNTIME_NANOS)) {
    // The counter kept counting while the agent was down: that energy is measured, and declared.
    const energy = start - carried;
    window.downtimeEnergyMicroJoules += energy;
    window.counterEnergyMicroJoules += energy;
    window.energyMicroJoules += energy;
    window.coveredNanos += downtimeNanos;
    window.gapNanos += downtimeNanos;
    window.gapCount += 1;
    window.gaps.push({
      reason: 'agent-downtime',
      startMonoNanos: null,
      endMonoNanos: null,
      durationNanos: downtimeNanos,
      bridged: true,
    });
    return;
  }
  window.gapCount += 1;
  window.gapNanos += downtimeNanos;
  window.gaps.push({
    reason: 'agent-downtime',
    startMonoNanos: null,
    endMonoNanos: null,
    durationNanos: downtimeNanos,
    bridged: false,
  });
  window.discontinuities.push({
    reason: 'agent-downtime-reset',
    fromMicroJoules: carried,
    toMicroJoules: start,
  });
}

function emptyWindow(device: DeviceInfo, carried: MicroJoules | null): DeviceWindow {
  return {
    device,
    counterStartMicroJoules: carried,
    counterEndMicroJoules: carried,
    counterEnergyMicroJoules: 0n,
    integratedEnergyMicroJoules: 0n,
    fallbackEnergyMicroJoules: 0n,
    energyMicroJoules: 0n,
    downtimeEnergyMicroJoules: 0n,
    residualMicroJoules: 0n,
    comparedMicroJoules: 0n,
    wrapCount: 0,
    discontinuities: [],
    gaps: [],
    gapCount: 0,
    gapNanos: 0n,
    intervalCount: 0,
    powerSampleCount: 0,
    peakPowerMilliWatts: null,
    coveredNanos: 0n,
  };
}

/**
 * Lists a gap. `bridged` starts false; it turns true when reads resume and the counter's delta
 * covers it. `gapNanos` counts the time without a reading (failed reads, downtime), bridged or not;
 * an interval with a counter problem still had a reading and energy from integrated power.
 */
function recordGap(
  window: DeviceWindow,
  interval: DeviceInterval,
  bridged: boolean,
  hadReading: boolean,
): void {
  const reason = interval.gap?.reason ?? 'read-failed';
  const durationNanos = interval.endMonoNanos - interval.startMonoNanos;
  window.gapCount += 1;
  if (!hadReading) window.gapNanos += durationNanos;
  if (window.gaps.length >= MAX_LISTED_GAPS) return;
  window.gaps.push({
    reason,
    startMonoNanos: interval.startMonoNanos,
    endMonoNanos: interval.endMonoNanos,
    durationNanos,
    bridged,
    ...(interval.gap?.code ? { code: interval.gap.code } : {}),
  });
}

/** Reads resumed: the open gaps of this window were measured by the counter after all. */
function markBridged(window: DeviceWindow): void {
  if (!window.device.hasEnergyCounter) return;
  window.gaps = window.gaps.map((gap) =>
    gap.bridged || gap.reason === 'counter-reset' ? gap : { ...gap, bridged: true },
  );
}
