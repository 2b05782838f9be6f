import { describe, expect, it } from 'vitest';
import { SimulatedPowerModel } from '../../../src/probes/power-model.js';
import { SimulatedGpuProbe, type SimulatedProbeOptions } from '../../../src/probes/simulated.js';
import type { DeviceInfo } from '../../../src/probes/types.js';
import { NANOS_PER_MILLI } from '../../../src/units.js';
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

describe('the simulated GPU is a physical device', () => {
  const LIMIT = 700_000;
  const open = async (clock: ManualClock, extra: Partial<SimulatedProbeOptions> = {}) => {
    const probe = new SimulatedGpuProbe({
      gpuCount: 1,
      name: 'Sim',
      idlePowerMilliWatts: 70_000,
      maxPowerMilliWatts: LIMIT,
      seed: 4,
      clock,
      ...extra,
    });
    const inventory = await probe.open();
    return { probe, device: inventory.devices[0] as DeviceInfo };
  };
  const counterOf = async (probe: SimulatedGpuProbe): Promise<bigint> => {
    const [result] = await probe.read();
    if (!result?.ok || result.reading.energyCounterMicroJoules === undefined) throw new Error('no counter');
    return result.reading.energyCounterMicroJoules;
  };

  it('keeps one counter across agent restarts, advancing only by what the model drew', async () => {
    const wall = 1_764_000_000_000n * NANOS_PER_MILLI;
    // One agent runs 20 s; a second one starts 5 s later on a new monotonic clock.
    const first = new ManualClock(3_000_000_000n, wall);
    const a = await open(first);
    first.advanceMillis(20_000);
    const lastOfFirstRun = await counterOf(a.probe);
    const second = new ManualClock(777_000_000n, wall + 25_000n * NANOS_PER_MILLI);
    const b = await open(second);
    const firstOfSecondRun = await counterOf(b.probe);
    const downtimeEnergy = firstOfSecondRun - lastOfFirstRun;
    expect(downtimeEnergy).toBeGreaterThan(0n);
    // At most the power limit × the 5 s downtime (+1 mJ of counter resolution).
    expect(downtimeEnergy).toBeLessThanOrEqual((BigInt(LIMIT) * 5_000_000_000n) / 1_000_000n + 1000n);
    // And exactly what an agent that never stopped would have read at that wall time.
    const always = new ManualClock(5n, wall);
    const c = await open(always);
    always.advanceMillis(25_000);
    expect(await counterOf(c.probe)).toBe(firstOfSecondRun);
  });

  it('never implies more than its power limit between any two reads', async () => {
    const clock = new ManualClock();
    const { probe, device } = await open(clock);
    expect(device.powerLimitMilliWatts).toBe(LIMIT);
    let previous = await counterOf(probe);
    for (let i = 0; i < 200; i++) {
      clock.advanceMillis(100);
      const current = await counterOf(probe);
      expect(current).toBeGreaterThanOrEqual(previous);
      expect(current - previous).toBeLessThanOrEqual(BigInt(LIMIT) * 100n + 1000n); // mW × ms = µJ
      previous = current;
    }
  });

  it('can be told to reset its counter, like a driver reload', async () => {
    const clock = new ManualClock();
    const { probe } = await open(clock, { faults: [{ kind: 'reset', gpu: 0, atMs: 1000 }] });
    clock.advanceMillis(900);
    const before = await counterOf(probe);
    clock.advanceMillis(200);
    const atReset = await counterOf(probe);
    clock.advanceMillis(1000);
    const after = await counterOf(probe);
    expect(atReset).toBeLessThan(before);
    expect(atReset).toBe(0n);
    expect(after).toBeGreaterThan(0n);
    expect(after).toBeLessThanOrEqual(BigInt(LIMIT) * 1000n + 1000n); // ≤ 700 W × 1 s, in µJ
  });

  it('can wrap: the device declares its range and the counter stays inside it', async () => {
    const clock = new ManualClock();
    const range = 50_000_000n; // 50 J: wraps every few hundred ms at load
    const { probe, device } = await open(clock, { wrapMicroJoules: range });
    expect(device.energyWrapMicroJoules).toBe(range);
    let wraps = 0;
    let previous = await counterOf(probe);
    for (let i = 0; i < 50; i++) {
      clock.advanceMillis(100);
      const current = await counterOf(probe);
      expect(current).toBeLessThan(range);
      if (current < previous) wraps += 1;
      previous = current;
    }
    expect(wraps).toBeGreaterThan(0);
  });

  it('can lose a GPU: reads fail with PROBE_DEVICE_LOST while the counter keeps counting', async () => {
    const clock = new ManualClock();
    const { probe } = await open(clock, { faults: [{ kind: 'lose', gpu: 0, atMs: 500, forMs: 1000 }] });
    clock.advanceMillis(400);
    const before = await counterOf(probe);
    clock.advanceMillis(200);
    const [lost] = await probe.read();
    expect(lost?.ok).toBe(false);
    if (lost && !lost.ok) expect(lost.error.code).toBe('PROBE_DEVICE_LOST');
    clock.advanceMillis(1000);
    const after = await counterOf(probe);
    // 1.2 s at no less than idle power passed between the good reads.
    expect(after - before).toBeGreaterThanOrEqual(70_000n * 1200n - 1000n);
  });
});
