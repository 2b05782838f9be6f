import { describe, expect, it } from 'vitest';
import { ProbeError } from '../../../src/errors.js';
import { DeviceMeter } from '../../../src/meter/device-meter.js';
import type { DeviceInfo, DeviceReading } from '../../../src/probes/types.js';

const MS = 1_000_000n;

/** A device description; keys set to `undefined` in `overrides` are left out. */
function gpu(overrides: { [K in keyof DeviceInfo]?: DeviceInfo[K] | undefined } = {}): DeviceInfo {
  const device: Record<string, unknown> = {
    id: 'GPU-test-0',
    probe: 'nvml',
    hwType: 'gpu',
    name: 'NVIDIA H200',
    vendor: 'NVIDIA',
    index: 0,
    powerLimitMilliWatts: 700_000,
    hasEnergyCounter: true,
    powerSemantics: 'instant',
    details: {},
    simulated: false,
    ...overrides,
  };
  for (const [key, value] of Object.entries(device)) if (value === undefined) delete device[key];
  return device as unknown as DeviceInfo;
}

function reading(ms: bigint, counterMicroJoules?: bigint, powerMilliWatts?: number): DeviceReading {
  return {
    monoNanos: ms * MS,
    ...(counterMicroJoules !== undefined ? { energyCounterMicroJoules: counterMicroJoules } : {}),
    ...(powerMilliWatts !== undefined ? { powerSamples: [{ monoNanos: ms * MS, powerMilliWatts }] } : {}),
  };
}

describe('DeviceMeter', () => {
  it('takes a baseline, then reports counter energy with the integrated power beside it', () => {
    const meter = new DeviceMeter(gpu());
    expect(meter.observe(reading(0n, 1_000_000n, 100_000))).toBeNull();
    const interval = meter.observe(reading(100n, 11_000_000n, 100_000));
    expect(interval).toMatchObject({
      startMonoNanos: 0n,
      endMonoNanos: 100n * MS,
      energyMicroJoules: 10_000_000n,
      source: 'counter',
      counterEnergyMicroJoules: 10_000_000n,
      integratedEnergyMicroJoules: 10_000_000n,
      counterStartMicroJoules: 1_000_000n,
      counterEndMicroJoules: 11_000_000n,
      gap: null,
    });
  });

  it('uses integrated power when the device has no counter', () => {
    const meter = new DeviceMeter(gpu({ hasEnergyCounter: false, probe: 'nvidia-smi' }));
    meter.observe(reading(0n, undefined, 200_000));
    const interval = meter.observe(reading(500n, undefined, 400_000));
    expect(interval?.source).toBe('integrated-power');
    // trapezoid: (200 W + 400 W) / 2 × 0.5 s = 150 J
    expect(interval?.energyMicroJoules).toBe(150_000_000n);
    expect(interval?.counterEnergyMicroJoules).toBeNull();
  });

  it('reports a failed read as a gap and bridges it with the counter once reads resume', () => {
    const meter = new DeviceMeter(gpu());
    meter.observe(reading(0n, 0n));
    const ok = meter.observe(reading(100n, 5_000_000n));
    const failed = meter.fail(200n * MS, 'read-failed', new ProbeError('NVML_UNKNOWN', 'boom'));
    expect(failed).toMatchObject({
      energyMicroJoules: null,
      gap: { reason: 'read-failed', code: 'NVML_UNKNOWN' },
    });
    const resumed = meter.observe(reading(300n, 25_000_000n));
    // The counter still counted the gap: 20 J over 200 ms, starting at the last good reading.
    expect(resumed).toMatchObject({
      startMonoNanos: 100n * MS,
      energyMicroJoules: 20_000_000n,
      bridgedGapNanos: 100n * MS,
    });
    const total = [ok, failed, resumed].reduce((sum, i) => sum + (i?.energyMicroJoules ?? 0n), 0n);
    expect(total).toBe(25_000_000n);
  });

  it('records a counter reset as a gap, falls back to integrated power, and rebases on the new value', () => {
    const meter = new DeviceMeter(gpu());
    meter.observe(reading(0n, 90_000_000n, 100_000));
    const reset = meter.observe(reading(1000n, 2_000_000n, 100_000));
    expect(reset?.gap?.reason).toBe('counter-reset');
    expect(reset?.counterEnergyMicroJoules).toBeNull();
    expect(reset?.source).toBe('integrated-power');
    expect(reset?.energyMicroJoules).toBe(100_000_000n);
    const after = meter.observe(reading(1100n, 12_000_000n, 100_000));
    expect(after).toMatchObject({ energyMicroJoules: 10_000_000n, source: 'counter', gap: null });
  });

  it('has no energy at all for a reset on a counter-only device: a gap, never 0', () => {
    const meter = new DeviceMeter(gpu({ powerSemantics: undefined }));
    meter.observe(reading(0n, 90_000_000n));
    const reset = meter.observe(reading(100n, 10n));
    expect(reset?.energyMicroJoules).toBeNull();
    expect(reset?.source).toBeNull();
  });

  it('counts a RAPL wrap between two reads exactly and marks it', () => {
    const meter = new DeviceMeter(
      gpu({
        id: 'rapl:package-0',
        probe: 'rapl',
        hwType: 'cpu',
        energyWrapMicroJoules: 262_143_328_850n,
        powerLimitMilliWatts: undefined,
      }),
    );
    meter.observe(reading(0n, 262_143_000_000n));
    const interval = meter.observe(reading(1000n, 671_150n));
    expect(interval).toMatchObject({ energyMicroJoules: 1_000_000n, wrapped: true, gap: null });
  });

  it('calls a counter jump beyond twice the power limit implausible', () => {
    const meter = new DeviceMeter(gpu());
    meter.observe(reading(0n, 0n));
    // 700 W limit × 2 × (0.1 s + 1 s slack) = 1540 J; 5000 J in 100 ms is impossible.
    const interval = meter.observe(reading(100n, 5_000_000_000n));
    expect(interval?.gap?.reason).toBe('implausible-counter');
    expect(interval?.energyMicroJoules).toBeNull();
  });

  it('treats a reading with neither counter nor power as a no-data gap', () => {
    const meter = new DeviceMeter(gpu());
    meter.observe(reading(0n, 0n));
    expect(meter.observe({ monoNanos: 100n * MS })?.gap?.reason).toBe('no-data');
  });

  it('keeps a GPU whose power reads [N/A] unmeasured from its first tick: gaps, never 0 J', () => {
    // GT 1030, Quadro P400, GRID vGPU: no counter, and nvidia-smi prints power.draw [N/A].
    const meter = new DeviceMeter(gpu({ hasEnergyCounter: false, probe: 'nvidia-smi' }));
    expect(meter.observe({ monoNanos: 0n })).toBeNull(); // the first tick opens nothing
    for (let i = 1n; i <= 5n; i++) {
      const interval = meter.observe({ monoNanos: i * 100n * MS });
      expect(interval).toMatchObject({
        startMonoNanos: (i - 1n) * 100n * MS,
        endMonoNanos: i * 100n * MS,
        energyMicroJoules: null,
        source: null,
        gap: { reason: 'no-data' },
      });
    }
  });

  it('never integrates power across a gap: the first sample after it is a new baseline', () => {
    const meter = new DeviceMeter(gpu({ hasEnergyCounter: false, probe: 'nvidia-smi' }));
    meter.observe(reading(0n, undefined, 300_000));
    expect(meter.observe(reading(100n, undefined, 300_000))?.energyMicroJoules).toBe(30_000_000n);
    // nvidia-smi hangs for 10 s: one timeout gap per tick.
    for (let t = 200n; t <= 10_100n; t += 100n) {
      expect(meter.fail(t * MS, 'probe-timeout')?.energyMicroJoules).toBeNull();
    }
    // The first row after the hang is a baseline, not a trapezoid against the row before it.
    expect(meter.observe(reading(10_700n, undefined, 300_000))).toBeNull();
    const next = meter.observe(reading(10_800n, undefined, 300_000));
    expect(next).toMatchObject({
      startMonoNanos: 10_700n * MS,
      energyMicroJoules: 30_000_000n,
      source: 'integrated-power',
      bridgedGapNanos: 0n,
    });
  });

  it('drops power rows taken during a gap, and integrates only those after it', () => {
    const meter = new DeviceMeter(gpu({ hasEnergyCounter: false, probe: 'nvidia-smi' }));
    meter.observe(reading(0n, undefined, 100_000));
    meter.fail(1000n * MS, 'probe-timeout');
    const samples = [500n, 1100n, 1200n, 1300n].map((ms) => ({
      monoNanos: ms * MS,
      powerMilliWatts: 200_000,
    }));
    const interval = meter.observe({ monoNanos: 1300n * MS, powerSamples: samples });
    // 200 W from 1.1 s to 1.3 s = 40 J; the 0.5 s row (inside the gap) is not used.
    expect(interval).toMatchObject({ startMonoNanos: 1100n * MS, energyMicroJoules: 40_000_000n });
  });

  it('bridges a gap with the counter only when the power limit allows the energy', () => {
    const bridged = new DeviceMeter(gpu());
    bridged.observe(reading(0n, 0n, 300_000));
    bridged.fail(5000n * MS, 'probe-timeout');
    // 3114 J over 10 s is 311 W on a 700 W GPU: physically possible, counted, marked bridged.
    const ok = bridged.observe(reading(10_000n, 3_114_000_000n, 300_000));
    expect(ok).toMatchObject({
      energyMicroJoules: 3_114_000_000n,
      source: 'counter',
      gap: null,
      bridgedGapNanos: 5000n * MS,
      // integrated power restarted after the gap, so it is not compared with the counter
      integratedEnergyMicroJoules: null,
    });
    const impossible = new DeviceMeter(gpu());
    impossible.observe(reading(0n, 0n));
    impossible.fail(5000n * MS, 'device-lost');
    // 8401 J over 10 s is above 700 W × 10 s × 12/10 = 8400 J: a discontinuity that counts nothing.
    const jump = impossible.observe(reading(10_000n, 8_401_000_000n));
    expect(jump?.gap?.reason).toBe('implausible-counter');
    expect(jump?.energyMicroJoules).toBeNull();
    const atLimit = new DeviceMeter(gpu());
    atLimit.observe(reading(0n, 0n));
    atLimit.fail(5000n * MS, 'device-lost');
    expect(atLimit.observe(reading(10_000n, 8_400_000_000n))?.energyMicroJoules).toBe(8_400_000_000n);
  });
});
