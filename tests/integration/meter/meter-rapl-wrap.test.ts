import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Meter } from '../../../src/meter/meter.js';
import type { MeterTick } from '../../../src/meter/types.js';
import { RaplProbe } from '../../../src/probes/rapl.js';
import { FakeSysfs, PACKAGE_RANGE_MICROJOULES } from '../../helpers/fake-sysfs.js';
import { ManualClock } from '../../helpers/manual-clock.js';

// The meter over the real RAPL probe on a fake sysfs tree copied from
// tests/fixtures/powercap/procfs-testdata-intel-rapl (prometheus/procfs; see SOURCES.md).
describe('meter over RAPL', () => {
  let sysfs: FakeSysfs;
  let probe: RaplProbe;
  let clock: ManualClock;
  let meter: Meter;
  const ticks: MeterTick[] = [];

  beforeEach(async () => {
    sysfs = await FakeSysfs.fromFixture('procfs-testdata-intel-rapl');
    clock = new ManualClock();
    probe = new RaplProbe({ sysfsRoot: sysfs.root, clock });
    const inventory = await probe.open();
    meter = new Meter([{ probe, devices: inventory.devices, intervalMs: 1000 }], {
      clock,
      readTimeoutMs: 1000,
    });
    ticks.length = 0;
    meter.subscribe((tick) => ticks.push(tick));
  });
  afterEach(async () => {
    await probe.close();
    await sysfs.cleanup();
  });

  it('counts a wrap between two reads exactly, with the real package range', async () => {
    await sysfs.setEnergy('intel-rapl:0', PACKAGE_RANGE_MICROJOULES - 20_000_000n);
    await meter.tickAll();
    clock.advanceMillis(1000);
    await sysfs.setEnergy('intel-rapl:0', 15_000_000n);
    await meter.tickAll();
    const interval = ticks[1]?.intervals[0];
    expect(interval).toMatchObject({
      deviceId: 'rapl:package-0',
      energyMicroJoules: 35_000_000n,
      wrapped: true,
      gap: null,
    });
    expect(meter.status()[0]?.quality.wrapCount).toBe(1);
  });

  it('reports an unparsable energy_uj as a gap, then bridges it with the counter', async () => {
    await sysfs.setEnergy('intel-rapl:0', 1_000_000n);
    await meter.tickAll();
    clock.advanceMillis(1000);
    await sysfs.writeZoneFile('intel-rapl:0', 'energy_uj', 'garbage\n');
    await meter.tickAll();
    clock.advanceMillis(1000);
    await sysfs.setEnergy('intel-rapl:0', 61_000_000n);
    await meter.tickAll();
    expect(ticks[1]?.intervals[0]?.gap?.code).toBe('PROBE_PARSE_FAILED');
    expect(ticks[2]?.intervals[0]).toMatchObject({
      energyMicroJoules: 60_000_000n,
      bridgedGapNanos: 1_000_000_000n,
    });
  });
});
