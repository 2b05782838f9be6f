import type { Clock } from '../clock.js';
import { ProbeError } from '../errors.js';
import { microJoulesFromMilliJoules } from '../units.js';
import type { NvmlBinding, NvmlCall, NvmlMemoryInfo, NvmlResult, NvmlUtilization } from './nvml-binding.js';
import { NVML_ERROR_GPU_IS_LOST } from './nvml-errors.js';
import { failureOf, isUnsupported } from './nvml-failures.js';
import type { Gpu } from './nvml-inventory.js';
import { INSTANT_FIELD, instantMilliWatts } from './nvml-power.js';
import type { DeviceReading, DeviceReadResult } from './types.js';

/** One tick's reads of an open GPU, off the event loop, abandoned (not cancelled) on abort. */

/** A power answer and the call that gave it (named in its error); `monoNanos` is when it returned. */
interface PowerSample {
  readonly call: NvmlCall;
  readonly result: NvmlResult<number | undefined>;
  readonly monoNanos: bigint;
}

/** What one GPU's queries answered; `undefined` for a query that was not asked. */
interface Answers {
  readonly energy: NvmlResult<bigint> | undefined;
  readonly power: PowerSample;
  readonly utilization: NvmlResult<NvmlUtilization> | undefined;
  readonly memory: NvmlResult<NvmlMemoryInfo> | undefined;
}

/**
 * Reads one GPU. When `signal` aborts first, answers `PROBE_TIMEOUT` and leaves the NVML calls to
 * finish in the background; until they do, the GPU answers `PROBE_TIMEOUT` at once instead of
 * queueing more calls. A lost GPU answers its `NVML_GPU_IS_LOST` error without calling NVML.
 */
export function readGpu(
  binding: NvmlBinding,
  clock: Clock,
  gpu: Gpu,
  signal: AbortSignal,
): Promise<DeviceReadResult> | DeviceReadResult {
  const deviceId = gpu.info.id;
  if (gpu.lost) return { ok: false, deviceId, error: gpu.lost };
  if (gpu.pending) return timeout(deviceId, 'the previous read of this gpu has not returned yet');
  if (signal.aborted) return timeout(deviceId, 'the read was aborted before it started');
  const pending = sample(binding, clock, gpu);
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
async function sample(binding: NvmlBinding, clock: Clock, gpu: Gpu): Promise<DeviceReadResult> {
  const deviceId = gpu.info.id;
  try {
    const [energy, power, utilization, memory] = await Promise.all([
      gpu.info.hasEnergyCounter ? binding.deviceGetTotalEnergyConsumption(gpu.handle) : undefined,
      samplePower(binding, clock, gpu),
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
    return { ok: true, deviceId, reading: toReading(clock, { energy, power, utilization, memory }) };
  } catch (cause) {
    // Only koffi itself throws here (e.g. its async queue is full); NVML answers with codes.
    const message = `nvml read of gpu ${deviceId} failed: ${String(cause)}`;
    return { ok: false, deviceId, error: new ProbeError('PROBE_READ_FAILED', message, { cause }) };
  }
}

/** The reading of whatever answered; a failed auxiliary query is left out. */
function toReading(clock: Clock, { energy, power, utilization, memory }: Answers): DeviceReading {
  const powerMilliWatts = power.result.ok ? power.result.value : undefined;
  return {
    monoNanos: clock.monoNanos(),
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
