import { describe, expect, it } from 'vitest';
import { SimulatedPowerModel } from '../../../src/probes/power-model.js';
import { SimulatedGpuProbe } from '../../../src/probes/simulated.js';
import { ManualClock } from '../../helpers/manual-clock.js';

describe('simulated GPUs', () => {
  it('marks every device as simulated', async () => {
    const probe = new SimulatedGpuProbe({
      gpuCount: 3,
      name: 'Sim',
      idlePowerMilliWatts: 70_000,
      maxPowerMilliWatts: 700_000,
      seed: 1,
      clock: new ManualClock(),
    });
    const inventory = await probe.open();
    expect(inventory.devices).toHaveLength(3);
    expect(inventory.devices.every((d) => d.simulated && d.probe === 'simulated')).toBe(true);
    expect(new Set(inventory.devices.map((d) => d.id)).size).toBe(3);
    expect(inventory.notes.join(' ')).toMatch(/SIMULATED/);
  });

  it('is deterministic for a seed and clock', async () => {
    const run = async (): Promise<bigint[]> => {
      const clock = new ManualClock();
      const probe = new SimulatedGpuProbe({
        gpuCount: 2,
        name: 'Sim',
        idlePowerMilliWatts: 70_000,
        maxPowerMilliWatts: 700_000,
        seed: 9,
        clock,
      });
      await probe.open();
      const values: bigint[] = [];
      for (let i = 0; i < 30; i++) {
        clock.advanceMillis(137);
        for (const r of await probe.read()) if (r.ok) values.push(r.reading.energyCounterMicroJoules ?? -1n);
      }
      return values;
    };
    expect(await run()).toEqual(await run());
  });

  it('integrates its piecewise-constant power exactly', () => {
    const model = new SimulatedPowerModel({
      idleMilliWatts: 100_000,
      maxMilliWatts: 500_000,
      seed: 3,
      startNanos: 0n,
    });
    model.setLoadPermille(500); // 300 W
    expect(model.powerAt(0n)).toBe(300_000);
    expect(model.energyAt(2_000_000_000n)).toBe(600_000_000n); // 300 W × 2 s = 600 J
    model.setLoadPermille(0);
    expect(model.energyAt(3_000_000_000n)).toBe(700_000_000n); // + 100 W × 1 s
  });

  it('stays between idle and max power and has an mJ-granular counter', async () => {
    const clock = new ManualClock();
    const probe = new SimulatedGpuProbe({
      gpuCount: 1,
      name: 'Sim',
      idlePowerMilliWatts: 70_000,
      maxPowerMilliWatts: 700_000,
      seed: 2,
      clock,
    });
    await probe.open();
    for (let i = 0; i < 100; i++) {
      clock.advanceMillis(50);
      const [result] = await probe.read();
      if (!result?.ok) throw new Error('read failed');
      const power = result.reading.powerSamples?.[0]?.powerMilliWatts ?? -1;
      expect(power).toBeGreaterThanOrEqual(70_000);
      expect(power).toBeLessThanOrEqual(700_000);
      expect((result.reading.energyCounterMicroJoules ?? 1n) % 1000n).toBe(0n);
    }
  });
});
