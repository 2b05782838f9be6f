import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { Meter } from '../../../src/meter/meter.js';
import type { DeviceInterval, MeterTick } from '../../../src/meter/types.js';
import { NvmlProbe } from '../../../src/probes/nvml.js';
import { buildFakeNvml, FakeNvmlState, fakeNvmlSkipReason } from '../../helpers/fake-nvml.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { describeUnless } from '../../helpers/skip.js';

// The meter over the real NVML probe and koffi, against the fake libnvidia-ml.so.1: faults are
// injected through the fake's state files, time through a manual clock.
const NVML_ERROR_GPU_IS_LOST = 15;
const skip = fakeNvmlSkipReason();

describeUnless(skip)('meter over NVML with injected faults', () => {
  let library: string;
  let state: FakeNvmlState;
  let probe: NvmlProbe;
  let clock: ManualClock;
  let meter: Meter;
  let ticks: MeterTick[];

  beforeAll(async () => {
    library = await buildFakeNvml();
  });
  beforeEach(async () => {
    state = await FakeNvmlState.create(2);
    state.activate();
    clock = new ManualClock();
    probe = new NvmlProbe({ libraryPath: library, clock });
    const inventory = await probe.open();
    meter = new Meter([{ probe, devices: inventory.devices, intervalMs: 100 }], {
      clock,
      readTimeoutMs: 500,
    });
    ticks = [];
    meter.subscribe((tick) => ticks.push(tick));
  });
  afterEach(async () => {
    await probe.close();
    await state.cleanup();
  });
  afterAll(() => {
    delete process.env.FAKE_NVML_DIR;
  });

  /** Sets both GPUs' counters (mJ), advances the clock 100 ms and ticks. */
  async function step(milliJoules: [number, number]): Promise<MeterTick> {
    await state.setEnergyMilliJoules(0, milliJoules[0]);
    await state.setEnergyMilliJoules(1, milliJoules[1]);
    clock.advanceMillis(100);
    const [tick] = await meter.tickAll();
    return tick as MeterTick;
  }

  function intervalsOf(index: number): DeviceInterval[] {
    return ticks.flatMap((t) => t.intervals).filter((i) => i.deviceId.endsWith(`0${index}`));
  }

  it('keeps measuring one GPU while the other is lost mid-run, and bridges the loss when it comes back', async () => {
    await step([1_000, 5_000]);
    await step([1_060, 5_070]);
    await state.setFail(1, NVML_ERROR_GPU_IS_LOST);
    const lost = await step([1_120, 5_140]);
    expect(lost.intervals.find((i) => i.deviceId.endsWith('00'))?.energyMicroJoules).toBe(60_000n);
    expect(lost.intervals.find((i) => i.deviceId.endsWith('01'))).toMatchObject({
      energyMicroJoules: null,
      gap: { reason: 'device-lost', code: 'NVML_GPU_IS_LOST' },
    });
    await step([1_180, 5_210]);
    // GPU 1 stays lost: the probe does not call NVML for it again, and the meter keeps a gap.
    expect(intervalsOf(1).at(-1)?.gap?.reason).toBe('device-lost');
    const status = meter.status();
    expect(status[0]?.energyMicroJoules).toBe(180_000n);
    expect(status[1]?.quality.gapReasons['device-lost']).toBe(2);
    expect(status[1]?.energyMicroJoules).toBe(70_000n);
  });

  it('turns a counter reset (driver reload) into a declared gap, never a negative number', async () => {
    await step([90_000, 90_000]);
    await step([90_070, 90_070]);
    const reset = await step([10, 90_140]);
    const gpu0 = reset.intervals.find((i) => i.deviceId.endsWith('00'));
    expect(gpu0?.gap?.reason).toBe('counter-reset');
    expect(gpu0?.counterEnergyMicroJoules).toBeNull();
    // Falls back to integrated power (the fake's instant field, 588.39 W × 100 ms), labelled so.
    expect(gpu0?.source).toBe('integrated-power');
    expect(gpu0?.energyMicroJoules).toBe(58_839_000n);
    await step([80, 90_210]);
    expect(intervalsOf(0).at(-1)).toMatchObject({ energyMicroJoules: 70_000n, source: 'counter', gap: null });
    for (const interval of intervalsOf(0)) expect((interval.energyMicroJoules ?? 0n) >= 0n).toBe(true);
  });

  it('records a read slower than the timeout as probe-timeout gaps and recovers the energy afterwards', async () => {
    await step([1_000, 1_000]);
    await state.setDelayMicros(800_000, 0);
    const slow = await step([1_050, 1_050]);
    expect(
      slow.intervals.every((i) => i.gap?.reason === 'probe-timeout' && i.energyMicroJoules === null),
    ).toBe(true);
    await state.setDelayMicros(0, 0);
    await new Promise((resolve) => setTimeout(resolve, 900)); // let the stuck call finish
    const recovered = await step([1_200, 1_200]);
    const gpu1 = recovered.intervals.find((i) => i.deviceId.endsWith('01'));
    expect(gpu1).toMatchObject({ energyMicroJoules: 200_000n, bridgedGapNanos: 100_000_000n });
  });
});
