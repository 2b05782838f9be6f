import type { NvmlBinding, NvmlDeviceHandle, NvmlFieldValue, NvmlResult } from './nvml-binding.js';
import { NVML_ERROR_UNKNOWN, NVML_SUCCESS } from './nvml-errors.js';
import { NVML_FI_DEV_POWER_INSTANT } from './nvml-power.js';

/**
 * The energy counter as a field value, so that one `nvmlDeviceGetFieldValues` call per tick reads
 * power and energy together (each koffi async call costs the event loop ~40 µs of marshalling, and
 * the sampler makes one per GPU per tick instead of two).
 */

/** `NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION`: the energy counter in mJ (unsigned long long). */
export const NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION = 83;

/** The request of the combined read: power first, energy second (the reader relies on the order). */
export const POWER_AND_ENERGY_FIELDS = [
  { fieldId: NVML_FI_DEV_POWER_INSTANT, scopeId: 0 },
  { fieldId: NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION, scopeId: 0 },
] as const;

/** The mJ of an `NVML_FI_DEV_TOTAL_ENERGY_CONSUMPTION` field, or its per-field status when that failed. */
export function fieldMilliJoules(field: NvmlFieldValue | undefined): NvmlResult<bigint> {
  // The call succeeding says nothing about one field: each carries its own nvmlReturn.
  if (field === undefined || field.nvmlReturn !== NVML_SUCCESS)
    return { ok: false, ret: field?.nvmlReturn ?? NVML_ERROR_UNKNOWN };
  // The header types it unsigned long long; a double (never seen) is truncated, a negative refused.
  const value = typeof field.value === 'number' ? Math.trunc(field.value) : field.value;
  if (typeof value === 'number' && !Number.isSafeInteger(value))
    return { ok: false, ret: NVML_ERROR_UNKNOWN };
  const milliJoules = BigInt(value);
  return milliJoules < 0n ? { ok: false, ret: NVML_ERROR_UNKNOWN } : { ok: true, value: milliJoules };
}

/**
 * Whether field 83 is the same counter as `nvmlDeviceGetTotalEnergyConsumption` on this GPU: the
 * field, read between two reads of the counter, must lie between them (the counter only grows,
 * so this holds for the same counter in the same unit, and fails for another unit or a stale
 * copy). Asked once at open(); any failure answers `false` and the GPU keeps the separate call.
 */
export async function energyFieldMatchesCounter(
  binding: NvmlBinding,
  handle: NvmlDeviceHandle,
): Promise<boolean> {
  const before = await binding.deviceGetTotalEnergyConsumption(handle);
  if (!before.ok) return false;
  const fields = await binding.deviceGetFieldValues(handle, POWER_AND_ENERGY_FIELDS);
  if (!fields.ok) return false;
  const field = fieldMilliJoules(fields.value[1]);
  if (!field.ok) return false;
  const after = await binding.deviceGetTotalEnergyConsumption(handle);
  return after.ok && before.value <= field.value && field.value <= after.value;
}
