/**
 * A fake Linux sysfs tree for the RAPL probe, in a fresh temp dir (the Kepler `testdata/sys`
 * pattern). Trees start from the powercap fixtures recorded from real machines in
 * `tests/fixtures/powercap/` (provenance: `tests/fixtures/SOURCES.md`, section
 * "powercap/"): `procfs-testdata-intel-rapl` (prometheus/procfs) and
 * `kepler-testdata-intel-rapl-with-mmio` (Kepler). Those trees use plain directories; zones added
 * with `layout: 'symlink'` reproduce the real layout, where `class/powercap/<zone>` is a symlink
 * into `devices/virtual/powercap/…`.
 *
 * Every directory is made 0755 and every file 0644 (the fixtures are read-only), so tests can
 * rewrite values and an unprivileged child process can traverse the tree.
 */
import { chmod, cp, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MicroJoules } from '../../src/units.js';
import { FIXTURES } from './fixtures.js';
import { makeTmpDir } from './tmp-dir.js';

/** The recorded powercap trees under `tests/fixtures/powercap/`. */
export type PowercapFixture = 'procfs-testdata-intel-rapl' | 'kepler-testdata-intel-rapl-with-mmio';

/** A zone to add: `zone` is the directory name (`intel-rapl:1`, `intel-rapl:0:0`). */
export interface FakeZone {
  readonly zone: string;
  readonly name: string;
  readonly energyMicroJoules: MicroJoules;
  /** Omit to leave out `max_energy_range_uj`. */
  readonly maxEnergyRangeMicroJoules?: MicroJoules;
  /** `dir` (default): a plain directory as in the fixtures; `symlink`: the real sysfs layout. */
  readonly layout?: 'dir' | 'symlink';
}

/** Package and DRAM counter ranges seen on Intel servers (research/hardware.md §3.2). */
export const PACKAGE_RANGE_MICROJOULES = 262_143_328_850n;
export const DRAM_RANGE_MICROJOULES = 65_712_999_613n;

/** A fake sysfs root; pass `root` as the probe's `sysfsRoot`. */
export class FakeSysfs {
  /** The `sysfsRoot` to configure: `<tmp>/sys`. */
  readonly root: string;
  readonly powercapDir: string;
  readonly #tmpDir: string;
  readonly #cleanup: () => Promise<void>;

  private constructor(tmpDir: string, cleanup: () => Promise<void>) {
    this.#tmpDir = tmpDir;
    this.#cleanup = cleanup;
    this.root = join(tmpDir, 'sys');
    this.powercapDir = join(this.root, 'class', 'powercap');
  }

  /** Copies a recorded fixture tree. */
  static async fromFixture(fixture: PowercapFixture): Promise<FakeSysfs> {
    const sysfs = await FakeSysfs.#create();
    await cp(join(FIXTURES, 'powercap', fixture, 'sys'), sysfs.root, { recursive: true });
    await sysfs.#normaliseModes(sysfs.#tmpDir);
    return sysfs;
  }

  /** A tree with `class/powercap/` present but no zone, or with no powercap dir at all. */
  static async empty(options: { withPowercapDir: boolean }): Promise<FakeSysfs> {
    const sysfs = await FakeSysfs.#create();
    await mkdir(options.withPowercapDir ? sysfs.powercapDir : join(sysfs.root, 'class'), { recursive: true });
    await sysfs.#normaliseModes(sysfs.#tmpDir);
    return sysfs;
  }

  /**
   * A synthesized 2-socket Xeon-style server in the real symlink layout: `intel-rapl:0` package-0
   * with `intel-rapl:0:0` **dram** (servers have no core/uncore zones), the same for socket 1,
   * and `intel-rapl:2` psys. Values are made up; the layout follows research/hardware.md §3.1.
   */
  static async twoSocketServer(): Promise<FakeSysfs> {
    const sysfs = await FakeSysfs.empty({ withPowercapDir: true });
    const zones: FakeZone[] = [
      { zone: 'intel-rapl:0', name: 'package-0', energyMicroJoules: 100_000_000n },
      { zone: 'intel-rapl:0:0', name: 'dram', energyMicroJoules: 20_000_000n },
      { zone: 'intel-rapl:1', name: 'package-1', energyMicroJoules: 110_000_000n },
      { zone: 'intel-rapl:1:0', name: 'dram', energyMicroJoules: 21_000_000n },
      { zone: 'intel-rapl:2', name: 'psys', energyMicroJoules: 400_000_000n },
    ];
    for (const zone of zones) {
      const range = zone.name === 'dram' ? DRAM_RANGE_MICROJOULES : PACKAGE_RANGE_MICROJOULES;
      await sysfs.addZone({ ...zone, maxEnergyRangeMicroJoules: range, layout: 'symlink' });
    }
    return sysfs;
  }

  /** The zone directory as the probe sees it (through the symlink if there is one). */
  zoneDir(zone: string): string {
    return join(this.powercapDir, zone);
  }

  /** Path of one file of a zone: `filePath('intel-rapl:0', 'energy_uj')`. */
  filePath(zone: string, file: string): string {
    return join(this.zoneDir(zone), file);
  }

  /**
   * Sets a zone's counter. Writes in place (same inode, like sysfs), so a probe that keeps the
   * file open sees the new value on its next read from offset 0.
   */
  async setEnergy(zone: string, energyMicroJoules: MicroJoules): Promise<void> {
    await this.writeZoneFile(zone, 'energy_uj', `${energyMicroJoules}\n`);
  }

  /** Writes any zone file in place (`name`, garbage into `energy_uj`, …). */
  async writeZoneFile(zone: string, file: string, content: string): Promise<void> {
    await writeFile(this.filePath(zone, file), content, { flag: 'w' });
  }

  /**
   * Adds a zone with `name`, `energy_uj`, `enabled` and optionally `max_energy_range_uj`. New
   * dirs are 0755 and files 0644 under the usual umask 022.
   */
  async addZone(spec: FakeZone): Promise<void> {
    const dir = spec.layout === 'symlink' ? this.#deviceDir(spec.zone) : this.zoneDir(spec.zone);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(join(dir, 'name'), `${spec.name}\n`);
    await writeFile(join(dir, 'energy_uj'), `${spec.energyMicroJoules}\n`);
    await writeFile(join(dir, 'enabled'), '1\n');
    if (spec.maxEnergyRangeMicroJoules !== undefined) {
      await writeFile(join(dir, 'max_energy_range_uj'), `${spec.maxEnergyRangeMicroJoules}\n`);
    }
    if (spec.layout === 'symlink') await symlink(dir, this.zoneDir(spec.zone));
  }

  /** Removes one file of a zone (`energy_uj`, `max_energy_range_uj`). */
  async removeFile(zone: string, file: string): Promise<void> {
    await rm(this.filePath(zone, file));
  }

  /** Sets the mode of one zone file (for the unprivileged child in the permission test). */
  async chmodFile(zone: string, file: string, mode: number): Promise<void> {
    await chmod(this.filePath(zone, file), mode);
  }

  /** Writes `devices/system/cpu/modalias`, where the probe reads the CPU vendor. */
  async setCpuModalias(modalias: string): Promise<void> {
    const dir = join(this.root, 'devices', 'system', 'cpu');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'modalias'), `${modalias}\n`);
  }

  /** Deletes the whole temp tree. */
  async cleanup(): Promise<void> {
    await this.#cleanup();
  }

  static async #create(): Promise<FakeSysfs> {
    const { dir, cleanup } = await makeTmpDir('wattledger-sysfs-');
    return new FakeSysfs(dir, cleanup);
  }

  /** Real sysfs keeps zones under their control type; `intel-rapl:0:1` lives in `intel-rapl:0`. */
  #deviceDir(zone: string): string {
    const [controlType = zone, top, sub] = zone.split(':');
    const parts = [this.root, 'devices', 'virtual', 'powercap', controlType];
    if (top !== undefined) parts.push(`${controlType}:${top}`);
    if (sub !== undefined) parts.push(zone);
    return join(...parts);
  }

  /** mkdtemp makes 0700 dirs and the fixtures are read-only: make all 0755 dirs and 0644 files. */
  async #normaliseModes(dir: string): Promise<void> {
    await chmod(dir, 0o755);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await this.#normaliseModes(path);
      else if (entry.isFile()) await chmod(path, 0o644);
    }
  }
}
