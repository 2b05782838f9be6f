import { describe, expect, it } from 'vitest';
import { BatchWindow, unmeasuredReasonOf } from '../../../src/ledger/window.js';
import type { DeviceInterval } from '../../../src/meter/types.js';
import type { DeviceInfo } from '../../../src/probes/types.js';

const MS = 1_000_000n;
const gpu: DeviceInfo = {
  id: 'GPU-0',
  probe: 'nvml',
  hwType: 'gpu',
  name: 'H200',
  vendor: 'NVIDIA',
  index: 0,
  powerLimitMilliWatts: 700_000,
  hasEnergyCounter: true,
  powerSemantics: 'instant',
  details: {},
  simulated: false,
};
const { powerLimitMilliWatts: _limit, ...unlimited } = gpu;
const rapl: DeviceInfo = { ...unlimited, id: 'rapl:package-0', probe: 'rapl', hwType: 'cpu' };

/** A counter interval from `fromMs` to `toMs` with counter values `c0` → `c1` (µJ). */
function counted(
  device: string,
  fromMs: bigint,
  toMs: bigint,
  c0: bigint,
  c1: bigint,
  bridgedMs = 0n,
): DeviceInterval {
  return {
    deviceId: device,
    startMonoNanos: fromMs * MS,
    endMonoNanos: toMs * MS,
    energyMicroJoules: c1 - c0,
    source: 'counter',
    counterEnergyMicroJoules: c1 - c0,
    integratedEnergyMicroJoules: null,
    counterStartMicroJoules: c0,
    counterEndMicroJoules: c1,
    powerMilliWatts: null,
    powerSampleCount: 0,
    wrapped: false,
    gap: null,
    bridgedGapNanos: bridgedMs * MS,
  };
}
function failed(device: string, fromMs: bigint, toMs: bigint, c: bigint): DeviceInterval {
  return {
    ...counted(device, fromMs, toMs, c, c),
    energyMicroJoules: null,
    source: null,
    counterEnergyMicroJoules: null,
    counterEndMicroJoules: null,
    gap: { reason: 'device-lost' },
  };
}
const later = (carried: Map<string, bigint | null>, startMs: bigint) =>
  new BatchWindow([gpu, rapl], carried, {
    startMonoNanos: startMs * MS,
    downtimeNanos: 0n,
    firstOfRun: false,
  });

describe('BatchWindow', () => {
  it('covers only the part of an interval inside the window (a 1 s RAPL read in a 300 ms batch)', () => {
    const window = later(new Map([['rapl:package-0', 0n]]), 1000n);
    window.add(counted('rapl:package-0', 400n, 1300n, 0n, 90_000_000n));
    const d = window.devices.get('rapl:package-0');
    expect(d?.energyMicroJoules).toBe(90_000_000n);
    expect(d?.coveredNanos).toBe(300n * MS);
  });

  it('does not count a bridge that began in an earlier batch: an unbridged-gap jump', () => {
    const window = later(new Map([['GPU-0', 5_000_000n]]), 1000n);
    window.add(failed('GPU-0', 900n, 1000n, 5_000_000n));
    window.add(failed('GPU-0', 1000n, 1100n, 5_000_000n));
    window.add(counted('GPU-0', 800n, 1200n, 5_000_000n, 105_000_000n, 200n));
    window.finish();
    const d = window.devices.get('GPU-0');
    expect(d?.energyMicroJoules).toBe(0n);
    expect(d?.coveredNanos).toBe(0n);
    expect(d?.discontinuities).toEqual([
      { reason: 'unbridged-gap', fromMicroJoules: 5_000_000n, toMicroJoules: 105_000_000n },
    ]);
    expect(d?.gaps.every((g) => !g.bridged)).toBe(true);
    expect(d?.counterEndMicroJoules).toBe(105_000_000n);
    expect(d && unmeasuredReasonOf(d)).toBe('unbridged-gap');
  });

  it('counts a bridge inside the window and marks only the gaps it spans as bridged', () => {
    const window = later(new Map([['GPU-0', 0n]]), 1000n);
    window.add(counted('GPU-0', 1000n, 1100n, 0n, 10_000_000n));
    window.add(failed('GPU-0', 1100n, 1200n, 10_000_000n));
    window.add(counted('GPU-0', 1100n, 1300n, 10_000_000n, 30_000_000n, 100n));
    const d = window.devices.get('GPU-0');
    expect(d?.energyMicroJoules).toBe(30_000_000n);
    expect(d?.coveredNanos).toBe(300n * MS);
    expect(d?.gaps).toMatchObject([{ reason: 'device-lost', bridged: true }]);
    expect(d && unmeasuredReasonOf(d)).toBeNull();
  });

  it('says why a device measured nothing, and no-reading when nothing of it arrived', () => {
    const window = later(new Map(), 1000n);
    window.add(failed('GPU-0', 1000n, 1100n, 0n));
    expect(unmeasuredReasonOf(window.devices.get('GPU-0') as never)).toBe('device-lost');
    expect(unmeasuredReasonOf(window.devices.get('rapl:package-0') as never)).toBe('no-reading');
  });

  it('joins counters only in the first window of a run; later, a jump is declared, not counted', () => {
    const window = later(new Map([['GPU-0', 1_000_000n]]), 1000n);
    window.add(counted('GPU-0', 1000n, 1100n, 9_000_000n, 19_000_000n));
    const d = window.devices.get('GPU-0');
    expect(d?.energyMicroJoules).toBe(10_000_000n);
    expect(d?.downtimeEnergyMicroJoules).toBe(0n);
    expect(d?.discontinuities).toEqual([
      { reason: 'unbridged-gap', fromMicroJoules: 1_000_000n, toMicroJoules: 9_000_000n },
    ]);
  });
});
