import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { Meter } from '../../../src/meter/meter.js';
import type { DeviceInterval, MeterTick } from '../../../src/meter/types.js';
import { NvidiaSmiProbe } from '../../../src/probes/nvidia-smi.js';
import {
  type FakeSmiScenario,
  fakeNvidiaSmi,
  SMI_XML_FIXTURES,
  type SmiRecording,
} from '../../helpers/fake-nvidia-smi.js';

// The meter over the real nvidia-smi probe; the fake nvidia-smi replays each real recording
// (tests/fixtures/nvidia-smi/*.json from the nvidia_gpu_exporter captures, SOURCES.md) at
// `-lms 100` plus a query time with jitter, and injects one fault on GPU 1 of the dual RTX A5000
// document (tests/fixtures/nvidia-smi-xml). GPU 0 stays healthy throughout.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const HEALTHY = { queryMs: 20, jitterMs: 30 } as const;
const GPU0 = 'GPU-12345678-aaaa-bbbb-cccc-0123456789ab';
const GPU1 = 'GPU-12345678-aaaa-bbbb-cccc-0123456789cd';

async function meterRun(scenario: FakeSmiScenario, runMs = 2_500): Promise<DeviceInterval[]> {
  const fake = await fakeNvidiaSmi({ ...HEALTHY, ...scenario });
  const probe = new NvidiaSmiProbe({
    nvidiaSmiPath: fake.nvidiaSmiPath,
    env: fake.env,
    intervalMs: 100,
    clock: systemClock,
    readWaitMs: 1_000,
    startupTimeoutMs: 10_000,
    backoffInitialMs: 50,
  });
  cleanups.push(fake.cleanup, () => probe.close());
  const inventory = await probe.open();
  const meter = new Meter([{ probe, devices: inventory.devices, intervalMs: 100 }], {
    clock: systemClock,
    readTimeoutMs: 2_000,
  });
  const ticks: MeterTick[] = [];
  meter.subscribe((tick) => ticks.push(tick));
  meter.start();
  await new Promise((resolve) => setTimeout(resolve, runMs));
  await meter.stop();
  return ticks.flatMap((t) => t.intervals);
}

const of = (intervals: readonly DeviceInterval[], id: string) => intervals.filter((i) => i.deviceId === id);
const gaps = (intervals: readonly DeviceInterval[]) => intervals.filter((i) => i.energyMicroJoules === null);

describe('meter over every recording, healthy', () => {
  it.each<SmiRecording>(['h200', 'h100', 'h100-mig', 'l40s'])(
    'the %s recording at 100 ms + query time gives at most one gap',
    async (recording) => {
      const intervals = await meterRun({ recordings: [recording] });
      expect(intervals.length).toBeGreaterThanOrEqual(10);
      expect(gaps(intervals).length).toBeLessThanOrEqual(1);
      expect(intervals.every((i) => i.energyMicroJoules === null || i.energyMicroJoules > 0n)).toBe(true);
    },
  );
});

describe('meter over faults on one GPU of two', () => {
  const dual = { xml: SMI_XML_FIXTURES.dualA5000, recordings: ['h200', 'l40s'] as const };

  it.each([
    ['[GPU is lost]', 'device-lost', 'PROBE_DEVICE_LOST'],
    ['[N/A]', 'read-failed', 'PROBE_NOT_SUPPORTED'],
  ])('a %s power cell is a gap with its reason on that GPU only, never 0 J', async (value, reason, code) => {
    const cellOverrides = [{ field: 'power.draw.instant', value, gpu: 1, fromRow: 20 }];
    const intervals = await meterRun({ ...dual, cellOverrides });
    expect(gaps(of(intervals, GPU0)).length).toBeLessThanOrEqual(1);
    const faulty = gaps(of(intervals, GPU1));
    expect(faulty.length).toBeGreaterThanOrEqual(5);
    for (const gap of faulty)
      expect(gap.gap).toMatchObject({ reason, code, message: expect.stringContaining(value) });
    // Once the cell went bad, no interval of GPU 1 carries energy.
    const firstGap = of(intervals, GPU1).findIndex((i) => i.energyMicroJoules === null);
    expect(
      of(intervals, GPU1)
        .slice(firstGap)
        .every((i) => i.energyMicroJoules === null),
    ).toBe(true);
  });

  it('a GPU that drops out of the stream becomes a probe-timeout gap; the other is unaffected', async () => {
    const intervals = await meterRun({ ...dual, dropGpu: { gpu: 1, fromRow: 20 } });
    expect(gaps(of(intervals, GPU0)).length).toBeLessThanOrEqual(1);
    const faulty = gaps(of(intervals, GPU1));
    expect(faulty.length).toBeGreaterThanOrEqual(3);
    expect(faulty.every((g) => g.gap?.reason === 'probe-timeout')).toBe(true);
  });

  it('stderr noise and garbage lines cost no gap', async () => {
    const intervals = await meterRun({
      ...dual,
      stderrNoise: { query: 'WARNING: infoROM is corrupted' },
      garbageEvery: 4,
    });
    expect(gaps(of(intervals, GPU0)).length).toBeLessThanOrEqual(1);
    expect(gaps(of(intervals, GPU1)).length).toBeLessThanOrEqual(1);
  });

  it('a child that exits is a read-failed gap with its text, then measuring resumes', async () => {
    const intervals = await meterRun({
      ...dual,
      exitAfterRows: 20,
      exitCode: 6,
      exitStderr: 'Unable to determine the device handle',
      misbehaveRuns: 1,
    });
    for (const id of [GPU0, GPU1]) {
      const device = of(intervals, id);
      const firstGap = device.findIndex((i) => i.energyMicroJoules === null);
      expect(firstGap).toBeGreaterThan(0);
      expect(device[firstGap]?.gap).toMatchObject({
        code: 'PROBE_READ_FAILED',
        message: expect.stringContaining('Unable to determine the device handle'),
      });
      expect(device.slice(firstGap).some((i) => (i.energyMicroJoules ?? 0n) > 0n)).toBe(true);
    }
  });
});
