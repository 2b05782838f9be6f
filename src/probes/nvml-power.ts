import { milliWattsFromInteger } from '../units.js';
import type { NvmlFieldValue, NvmlResult } from './nvml-binding.js';
import { NVML_ERROR_UNKNOWN, NVML_SUCCESS } from './nvml-errors.js';
import type { PowerSemantics } from './types.js';

/**
 * Where a GPU's power reading comes from and what it means: the instantaneous field, or
 * `nvmlDeviceGetPowerUsage` with its per-architecture semantics (the GA100 rule).
 */

/** `NVML_FI_DEV_POWER_INSTANT`: instantaneous board power in mW, on every architecture. */
export const NVML_FI_DEV_POWER_INSTANT = 186;
/** The `nvmlDeviceGetFieldValues` request for {@link NVML_FI_DEV_POWER_INSTANT}. */
export const INSTANT_FIELD = [{ fieldId: NVML_FI_DEV_POWER_INSTANT, scopeId: 0 }] as const;
const NVML_DEVICE_ARCH_AMPERE = 7;
const NVML_DEVICE_ARCH_UNKNOWN = 0xffffffff;

/** Which NVML query a GPU's power reading comes from; `none` for a GPU without any. */
export type PowerSource = 'field-instant' | 'power-usage' | 'none';

/** How each {@link PowerSource} is named in the device `details`. */
export const POWER_SOURCE_NAMES: Readonly<Record<PowerSource, string>> = {
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

/** The mW of an `NVML_FI_DEV_POWER_INSTANT` field, or its per-field status when that failed. */
export function instantMilliWatts(field: NvmlFieldValue | undefined): NvmlResult<number> {
  // GetFieldValues succeeds when the call worked; each field carries its own status.
  if (field === undefined || field.nvmlReturn !== NVML_SUCCESS) {
    return { ok: false, ret: field?.nvmlReturn ?? NVML_ERROR_UNKNOWN };
  }
  // Power fields are unsigned integers in mW; a double (not seen for this field) is truncated.
  const value = typeof field.value === 'number' ? Math.trunc(field.value) : Number(field.value);
  const milliWatts = milliWattsFromInteger(value);
  return milliWatts === null ? { ok: false, ret: NVML_ERROR_UNKNOWN } : { ok: true, value: milliWatts };
}
