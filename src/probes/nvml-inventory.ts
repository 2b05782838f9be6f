import { ProbeError } from '../errors.js';
import type {
  NvmlBinding,
  NvmlCall,
  NvmlDeviceHandle,
  NvmlMemoryInfo,
  NvmlPciInfo,
  NvmlResult,
  NvmlUtilization,
} from './nvml-binding.js';
import { energyFieldMatchesCounter } from './nvml-energy.js';
import { NVML_ERROR_GPU_IS_LOST } from './nvml-errors.js';
import { callError, isUnsupported } from './nvml-failures.js';
import {
  INSTANT_FIELD,
  instantMilliWatts,
  POWER_SOURCE_NAMES,
  type PowerSource,
  powerUsageSemantics,
} from './nvml-power.js';
import type { DeviceInfo, DeviceReadResult, PowerSemantics, ProbeInventory } from './types.js';

/**
 * What `NvmlProbe.open()` learns: system versions, then per GPU its facts, its power source and
 * what that power means, as the `DeviceInfo` the probe reports and the {@link Gpu} it reads later.
 */

const ARCHITECTURES: Readonly<Record<number, string>> = {
  ...{ 2: 'kepler', 3: 'maxwell', 4: 'pascal', 5: 'volta', 6: 'turing', 7: 'ampere' },
  ...{ 8: 'ada', 9: 'hopper', 10: 'blackwell', 13: 'rubin' },
};

/** One open GPU; the mutable flags turn off queries NVML said it does not support. */
export interface Gpu {
  readonly info: DeviceInfo;
  readonly handle: NvmlDeviceHandle;
  readonly powerSource: PowerSource;
  /**
   * Energy comes from field 83 of the power field read (one NVML call per tick), not from its own
   * `nvmlDeviceGetTotalEnergyConsumption`. Set at open() where the field matches the counter;
   * cleared when the field later says NOT_SUPPORTED.
   */
  energyFromField: boolean;
  utilization: boolean;
  memory: boolean;
  /** The last auxiliary answers, repeated on the ticks that do not ask NVML for them. */
  lastUtilization?: NvmlUtilization | undefined;
  lastMemory?: NvmlMemoryInfo | undefined;
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
 * Inventories every GPU of an initialised binding. Throws `ProbeError`: `NVML_<NAME>` (the device
 * count failed), `PROBE_NO_DEVICES` (no usable GPU), `PROBE_TIMEOUT` (aborted between GPUs). A GPU
 * whose handle or UUID cannot be read is skipped with a note.
 */
export async function inventoryGpus(
  binding: NvmlBinding,
  signal: AbortSignal | undefined,
): Promise<{ gpus: Gpu[]; inventory: ProbeInventory }> {
  const versions = await systemVersions(binding);
  const count = await binding.deviceGetCount();
  if (!count.ok) throw callError(binding, count.ret, 'count', {});
  const notes = binding.missingFunctions.map(
    (name) => `nvml library lacks ${name}; its readings are omitted`,
  );
  const gpus: Gpu[] = [];
  for (let index = 0; index < count.value; index++) {
    if (signal?.aborted) throw new ProbeError('PROBE_TIMEOUT', `nvml open aborted at gpu index ${index}`);
    const gpu = await inspectGpu(binding, index, versions);
    if (typeof gpu === 'string') notes.push(gpu);
    else gpus.push(gpu);
  }
  if (gpus.length === 0) {
    const why = notes.length > 0 ? `: ${notes.join('; ')}` : '';
    throw new ProbeError('PROBE_NO_DEVICES', `nvml found ${count.value} gpus and none is usable${why}`, {
      hint: 'check nvidia-smi -L, and NVIDIA_VISIBLE_DEVICES inside a container',
    });
  }
  const details = { libraryPath: binding.libraryPath, deviceCount: String(count.value), ...versions };
  return { gpus, inventory: { devices: gpus.map((gpu) => gpu.info), details, notes } };
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
  // Only worth checking where the power already comes from a field read the energy can join.
  const energyFromField =
    power.source === 'field-instant' &&
    facts.hasEnergyCounter &&
    (await energyFieldMatchesCounter(binding, handle.value));
  // Utilization is first asked at the first read; memory was just asked.
  const { source: powerSource } = power;
  return {
    info,
    handle: handle.value,
    powerSource,
    energyFromField,
    utilization: true,
    memory: !!facts.memory,
  };
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
