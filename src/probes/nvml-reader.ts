import type { Clock } from '../clock.js';
import { ProbeError } from '../errors.js';
import { microJoulesFromMilliJoules } from '../units.js';
import type { NvmlBinding, NvmlCall, NvmlMemoryInfo, NvmlResult, NvmlUtilization } from './nvml-binding.js';
import { fieldMilliJoules, POWER_AND_ENERGY_FIELDS } from './nvml-energy.js';
import { NVML_ERROR_GPU_IS_LOST } from './nvml-errors.js';
import { failureOf, isUnsupported } from './nvml-failures.js';
import type { Gpu } from './nvml-inventory.js';
import { INSTANT_FIELD, instantMilliWatts } from './nvml-power.js';
import type { DeviceReading, DeviceReadResult } from './types.js';

/** One tick's reads of an open GPU, off the event loop, abandoned (not cancelled) on abort. */

/** An NVML answer and the call that gave it (named in its error). */
interface Answer<T> {
  readonly call: NvmlCall;
  readonly result: NvmlResult<T>;
}

/** A power answer; `monoNanos` is when it returned. */
interface PowerSample extends Answer<number | undefined> {
  readonly monoNanos: bigint;
}

/** Energy (`undefined`: a GPU without a counter) and power: the measurement itself. */
interface Measured {
  readonly energy: Answer<bigint> | undefined;
  readonly power: PowerSample;
}

/**
 * Reads one GPU; `auxiliary` says whether this tick also asks utilization and memory (other
 * ticks repeat the last answers). When `signal` aborts first, answers `PROBE_TIMEOUT` and leaves
 * the NVML calls to finish in the background; until they do, the GPU answers `PROBE_TIMEOUT` at
 * once instead of queueing more calls. A lost GPU answers its `NVML_GPU_IS_LOST` error without
 * calling NVML.
 */
export function readGpu(
  binding: NvmlBinding,
  clock: Clock,
  gpu: Gpu,
  signal: AbortSignal,
  auxiliary: boolean,
): Promise<DeviceReadResult> | DeviceReadResult {
  const deviceId = gpu.info.id;
  if (gpu.lost) return { ok: false, deviceId, error: gpu.lost };
  if (gpu.pending) return timeout(deviceId, 'the previous read of this gpu has not returned yet');
  if (signal.aborted) return timeout(deviceId, 'the read was aborted before it started');
  const pending = sample(binding, clock, gpu, auxiliary);
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
async function sample(
  binding: NvmlBinding,
  clock: Clock,
  gpu: Gpu,
  auxiliary: boolean,
): Promise<DeviceReadResult> {
  const deviceId = gpu.info.id;
  try {
    const [{ energy, power }, utilization, memory] = await Promise.all([
      measure(binding, clock, gpu),
      auxiliary && gpu.utilization ? binding.deviceGetUtilizationRates(gpu.handle) : undefined,
      auxiliary && gpu.memory ? binding.deviceGetMemoryInfo(gpu.handle) : undefined,
    ]);
    const calls = [
      [energy?.call ?? 'energy', energy?.result],
      [power.call, power.result],
      ['utilization', utilization],
      ['memory', memory],
    ] as const;
    gpu.lost ??= failureOf(binding, deviceId, calls, (ret) => ret === NVML_ERROR_GPU_IS_LOST);
    // Energy and power are the measurement: their failure is the device's; the others are optional.
    const failed = gpu.lost ?? failureOf(binding, deviceId, calls.slice(0, 2), () => true);
    if (failed) return { ok: false, deviceId, error: failed };
    if (auxiliary) remember(gpu, utilization, memory);
    return { ok: true, deviceId, reading: toReading(clock, gpu, { energy, power }) };
  } catch (cause) {
    // Only koffi itself throws here (e.g. its async queue is full); NVML answers with codes.
    const message = `nvml read of gpu ${deviceId} failed: ${String(cause)}`;
    return { ok: false, deviceId, error: new ProbeError('PROBE_READ_FAILED', message, { cause }) };
  }
}

/**
 * Keeps this tick's auxiliary answers for the ticks that do not ask. Unsupported means stop
 * asking; another failure only omits them until the next auxiliary tick.
 */
function remember(
  gpu: Gpu,
  utilization: NvmlResult<NvmlUtilization> | undefined,
  memory: NvmlResult<NvmlMemoryInfo> | undefined,
): void {
  if (utilization && !utilization.ok && isUnsupported(utilization.ret)) gpu.utilization = false;
  if (memory && !memory.ok && isUnsupported(memory.ret)) gpu.memory = false;
  gpu.lastUtilization = utilization?.ok ? utilization.value : undefined;
  gpu.lastMemory = memory?.ok ? memory.value : undefined;
}

/** The reading of whatever answered; auxiliary values are the last ones NVML gave. */
function toReading(clock: Clock, gpu: Gpu, { energy, power }: Measured): DeviceReading {
  const powerMilliWatts = power.result.ok ? power.result.value : undefined;
  const { lastUtilization: utilization, lastMemory: memory } = gpu;
  return {
    monoNanos: clock.monoNanos(),
    ...(energy?.result.ok && { energyCounterMicroJoules: microJoulesFromMilliJoules(energy.result.value) }),
    ...(powerMilliWatts !== undefined && {
      powerSamples: [{ monoNanos: power.monoNanos, powerMilliWatts }],
    }),
    ...(utilization && { utilizationGpuPercent: utilization.gpu }),
    ...(memory && { memoryUsedBytes: memory.usedBytes, memoryTotalBytes: memory.totalBytes }),
  };
}

/** Energy and power: one field read where the GPU allows it, else a call each, in parallel. */
async function measure(binding: NvmlBinding, clock: Clock, gpu: Gpu): Promise<Measured> {
  if (gpu.energyFromField) return measureByFields(binding, clock, gpu);
  const [energy, power] = await Promise.all([
    gpu.info.hasEnergyCounter ? binding.deviceGetTotalEnergyConsumption(gpu.handle) : undefined,
    samplePower(binding, clock, gpu),
  ]);
  return { energy: energy && { call: 'energy', result: energy }, power };
}

/**
 * Fields 186 and 83 in one `nvmlDeviceGetFieldValues`. When field 83 alone fails, this tick asks
 * `nvmlDeviceGetTotalEnergyConsumption` instead, so the energy survives a field hiccup and a real
 * failure is named after the counter call; NOT_SUPPORTED on the field ends the combined read.
 */
async function measureByFields(binding: NvmlBinding, clock: Clock, gpu: Gpu): Promise<Measured> {
  const fields = await binding.deviceGetFieldValues(gpu.handle, POWER_AND_ENERGY_FIELDS);
  const monoNanos = clock.monoNanos();
  if (!fields.ok)
    return {
      energy: { call: 'fields', result: fields },
      power: { call: 'fields', result: fields, monoNanos },
    };
  const power: PowerSample = { call: 'fields', result: instantMilliWatts(fields.value[0]), monoNanos };
  const energy = fieldMilliJoules(fields.value[1]);
  if (energy.ok) return { energy: { call: 'fields', result: energy }, power };
  if (isUnsupported(energy.ret)) gpu.energyFromField = false;
  return {
    energy: { call: 'energy', result: await binding.deviceGetTotalEnergyConsumption(gpu.handle) },
    power,
  };
}

/** One power reading in mW, `value: undefined` for a GPU without any; `monoNanos` is when it returned. */
async function samplePower(binding: NvmlBinding, clock: Clock, gpu: Gpu): Promise<PowerSample> {
  if (gpu.powerSource === 'none')
    return { call: 'power', result: { ok: true, value: undefined }, monoNanos: 0n };
  if (gpu.powerSource === 'power-usage') {
    const result = await binding.deviceGetPowerUsage(gpu.handle);
    return { call: 'power', result, monoNanos: clock.monoNanos() };
  }
  const fields = await binding.deviceGetFieldValues(gpu.handle, INSTANT_FIELD);
  const monoNanos = clock.monoNanos();
  return { call: 'fields', result: fields.ok ? instantMilliWatts(fields.value[0]) : fields, monoNanos };
}

function timeout(deviceId: string, why: string): DeviceReadResult {
  const error = new ProbeError('PROBE_TIMEOUT', `nvml read of gpu ${deviceId}: ${why}`);
  return { ok: false, deviceId, error };
}
