/**
 * The RAPL probe: cumulative energy counters of the Linux powercap zones (`energy_uj`, native µJ).
 *
 * Which zones become devices, and how double counting is avoided, is decided in
 * `rapl-zones.ts` (device ids `rapl:package-0`, `rapl:package-0/dram`, `rapl:psys`). This file
 * keeps one read-only handle per zone and re-reads it with `pread` at offset 0 on every sample,
 * which is what sysfs needs to regenerate the value and costs one syscall per zone. Raw counter
 * values are passed on unchanged; wrap handling belongs to the meter, which gets the range from
 * `DeviceInfo.energyWrapMicroJoules`.
 */
import type { FileHandle } from 'node:fs/promises';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import { ProbeError } from '../errors.js';
import { bigintFromDecimal } from '../units.js';
import { discoverRaplZones, type RaplZone } from './rapl-zones.js';
import type { DeviceInfo, DeviceReadResult, Probe, ProbeInventory } from './types.js';

/** Options of {@link RaplProbe}; `sysfsRoot` is `/sys` on a host, `/host/sys` in a DaemonSet. */
export interface RaplProbeOptions {
  readonly sysfsRoot: string;
  readonly clock: Clock;
}

/** How to fix EACCES on energy_uj; shown with every `PROBE_PERMISSION_DENIED` of this probe. */
export const RAPL_PERMISSION_HINT =
  'energy_uj is root-only since linux 5.10 (cve-2020-8694): run as root, or grant read access with a ' +
  'udev/tmpfiles rule or a systemd ExecStartPre=+ step that runs `chgrp powercap` and `chmod g+r` on ' +
  'every zone energy_uj file, and add the service user to the powercap group';

const NO_ZONES_HINT =
  'load the intel_rapl_msr kernel module (amd zen uses it too); container runtimes mask ' +
  '/sys/devices/virtual/powercap: mount the host /sys read-only and set probes.sysfsRoot';

/** A u64 counter has at most 20 digits; a full buffer therefore means the file is not a counter. */
const READ_BUFFER_BYTES = 64;

interface ZoneReader {
  readonly zone: RaplZone;
  readonly path: string;
  readonly buffer: Buffer;
  handle: FileHandle | undefined;
}

/**
 * Reads RAPL energy counters from `<sysfsRoot>/class/powercap`. `open()` throws `ProbeError`:
 * `PROBE_UNAVAILABLE` (no powercap directory), `PROBE_NO_DEVICES` (no usable zone),
 * `PROBE_PERMISSION_DENIED` (no `energy_uj` readable; the hint says how to grant access).
 * `read()` never throws: a zone that fails yields `PROBE_READ_FAILED`, `PROBE_PARSE_FAILED` or
 * `PROBE_PERMISSION_DENIED` for that zone only, and is reopened on the next read.
 */
export class RaplProbe implements Probe {
  readonly kind = 'rapl' as const;
  readonly #sysfsRoot: string;
  readonly #clock: Clock;
  #readers: ZoneReader[] = [];
  /** Reads are serialised because each zone reuses one buffer and one handle. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: RaplProbeOptions) {
    this.#sysfsRoot = options.sysfsRoot;
    this.#clock = options.clock;
  }

  /** Discovers the zones and opens their `energy_uj` files; see the class doc for failures. */
  async open(signal?: AbortSignal): Promise<ProbeInventory> {
    if (signal?.aborted) throw new ProbeError('PROBE_TIMEOUT', 'rapl open aborted', { cause: signal.reason });
    await this.close();
    const discovery = await discoverRaplZones(this.#sysfsRoot);
    if (discovery.zones.length === 0) {
      const why = discovery.notes.length > 0 ? `: ${discovery.notes.join('; ')}` : '';
      throw new ProbeError('PROBE_NO_DEVICES', `no usable rapl zone under ${discovery.powercapDir}${why}`, {
        hint: NO_ZONES_HINT,
      });
    }
    const readers = discovery.zones.map((zone) => ({
      zone,
      path: join(zone.dir, 'energy_uj'),
      buffer: Buffer.alloc(READ_BUFFER_BYTES),
      handle: undefined,
    }));
    const notes = [...discovery.notes, ...(await openAll(readers))];
    this.#readers = readers;
    const vendor = await readCpuVendor(this.#sysfsRoot);
    return {
      devices: readers.map((reader, index) => toDeviceInfo(reader.zone, index, vendor)),
      details: { sysfsRoot: this.#sysfsRoot, powercapDir: discovery.powercapDir },
      notes,
    };
  }

  /** One result per device from `open()`, in the same order; raw counters in µJ. */
  read(signal: AbortSignal): Promise<readonly DeviceReadResult[]> {
    const run = this.#queue.then(() => this.#readAll(signal));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Closes every handle; the probe can be opened again. */
  async close(): Promise<void> {
    await this.#queue;
    const readers = this.#readers;
    this.#readers = [];
    await Promise.all(readers.map(closeQuietly));
  }

  async #readAll(signal: AbortSignal): Promise<readonly DeviceReadResult[]> {
    if (signal.aborted) {
      const error = new ProbeError('PROBE_TIMEOUT', 'rapl read aborted before it started', {
        cause: signal.reason,
      });
      return this.#readers.map((reader) => ({ ok: false, deviceId: reader.zone.id, error }));
    }
    return Promise.all(this.#readers.map((reader) => this.#readZone(reader)));
  }

  async #readZone(reader: ZoneReader): Promise<DeviceReadResult> {
    const deviceId = reader.zone.id;
    try {
      reader.handle ??= await open(reader.path, 'r');
      // pread at offset 0: sysfs regenerates the text on each read from offset 0, so one handle
      // serves every sample without a reopen (and sees in-place rewrites in the fake tree).
      const { bytesRead } = await reader.handle.read(reader.buffer, 0, reader.buffer.length, 0);
      const monoNanos = this.#clock.monoNanos();
      const text = reader.buffer.toString('latin1', 0, bytesRead);
      // energy_uj is native µJ: no conversion, only an exact decimal parse (no floats).
      const energyCounterMicroJoules = bytesRead < reader.buffer.length ? bigintFromDecimal(text) : null;
      if (energyCounterMicroJoules === null) {
        const shown = JSON.stringify(text.slice(0, 32));
        const error = new ProbeError(
          'PROBE_PARSE_FAILED',
          `${reader.path} holds ${shown}, not a decimal counter`,
        );
        return { ok: false, deviceId, error };
      }
      return { ok: true, deviceId, reading: { monoNanos, energyCounterMicroJoules } };
    } catch (error) {
      // Drop the handle so the next read reopens: access may be granted, or the zone come back.
      await closeQuietly(reader);
      return { ok: false, deviceId, error: zoneError(error, reader.path) };
    }
  }
}

/**
 * Opens every zone's `energy_uj`. Throws when none opens (with `PROBE_PERMISSION_DENIED` if any
 * was EACCES); otherwise returns a note per zone that stays closed and will fail its reads.
 */
async function openAll(readers: ZoneReader[]): Promise<string[]> {
  const failures: ProbeError[] = [];
  for (const reader of readers) {
    try {
      reader.handle = await open(reader.path, 'r');
    } catch (error) {
      failures.push(zoneError(error, reader.path));
    }
  }
  if (failures.length < readers.length) {
    return failures.map((failure) => `${failure.message}; reads of that zone fail until this is fixed`);
  }
  const first = failures.find((f) => f.code === 'PROBE_PERMISSION_DENIED') ?? failures[0]!;
  const more = failures.length > 1 ? ` (and ${failures.length - 1} more energy_uj files)` : '';
  throw new ProbeError(first.code, `${first.message}${more}`, {
    cause: first,
    ...(first.hint === undefined ? {} : { hint: first.hint }),
  });
}

function zoneError(error: unknown, path: string): ProbeError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'EACCES' || code === 'EPERM') {
    return new ProbeError('PROBE_PERMISSION_DENIED', `cannot read ${path}: permission denied`, {
      cause: error,
      hint: RAPL_PERMISSION_HINT,
    });
  }
  const why = code ?? (error instanceof Error ? error.message : String(error));
  return new ProbeError('PROBE_READ_FAILED', `cannot read ${path}: ${why}`, { cause: error });
}

async function closeQuietly(reader: ZoneReader): Promise<void> {
  const handle = reader.handle;
  reader.handle = undefined;
  // Closing a read-only handle has nothing to flush; a failure here changes nothing for the caller.
  await handle?.close().catch(() => undefined);
}

function toDeviceInfo(zone: RaplZone, index: number, vendor: string): DeviceInfo {
  const base: DeviceInfo = {
    id: zone.id,
    probe: 'rapl',
    hwType: zone.hwType,
    name: zone.name,
    vendor,
    index,
    hasEnergyCounter: true,
    details: zone.details,
    accounting: zone.details.accounting === 'overlapping' ? 'overlapping' : 'additive',
    simulated: false,
  };
  return zone.energyWrapMicroJoules === undefined
    ? base
    : { ...base, energyWrapMicroJoules: zone.energyWrapMicroJoules };
}

/**
 * CPU vendor from `<sysfsRoot>/devices/system/cpu/modalias` (`cpu:type:x86,ven0000fam…`), because
 * the `intel-rapl` control type is also used by AMD. Empty string when sysfs does not say.
 */
async function readCpuVendor(sysfsRoot: string): Promise<string> {
  const path = join(sysfsRoot, 'devices', 'system', 'cpu', 'modalias');
  const modalias = await readFile(path, 'latin1').catch(() => '');
  const vendorCode = /,ven(\d{4})/.exec(modalias)?.[1];
  // X86_VENDOR_* numbers from arch/x86/include/asm/processor.h.
  const vendors: Record<string, string> = { '0000': 'Intel', '0002': 'AMD', '0009': 'Hygon' };
  return vendorCode === undefined ? '' : (vendors[vendorCode] ?? '');
}
