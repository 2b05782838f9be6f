import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NvmlProbe } from '../../../src/probes/nvml.js';
import {
  decodeFieldValue,
  encodeFieldRequests,
  FIELD_VALUE_LAYOUT,
} from '../../../src/probes/nvml-structs.js';
import type { DeviceReading, DeviceReadResult } from '../../../src/probes/types.js';
import { buildFakeNvml, FakeNvmlState, fakeNvmlSkipReason } from '../../helpers/fake-nvml.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { describeUnless } from '../../helpers/skip.js';

// How few NVML calls a read makes: power and energy in one field read (fields 186 and 83), and
// utilization and memory only every Nth read. Through real koffi against the fake library, whose
// trace log counts the calls.

const skipReason = fakeNvmlSkipReason();

function reading(result: DeviceReadResult | undefined): DeviceReading {
  if (!result?.ok) throw new Error(`expected a reading, got ${JSON.stringify(result?.error?.message)}`);
  return result.reading;
}

const live = () => new AbortController().signal;
const ENERGY = 'nvmlDeviceGetTotalEnergyConsumption';
const FIELDS = 'nvmlDeviceGetFieldValues';

describeUnless(skipReason)('NvmlProbe per-tick NVML calls', () => {
  let libraryPath: string;
  let state: FakeNvmlState;
  let probe: NvmlProbe;

  beforeAll(async () => {
    libraryPath = await buildFakeNvml();
  });

  afterEach(async () => {
    await probe.close();
    await state.cleanup();
  });

  /** Opens a probe over `gpus` fake GPUs, then starts the trace: calls() holds only the reads'. */
  async function openWith(
    gpus: number,
    prepare?: (fake: FakeNvmlState) => Promise<void>,
    auxiliaryEveryTicks?: number,
  ): Promise<void> {
    state = await FakeNvmlState.create(gpus);
    state.activate();
    await prepare?.(state);
    probe = new NvmlProbe({
      libraryPath,
      clock: new ManualClock(),
      ...(auxiliaryEveryTicks !== undefined && { auxiliaryEveryTicks }),
    });
    await probe.open();
    await state.enableTrace();
  }

  /** The traced calls by function name, without the GPU index. */
  async function callNames(): Promise<string[]> {
    return (await state.calls()).map((line) => line.split(' ')[0] ?? '');
  }

  it('reads energy from field 83 in the power field read, equal to the counter, in one call', async () => {
    await openWith(1, undefined, 1_000);
    for (const milliJoules of [1_000_123n, 9_007_199_254_740_993n]) {
      await state.setEnergyMilliJoules(0, milliJoules);
      const result = reading((await probe.read(live()))[0]);
      expect(result.energyCounterMicroJoules).toBe(milliJoules * 1000n);
      expect(result.powerSamples?.map((s) => s.powerMilliWatts)).toEqual([588_390]);
    }
    // The first read also asked utilization and memory (in parallel: any order); the second only
    // the one field read, and no read asked the counter function.
    expect((await callNames()).sort()).toEqual(
      [FIELDS, FIELDS, 'nvmlDeviceGetMemoryInfo', 'nvmlDeviceGetUtilizationRates'].sort(),
    );
  });

  it('keeps the separate counter call where field 83 disagrees with the counter at open', async () => {
    await openWith(1, (fake) => fake.setGpu(0, { energyFieldMilliJoules: 42 }), 1_000);
    const result = reading((await probe.read(live()))[0]);
    expect(result.energyCounterMicroJoules).toBe(1_000_000_000n);
    expect((await callNames()).filter((name) => name === ENERGY)).toHaveLength(1);
  });

  it('asks the counter when field 83 alone fails, and stops asking the field once it is unsupported', async () => {
    await openWith(1, undefined, 1_000);
    await state.setFail(0, 999, ['field83']);
    expect(reading((await probe.read(live()))[0]).energyCounterMicroJoules).toBe(1_000_000_000n);
    await state.setFail(0, 3, ['field83']); // NVML_ERROR_NOT_SUPPORTED
    await state.setEnergyMilliJoules(0, 1_000_500);
    expect(reading((await probe.read(live()))[0]).energyCounterMicroJoules).toBe(1_000_500_000n);
    // Healthy again, yet the counter keeps its own call: NOT_SUPPORTED ended the combined read.
    await state.clearFail(0);
    for (let tick = 0; tick < 2; tick++)
      expect(reading((await probe.read(live()))[0]).energyCounterMicroJoules).toBe(1_000_500_000n);
    const names = await callNames();
    expect(names.filter((name) => name === FIELDS)).toHaveLength(4);
    expect(names.filter((name) => name === ENERGY)).toHaveLength(4);
  });

  it('names the counter call when field 83 and the counter both fail, and reads again afterwards', async () => {
    await openWith(2, undefined, 1_000);
    await state.setFail(0, 999, [ENERGY]);
    const [failed, other] = await probe.read(live());
    expect(failed).toMatchObject({ ok: false, error: { code: 'NVML_UNKNOWN', nvmlReturn: 999 } });
    expect(failed?.ok === false && failed.error.message).toMatch(
      /^nvmlDeviceGetTotalEnergyConsumption failed/,
    );
    expect(other?.ok).toBe(true);
    await state.clearFail(0);
    expect(reading((await probe.read(live()))[0]).energyCounterMicroJoules).toBe(1_000_000_000n);
  });

  it('fails the gpu with the field read’s error when the whole call fails', async () => {
    await openWith(1);
    await state.setFail(0, 999, [FIELDS]);
    const [failed] = await probe.read(live());
    expect(failed?.ok === false && failed.error.message).toMatch(/^nvmlDeviceGetFieldValues failed/);
  });

  it('asks utilization and memory only every Nth read and repeats their last answers in between', async () => {
    await openWith(1, undefined, 3);
    const readings: DeviceReading[] = [];
    for (let tick = 0; tick < 7; tick++) {
      if (tick === 4) await state.setGpu(0, { utilizationGpuPercent: 12 });
      readings.push(reading((await probe.read(live()))[0]));
    }
    const names = await callNames();
    expect(names.filter((name) => name === 'nvmlDeviceGetUtilizationRates')).toHaveLength(3);
    expect(names.filter((name) => name === 'nvmlDeviceGetMemoryInfo')).toHaveLength(3);
    expect(names.filter((name) => name === FIELDS)).toHaveLength(7);
    expect(names.filter((name) => name === ENERGY)).toHaveLength(0);
    // Reads 0, 3 and 6 ask; the change at read 4 shows from read 6 on.
    expect(readings.map((r) => r.utilizationGpuPercent)).toEqual([87, 87, 87, 87, 87, 87, 12]);
    expect(readings.every((r) => r.memoryUsedBytes === 1_024n * 1_048_576n)).toBe(true);
  });

  it('stops asking for utilization once nvml says it is not supported, even on every read', async () => {
    await openWith(1, (fake) => fake.setGpu(0, { utilizationGpuPercent: null }), 1);
    for (let tick = 0; tick < 3; tick++)
      expect(reading((await probe.read(live()))[0])).not.toHaveProperty('utilizationGpuPercent');
    const names = await callNames();
    expect(names.filter((name) => name === 'nvmlDeviceGetUtilizationRates')).toHaveLength(1);
    expect(names.filter((name) => name === 'nvmlDeviceGetMemoryInfo')).toHaveLength(3);
  });

  it('defaults to asking utilization and memory on every tenth read', async () => {
    await openWith(1);
    for (let tick = 0; tick < 11; tick++) await probe.read(live());
    const names = await callNames();
    expect(names.filter((name) => name === 'nvmlDeviceGetUtilizationRates')).toHaveLength(2);
    expect(names.filter((name) => name === FIELDS)).toHaveLength(11);
  });
});

describe('NvmlProbe options', () => {
  it('refuses an auxiliaryEveryTicks that is not a positive integer', () => {
    const make = (auxiliaryEveryTicks: number) =>
      new NvmlProbe({ libraryPath: '/nonexistent', clock: new ManualClock(), auxiliaryEveryTicks });
    expect(() => make(0)).toThrow(RangeError);
    expect(() => make(1.5)).toThrow(RangeError);
    expect(() => make(1)).not.toThrow();
  });
});

describe('nvmlFieldValue_t as a raw buffer', () => {
  it('asks for each field by id and scope, and reads each value by its valueType', () => {
    const buffer = encodeFieldRequests([
      { fieldId: 186, scopeId: 0 },
      { fieldId: 83, scopeId: 2 },
      { fieldId: 7, scopeId: 0 },
      { fieldId: 9, scopeId: 0 },
    ]);
    const { size, valueType, nvmlReturn, value, timestamp } = FIELD_VALUE_LAYOUT;
    // What NVML would write: an unsigned int, an unsigned long long above 2^53, a double, a failure.
    buffer.writeInt32LE(1, valueType);
    buffer.writeUInt32LE(588_390, value);
    buffer.writeBigInt64LE(1_700_000_000_000_000n, timestamp);
    buffer.writeInt32LE(3, size + valueType);
    buffer.writeBigUInt64LE(9_007_199_254_740_993n, size + value);
    buffer.writeInt32LE(0, 2 * size + valueType);
    buffer.writeDoubleLE(41.5, 2 * size + value);
    buffer.writeInt32LE(3, 3 * size + nvmlReturn); // NOT_SUPPORTED: the value is not read
    buffer.writeBigUInt64LE(123n, 3 * size + value);
    expect([0, 1, 2, 3].map((index) => decodeFieldValue(buffer, index))).toEqual([
      {
        fieldId: 186,
        scopeId: 0,
        nvmlReturn: 0,
        valueType: 1,
        value: 588_390n,
        timestampMicros: 1_700_000_000_000_000n,
      },
      {
        fieldId: 83,
        scopeId: 2,
        nvmlReturn: 0,
        valueType: 3,
        value: 9_007_199_254_740_993n,
        timestampMicros: 0n,
      },
      { fieldId: 7, scopeId: 0, nvmlReturn: 0, valueType: 0, value: 41.5, timestampMicros: 0n },
      { fieldId: 9, scopeId: 0, nvmlReturn: 3, valueType: 0, value: 0, timestampMicros: 0n },
    ]);
  });
});
