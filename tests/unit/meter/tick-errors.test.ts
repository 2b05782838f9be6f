import { describe, expect, it } from 'vitest';
import { Meter } from '../../../src/meter/meter.js';
import { SimulatedGpuProbe } from '../../../src/probes/simulated.js';
import { ManualClock } from '../../helpers/manual-clock.js';

describe('Meter when a tick throws', () => {
  it('counts and reports every dropped tick, and keeps sampling', async () => {
    const clock = new ManualClock();
    const probe = new SimulatedGpuProbe({
      gpuCount: 1,
      name: 'Simulated H100',
      idlePowerMilliWatts: 70_000,
      maxPowerMilliWatts: 700_000,
      seed: 7,
      clock,
    });
    const inventory = await probe.open();
    // A driver answering garbage (not a list of per-device results) on every read.
    (probe as unknown as { read: () => Promise<unknown> }).read = async () => 42;
    const reported: [string, string][] = [];
    let onSecond: () => void = () => {};
    const second = new Promise<void>((resolve) => {
      onSecond = resolve;
    });
    const meter = new Meter([{ probe, devices: inventory.devices, intervalMs: 20 }], {
      clock,
      readTimeoutMs: 1000,
      onTickError: (error, kind) => {
        reported.push([kind, String(error)]);
        if (reported.length === 2) onSecond();
      },
    });
    meter.start();
    await second; // a second tick ran after the first one threw
    await meter.stop();
    expect(reported[0]?.[0]).toBe(probe.kind);
    expect(meter.health().tickErrors).toBe(reported.length);
  });
});
