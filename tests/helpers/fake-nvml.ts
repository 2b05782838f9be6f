import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { FIXTURES } from './fixtures.js';

/**
 * The fake `libnvidia-ml.so.1` (tests/fixtures/nvml/fake-nvml.c): compiled once per content hash
 * into os.tmpdir(), driven by files that {@link FakeNvmlState} writes. Shared by the NVML probe
 * tests and the benchmark.
 */

/**
 * Environment that makes the fake skip trace, delay and fault-injection files, for the benchmark:
 * a call then costs only the reads of its value files. Tests keep the default (faults on).
 */
export const FAKE_NVML_FAST_ENV: Readonly<Record<string, string>> = { FAKE_NVML_FAST: '1' };

const run = promisify(execFile);

/** Absolute path of the C source of the fake library. */
export const FAKE_NVML_SOURCE = join(FIXTURES, 'nvml', 'fake-nvml.c');

/** `current`: a driver-590-like export set. `legacy`: no `_v2`/`_v3` names, no `nvmlDeviceGetFieldValues`. */
export type FakeNvmlVariant = 'current' | 'legacy';

const VARIANT_FLAGS: Readonly<Record<FakeNvmlVariant, readonly string[]>> = {
  current: [],
  legacy: ['-DFAKE_NVML_LEGACY', '-DFAKE_NVML_NO_FIELD_VALUES'],
};

/** The C compiler to use (`$CC`, else `cc`, `gcc`, `clang`), or `undefined` when none runs. */
export function findCCompiler(): string | undefined {
  const candidates = [process.env.CC, 'cc', 'gcc', 'clang'].filter((c): c is string => Boolean(c));
  return candidates.find((cc) => spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0);
}

/** Why the fake-NVML tests cannot run here, or `undefined` when they can. For `describe.skipIf`. */
export function fakeNvmlSkipReason(): string | undefined {
  return findCCompiler() === undefined
    ? 'no C compiler (cc, gcc, clang or $CC) found: the fake libnvidia-ml.so.1 cannot be built, nvml tests skipped'
    : undefined;
}

/**
 * Compiles the fake library (once per source, variant and compiler; cached in os.tmpdir()) and
 * returns the path of its `libnvidia-ml.so.1`. Throws when no C compiler is available.
 */
export async function buildFakeNvml(variant: FakeNvmlVariant = 'current'): Promise<string> {
  const cc = findCCompiler();
  if (cc === undefined) throw new Error(fakeNvmlSkipReason());
  const source = await readFile(FAKE_NVML_SOURCE);
  const flags = ['-shared', '-fPIC', '-O2', '-Wall', ...VARIANT_FLAGS[variant]];
  const hash = createHash('sha256')
    .update(source)
    .update(JSON.stringify([cc, flags]))
    .digest('hex')
    .slice(0, 16);
  const output = join(tmpdir(), 'wattledger-fake-nvml', hash, 'libnvidia-ml.so.1');
  if (existsSync(output)) return output;
  await mkdir(dirname(output), { recursive: true });
  // Compile beside the target and rename: parallel test files must never load a half-written .so.
  const partial = `${output}.${process.pid}.tmp`;
  await run(cc, [...flags, '-o', partial, FAKE_NVML_SOURCE]);
  await rename(partial, output);
  return output;
}

/** One fake GPU's state; `null` removes the file (the getter then answers NOT_SUPPORTED). */
export interface FakeGpu {
  readonly uuid: string | null;
  readonly name: string | null;
  readonly serial: string | null;
  /** `"%08X:%02X:%02X.0"`. */
  readonly pciBusId: string | null;
  /** `(deviceId << 16) | 0x10DE`; the fake defaults to an H200's 0x233510DE. */
  readonly pciDeviceId: number | null;
  /** `nvmlDeviceArchitecture_t`: 7 Ampere, 9 Hopper… */
  readonly arch: number | null;
  readonly energyMilliJoules: bigint | number | null;
  /** What field 83 reports instead of `energyMilliJoules`; `null` (the default): the same counter. */
  readonly energyFieldMilliJoules: bigint | number | null;
  /** What `nvmlDeviceGetPowerUsage` (and field 185) returns. */
  readonly powerMilliWatts: number | null;
  /** What field `NVML_FI_DEV_POWER_INSTANT` (186) returns. */
  readonly instantMilliWatts: number | null;
  readonly powerLimitMilliWatts: number | null;
  readonly utilizationGpuPercent: number | null;
  readonly memoryTotalBytes: bigint | number | null;
  readonly memoryUsedBytes: bigint | number | null;
  /** 1 enabled, 0 disabled, null: GPU without MIG. */
  readonly mig: 0 | 1 | null;
  readonly temperatureCelsius: number | null;
}

const FILES: Readonly<Record<keyof FakeGpu, string>> = {
  uuid: 'uuid',
  name: 'name',
  serial: 'serial',
  pciBusId: 'pci_bus_id',
  pciDeviceId: 'pci_device_id',
  arch: 'arch',
  energyMilliJoules: 'energy_mj',
  energyFieldMilliJoules: 'energy_field_mj',
  powerMilliWatts: 'power_mw',
  instantMilliWatts: 'instant_mw',
  powerLimitMilliWatts: 'power_limit_mw',
  utilizationGpuPercent: 'util_gpu',
  memoryTotalBytes: 'mem_total',
  memoryUsedBytes: 'mem_used',
  mig: 'mig',
  temperatureCelsius: 'temp_c',
};

/** An H200 as the recorded fixtures show it (tests/fixtures/nvidia-smi-csv, H200 capture). */
export function defaultFakeGpu(index: number): FakeGpu {
  const hex = (0x83 + index).toString(16).toUpperCase().padStart(2, '0');
  return {
    uuid: `GPU-5a8c1f0e-7b2d-4c3a-9e1f-0000000000${index.toString().padStart(2, '0')}`,
    name: 'NVIDIA H200',
    serial: `165412345678${index}`,
    pciBusId: `00000000:${hex}:00.0`,
    pciDeviceId: 0x233510de,
    arch: 9,
    energyMilliJoules: 1_000_000 + index,
    energyFieldMilliJoules: null,
    powerMilliWatts: 627_400,
    instantMilliWatts: 588_390,
    powerLimitMilliWatts: 700_000,
    utilizationGpuPercent: 87,
    memoryTotalBytes: 143_771n * 1_048_576n,
    memoryUsedBytes: 1_024n * 1_048_576n,
    mig: 0,
    temperatureCelsius: 45,
  };
}

/**
 * The fake library's state directory. Every setter replaces a file atomically (write + rename),
 * so a concurrent NVML call sees the old or the new value, never an empty file.
 */
export class FakeNvmlState {
  private constructor(readonly dir: string) {}

  /** A fresh state directory with `gpus` default H200s (see {@link defaultFakeGpu}). */
  static async create(gpus = 1): Promise<FakeNvmlState> {
    const state = new FakeNvmlState(await mkdtemp(join(tmpdir(), 'wattledger-fake-nvml-state-')));
    await state.setGpuCount(gpus);
    for (let index = 0; index < gpus; index++) await state.setGpu(index, defaultFakeGpu(index));
    return state;
  }

  /** Points the library at this directory (`FAKE_NVML_DIR`); it is read on every NVML call. */
  activate(): void {
    process.env.FAKE_NVML_DIR = this.dir;
  }

  async setGpuCount(count: number): Promise<void> {
    await this.write('count', count);
  }

  /** Writes some or all of one GPU's values. */
  async setGpu(index: number, values: Partial<FakeGpu>): Promise<void> {
    for (const [key, value] of Object.entries(values) as [keyof FakeGpu, FakeGpu[keyof FakeGpu]][]) {
      await this.write(`${index}/${FILES[key]}`, value);
    }
  }

  async setEnergyMilliJoules(index: number, milliJoules: bigint | number | null): Promise<void> {
    await this.setGpu(index, { energyMilliJoules: milliJoules });
  }

  /**
   * Makes `functions` (unversioned C names; all device calls when omitted) on GPU `index` return
   * `code`. `field<id>` (e.g. `field83`) fails that field value alone, as its per-field status;
   * `nvmlDeviceGetTotalEnergyConsumption` also fails the energy fields 83 and 191 that way.
   */
  async setFail(index: number, code: number, functions: readonly string[] = []): Promise<void> {
    await this.write(`${index}/fail_funcs`, functions.join(','));
    await this.write(`${index}/fail_code`, code);
  }

  async clearFail(index: number): Promise<void> {
    await this.write(`${index}/fail_code`, null);
  }

  /** `nvmlInit*` returns `code` (0 or null: success). */
  async setInitFail(code: number | null): Promise<void> {
    await this.write('init_fail', code);
  }

  /** Every call sleeps this long first; with `index`, only calls on that GPU (added to the global delay). */
  async setDelayMicros(micros: number, index?: number): Promise<void> {
    await this.write(index === undefined ? 'delay_us' : `${index}/delay_us`, micros);
  }

  /** Records every later call as `"<function> <gpu index or -1>"`, read back with {@link calls}. */
  async enableTrace(): Promise<void> {
    await this.write('trace', 1);
  }

  /** The traced calls so far. */
  async calls(): Promise<string[]> {
    const text = await readFile(join(this.dir, 'calls.log'), 'utf8').catch(() => '');
    return text.split('\n').filter((line) => line.length > 0);
  }

  /**
   * Resolves once the library has served `count` more calls of `fn` (unversioned C name) on GPU
   * `index` than it had when called; needs {@link enableTrace}. For tests that must know a reading
   * was taken (polls the trace file every 10 ms; rejects after `timeoutMs`).
   */
  async waitForCalls(fn: string, index: number, count = 1, timeoutMs = 10_000): Promise<void> {
    const matching = async () =>
      (await this.calls()).filter((line) => line.startsWith(`${fn}`) && line.endsWith(` ${index}`)).length;
    const target = (await matching()) + count;
    const deadline = Date.now() + timeoutMs;
    while ((await matching()) < target) {
      if (Date.now() > deadline)
        throw new Error(`${fn} on GPU ${index} was not called ${count} more time(s) in ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  private async write(relative: string, value: string | number | bigint | null): Promise<void> {
    const path = join(this.dir, relative);
    if (value === null) {
      await rm(path, { force: true });
      return;
    }
    await mkdir(dirname(path), { recursive: true });
    const partial = `${path}.tmp`;
    await writeFile(partial, `${value}\n`);
    await rename(partial, path);
  }
}
