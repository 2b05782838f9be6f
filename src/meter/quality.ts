import type { DeviceInfo, EnergySource, PowerSemantics } from '../probes/types.js';
import type { MicroJoules } from '../units.js';
import type { DeviceInterval, GapReason } from './types.js';

/**
 * How much a device's numbers over a window can be trusted: where they came from, what the power
 * sensor means, how many samples and gaps, and how far the counter and integrated power disagree.
 * Every batch will carry one per device.
 */
export interface QualityRecord {
  readonly deviceId: string;
  readonly source: EnergySource | 'none';
  readonly powerSemantics: PowerSemantics | 'none';
  readonly simulated: boolean;
  readonly intervalCount: number;
  readonly powerSampleCount: number;
  readonly gapCount: number;
  /** Time covered by failed intervals (their energy may still be bridged by the counter). */
  readonly gapNanos: bigint;
  readonly gapReasons: Readonly<Partial<Record<GapReason, number>>>;
  readonly wrapCount: number;
  readonly resetCount: number;
  /** Σ counter energy over intervals where integrated power was also available. */
  readonly comparedCounterMicroJoules: MicroJoules;
  /** Σ (counter − integrated) over those intervals; signed. */
  readonly residualMicroJoules: MicroJoules;
  readonly energyMicroJoules: MicroJoules;
  /** Time covered by intervals with energy. */
  readonly measuredNanos: bigint;
  /**
   * Null once anything was measured. Otherwise the device is unmeasured (its 0 is no measurement)
   * and this is why: its last gap's reason, or `no-reading` before its first interval.
   */
  readonly unmeasuredReason: GapReason | 'no-reading' | null;
}

/** Accumulates a {@link QualityRecord} over the intervals of one device. */
export class QualityAccumulator {
  private readonly device: DeviceInfo;
  private intervalCount = 0;
  private powerSampleCount = 0;
  private gapCount = 0;
  private gapNanos = 0n;
  private gapReasons: Partial<Record<GapReason, number>> = {};
  private wrapCount = 0;
  private resetCount = 0;
  private comparedCounterMicroJoules = 0n;
  private residualMicroJoules = 0n;
  private energyMicroJoules = 0n;
  private measuredNanos = 0n;
  private lastGapReason: GapReason | null = null;

  constructor(device: DeviceInfo) {
    this.device = device;
  }

  add(interval: DeviceInterval): void {
    this.intervalCount += 1;
    this.powerSampleCount += interval.powerSampleCount;
    if (interval.wrapped) this.wrapCount += 1;
    if (interval.energyMicroJoules !== null) {
      this.energyMicroJoules += interval.energyMicroJoules;
      this.measuredNanos += interval.endMonoNanos - interval.startMonoNanos;
    }
    if (interval.gap) this.lastGapReason = interval.gap.reason;
    if (interval.gap) {
      this.gapCount += 1;
      this.gapReasons[interval.gap.reason] = (this.gapReasons[interval.gap.reason] ?? 0) + 1;
      if (interval.gap.reason === 'counter-reset') this.resetCount += 1;
      if (interval.energyMicroJoules === null)
        this.gapNanos += interval.endMonoNanos - interval.startMonoNanos;
    }
    if (interval.counterEnergyMicroJoules !== null && interval.integratedEnergyMicroJoules !== null) {
      this.comparedCounterMicroJoules += interval.counterEnergyMicroJoules;
      this.residualMicroJoules += interval.counterEnergyMicroJoules - interval.integratedEnergyMicroJoules;
    }
  }

  snapshot(): QualityRecord {
    return {
      deviceId: this.device.id,
      source: this.device.hasEnergyCounter
        ? 'counter'
        : this.device.powerSemantics
          ? 'integrated-power'
          : 'none',
      powerSemantics: this.device.powerSemantics ?? 'none',
      simulated: this.device.simulated,
      intervalCount: this.intervalCount,
      powerSampleCount: this.powerSampleCount,
      gapCount: this.gapCount,
      gapNanos: this.gapNanos,
      gapReasons: { ...this.gapReasons },
      wrapCount: this.wrapCount,
      resetCount: this.resetCount,
      comparedCounterMicroJoules: this.comparedCounterMicroJoules,
      residualMicroJoules: this.residualMicroJoules,
      energyMicroJoules: this.energyMicroJoules,
      measuredNanos: this.measuredNanos,
      unmeasuredReason: this.measuredNanos > 0n ? null : (this.lastGapReason ?? 'no-reading'),
    };
  }
}
