import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { NvmlProbe } from '../../../src/probes/nvml.js';
import type { DeviceReading, DeviceReadResult } from '../../../src/probes/types.js';
import { buildFakeNvml, FakeNvmlState, fakeNvmlSkipReason } from '../../helpers/fake-nvml.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { describeUnless } from '../../helpers/skip.js';

// read() behaviour of the NVML probe through real koffi against the fake libnvidia-ml.so.1.

const skipReason = fakeNvmlSkipReason();

function reading(result: DeviceReadResult | undefined): DeviceReading {
  if (!result?.ok) throw new Error(`expected a reading, got ${JSON.stringify(result?.error?.message)}`);
  return result.reading;
}

const live = () => new AbortController().signal;

describeUnless(skipReason)('NvmlProbe.read against a fake libnvidia-ml.so.1', () => {
  let libraryPath: string;
  let state: FakeNvmlState;
  let probe: NvmlProbe;
  let clock: ManualClock;

  beforeAll(async () => {
    libraryPath = await buildFakeNvml();
  });

  afterEach(async () => {
    await probe.close();
    await state.cleanup();
  });

  async function openWith(gpus: number, prepare?: (fake: FakeNvmlState) => Promise<void>): Promise<void> {
    state = await FakeNvmlState.create(gpus);
    state.activate();
    await prepare?.(state);
    clock = new ManualClock();
    probe = new NvmlProbe({ libraryPath, clock });
    await probe.open();
  }

  it('converts the millijoule energy counter to exact microjoules as it advances', async () => {
    await openWith(1);
    await state.setEnergyMilliJoules(0, 1_000_000);
    expect(reading((await probe.read(live()))[0]).energyCounterMicroJoules).toBe(1_000_000_000n);
    await state.setEnergyMilliJoules(0, 1_000_123);
    expect(reading((await probe.read(live()))[0]).energyCounterMicroJoules).toBe(1_000_123_000n);
    // Above 2^53 koffi hands back a bigint instead of a number; both must come out exact.
    await state.setEnergyMilliJoules(0, 9_007_199_254_740_993n);
    expect(reading((await probe.read(live()))[0]).energyCounterMicroJoules).toBe(9_007_199_254_740_993_000n);
  });

  it('returns one instant power sample, utilization and memory, timestamped on the injected clock', async () => {
    await openWith(1);
    clock.advanceMillis(250);
    const [result] = await probe.read(live());
    expect(result).toEqual({
      ok: true,
      deviceId: 'GPU-5a8c1f0e-7b2d-4c3a-9e1f-000000000000',
      reading: {
        monoNanos: clock.monoNanos(),
        energyCounterMicroJoules: 1_000_000_000n,
        powerSamples: [{ monoNanos: clock.monoNanos(), powerMilliWatts: 588_390 }],
        utilizationGpuPercent: 87,
        memoryUsedBytes: 1_024n * 1_048_576n,
        memoryTotalBytes: 143_771n * 1_048_576n,
      },
    });
  });

  it('samples GetPowerUsage when the instant field is unsupported', async () => {
    await openWith(1, (fake) => fake.setGpu(0, { instantMilliWatts: null }));
    const [result] = await probe.read(live());
    expect(reading(result).powerSamples?.map((s) => s.powerMilliWatts)).toEqual([627_400]);
  });

  it('passes a decreasing counter through unchanged, leaving reset detection to the meter', async () => {
    await openWith(1, (fake) => fake.setEnergyMilliJoules(0, 5_000_000));
    expect(reading((await probe.read(live()))[0]).energyCounterMicroJoules).toBe(5_000_000_000n);
    await state.setEnergyMilliJoules(0, 12);
    expect(reading((await probe.read(live()))[0]).energyCounterMicroJoules).toBe(12_000n);
  });

  it('omits the energy counter of a gpu that has none and still reports its power', async () => {
    await openWith(1, (fake) => fake.setEnergyMilliJoules(0, null));
    const result = reading((await probe.read(live()))[0]);
    expect(result).not.toHaveProperty('energyCounterMicroJoules');
    expect(result.powerSamples).toHaveLength(1);
  });

  it('marks a gpu lost on GPU_IS_LOST and never calls nvml for it again while the other keeps reading', async () => {
    await openWith(2);
    await state.enableTrace();
    await state.setFail(1, 15, ['nvmlDeviceGetTotalEnergyConsumption']);
    const [first, lost] = await probe.read(live());
    expect(first?.ok).toBe(true);
    expect(lost).toMatchObject({ ok: false, error: { code: 'NVML_GPU_IS_LOST', nvmlReturn: 15 } });
    expect(lost?.ok === false && lost.error.message).toContain('GPU-5a8c1f0e-7b2d-4c3a-9e1f-000000000001');
    await state.clearFail(1); // even if the gpu "comes back", this session must not trust it
    const callsBefore = (await state.calls()).filter((c) => c.endsWith(' 1')).length;
    for (let tick = 0; tick < 3; tick++) {
      await state.setEnergyMilliJoules(0, 2_000_000 + tick);
      const [gpu0, gpu1] = await probe.read(live());
      expect(reading(gpu0).energyCounterMicroJoules).toBe(BigInt(2_000_000 + tick) * 1000n);
      expect(gpu1).toEqual(lost);
    }
    expect((await state.calls()).filter((c) => c.endsWith(' 1'))).toHaveLength(callsBefore);
  });

  it('reports a failing energy read as that gpu’s error, and reads it again on the next tick', async () => {
    await openWith(2, (fake) => fake.setFail(0, 999, ['nvmlDeviceGetTotalEnergyConsumption']));
    const [failed, other] = await probe.read(live());
    expect(failed).toMatchObject({ ok: false, error: { code: 'NVML_UNKNOWN', nvmlReturn: 999 } });
    expect(failed?.ok === false && failed.error.message).toMatch(
      /^nvmlDeviceGetTotalEnergyConsumption failed for gpu GPU-.*: nvml returned 999 \(NVML_UNKNOWN\): "Unknown Error"$/,
    );
    expect(other?.ok).toBe(true);
    await state.clearFail(0);
    expect((await probe.read(live()))[0]?.ok).toBe(true);
  });

  it('stops asking for utilization once nvml says it is not supported', async () => {
    await openWith(1, (fake) => fake.setGpu(0, { utilizationGpuPercent: null }));
    await state.enableTrace();
    for (let tick = 0; tick < 3; tick++) {
      expect(reading((await probe.read(live()))[0])).not.toHaveProperty('utilizationGpuPercent');
    }
    expect((await state.calls()).filter((c) => c.startsWith('nvmlDeviceGetUtilizationRates'))).toHaveLength(
      1,
    );
  });

  it('omits memory for a gpu whose memory info is not supported', async () => {
    await openWith(1, (fake) => fake.setGpu(0, { memoryTotalBytes: null }));
    const result = reading((await probe.read(live()))[0]);
    expect(result).not.toHaveProperty('memoryUsedBytes');
    expect(result).not.toHaveProperty('memoryTotalBytes');
  });

  it('keeps the event loop running while a slow nvml call is in flight', async () => {
    await openWith(1);
    await state.setDelayMicros(300_000);
    let ticks = 0;
    const timer = setInterval(() => {
      ticks++;
    }, 10);
    try {
      const started = performance.now();
      const [result] = await probe.read(live());
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(result?.ok).toBe(true);
      // A blocked loop would tick at most once; ~30 ticks fit in 300 ms, 5 leaves room for a loaded CI.
      expect(ticks).toBeGreaterThanOrEqual(5);
    } finally {
      clearInterval(timer);
    }
  });

  it('answers PROBE_TIMEOUT when aborted during a slow read and reports the gpu busy until nvml returns', async () => {
    await openWith(1);
    await state.setDelayMicros(300_000);
    const started = performance.now();
    const [aborted] = await probe.read(AbortSignal.timeout(50));
    expect(performance.now() - started).toBeLessThan(250);
    expect(aborted).toMatchObject({ ok: false, error: { code: 'PROBE_TIMEOUT' } });
    const [busy] = await probe.read(live());
    expect(busy?.ok === false && busy.error.message).toMatch(
      /previous read of this gpu has not returned yet/,
    );
    await state.setDelayMicros(0);
    // The abandoned calls finish on libuv's thread pool (4 threads by default, shared with fs).
    const deadline = performance.now() + 5_000;
    let next = await probe.read(live());
    while (!next[0]?.ok && performance.now() < deadline) {
      await sleep(50);
      next = await probe.read(live());
    }
    expect(next[0]?.ok).toBe(true);
  });

  it('answers PROBE_TIMEOUT without calling nvml when the signal is already aborted', async () => {
    await openWith(1);
    await state.enableTrace();
    const controller = new AbortController();
    controller.abort();
    const [result] = await probe.read(controller.signal);
    expect(result).toMatchObject({ ok: false, error: { code: 'PROBE_TIMEOUT' } });
    expect(await state.calls()).toEqual([]);
  });
});
