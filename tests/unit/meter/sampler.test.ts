import { describe, expect, it } from 'vitest';
import { Meter } from '../../../src/meter/meter.js';
import type { MeterTick } from '../../../src/meter/types.js';
import { SimulatedGpuProbe } from '../../../src/probes/simulated.js';
import { ManualClock } from '../../helpers/manual-clock.js';

async function simulatedMeter(clock: ManualClock, gpuCount = 2) {
  const probe = new SimulatedGpuProbe({
    gpuCount,
    name: 'Simulated H100',
    idlePowerMilliWatts: 70_000,
    maxPowerMilliWatts: 700_000,
    seed: 7,
    clock,
  });
  const inventory = await probe.open();
  const meter = new Meter([{ probe, devices: inventory.devices, intervalMs: 100 }], {
    clock,
    readTimeoutMs: 1000,
  });
  return { probe, meter, inventory };
}

describe('Meter with a manual clock', () => {
  it('produces contiguous ticks whose intervals tile time per device', async () => {
    const clock = new ManualClock();
    const { meter } = await simulatedMeter(clock);
    const ticks: MeterTick[] = [];
    meter.subscribe((tick) => ticks.push(tick));
    for (let i = 0; i < 20; i++) {
      await meter.tickAll();
      clock.advanceMillis(100);
    }
    expect(ticks.map((t) => t.seq)).toEqual([...Array(20).keys()]);
    expect(ticks[0]?.intervals).toHaveLength(0); // baseline
    const device0 = ticks.flatMap((t) => t.intervals.filter((i) => i.deviceId.endsWith('1')));
    for (let i = 1; i < device0.length; i++)
      expect(device0[i]?.startMonoNanos).toBe(device0[i - 1]?.endMonoNanos);
  });

  it('accumulates exactly the counter advance in the status totals', async () => {
    const clock = new ManualClock();
    const { meter, probe, inventory } = await simulatedMeter(clock, 1);
    const first = await probe.read();
    await meter.tickAll();
    for (let i = 0; i < 50; i++) {
      clock.advanceMillis(100);
      await meter.tickAll();
    }
    const last = await probe.read();
    const [status] = meter.status();
    const start = first[0]?.ok ? first[0].reading.energyCounterMicroJoules : undefined;
    const end = last[0]?.ok ? last[0].reading.energyCounterMicroJoules : undefined;
    expect(status?.device.id).toBe(inventory.devices[0]?.id);
    expect(status?.energyMicroJoules).toBe((end ?? 0n) - (start ?? 0n));
    expect(status?.quality).toMatchObject({
      source: 'counter',
      gapCount: 0,
      simulated: true,
      intervalCount: 50,
    });
  });

  it('keeps sampling when a listener throws', async () => {
    const clock = new ManualClock();
    const { meter } = await simulatedMeter(clock);
    meter.subscribe(() => {
      throw new Error('listener bug');
    });
    await meter.tickAll();
    clock.advanceMillis(100);
    await meter.tickAll();
    expect(meter.health().listenerErrors).toBe(2);
    expect(meter.status()[0]?.quality.intervalCount).toBe(1);
  });

  it('runs on real timers without overlapping ticks and stops cleanly', async () => {
    const { meter } = await simulatedMeter(new ManualClock());
    const seqs: number[] = [];
    meter.subscribe((tick) => seqs.push(tick.seq));
    meter.start();
    await new Promise((resolve) => setTimeout(resolve, 350));
    await meter.stop();
    const count = seqs.length;
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(count).toBeGreaterThanOrEqual(3);
    expect(seqs.length).toBe(count); // nothing after stop
    expect(seqs).toEqual([...Array(count).keys()]);
  });
});
