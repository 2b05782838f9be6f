import type { ProbeError } from '../errors.js';
import type { DeviceInfo, DeviceReading, PowerSample } from '../probes/types.js';
import {
  energyFromConstantPower,
  integratePowerTrapezoid,
  type MicroJoules,
  NANOS_PER_SECOND,
  powerLimitCeilingMicroJoules,
} from '../units.js';
import { EnergyCounter } from './counter.js';
import type { DeviceInterval, GapReason, IntervalGap } from './types.js';

/** Margin over the device's power limit before a counter delta between consecutive reads is implausible. */
const PLAUSIBILITY_MARGIN = 2;

/**
 * Per-device interval accounting: counter deltas (with wraps and resets), trapezoidal integration
 * of power samples, and explicit gaps. Pure apart from its own state; time comes from readings.
 */
export class DeviceMeter {
  readonly device: DeviceInfo;
  private readonly counter: EnergyCounter;
  private lastGoodMonoNanos: bigint | null = null;
  private lastTickMonoNanos: bigint | null = null;
  private lastPower: PowerSample | null = null;
  private carry = 0n;
  private pendingGapNanos = 0n;
  /** Set by a failed read: power samples at or before it are not integrated after the gap. */
  private integrationFloorNanos: bigint | null = null;

  constructor(device: DeviceInfo) {
    this.device = device;
    this.counter = new EnergyCounter(device.energyWrapMicroJoules);
  }

  /**
   * Records a failed read at `monoNanos`. Returns the gap interval, or null for the very first tick
   * (there is no interval before it). A device that has never read successfully still gets its gap
   * intervals: it is unmeasured, with a reason, never a silent 0.
   */
  fail(monoNanos: bigint, reason: GapReason, error?: ProbeError): DeviceInterval | null {
    const start = this.lastTickMonoNanos;
    this.lastTickMonoNanos = monoNanos;
    // Integrated power never runs across unobserved time: the next sample after this is a new
    // baseline, and samples taken before now are not integrated.
    this.lastPower = null;
    this.integrationFloorNanos = monoNanos;
    if (start === null) return null;
    if (this.lastGoodMonoNanos !== null) this.pendingGapNanos += monoNanos - start;
    const gap: IntervalGap = error ? { reason, code: error.code, message: error.message } : { reason };
    return emptyInterval(this.device.id, start, monoNanos, gap, this.counter.lastMicroJoules);
  }

  /** Feeds one successful reading. Returns the interval it closes, or null for a baseline reading. */
  observe(reading: DeviceReading): DeviceInterval | null {
    const now = reading.monoNanos;
    const continuous = this.lastPower !== null;
    const integrated = this.integrate(reading.powerSamples ?? []);
    const raw = reading.energyCounterMicroJoules;
    if (raw === undefined && integrated.samples === 0) return this.fail(now, 'no-data');
    if (raw === undefined && !continuous && this.lastGoodMonoNanos !== null) {
      // Power-only device after a gap: what nobody observed is unknown. The first new sample is a
      // new baseline; an interval starts there, never at the last reading before the gap.
      this.lastTickMonoNanos = now;
      this.pendingGapNanos = 0n;
      this.lastGoodMonoNanos = now;
      if (integrated.energyMicroJoules === null || integrated.baselineNanos === null) return null;
      return this.interval(reading, integrated.baselineNanos, null, integrated.energyMicroJoules, {
        energyMicroJoules: null,
        wrapped: false,
        gap: null,
      });
    }
    const start = this.lastGoodMonoNanos;
    const counterStart = this.counter.lastMicroJoules;
    const counted = this.countEnergy(raw, start, now, this.pendingGapNanos > 0n);
    this.lastGoodMonoNanos = now;
    this.lastTickMonoNanos = now;
    if (start === null) return null;
    // Integrated power that restarted after a gap covers only part of this interval: not comparable.
    const integratedEnergy = continuous ? integrated.energyMicroJoules : null;
    return this.interval(reading, start, raw !== undefined ? counterStart : null, integratedEnergy, counted);
  }

  private interval(
    reading: DeviceReading,
    start: bigint,
    counterStart: MicroJoules | null,
    integratedEnergy: MicroJoules | null,
    counted: { energyMicroJoules: MicroJoules | null; wrapped: boolean; gap: IntervalGap | null },
  ): DeviceInterval {
    const bridgedGapNanos = this.pendingGapNanos;
    this.pendingGapNanos = 0n;
    const chosen = counted.energyMicroJoules ?? integratedEnergy;
    return {
      deviceId: this.device.id,
      startMonoNanos: start,
      endMonoNanos: reading.monoNanos,
      energyMicroJoules: chosen,
      source:
        counted.energyMicroJoules !== null
          ? 'counter'
          : integratedEnergy !== null
            ? 'integrated-power'
            : null,
      counterEnergyMicroJoules: counted.energyMicroJoules,
      integratedEnergyMicroJoules: integratedEnergy,
      counterStartMicroJoules: counterStart,
      counterEndMicroJoules: reading.energyCounterMicroJoules ?? null,
      powerMilliWatts: this.lastPower?.powerMilliWatts ?? null,
      powerSampleCount: reading.powerSamples?.length ?? 0,
      wrapped: counted.wrapped,
      gap: counted.gap,
      bridgedGapNanos,
      ...(reading.utilizationGpuPercent !== undefined
        ? { utilizationGpuPercent: reading.utilizationGpuPercent }
        : {}),
      ...(reading.memoryUsedBytes !== undefined ? { memoryUsedBytes: reading.memoryUsedBytes } : {}),
    };
  }

  private countEnergy(
    raw: MicroJoules | undefined,
    start: bigint | null,
    now: bigint,
    acrossGap: boolean,
  ): { energyMicroJoules: MicroJoules | null; wrapped: boolean; gap: IntervalGap | null } {
    if (raw === undefined) return { energyMicroJoules: null, wrapped: false, gap: null };
    const ceiling = this.ceiling(start, now, acrossGap);
    const step = this.counter.step(raw, ceiling);
    switch (step.kind) {
      case 'first':
        return { energyMicroJoules: null, wrapped: false, gap: null };
      case 'delta':
        return { energyMicroJoules: step.energyMicroJoules, wrapped: step.wrapped, gap: null };
      case 'reset':
        return {
          energyMicroJoules: null,
          wrapped: false,
          gap: {
            reason: 'counter-reset',
            message: `counter went from ${step.previousMicroJoules} to ${step.currentMicroJoules} µJ without a wrap range`,
          },
        };
      case 'implausible':
        return {
          energyMicroJoules: null,
          wrapped: false,
          gap: {
            reason: 'implausible-counter',
            message: acrossGap
              ? `counter advanced ${step.energyMicroJoules} µJ across a gap, more than the ${step.ceilingMicroJoules} µJ the power limit allows over its ${now - (start ?? now)} ns (limit × time × 12/10): a discontinuity, not counted`
              : `counter advanced ${step.energyMicroJoules} µJ, more than the ${step.ceilingMicroJoules} µJ the power limit allows`,
          },
        };
    }
  }

  /**
   * The most energy the counter may show for this interval. Across a gap (a bridge), the physics
   * bound exactly: power limit × the interval × 12/10 (docs/MEASUREMENT.md §3). Between two
   * consecutive reads, twice the limit over the interval + 1 s: NVML refreshes its counter only
   * every ~20–100 ms, so one short interval can hold a neighbour's energy.
   */
  private ceiling(start: bigint | null, now: bigint, acrossGap: boolean): MicroJoules | undefined {
    const limit = this.device.powerLimitMilliWatts;
    if (limit === undefined || start === null) return undefined;
    if (acrossGap) return powerLimitCeilingMicroJoules(limit, now - start);
    return energyFromConstantPower(limit * PLAUSIBILITY_MARGIN, now - start + NANOS_PER_SECOND);
  }

  /**
   * Trapezoidal integration of new power samples against the previous one. After a gap (no previous
   * sample) the first sample newer than the failed tick is the new baseline (`baselineNanos`).
   */
  private integrate(samples: readonly PowerSample[]): {
    energyMicroJoules: MicroJoules | null;
    samples: number;
    baselineNanos: bigint | null;
  } {
    let energy: MicroJoules | null = null;
    let baselineNanos: bigint | null = null;
    for (const sample of samples) {
      const previous = this.lastPower;
      if (previous !== null && sample.monoNanos <= previous.monoNanos) continue; // stale or duplicate row
      if (
        previous === null &&
        this.integrationFloorNanos !== null &&
        sample.monoNanos <= this.integrationFloorNanos
      )
        continue; // taken before the gap ended: not part of what is observed after it
      if (previous !== null) {
        const step = integratePowerTrapezoid(
          previous.powerMilliWatts,
          sample.powerMilliWatts,
          sample.monoNanos - previous.monoNanos,
          this.carry,
        );
        this.carry = step.carry;
        energy = (energy ?? 0n) + step.energyMicroJoules;
      } else {
        baselineNanos = sample.monoNanos;
      }
      this.lastPower = sample;
    }
    return { energyMicroJoules: energy, samples: samples.length, baselineNanos };
  }
}

function emptyInterval(
  deviceId: string,
  start: bigint,
  end: bigint,
  gap: IntervalGap,
  counter: MicroJoules | null,
): DeviceInterval {
  return {
    deviceId,
    startMonoNanos: start,
    endMonoNanos: end,
    energyMicroJoules: null,
    source: null,
    counterEnergyMicroJoules: null,
    integratedEnergyMicroJoules: null,
    counterStartMicroJoules: counter,
    counterEndMicroJoules: null,
    powerMilliWatts: null,
    powerSampleCount: 0,
    wrapped: false,
    gap,
    bridgedGapNanos: 0n,
  };
}
