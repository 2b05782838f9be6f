import { mkdir, rm } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { ProbeError } from '../../../src/errors.js';
import { RaplProbe } from '../../../src/probes/rapl.js';
import type { DeviceReadResult, ProbeInventory } from '../../../src/probes/types.js';
import { FakeSysfs, PACKAGE_RANGE_MICROJOULES } from '../../helpers/fake-sysfs.js';
import { ManualClock } from '../../helpers/manual-clock.js';

const trees: FakeSysfs[] = [];
const probes: RaplProbe[] = [];

afterEach(async () => {
  await Promise.all(probes.splice(0).map((probe) => probe.close()));
  await Promise.all(trees.splice(0).map((tree) => tree.cleanup()));
});

async function track(tree: Promise<FakeSysfs>): Promise<FakeSysfs> {
  const made = await tree;
  trees.push(made);
  return made;
}

function probeFor(tree: FakeSysfs, clock = new ManualClock()): RaplProbe {
  const probe = new RaplProbe({ sysfsRoot: tree.root, clock });
  probes.push(probe);
  return probe;
}

async function readOnce(probe: RaplProbe): Promise<readonly DeviceReadResult[]> {
  return probe.read(new AbortController().signal);
}

function energyOf(results: readonly DeviceReadResult[], deviceId: string): bigint | undefined {
  const result = results.find((r) => r.deviceId === deviceId);
  if (!result?.ok)
    throw new Error(`no reading for ${deviceId}: ${result?.ok === false && result.error.message}`);
  return result.reading.energyCounterMicroJoules;
}

async function openError(probe: RaplProbe): Promise<ProbeError> {
  const error = await probe.open().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProbeError);
  return error as ProbeError;
}

const ids = (inventory: ProbeInventory) => inventory.devices.map((device) => device.id);

describe('RaplProbe on the prometheus/procfs fixture (package-0, core, malformed intel-rapl:a)', () => {
  it('reports package-0 as the only device, with core folded into it as a sub-zone', async () => {
    const tree = await track(FakeSysfs.fromFixture('procfs-testdata-intel-rapl'));
    const inventory = await probeFor(tree).open();
    expect(inventory.devices).toEqual([
      {
        id: 'rapl:package-0',
        probe: 'rapl',
        hwType: 'cpu',
        name: 'package-0',
        vendor: '',
        index: 0,
        hasEnergyCounter: true,
        energyWrapMicroJoules: 262_143_328_850n,
        details: {
          zone: 'intel-rapl:0',
          accounting: 'additive',
          maxEnergyRangeMicroJoules: '262143328850',
          subZones: 'core',
        },
        accounting: 'additive',
        simulated: false,
      },
    ]);
    expect(inventory.notes).toContain(
      'intel-rapl:0:0 (core) is contained in its package; not read as a device',
    );
  });

  it('rejects the malformed intel-rapl:a zone directory with a note', async () => {
    const tree = await track(FakeSysfs.fromFixture('procfs-testdata-intel-rapl'));
    const inventory = await probeFor(tree).open();
    expect(inventory.notes.some((note) => note.startsWith('skipped intel-rapl:a: malformed zone'))).toBe(
      true,
    );
    expect(inventory.devices.some((device) => device.name === 'package-10')).toBe(false);
  });

  it('reads the recorded counter as an exact bigint stamped with the injected clock', async () => {
    const tree = await track(FakeSysfs.fromFixture('procfs-testdata-intel-rapl'));
    const clock = new ManualClock(5_000_000_000n);
    const probe = probeFor(tree, clock);
    await probe.open();
    expect(await readOnce(probe)).toEqual([
      {
        ok: true,
        deviceId: 'rapl:package-0',
        reading: { monoNanos: 5_000_000_000n, energyCounterMicroJoules: 240_422_366_267n },
      },
    ]);
  });
});

describe('RaplProbe on the Kepler fixture (intel-rapl-mmio duplicate)', () => {
  it('skips the intel-rapl-mmio:0 package-0 as a duplicate of intel-rapl:0', async () => {
    const tree = await track(FakeSysfs.fromFixture('kepler-testdata-intel-rapl-with-mmio'));
    const inventory = await probeFor(tree).open();
    expect(ids(inventory)).toEqual(['rapl:package-0']);
    expect(inventory.devices[0]?.details.zone).toBe('intel-rapl:0');
    expect(inventory.notes).toContain('skipped intel-rapl-mmio:0: duplicate of intel-rapl:0 (package-0)');
  });
});

describe('RaplProbe on a 2-socket server with dram sub-zones and psys', () => {
  it('identifies intel-rapl:0:0 as dram by its name, not as core by its index', async () => {
    const tree = await track(FakeSysfs.twoSocketServer());
    const inventory = await probeFor(tree).open();
    const dram = inventory.devices.find((device) => device.details.zone === 'intel-rapl:0:0');
    expect(dram).toMatchObject({ id: 'rapl:package-0/dram', hwType: 'dram', name: 'dram' });
  });

  it('lists packages and drams as additive and psys as an overlapping platform device', async () => {
    const tree = await track(FakeSysfs.twoSocketServer());
    const inventory = await probeFor(tree).open();
    const summary = inventory.devices.map((d) => [d.id, d.hwType, d.accounting, d.details.countedIn]);
    expect(summary).toEqual([
      ['rapl:package-0', 'cpu', 'additive', 'rapl:psys'],
      ['rapl:package-0/dram', 'dram', 'additive', 'rapl:psys'],
      ['rapl:package-1', 'cpu', 'additive', 'rapl:psys'],
      ['rapl:package-1/dram', 'dram', 'additive', 'rapl:psys'],
      ['rapl:psys', 'platform', 'overlapping', undefined],
    ]);
    expect(inventory.devices[4]?.details.contains).toBe(
      'rapl:package-0,rapl:package-0/dram,rapl:package-1,rapl:package-1/dram',
    );
  });

  it('counts nothing twice: the additive devices sum to the package and dram counters only', async () => {
    const tree = await track(FakeSysfs.twoSocketServer());
    const probe = probeFor(tree);
    const inventory = await probe.open();
    const results = await readOnce(probe);
    const additive = inventory.devices.filter((d) => d.details.accounting === 'additive').map((d) => d.id);
    const sum = additive.reduce((total, id) => total + (energyOf(results, id) ?? 0n), 0n);
    expect(sum).toBe(100_000_000n + 20_000_000n + 110_000_000n + 21_000_000n);
  });

  it('exposes each zone wrap range from max_energy_range_uj', async () => {
    const tree = await track(FakeSysfs.twoSocketServer());
    const inventory = await probeFor(tree).open();
    const ranges = inventory.devices.map((d) => d.energyWrapMicroJoules);
    expect(ranges).toEqual([
      PACKAGE_RANGE_MICROJOULES,
      65_712_999_613n,
      PACKAGE_RANGE_MICROJOULES,
      65_712_999_613n,
      PACKAGE_RANGE_MICROJOULES,
    ]);
  });

  it('returns a counter value set between reads exactly, beyond 2^53, from the open handle', async () => {
    const tree = await track(FakeSysfs.twoSocketServer());
    const clock = new ManualClock();
    const probe = probeFor(tree, clock);
    await probe.open();
    expect(energyOf(await readOnce(probe), 'rapl:package-1')).toBe(110_000_000n);
    await tree.setEnergy('intel-rapl:1', 9_007_199_254_740_993n);
    clock.advanceMillis(1000);
    const second = await readOnce(probe);
    expect(energyOf(second, 'rapl:package-1')).toBe(9_007_199_254_740_993n);
    expect(second[2]?.ok && second[2].reading.monoNanos).toBe(2_000_000_000n);
  });

  it('passes a decrease through unchanged, leaving wrap handling to the meter', async () => {
    const tree = await track(FakeSysfs.twoSocketServer());
    const probe = probeFor(tree);
    await probe.open();
    await tree.setEnergy('intel-rapl:0', PACKAGE_RANGE_MICROJOULES - 5n);
    await readOnce(probe);
    await tree.setEnergy('intel-rapl:0', 7n);
    expect(energyOf(await readOnce(probe), 'rapl:package-0')).toBe(7n);
  });

  it('skips a zone without energy_uj with a note and leaves it out of psys containment', async () => {
    const tree = await track(FakeSysfs.twoSocketServer());
    await tree.removeFile('intel-rapl:1:0', 'energy_uj');
    const inventory = await probeFor(tree).open();
    expect(ids(inventory)).not.toContain('rapl:package-1/dram');
    expect(inventory.notes).toContain('skipped intel-rapl:1:0 (dram): no energy_uj file');
    expect(inventory.devices.at(-1)?.details.contains).toBe(
      'rapl:package-0,rapl:package-0/dram,rapl:package-1',
    );
  });

  it('leaves the wrap range absent and says wrap detection is impossible without max_energy_range_uj', async () => {
    const tree = await track(FakeSysfs.twoSocketServer());
    await tree.removeFile('intel-rapl:0:0', 'max_energy_range_uj');
    const inventory = await probeFor(tree).open();
    const dram = inventory.devices.find((d) => d.id === 'rapl:package-0/dram');
    expect(dram).toBeDefined();
    expect(dram && 'energyWrapMicroJoules' in dram).toBe(false);
    expect(inventory.notes).toContain(
      'intel-rapl:0:0 (dram): max_energy_range_uj missing or unreadable; wrap detection is impossible, a counter decrease will be treated as a reset',
    );
  });
});

describe('RaplProbe read failures', () => {
  it('reports garbage in energy_uj as PROBE_PARSE_FAILED for that zone only', async () => {
    const tree = await track(FakeSysfs.twoSocketServer());
    const probe = probeFor(tree);
    await probe.open();
    await tree.writeZoneFile('intel-rapl:1', 'energy_uj', '12a34\n');
    const results = await readOnce(probe);
    const failed = results.find((r) => r.deviceId === 'rapl:package-1');
    expect(failed?.ok).toBe(false);
    if (failed?.ok !== false) return;
    expect(failed.error.code).toBe('PROBE_PARSE_FAILED');
    expect(failed.error.message).toBe(
      `${tree.filePath('intel-rapl:1', 'energy_uj')} holds "12a34\\n", not a decimal counter`,
    );
    expect(results.filter((r) => r.ok)).toHaveLength(4);
  });

  it('reports an empty, negative or overlong energy_uj as PROBE_PARSE_FAILED', async () => {
    const tree = await track(FakeSysfs.fromFixture('procfs-testdata-intel-rapl'));
    const probe = probeFor(tree);
    await probe.open();
    for (const content of ['', '-5\n', `${'9'.repeat(100)}\n`, '1.5\n']) {
      await tree.writeZoneFile('intel-rapl:0', 'energy_uj', content);
      const [result] = await readOnce(probe);
      expect(result?.ok === false && result.error.code, JSON.stringify(content)).toBe('PROBE_PARSE_FAILED');
    }
  });

  it('reports an unreadable energy_uj as PROBE_READ_FAILED and recovers once it is readable', async () => {
    const tree = await track(FakeSysfs.twoSocketServer());
    // A directory opens read-only on Linux but every read fails with EISDIR: a deterministic I/O error.
    const path = tree.filePath('intel-rapl:0:0', 'energy_uj');
    await rm(path);
    await mkdir(path);
    const probe = probeFor(tree);
    await probe.open();
    const [, failed] = await readOnce(probe);
    expect(failed?.ok === false && [failed.error.code, failed.error.message]).toEqual([
      'PROBE_READ_FAILED',
      `cannot read ${path}: EISDIR`,
    ]);
    await rm(path, { recursive: true });
    await tree.setEnergy('intel-rapl:0:0', 33n);
    expect(energyOf(await readOnce(probe), 'rapl:package-0/dram')).toBe(33n);
  });

  it('returns PROBE_TIMEOUT for every device when the signal is already aborted', async () => {
    const tree = await track(FakeSysfs.twoSocketServer());
    const probe = probeFor(tree);
    await probe.open();
    const controller = new AbortController();
    controller.abort();
    const results = await probe.read(controller.signal);
    expect(results.map((r) => !r.ok && r.error.code)).toEqual(Array(5).fill('PROBE_TIMEOUT'));
  });
});

describe('RaplProbe open failures and discovery edges', () => {
  it('throws PROBE_UNAVAILABLE with the container hint when there is no powercap directory', async () => {
    const tree = await track(FakeSysfs.empty({ withPowercapDir: false }));
    const error = await openError(probeFor(tree));
    expect(error.code).toBe('PROBE_UNAVAILABLE');
    expect(error.message).toContain(tree.powercapDir);
    expect(error.hint).toContain('container runtimes mask /sys/devices/virtual/powercap');
    expect(error.hint).toContain('probes.sysfsRoot');
  });

  it('throws PROBE_NO_DEVICES when the powercap directory holds no rapl zone', async () => {
    const tree = await track(FakeSysfs.empty({ withPowercapDir: true }));
    const error = await openError(probeFor(tree));
    expect(error.code).toBe('PROBE_NO_DEVICES');
    expect(error.hint).toContain('mount the host /sys read-only');
  });

  it('names multi-die packages apart and ignores unknown domain names with a note', async () => {
    const tree = await track(FakeSysfs.empty({ withPowercapDir: true }));
    await tree.addZone({ zone: 'intel-rapl:0', name: 'package-0-die-0', energyMicroJoules: 1n });
    await tree.addZone({ zone: 'intel-rapl:1', name: 'package-0-die-1', energyMicroJoules: 2n });
    await tree.addZone({ zone: 'intel-rapl:2', name: 'mystery', energyMicroJoules: 3n });
    const inventory = await probeFor(tree).open();
    expect(ids(inventory)).toEqual(['rapl:package-0-die-0', 'rapl:package-0-die-1']);
    expect(inventory.notes).toContain('skipped intel-rapl:2 (mystery): unknown rapl domain name');
  });

  it('takes the cpu vendor from devices/system/cpu/modalias', async () => {
    const tree = await track(FakeSysfs.fromFixture('procfs-testdata-intel-rapl'));
    await tree.setCpuModalias('cpu:type:x86,ven0002fam0019mod0011:feature:,0000,0001');
    const inventory = await probeFor(tree).open();
    expect(inventory.devices[0]?.vendor).toBe('AMD');
  });

  it('can be closed and opened again, and reads nothing while closed', async () => {
    const tree = await track(FakeSysfs.fromFixture('procfs-testdata-intel-rapl'));
    const probe = probeFor(tree);
    await probe.open();
    await probe.close();
    expect(await readOnce(probe)).toEqual([]);
    await probe.open();
    expect(energyOf(await readOnce(probe), 'rapl:package-0')).toBe(240_422_366_267n);
  });
});
