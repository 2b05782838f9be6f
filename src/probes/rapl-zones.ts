/**
 * Discovery of Linux powercap RAPL zones under `<sysfsRoot>/class/powercap/`.
 *
 * Zones are identified by their `name` file, never by index: on Xeon servers `intel-rapl:0:0` is
 * `dram`, on clients it is `core`, and `intel-rapl:1` is `package-1` or `psys` depending on the
 * machine. Device ids are built from names, so they survive index reordering across reboots:
 * `rapl:package-0`, `rapl:package-1-die-0`, `rapl:package-0/dram` (a sub-zone: parent name / name),
 * `rapl:psys`.
 *
 * Double counting (psys ⊃ package ⊃ core/uncore; dram is apart from package even though sysfs
 * nests it there):
 * - packages (hwType `cpu`) and dram zones (hwType `dram`) are the additive set:
 *   `details.accounting === 'additive'`; summing them never double counts.
 * - psys becomes a `platform` device with `details.accounting === 'overlapping'` and
 *   `details.contains` listing the additive ids it covers; each of those gets `details.countedIn`.
 * - core and uncore are not devices at all: they are contained in their package, so they appear
 *   only as `details.subZones` of that package and in a note. Nothing reads their counters.
 * - `intel-rapl-mmio:N` zones that repeat an `intel-rapl` zone's name are skipped with a note.
 */
import { access, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ProbeError } from '../errors.js';
import { bigintFromDecimal, type MicroJoules } from '../units.js';
import type { HwType } from './types.js';

/** What a zone measures, from its `name` file. */
export type RaplDomain = 'package' | 'dram' | 'psys' | 'core' | 'uncore';

/** One zone kept for reading; `details` is ready to become {@link DeviceInfo.details}. */
export interface RaplZone {
  /** Stable device id built from zone names (see the module doc). */
  readonly id: string;
  /** Directory name under class/powercap: `intel-rapl:0:0`. */
  readonly zone: string;
  /** Absolute path of the zone directory (a symlink on real sysfs). */
  readonly dir: string;
  /** Content of the `name` file: `package-0`, `dram`, `psys`. */
  readonly name: string;
  readonly domain: RaplDomain;
  readonly hwType: HwType;
  /** Counter range from `max_energy_range_uj`; absent when unreadable (a decrease is then a reset). */
  readonly energyWrapMicroJoules?: MicroJoules;
  readonly details: Readonly<Record<string, string>>;
}

/** The outcome of discovery: zones in path order, and what an operator should know. */
export interface RaplDiscovery {
  readonly powercapDir: string;
  readonly zones: readonly RaplZone[];
  readonly notes: readonly string[];
}

/** Zone directory names: `intel-rapl:0`, `intel-rapl:0:1`, `intel-rapl-mmio:0`. */
const ZONE_DIR = /^(intel-rapl|intel-rapl-mmio):(\d{1,4})(?::(\d{1,4}))?$/;
const PACKAGE_NAME = /^package-\d{1,4}(?:-die-\d{1,4})?$/;
const CONTAINER_HINT =
  'container runtimes mask /sys/devices/virtual/powercap; mount the host /sys read-only and set probes.sysfsRoot (virtual machines normally expose no rapl at all)';

interface ZonePath {
  readonly zone: string;
  readonly mmio: boolean;
  readonly top: number;
  readonly sub: number | undefined;
}

interface RawZone extends ZonePath {
  readonly dir: string;
  readonly name: string;
  readonly domain: RaplDomain;
  readonly wrap: MicroJoules | undefined;
}

/**
 * Lists the RAPL zones to read. Throws `ProbeError` `PROBE_UNAVAILABLE` when the powercap
 * directory does not exist, `PROBE_PERMISSION_DENIED` when it cannot be listed; every skipped
 * zone (malformed name, missing `energy_uj`, duplicate, contained sub-zone) becomes a note.
 */
export async function discoverRaplZones(sysfsRoot: string): Promise<RaplDiscovery> {
  const powercapDir = join(sysfsRoot, 'class', 'powercap');
  const notes: string[] = [];
  const paths = parseZonePaths(await listPowercap(powercapDir), notes);
  const raw: RawZone[] = [];
  for (const path of paths) {
    const zone = await readRawZone(powercapDir, path, notes);
    if (zone) raw.push(zone);
  }
  return { powercapDir, zones: assembleZones(raw, notes), notes };
}

async function listPowercap(powercapDir: string): Promise<string[]> {
  try {
    return await readdir(powercapDir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new ProbeError('PROBE_PERMISSION_DENIED', `cannot list ${powercapDir}: permission denied`, {
        cause: error,
        hint: 'run with read access to /sys/class/powercap',
      });
    }
    throw new ProbeError('PROBE_UNAVAILABLE', `no powercap directory at ${powercapDir} (${code ?? error})`, {
      cause: error,
      hint: CONTAINER_HINT,
    });
  }
}

/** Keeps zone-shaped entries (dirs or symlinks), sorted: intel-rapl before mmio, parents first. */
function parseZonePaths(entries: readonly string[], notes: string[]): ZonePath[] {
  const paths: ZonePath[] = [];
  for (const entry of entries) {
    const match = ZONE_DIR.exec(entry);
    if (match) {
      const sub = match[3] === undefined ? undefined : Number(match[3]);
      paths.push({ zone: entry, mmio: match[1] === 'intel-rapl-mmio', top: Number(match[2]), sub });
    } else if (entry.startsWith('intel-rapl') && entry.includes(':')) {
      // Control types (`intel-rapl`, `intel-rapl-mmio`) have no colon; anything else is broken.
      notes.push(`skipped ${entry}: malformed zone directory name (expected intel-rapl:N or intel-rapl:N:M)`);
    }
  }
  return paths.sort(
    (a, b) => Number(a.mmio) - Number(b.mmio) || a.top - b.top || (a.sub ?? -1) - (b.sub ?? -1),
  );
}

async function readRawZone(
  powercapDir: string,
  path: ZonePath,
  notes: string[],
): Promise<RawZone | undefined> {
  const dir = join(powercapDir, path.zone);
  // stat follows the class/powercap symlink; a dangling one is what a masked container shows.
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) {
    notes.push(`skipped ${path.zone}: not a readable directory (dangling link? ${CONTAINER_HINT})`);
    return undefined;
  }
  const name = (await readText(join(dir, 'name')))?.trim();
  if (!name) {
    notes.push(`skipped ${path.zone}: no readable name file`);
    return undefined;
  }
  const domain = domainOf(name);
  if (!domain) {
    notes.push(`skipped ${path.zone} (${name}): unknown rapl domain name`);
    return undefined;
  }
  // Existence only: energy_uj is root-only (0400) on kernels >= 5.10, so readability is the
  // probe's concern at open(), where it can report PROBE_PERMISSION_DENIED.
  if (!(await exists(join(dir, 'energy_uj')))) {
    notes.push(`skipped ${path.zone} (${name}): no energy_uj file`);
    return undefined;
  }
  const wrapText = await readText(join(dir, 'max_energy_range_uj'));
  const wrap = wrapText === undefined ? null : bigintFromDecimal(wrapText);
  if (wrap === null || wrap === 0n) {
    notes.push(
      `${path.zone} (${name}): max_energy_range_uj missing or unreadable; wrap detection is impossible, a counter decrease will be treated as a reset`,
    );
  }
  return { ...path, dir, name, domain, wrap: wrap || undefined };
}

function domainOf(name: string): RaplDomain | undefined {
  if (PACKAGE_NAME.test(name)) return 'package';
  switch (name) {
    case 'dram':
    case 'psys':
    case 'core':
    case 'uncore':
      return name;
    default:
      return undefined;
  }
}

/** Builds ids, drops duplicates and contained sub-zones, and writes the containment details. */
function assembleZones(raw: readonly RawZone[], notes: string[]): RaplZone[] {
  const byId = new Map<string, { raw: RawZone; details: Record<string, string> }>();
  for (const zone of raw) {
    const id = idOf(zone, raw);
    const first = byId.get(id);
    if (first) {
      const why = zone.mmio && !first.raw.mmio ? 'duplicate of' : 'same name as';
      notes.push(`skipped ${zone.zone}: ${why} ${first.raw.zone} (${first.raw.name})`);
    } else if (!placementIsValid(zone)) {
      notes.push(`skipped ${zone.zone} (${zone.name}): unexpected place for a ${zone.domain} zone`);
    } else {
      byId.set(id, { raw: zone, details: baseDetails(zone) });
    }
  }
  const kept = [...byId.entries()];
  for (const [id, entry] of kept) {
    if (entry.raw.domain !== 'core' && entry.raw.domain !== 'uncore') continue;
    const parent = kept.find(([, p]) => p.raw.sub === undefined && sameParent(p.raw, entry.raw))?.[1];
    if (parent) parent.details.subZones = appendList(parent.details.subZones, entry.raw.name);
    notes.push(`${entry.raw.zone} (${entry.raw.name}) is contained in its package; not read as a device`);
    byId.delete(id);
  }
  markPsysContainment([...byId.entries()].map(([id, entry]) => ({ id, ...entry })));
  return [...byId.entries()].map(([id, { raw: zone, details }]) => toZone(id, zone, details));
}

function idOf(zone: RawZone, all: readonly RawZone[]): string {
  if (zone.sub === undefined) return `rapl:${zone.name}`;
  const parent = all.find((p) => p.sub === undefined && sameParent(p, zone));
  // A sub-zone without its parent directory keeps the parent's zone path instead of its name.
  return `rapl:${parent?.name ?? `${zone.mmio ? 'intel-rapl-mmio' : 'intel-rapl'}:${zone.top}`}/${zone.name}`;
}

function sameParent(a: ZonePath, b: ZonePath): boolean {
  return a.mmio === b.mmio && a.top === b.top;
}

/** Packages and psys are top-level zones; core/uncore only sub-zones; dram may be either. */
function placementIsValid(zone: RawZone): boolean {
  if (zone.domain === 'package' || zone.domain === 'psys') return zone.sub === undefined;
  if (zone.domain === 'core' || zone.domain === 'uncore') return zone.sub !== undefined;
  return true;
}

function baseDetails(zone: RawZone): Record<string, string> {
  const details: Record<string, string> = {
    zone: zone.zone,
    accounting: zone.domain === 'psys' ? 'overlapping' : 'additive',
  };
  if (zone.wrap !== undefined) details.maxEnergyRangeMicroJoules = zone.wrap.toString();
  return details;
}

/** psys covers the whole platform: every package and dram zone is inside it. */
function markPsysContainment(
  entries: readonly { id: string; raw: RawZone; details: Record<string, string> }[],
) {
  const additive = entries.filter((e) => e.raw.domain !== 'psys');
  for (const psys of entries.filter((e) => e.raw.domain === 'psys')) {
    psys.details.contains = additive.map((e) => e.id).join(',');
    for (const inner of additive) inner.details.countedIn = appendList(inner.details.countedIn, psys.id);
  }
}

function toZone(id: string, zone: RawZone, details: Record<string, string>): RaplZone {
  const hwType: HwType = zone.domain === 'dram' ? 'dram' : zone.domain === 'psys' ? 'platform' : 'cpu';
  const base = { id, zone: zone.zone, dir: zone.dir, name: zone.name, domain: zone.domain, hwType, details };
  return zone.wrap === undefined ? base : { ...base, energyWrapMicroJoules: zone.wrap };
}

function appendList(list: string | undefined, item: string): string {
  return list ? `${list},${item}` : item;
}

async function readText(path: string): Promise<string | undefined> {
  return readFile(path, 'latin1').catch(() => undefined);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
