import type { ProbeError } from '../errors.js';
import type { DeviceInfo, DeviceReading, PowerSample } from '../probes/types.js';
import {
  energyFromConstantPower,
  integratePowerTrapezoid,
  type MicroJoules,
  NANOS_PER_SECOND,
} from '../units.js';
import { EnergyCounter } from './counter.js';
import type { DeviceInterval, GapReason, IntervalGap } from './types.js';

/** Margin over the device's power limit before a counter delta is called implausible. */
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

  constructor(device: DeviceInfo) {
    this.device = device;
    this.counter = new EnergyCounter(device.energyWrapMicroJoules);
  }

  /** Records a failed read at `monoNanos`. Returns the gap interval, or null before the first reading. */
  fail(monoNanos: bigint, reason: GapReason, error?: ProbeError): DeviceInterval | null {
    const start = this.lastTickMonoNanos;
    this.lastTickMonoNanos = monoNanos;
    if (start === null || this.lastGoodMonoNanos === null) return null;
    this.pendingGapNanos += monoNanos - start;
    const gap: IntervalGap = error ? { reason, code: error.code, message: error.message } : { reason };
    return emptyInterval(this.device.id, start, monoNanos, gap, this.counter.lastMicroJoules);
  }

  /** Feeds one successful reading. Returns the interval it closes, or null for the baseline reading. */
  observe(reading: DeviceReading): DeviceInterval | null {
    const now = reading.monoNanos;
    const start = this.lastGoodMonoNanos;
    const counterStart = this.counter.lastMicroJoules;
    const integrated = this.integrate(reading.powerSamples ?? []);
    if (reading.energyCounterMicroJoules === undefined && integrated.samples === 0) {
      return this.fail(now, 'no-data');
    }
    const counted = this.countEnergy(reading.energyCounterMicroJoules, start, now);
    this.lastGoodMonoNanos = now;
    this.lastTickMonoNanos = now;
    if (start === null) return null;
    const bridgedGapNanos = this.pendingGapNanos;
    this.pendingGapNanos = 0n;
    const chosen = counted.energyMicroJoules ?? integrated.energyMicroJoules;
    return {
      deviceId: this.device.id,
      startMonoNanos: start,
      endMonoNanos: now,
      energyMicroJoules: chosen,
      source:
        counted.energyMicroJoules !== null
          ? 'counter'
          : integrated.energyMicroJoules !== null
            ? 'integrated-power'
            : null,
      counterEnergyMicroJoules: counted.energyMicroJoules,
      integratedEnergyMicroJoules: integrated.energyMicroJoules,
      counterStartMicroJoules: reading.energyCounterMicroJoules !== undefined ? counterStart : null,
      counterEndMicroJoules: reading.energyCounterMicroJoules ?? null,
      powerMilliWatts: this.lastPower?.powerMilliWatts ?? null,
      powerSampleCount: integrated.samples,
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
  ): { energyMicroJoules: MicroJoules | null; wrapped: boolean; gap: IntervalGap | null } {
    if (raw === undefined) return { energyMicroJoules: null, wrapped: false, gap: null };
    const limit = this.device.powerLimitMilliWatts;
    // Allow a full second of slack: NVML refreshes its counter only every ~20–100 ms.
    const ceiling =
      limit !== undefined && start !== null
        ? energyFromConstantPower(limit * PLAUSIBILITY_MARGIN, now - start + NANOS_PER_SECOND)
        : undefined;
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
            message: `counter advanced ${step.energyMicroJoules} µJ, more than the ${step.ceilingMicroJoules} µJ the power limit allows`,
          },
        };
    }
  }

  /** Trapezoidal integration of new power samples against the previous one. */
  private integrate(samples: readonly PowerSample[]): {
    energyMicroJoules: MicroJoules | null;
    samples: number;
  } {
    let energy: MicroJoules | null = null;
    for (const sample of samples) {
      const previous = this.lastPower;
      if (previous !== null && sample.monoNanos <= previous.monoNanos) continue; // stale or duplicate row
      if (previous !== null) {
        const step = integratePowerTrapezoid(
          previous.powerMilliWatts,
          sample.powerMilliWatts,
          sample.monoNanos - previous.monoNanos,
          this.carry,
        );
        this.carry = step.carry;
        energy = (energy ?? 0n) + step.energyMicroJoules;
      }
      this.lastPower = sample;
    }
    return { energyMicroJoules: energy, samples: samples.length };
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
