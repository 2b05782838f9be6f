import type { DeviceInterval } from '../../src/meter/types.js';

/** A successful interval of `energy` µJ (or a gap with `null`). */
export function interval(
  deviceId: string,
  start: bigint,
  end: bigint,
  energy: bigint | null,
  bridgedGapNanos = 0n,
): DeviceInterval {
  return {
    deviceId,
    startMonoNanos: start,
    endMonoNanos: end,
    energyMicroJoules: energy,
    source: energy === null ? null : 'counter',
    counterEnergyMicroJoules: energy,
    integratedEnergyMicroJoules: null,
    counterStartMicroJoules: null,
    counterEndMicroJoules: null,
    powerMilliWatts: null,
    powerSampleCount: 1,
    wrapped: false,
    gap: energy === null ? { reason: 'read-failed' } : null,
    bridgedGapNanos,
  };
}
