import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../src/clock.js';
import { Meter } from '../../../src/meter/meter.js';
import type { MeterTick } from '../../../src/meter/types.js';
import { NvidiaSmiProbe } from '../../../src/probes/nvidia-smi.js';
import { type FakeSmi, fakeNvidiaSmi } from '../../helpers/fake-nvidia-smi.js';

// The meter over the real nvidia-smi probe and a fake nvidia-smi replaying the H200 recording
// from tests/fixtures/nvidia-smi-csv (nvidia_gpu_exporter capture; see SOURCES.md).
describe('meter over a hung nvidia-smi', () => {
  let smi: FakeSmi | undefined;
  let probe: NvidiaSmiProbe | undefined;
  afterEach(async () => {
    await probe?.close();
    await smi?.cleanup();
  });

  it('turns a hung nvidia-smi into explicit gaps, restarts it, and measures again', async () => {
    smi = await fakeNvidiaSmi({ recordings: ['h200'], loop: true, hangAfterRows: 8, misbehaveRuns: 1 });
    probe = new NvidiaSmiProbe({
      nvidiaSmiPath: smi.nvidiaSmiPath,
      env: smi.env,
      intervalMs: 50,
      clock: systemClock,
      hangTimeoutMs: 400,
      startupTimeoutMs: 5000,
      backoffInitialMs: 50,
    });
    const inventory = await probe.open();
    const meter = new Meter([{ probe, devices: inventory.devices, intervalMs: 100 }], {
      clock: systemClock,
      readTimeoutMs: 1000,
    });
    const ticks: MeterTick[] = [];
    meter.subscribe((tick) => ticks.push(tick));
    meter.start();
    const deadline = Date.now() + 10_000;
    const recovered = (): boolean => {
      const intervals = ticks.flatMap((t) => t.intervals);
      const firstGap = intervals.findIndex((i) => i.energyMicroJoules === null);
      return (
        firstGap >= 0 &&
        intervals.slice(firstGap).some((i) => i.energyMicroJoules !== null && i.energyMicroJoules > 0n)
      );
    };
    while (!recovered() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    await meter.stop();
    const intervals = ticks.flatMap((t) => t.intervals);
    const gaps = intervals.filter((i) => i.energyMicroJoules === null);
    expect(gaps.length).toBeGreaterThan(0);
    expect(gaps.every((g) => g.gap !== null)).toBe(true);
    expect(recovered()).toBe(true);
    // No energy counter: everything measured is integrated power, and says so.
    expect(
      intervals.filter((i) => i.energyMicroJoules !== null).every((i) => i.source === 'integrated-power'),
    ).toBe(true);
    expect(meter.status()[0]?.quality).toMatchObject({ source: 'integrated-power' });
    // Integrated power never spans the hang: no energy interval overlaps a gap, none is bridged.
    const measured = intervals.filter((i) => i.energyMicroJoules !== null);
    expect(measured.every((i) => i.bridgedGapNanos === 0n)).toBe(true);
    for (const m of measured) {
      const overlapping = gaps.filter(
        (g) =>
          g.deviceId === m.deviceId && g.startMonoNanos < m.endMonoNanos && g.endMonoNanos > m.startMonoNanos,
      );
      expect(overlapping).toEqual([]);
    }
  });
});
