import type { DeviceInterval, GapReason } from '../meter/types.js';
import type { DeviceInfo } from '../probes/types.js';
import { type MicroJoules, type MilliWatts, type MonoNanos, withinPowerLimit } from '../units.js';
import { type AttributionCarry, startCarry, WindowAttribution } from './window-attribution.js';

/** At most this many gaps are listed per device and batch; the rest are only counted. */
export const MAX_LISTED_GAPS = 32;

/**
 * Why a device's counter does not continue from the previous batch's end value: it went down
 * (`counter-reset`; `agent-downtime-reset` across a restart), it rose more than the power limit
 * allows (`implausible-counter`), or it rose across a gap this window cannot cover
 * (`unbridged-gap`: the gap began in an earlier batch, or the device was not read in the first
 * batch after a restart). The energy of a declared jump is never counted.
 */
export type DiscontinuityReason =
  | 'counter-reset'
  | 'implausible-counter'
  | 'agent-downtime-reset'
  | 'unbridged-gap';

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
  /**
   * The time inside this batch's span that the counted energy covers: each counted interval's part
   * inside the window, plus the downtime the first batch after a restart bridges. Never more than
   * the span, (end − start) + downtime.
   */
  coveredNanos: bigint;
  /** The reason of the last gap seen in the window (listed or not), for an unmeasured device. */
  lastGapReason: WindowGap['reason'] | null;
}

/** Why a device's window has no measured energy: its last gap's reason, or `no-reading`. */
export function unmeasuredReasonOf(window: DeviceWindow): string | null {
  if (window.coveredNanos > 0n) return null;
  return window.lastGapReason ?? 'no-reading';
}

/** Where a window starts, and whether it is the first of a run (which carries the downtime). */
export interface WindowStart {
  readonly startMonoNanos: MonoNanos;
  /**
   * Wall time between the previous batch's end and this window's start: the agent's downtime for
   * the first window after a restart, else 0.
   */
  readonly downtimeNanos: bigint;
  /** The first window of this run: the only one that joins the counters carried from the ledger. */
  readonly firstOfRun: boolean;
  /**
   * For the first window: the devices whose carried value was read at the previous batch's end
   * (ChainState.joinable); only their downtime advance can be counted. Absent: all of them.
   */
  readonly joinable?: ReadonlySet<string>;
}

/**
 * Accumulates meter intervals into per-device windows for one batch, and the attributor's
 * allocations into the window's attribution account. Pure: the caller feeds intervals and
 * allocations and takes the windows and `attribution.close(…)` when it seals.
 *
 * No device covers more than the window: an interval counts only its part after the window's
 * start, and a counter delta that bridges a gap begun before the window (in an earlier batch) is
 * a declared `unbridged-gap` discontinuity, never energy, because nobody knows when in the gap the
 * energy was used. The first window of a run joins each counter to the value the ledger carried:
 * the counter's advance meanwhile is counted as downtime energy when the power limit allows it
 * over the downtime, else declared.
 */
export class BatchWindow {
  readonly devices = new Map<string, DeviceWindow>();
  /** Which allocation splits an interval of this window (fresh) or of an earlier one (resolved). */
  readonly attribution: WindowAttribution;
  private readonly start: WindowStart;
  private readonly joined = new Set<string>();
  /** Devices any interval of which reached this window. */
  private readonly seen = new Set<string>();

  /**
   * `carried` holds each device's counter value at the end of the previous batch (null when it had
   * none). `attribution` is what the previous window's account carries on; by default nothing is
   * attributed.
   */
  constructor(
    devices: readonly DeviceInfo[],
    carried: ReadonlyMap<string, MicroJoules | null>,
    start: WindowStart,
    attribution: AttributionCarry = startCarry(new Set(), new Map()),
  ) {
    this.start = start;
    this.attribution = new WindowAttribution(attribution);
    for (const device of devices)
      this.devices.set(device.id, emptyWindow(device, carried.get(device.id) ?? null));
  }

  /**
   * Devices this first window of a run has not joined to their carried counter yet (no interval
   * of theirs arrived): the batcher holds the seal for them, so that the downtime is counted in
   * the batch that declares it. Empty for later windows.
   */
  get unjoinedDeviceIds(): string[] {
    if (!this.start.firstOfRun) return [];
    return [...this.devices.values()]
      .filter((w) => w.device.hasEnergyCounter && w.counterStartMicroJoules !== null)
      .map((w) => w.device.id)
      .filter((id) => !this.joined.has(id) && !this.seen.has(id));
  }
  /**
   * Adds one interval; intervals of unknown devices are ignored. Returns the interval as this
   * window counts it: a bridge begun before the window comes back without energy (`unbridged-gap`),
   * so that whatever splits energy over requests splits only what the ledger counts.
   */
  add(interval: DeviceInterval): DeviceInterval {
    const window = this.devices.get(interval.deviceId);
    if (!window) return interval;
    this.seen.add(interval.deviceId);
    window.intervalCount += 1;
    window.powerSampleCount += interval.powerSampleCount;
    if (interval.powerMilliWatts !== null) {
      window.peakPowerMilliWatts = Math.max(window.peakPowerMilliWatts ?? 0, interval.powerMilliWatts);
    }
    const counted =
      interval.energyMicroJoules !== null &&
      interval.bridgedGapNanos > 0n &&
      interval.startMonoNanos < this.start.startMonoNanos
        ? unbridged(interval)
        : this.clipped(interval);
    if (counted.energyMicroJoules === null) {
      this.recordGap(window, counted, false, false);
      // A reset (or an unbridged jump) with nothing to fall back on still moves the counter chain.
      if (counted.counterEndMicroJoules !== null) this.followCounter(window, counted);
      return counted;
    }
    // A counter reset or an implausible jump: the energy is integrated power, not the counter's.
    if (counted.gap) this.recordGap(window, counted, false, true);
    else if (counted.bridgedGapNanos > 0n) markBridged(window, counted);
    this.addEnergy(window, counted);
    this.attribution.counted(counted.deviceId, counted.endMonoNanos, counted.energyMicroJoules ?? 0n);
    return counted;
  }

  /**
   * An interval that began before the window (a reading a few µs before the seal, or a slower
   * probe's read) as this window counts it: from the window's start. Its energy is unchanged; its
   * time is the part inside the window, so whatever is derived from its duration downstream (the
   * idle part of a split) stays within what `coveredNanos` declares.
   */
  private clipped(interval: DeviceInterval): DeviceInterval {
    const start = this.start.startMonoNanos;
    if (interval.startMonoNanos >= start || interval.endMonoNanos <= start) return interval;
    return { ...interval, startMonoNanos: start };
  }

  /** The part of an interval inside this window. */
  private inside(interval: DeviceInterval): bigint {
    let from = this.start.startMonoNanos;
    if (interval.startMonoNanos > from) from = interval.startMonoNanos;
    return interval.endMonoNanos > from ? interval.endMonoNanos - from : 0n;
  }

  private addEnergy(window: DeviceWindow, interval: DeviceInterval): void {
    const energy = interval.energyMicroJoules ?? 0n;
    window.energyMicroJoules += energy;
    window.coveredNanos += this.inside(interval);
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

  /** Keeps the counter chain: start value, end value, declared resets and jumps. */
  private followCounter(window: DeviceWindow, interval: DeviceInterval): void {
    const start = interval.counterStartMicroJoules;
    if (window.counterStartMicroJoules === null) window.counterStartMicroJoules = start;
    else if (start !== null && !this.joined.has(window.device.id)) this.join(window, interval, start);
    this.joined.add(window.device.id);
    const reason = interval.gap?.reason;
    if (
      (reason === 'counter-reset' || reason === 'implausible-counter' || reason === 'unbridged-gap') &&
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

  /** Joins the device's first counter value in this window to the value carried into it. */
  private join(window: DeviceWindow, interval: DeviceInterval, start: MicroJoules): void {
    const carried = window.counterEndMicroJoules;
    if (carried === null || carried === start) return;
    const joinable = this.start.joinable?.has(window.device.id) ?? true;
    if (this.start.firstOfRun && joinable) {
      // Downtime bridged: from the previous batch's end to this run's first reading.
      const lead = interval.startMonoNanos - this.start.startMonoNanos;
      joinAcrossDowntime(
        window,
        start,
        this.start.downtimeNanos + (lead > 0n ? lead : 0n),
        this.start.downtimeNanos,
      );
      return;
    }
    // Not the first window of the run, or a carried value read before the previous batch's end:
    // the time since the carried value is not (all) in this window.
    if (this.start.firstOfRun) addDowntimeGap(window, this.start.downtimeNanos, false);
    window.discontinuities.push({
      reason:
        start >= carried ? 'unbridged-gap' : this.start.firstOfRun ? 'agent-downtime-reset' : 'counter-reset',
      fromMicroJoules: carried,
      toMicroJoules: start,
    });
  }

  /** Lists a gap; `gapNanos` counts its time inside the window when there was no reading. */
  private recordGap(
    window: DeviceWindow,
    interval: DeviceInterval,
    bridged: boolean,
    hadReading: boolean,
  ): void {
    const reason = interval.gap?.reason ?? 'read-failed';
    const durationNanos = interval.endMonoNanos - interval.startMonoNanos;
    window.gapCount += 1;
    window.lastGapReason = reason;
    if (!hadReading) window.gapNanos += this.inside(interval);
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

  /**
   * At the seal: a device the first window of a run never joined to its carried counter (it gave
   * no counter reading) did not measure the downtime: declared as an unbridged downtime gap. A
   * device without a counter never measures the downtime either.
   */
  finish(): void {
    if (!this.start.firstOfRun || this.start.downtimeNanos === 0n) return;
    for (const window of this.devices.values()) {
      if (this.joined.has(window.device.id) && window.device.hasEnergyCounter) continue;
      if (window.gaps.some((g) => g.reason === 'agent-downtime')) continue;
      addDowntimeGap(window, this.start.downtimeNanos, false);
    }
  }
}

/** Longest downtime across which a wrapping counter is trusted to have wrapped at most once. */
const MAX_TRUSTED_WRAP_DOWNTIME_NANOS = 60_000_000_000n;

/**
 * Joins a new run's first counter value to the value carried from the ledger. `coverNanos` is the
 * time the counter's advance spans inside this batch: the downtime plus the time before this run's
 * first reading. The advance counts when it is physically possible over that time (power limit ×
 * time × 12/10, docs/FORMAT.md), else it is an `implausible-counter` discontinuity.
 */
function joinAcrossDowntime(
  window: DeviceWindow,
  start: MicroJoules,
  coverNanos: bigint,
  downtimeNanos: bigint,
): void {
  const carried = window.counterEndMicroJoules as MicroJoules;
  const wraps = window.device.energyWrapMicroJoules !== undefined;
  const limit = window.device.powerLimitMilliWatts;
  if (start > carried && (!wraps || downtimeNanos <= MAX_TRUSTED_WRAP_DOWNTIME_NANOS)) {
    const energy = start - carried;
    if (limit === undefined || withinPowerLimit(energy, limit, coverNanos)) {
      // The counter kept counting while the agent was down: that energy is measured, and declared.
      window.downtimeEnergyMicroJoules += energy;
      window.counterEnergyMicroJoules += energy;
      window.energyMicroJoules += energy;
      window.coveredNanos += coverNanos;
      addDowntimeGap(window, downtimeNanos, true);
      return;
    }
    addDowntimeGap(window, downtimeNanos, false);
    window.discontinuities.push({
      reason: 'implausible-counter',
      fromMicroJoules: carried,
      toMicroJoules: start,
    });
    return;
  }
  addDowntimeGap(window, downtimeNanos, false);
  window.discontinuities.push({
    reason: 'agent-downtime-reset',
    fromMicroJoules: carried,
    toMicroJoules: start,
  });
}

function addDowntimeGap(window: DeviceWindow, downtimeNanos: bigint, bridged: boolean): void {
  window.gapCount += 1;
  window.gapNanos += downtimeNanos;
  if (!bridged) window.lastGapReason = 'agent-downtime';
  // Listed first: it precedes every interval of the window.
  window.gaps.unshift({
    reason: 'agent-downtime',
    startMonoNanos: null,
    endMonoNanos: null,
    durationNanos: downtimeNanos,
    bridged,
  });
  if (window.gaps.length > MAX_LISTED_GAPS) window.gaps.pop();
}

/** A counted interval whose bridge began before the window: its energy is not this window's. */
function unbridged(interval: DeviceInterval): DeviceInterval {
  return {
    ...interval,
    energyMicroJoules: null,
    source: null,
    counterEnergyMicroJoules: null,
    integratedEnergyMicroJoules: null,
    gap: {
      reason: 'unbridged-gap',
      message: `the counter advanced across a ${interval.bridgedGapNanos} ns gap that began before this batch; when that energy was used is unknown, so it is not counted`,
    },
  };
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
    lastGapReason: null,
  };
}

/** Reads resumed: the gaps this interval's counter delta spans were measured after all. */
function markBridged(window: DeviceWindow, interval: DeviceInterval): void {
  if (!window.device.hasEnergyCounter) return;
  window.gaps = window.gaps.map((gap) =>
    gap.bridged ||
    gap.reason === 'counter-reset' ||
    gap.startMonoNanos === null ||
    gap.startMonoNanos < interval.startMonoNanos ||
    (gap.endMonoNanos !== null && gap.endMonoNanos > interval.endMonoNanos)
      ? gap
      : { ...gap, bridged: true },
  );
}
