import type { Clock } from '../clock.js';
import { ProbeError } from '../errors.js';
import { microJoulesFromMilliJoules, milliWattsFromInteger } from '../units.js';
import {
  loadNvmlBinding,
  type NvmlBinding,
  type NvmlCall,
  type NvmlDeviceHandle,
  type NvmlFieldValue,
  type NvmlMemoryInfo,
  type NvmlPciInfo,
  type NvmlResult,
} from './nvml-binding.js';
import {
  NVML_ERROR_FUNCTION_NOT_FOUND,
  NVML_ERROR_GPU_IS_LOST,
  NVML_ERROR_NOT_SUPPORTED,
  NVML_ERROR_UNKNOWN,
  NVML_SUCCESS,
  nvmlError,
} from './nvml-errors.js';
import type {
  DeviceInfo,
  DeviceReading,
  DeviceReadResult,
  PowerSemantics,
  Probe,
  ProbeInventory,
} from './types.js';

/** Options of {@link NvmlProbe}. */
export interface NvmlProbeOptions {
  /** Path of `libnvidia-ml.so.1` (config `probes.nvmlLibraryPath`). */
  readonly libraryPath: string;
  readonly clock: Clock;
}

/** `NVML_FI_DEV_POWER_INSTANT`: instantaneous board power in mW, on every architecture. */
export const NVML_FI_DEV_POWER_INSTANT = 186;
const INSTANT_FIELD = [{ fieldId: NVML_FI_DEV_POWER_INSTANT, scopeId: 0 }] as const;
const NVML_DEVICE_ARCH_AMPERE = 7;
const NVML_DEVICE_ARCH_UNKNOWN = 0xffffffff;
const ARCHITECTURES: Readonly<Record<number, string>> = {
  ...{ 2: 'kepler', 3: 'maxwell', 4: 'pascal', 5: 'volta', 6: 'turing', 7: 'ampere' },
  ...{ 8: 'ada', 9: 'hopper', 10: 'blackwell', 13: 'rubin' },
};
type PowerSource = 'field-instant' | 'power-usage' | 'none';
const POWER_SOURCE_NAMES: Readonly<Record<PowerSource, string>> = {
  'field-instant': 'field:NVML_FI_DEV_POWER_INSTANT',
  'power-usage': 'nvmlDeviceGetPowerUsage',
  none: 'none',
};

/**
 * Whether a GPU is a GA100 (A100, A30, A800), whose `nvmlDeviceGetPowerUsage` is instantaneous
 * although it is Ampere. Rule: PCI device id (upper 16 bits of `pciDeviceId`) in 0x20B0–0x20BF, or
 * a name containing `A100`, `A800`, or `A30` not followed by a digit (`RTX A3000` is a GA104).
 */
export function isGa100(pciDeviceId: number | undefined, name: string): boolean {
  const deviceId = pciDeviceId === undefined ? -1 : pciDeviceId >>> 16;
  return (deviceId >= 0x20b0 && deviceId <= 0x20bf) || /\bA(?:100|800)|\bA30(?!\d)/.test(name);
}

/**
 * What `nvmlDeviceGetPowerUsage` means on a GPU: a 1 s moving average on Ampere and newer except
 * GA100, instantaneous otherwise (NVML ≥ 12.4 header text). An architecture the driver cannot
 * report is treated as older: drivers without `nvmlDeviceGetArchitecture` predate Ampere.
 */
export function powerUsageSemantics(
  architecture: number | undefined,
  pciDeviceId: number | undefined,
  name: string,
): PowerSemantics {
  if (architecture === undefined || architecture === NVML_DEVICE_ARCH_UNKNOWN) return 'instant';
  if (architecture < NVML_DEVICE_ARCH_AMPERE || isGa100(pciDeviceId, name)) return 'instant';
  return 'average-1s';
}

/** One open GPU; the mutable flags turn off queries NVML said it does not support. */
interface Gpu {
  readonly info: DeviceInfo;
  readonly handle: NvmlDeviceHandle;
  readonly powerSource: PowerSource;
  utilization: boolean;
  memory: boolean;
  /** Set on GPU_IS_LOST: every later read returns this without calling NVML. */
  lost?: ProbeError | undefined;
  /** A read still running on koffi's worker threads after an abort gave up on it. */
  pending?: Promise<DeviceReadResult> | undefined;
}

/** What open() learned about one GPU; `undefined` fields are unsupported (or failed) queries. */
interface GpuFacts {
  readonly name: string | undefined;
  readonly serial: string | undefined;
  readonly pci: NvmlPciInfo | undefined;
  readonly architecture: number | undefined;
  readonly powerLimitMilliWatts: number | undefined;
  readonly memory: NvmlMemoryInfo | undefined;
  readonly migMode: number | undefined;
  /** Only NOT_SUPPORTED means "no counter"; a transient failure at open must not disable it. */
  readonly hasEnergyCounter: boolean;
}

/**
 * GPU energy and power through NVML, loaded with koffi. Energy is the cumulative counter
 * (`nvmlDeviceGetTotalEnergyConsumption`, mJ → µJ) passed through raw: the meter, not the probe,
 * decides what a decrease means. Every NVML call of `read()` runs off the event loop.
 */
export class NvmlProbe implements Probe {
  readonly kind = 'nvml' as const;
  private readonly libraryPath: string;
  private readonly clock: Clock;
  private binding: NvmlBinding | undefined;
  private gpus: Gpu[] = [];
  private state: 'new' | 'open' | 'closed' = 'new';

  constructor(options: NvmlProbeOptions) {
    this.libraryPath = options.libraryPath;
    this.clock = options.clock;
  }

  /**
   * Loads the library, initialises NVML and inventories every GPU. Throws `ProbeError`:
   * `PROBE_UNAVAILABLE` (koffi or the library cannot be loaded), `NVML_<NAME>` (nvmlInit or the
   * device count failed), `PROBE_NO_DEVICES` (no usable GPU), `PROBE_TIMEOUT` (aborted between
   * GPUs). A GPU whose handle or UUID cannot be read is skipped with a note. Call once.
   */
  async open(signal?: AbortSignal): Promise<ProbeInventory> {
    if (this.state !== 'new')
      throw new ProbeError('PROBE_UNAVAILABLE', `nvml probe is already ${this.state}`);
    const binding = await loadNvmlBinding(this.libraryPath);
    const ret = await binding.init();
    if (ret !== NVML_SUCCESS) throw callError(binding, ret, 'init', {});
    try {
      const inventory = await this.inventory(binding, signal);
      this.binding = binding;
      this.state = 'open';
      return inventory;
    } catch (error) {
      await binding.shutdown(); // balance the successful nvmlInit: NVML counts references
      throw error;
    }
  }

  /**
   * Reads every GPU concurrently: energy counter (µJ), one power sample (mW), utilization and
   * memory where supported. Per-GPU failures are `{ ok: false }`. When `signal` aborts, GPUs not
   * finished yet answer `PROBE_TIMEOUT`; their NVML calls finish in the background, and until they
   * do, that GPU answers `PROBE_TIMEOUT` at once instead of queueing more calls.
   */
  async read(signal: AbortSignal): Promise<readonly DeviceReadResult[]> {
    if (this.state !== 'open')
      throw new ProbeError('PROBE_UNAVAILABLE', `nvml probe is ${this.state}, not open`);
    return Promise.all(this.gpus.map((gpu) => this.readGpu(gpu, signal)));
  }

  /** Calls `nvmlShutdown` once; later calls do nothing. */
  async close(): Promise<void> {
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    if (wasOpen) await this.binding?.shutdown();
  }

  private async inventory(binding: NvmlBinding, signal: AbortSignal | undefined): Promise<ProbeInventory> {
    const versions = await systemVersions(binding);
    const count = await binding.deviceGetCount();
    if (!count.ok) throw callError(binding, count.ret, 'count', {});
    const notes = binding.missingFunctions.map(
      (name) => `nvml library lacks ${name}; its readings are omitted`,
    );
    for (let index = 0; index < count.value; index++) {
      if (signal?.aborted) throw new ProbeError('PROBE_TIMEOUT', `nvml open aborted at gpu index ${index}`);
      const gpu = await inspectGpu(binding, index, versions);
      if (typeof gpu === 'string') notes.push(gpu);
      else this.gpus.push(gpu);
    }
    if (this.gpus.length === 0) {
      const why = notes.length > 0 ? `: ${notes.join('; ')}` : '';
      throw new ProbeError('PROBE_NO_DEVICES', `nvml found ${count.value} gpus and none is usable${why}`, {
        hint: 'check nvidia-smi -L, and NVIDIA_VISIBLE_DEVICES inside a container',
      });
    }
    const details = { libraryPath: binding.libraryPath, deviceCount: String(count.value), ...versions };
    return { devices: this.gpus.map((gpu) => gpu.info), details, notes };
  }

  private readGpu(gpu: Gpu, signal: AbortSignal): Promise<DeviceReadResult> | DeviceReadResult {
    const deviceId = gpu.info.id;
    if (gpu.lost) return { ok: false, deviceId, error: gpu.lost };
    if (gpu.pending) return timeout(deviceId, 'the previous read of this gpu has not returned yet');
    if (signal.aborted) return timeout(deviceId, 'the read was aborted before it started');
    const pending = this.sample(gpu);
    gpu.pending = pending;
    return new Promise((resolve) => {
      const onAbort = () => resolve(timeout(deviceId, 'the read was aborted while nvml was still answering'));
      signal.addEventListener('abort', onAbort, { once: true });
      void pending.then((result) => {
        gpu.pending = undefined;
        signal.removeEventListener('abort', onAbort);
        resolve(result);
      });
    });
  }

  /** One GPU's queries, in parallel on koffi's worker threads. Never rejects. */
  private async sample(gpu: Gpu): Promise<DeviceReadResult> {
    const binding = this.binding!;
    const deviceId = gpu.info.id;
    try {
      const [energy, power, utilization, memory] = await Promise.all([
        gpu.info.hasEnergyCounter ? binding.deviceGetTotalEnergyConsumption(gpu.handle) : undefined,
        this.samplePower(gpu),
        gpu.utilization ? binding.deviceGetUtilizationRates(gpu.handle) : undefined,
        gpu.memory ? binding.deviceGetMemoryInfo(gpu.handle) : undefined,
      ]);
      const calls = [
        ['energy', energy],
        [power.call, power.result],
        ['utilization', utilization],
        ['memory', memory],
      ] as const;
      gpu.lost ??= failureOf(binding, deviceId, calls, (ret) => ret === NVML_ERROR_GPU_IS_LOST);
      // Energy and power are the measurement: their failure is the device's; the others are optional.
      const failed = gpu.lost ?? failureOf(binding, deviceId, calls.slice(0, 2), () => true);
      if (failed) return { ok: false, deviceId, error: failed };
      // Auxiliary readings: unsupported means stop asking; another failure only omits them this tick.
      if (utilization && !utilization.ok && isUnsupported(utilization.ret)) gpu.utilization = false;
      if (memory && !memory.ok && isUnsupported(memory.ret)) gpu.memory = false;
      const powerMilliWatts = power.result.ok ? power.result.value : undefined;
      const reading: DeviceReading = {
        monoNanos: this.clock.monoNanos(),
        ...(energy?.ok && { energyCounterMicroJoules: microJoulesFromMilliJoules(energy.value) }),
        ...(powerMilliWatts !== undefined && {
          powerSamples: [{ monoNanos: power.monoNanos, powerMilliWatts }],
        }),
        ...(utilization?.ok && { utilizationGpuPercent: utilization.value.gpu }),
        ...(memory?.ok && {
          memoryUsedBytes: memory.value.usedBytes,
          memoryTotalBytes: memory.value.totalBytes,
        }),
      };
      return { ok: true, deviceId, reading };
    } catch (cause) {
      // Only koffi itself throws here (e.g. its async queue is full); NVML answers with codes.
      const message = `nvml read of gpu ${deviceId} failed: ${String(cause)}`;
      return { ok: false, deviceId, error: new ProbeError('PROBE_READ_FAILED', message, { cause }) };
    }
  }

  /** One power reading in mW, `value: undefined` for a GPU without any; `monoNanos` is when it returned. */
  private async samplePower(
    gpu: Gpu,
  ): Promise<{ call: NvmlCall; result: NvmlResult<number | undefined>; monoNanos: bigint }> {
    const binding = this.binding!;
    if (gpu.powerSource === 'none')
      return { call: 'power', result: { ok: true, value: undefined }, monoNanos: 0n };
    if (gpu.powerSource === 'power-usage') {
      const result = await binding.deviceGetPowerUsage(gpu.handle);
      return { call: 'power', result, monoNanos: this.clock.monoNanos() };
    }
    const fields = await binding.deviceGetFieldValues(gpu.handle, INSTANT_FIELD);
    const monoNanos = this.clock.monoNanos();
    return { call: 'fields', result: fields.ok ? instantMilliWatts(fields.value[0]) : fields, monoNanos };
  }
}

/** Driver, NVML and CUDA driver versions for `details`; any that cannot be read are left out. */
async function systemVersions(binding: NvmlBinding): Promise<Record<string, string>> {
  const [driver, nvml, cuda] = await Promise.all([
    binding.systemGetDriverVersion(),
    binding.systemGetNvmlVersion(),
    binding.systemGetCudaDriverVersion(),
  ]);
  return {
    ...(driver.ok && { driverVersion: driver.value }),
    ...(nvml.ok && { nvmlVersion: nvml.value }),
    // 13010 → "13.1", as nvidia-smi prints it.
    ...(cuda.ok && { cudaDriverVersion: `${Math.trunc(cuda.value / 1000)}.${(cuda.value % 1000) / 10}` }),
  };
}

/** One GPU's inventory, or the note that says why it was skipped. */
async function inspectGpu(
  binding: NvmlBinding,
  index: number,
  versions: Record<string, string>,
): Promise<Gpu | string> {
  const handle = await binding.deviceGetHandleByIndex(index);
  if (!handle.ok)
    return `skipped gpu index ${index}: ${callError(binding, handle.ret, 'handle', { index }).message}`;
  const uuid = await binding.deviceGetUuid(handle.value);
  if (!uuid.ok)
    return `skipped gpu index ${index}: ${callError(binding, uuid.ret, 'uuid', { index }).message}`;
  let facts: GpuFacts;
  try {
    facts = await queryFacts(binding, handle.value, uuid.value);
  } catch (error) {
    if (error instanceof ProbeError) return `skipped gpu index ${index}: ${error.message}`;
    throw error;
  }
  const name = facts.name ?? `nvidia gpu ${index}`;
  const power = await choosePower(binding, handle.value, facts, name);
  const info = describeGpu(index, uuid.value, name, facts, power, versions);
  // Utilization is first asked at the first read; memory was just asked.
  return { info, handle: handle.value, powerSource: power.source, utilization: true, memory: !!facts.memory };
}

/** Asks NVML everything open() reports. Throws the `NVML_GPU_IS_LOST` error if the GPU is lost. */
async function queryFacts(binding: NvmlBinding, handle: NvmlDeviceHandle, uuid: string): Promise<GpuFacts> {
  const fact = async <T>(call: NvmlCall, pending: Promise<NvmlResult<T>>): Promise<T | undefined> => {
    const result = await pending;
    if (result.ok) return result.value;
    // Any other failure only loses that fact; a lost GPU cannot be used at all.
    if (result.ret === NVML_ERROR_GPU_IS_LOST) throw callError(binding, result.ret, call, { uuid });
    return undefined;
  };
  const energy = binding.deviceGetTotalEnergyConsumption(handle);
  const [name, serial, pci, architecture, powerLimitMilliWatts, memory, mig] = await Promise.all([
    fact('name', binding.deviceGetName(handle)),
    fact('serial', binding.deviceGetSerial(handle)),
    fact('pci', binding.deviceGetPciInfo(handle)),
    fact('arch', binding.deviceGetArchitecture(handle)),
    fact('limit', binding.deviceGetEnforcedPowerLimit(handle)),
    fact('memory', binding.deviceGetMemoryInfo(handle)),
    fact('mig', binding.deviceGetMigMode(handle)),
    fact('energy', energy),
  ]);
  const counter = await energy;
  const hasEnergyCounter = counter.ok || !isUnsupported(counter.ret);
  return {
    name,
    serial,
    pci,
    architecture,
    powerLimitMilliWatts,
    memory,
    migMode: mig?.current,
    hasEnergyCounter,
  };
}

/** Prefers the instantaneous field; else GetPowerUsage, whose meaning depends on the GPU. */
async function choosePower(
  binding: NvmlBinding,
  handle: NvmlDeviceHandle,
  facts: GpuFacts,
  name: string,
): Promise<{ source: PowerSource; semantics?: PowerSemantics }> {
  const field = await binding.deviceGetFieldValues(handle, INSTANT_FIELD);
  if (field.ok && instantMilliWatts(field.value[0]).ok)
    return { source: 'field-instant', semantics: 'instant' };
  const usage = await binding.deviceGetPowerUsage(handle);
  if (!usage.ok && isUnsupported(usage.ret)) return { source: 'none' };
  return {
    source: 'power-usage',
    semantics: powerUsageSemantics(facts.architecture, facts.pci?.pciDeviceId, name),
  };
}

function describeGpu(
  index: number,
  uuid: string,
  name: string,
  facts: GpuFacts,
  power: { source: PowerSource; semantics?: PowerSemantics },
  versions: Record<string, string>,
): DeviceInfo {
  const { architecture, pci, memory, migMode, serial, powerLimitMilliWatts } = facts;
  const details: Record<string, string> = {
    ...versions,
    powerSource: POWER_SOURCE_NAMES[power.source],
    ...(architecture !== undefined && {
      architecture: ARCHITECTURES[architecture] ?? `unknown (${architecture})`,
    }),
    ...(memory !== undefined && { memoryTotalBytes: String(memory.totalBytes) }),
    ...(pci !== undefined && {
      pciDeviceId: `0x${pci.pciDeviceId.toString(16).toUpperCase().padStart(8, '0')}`,
    }),
  };
  return {
    ...{ id: uuid, probe: 'nvml', hwType: 'gpu', name, vendor: 'NVIDIA', index, simulated: false, details },
    hasEnergyCounter: facts.hasEnergyCounter,
    ...(serial !== undefined && { serial }),
    ...(pci !== undefined && { pciBusId: pci.busId }),
    ...(powerLimitMilliWatts !== undefined && { powerLimitMilliWatts }),
    ...(power.semantics !== undefined && { powerSemantics: power.semantics }),
    // NVML_DEVICE_MIG_ENABLE is 1; NOT_SUPPORTED (a GPU without MIG) leaves the field out.
    ...(migMode !== undefined && { migMode: migMode === 1 ? 'enabled' : 'disabled' }),
    ...(versions.driverVersion !== undefined && { driverVersion: versions.driverVersion }),
  };
}

/** The mW of an `NVML_FI_DEV_POWER_INSTANT` field, or its per-field status when that failed. */
function instantMilliWatts(field: NvmlFieldValue | undefined): NvmlResult<number> {
  // GetFieldValues succeeds when the call worked; each field carries its own status.
  if (field === undefined || field.nvmlReturn !== NVML_SUCCESS) {
    return { ok: false, ret: field?.nvmlReturn ?? NVML_ERROR_UNKNOWN };
  }
  // Power fields are unsigned integers in mW; a double (not seen for this field) is truncated.
  const value = typeof field.value === 'number' ? Math.trunc(field.value) : Number(field.value);
  const milliWatts = milliWattsFromInteger(value);
  return milliWatts === null ? { ok: false, ret: NVML_ERROR_UNKNOWN } : { ok: true, value: milliWatts };
}

/** The first call in `results` that failed with a code `matches` accepts, as a ProbeError. */
function failureOf(
  binding: NvmlBinding,
  uuid: string,
  results: readonly (readonly [NvmlCall, NvmlResult<unknown> | undefined])[],
  matches: (ret: number) => boolean,
): ProbeError | undefined {
  for (const [call, result] of results) {
    if (result !== undefined && !result.ok && matches(result.ret))
      return callError(binding, result.ret, call, { uuid });
  }
  return undefined;
}

function callError(
  binding: NvmlBinding,
  ret: number,
  call: NvmlCall,
  at: { uuid?: string; index?: number },
): ProbeError {
  return nvmlError(ret, {
    functionName: binding.name(call),
    errorString: binding.errorString(ret),
    ...(at.uuid !== undefined && { deviceUuid: at.uuid }),
    ...(at.index !== undefined && { deviceIndex: at.index }),
  });
}

function isUnsupported(ret: number): boolean {
  return ret === NVML_ERROR_NOT_SUPPORTED || ret === NVML_ERROR_FUNCTION_NOT_FOUND;
}

function timeout(deviceId: string, why: string): DeviceReadResult {
  const error = new ProbeError('PROBE_TIMEOUT', `nvml read of gpu ${deviceId}: ${why}`);
  return { ok: false, deviceId, error };
}
