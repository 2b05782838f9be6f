import type { Koffi } from './nvml-binding.js';
import { NVML_SUCCESS } from './nvml-errors.js';

/**
 * koffi declarations of NVML's structs and unions (layouts in shared/research/hardware.md §1) and
 * the decoders of what koffi writes into them. koffi arrives as a parameter: `nvml-binding.ts`
 * stays the only module that imports it.
 */

/** `nvmlPciInfo_t` (68 bytes), the fields the probe uses. */
export interface NvmlPciInfo {
  /** `"%08X:%02X:%02X.0"`, e.g. `00000000:83:00.0`. */
  readonly busId: string;
  /** `(deviceId << 16) | vendorId`, e.g. `0x233510DE` for an H200. */
  readonly pciDeviceId: number;
  readonly pciSubSystemId: number;
}

/** One `nvmlFieldValue_t` after the call; `value` is decoded by `valueType` (double → number). */
export interface NvmlFieldValue {
  readonly fieldId: number;
  readonly scopeId: number;
  /** Per-field status: the value is meaningless unless this is `NVML_SUCCESS`. */
  readonly nvmlReturn: number;
  readonly valueType: number;
  readonly value: bigint | number;
  readonly timestampMicros: bigint;
}

/** `nvmlMemory_t` (v1: `used` includes driver-reserved memory), in bytes. */
export interface NvmlMemoryInfo {
  readonly totalBytes: bigint;
  readonly freeBytes: bigint;
  readonly usedBytes: bigint;
}

/** `nvmlUtilization_t`: percent of the last sample period with a kernel running (`gpu`). */
export interface NvmlUtilization {
  gpu: number;
  memory: number;
}

const NVML_VALUE_TYPE_DOUBLE = 0;

type Once = (name: string, make: () => unknown) => void;

/**
 * Declares every NVML type name the prototypes use. koffi type names are process-global; a second
 * binding (another path, a test) reuses them.
 */
export function declareTypes(koffi: Koffi): void {
  const once: Once = (name, make) => {
    try {
      koffi.type(name);
    } catch {
      make();
    }
  };
  once('nvmlReturn_t', () => koffi.alias('nvmlReturn_t', 'int'));
  once('nvmlDeviceArchitecture_t', () => koffi.alias('nvmlDeviceArchitecture_t', 'unsigned int'));
  once('nvmlDevice_t', () => koffi.pointer('nvmlDevice_t', koffi.opaque('nvmlDevice_st')));
  once('nvmlPciInfo_t', () =>
    koffi.struct('nvmlPciInfo_t', {
      busIdLegacy: koffi.array('char', 16, 'String'),
      domain: 'unsigned int',
      bus: 'unsigned int',
      device: 'unsigned int',
      pciDeviceId: 'unsigned int',
      pciSubSystemId: 'unsigned int',
      busId: koffi.array('char', 32, 'String'),
    }),
  );
  once('nvmlUtilization_t', () =>
    koffi.struct('nvmlUtilization_t', { gpu: 'unsigned int', memory: 'unsigned int' }),
  );
  once('nvmlMemory_t', () =>
    koffi.struct('nvmlMemory_t', {
      total: 'unsigned long long',
      free: 'unsigned long long',
      used: 'unsigned long long',
    }),
  );
  declareFieldValueTypes(koffi, once);
}

/** `nvmlFieldValue_t` (40 bytes, align 8) and its `nvmlValue_t` union (8 bytes). */
function declareFieldValueTypes(koffi: Koffi, once: Once): void {
  once('nvmlValue_t', () =>
    koffi.union('nvmlValue_t', {
      dVal: 'double',
      siVal: 'int',
      uiVal: 'unsigned int',
      ulVal: 'unsigned long',
      ullVal: 'unsigned long long',
      sllVal: 'long long',
      usVal: 'unsigned short',
    }),
  );
  once('nvmlFieldValue_t', () =>
    koffi.struct('nvmlFieldValue_t', {
      fieldId: 'unsigned int',
      scopeId: 'unsigned int',
      timestamp: 'long long',
      latencyUsec: 'long long',
      valueType: 'int',
      nvmlReturn: 'nvmlReturn_t',
      value: 'nvmlValue_t',
    }),
  );
}

/** An `nvmlPciInfo_t` as koffi decoded it. */
export function decodePci(raw: Record<string, unknown>): NvmlPciInfo {
  return {
    busId: String(raw.busId),
    pciDeviceId: Number(raw.pciDeviceId),
    pciSubSystemId: Number(raw.pciSubSystemId),
  };
}

/** An `nvmlUtilization_t` as koffi decoded it. */
export function decodeUtilization(raw: Record<string, unknown>): NvmlUtilization {
  return { gpu: Number(raw.gpu), memory: Number(raw.memory) };
}

/** An `nvmlMemory_t` as koffi decoded it; koffi hands 64-bit integers over as number or bigint. */
export function decodeMemory(raw: Record<string, unknown>): NvmlMemoryInfo {
  return {
    totalBytes: BigInt(raw.total as bigint),
    freeBytes: BigInt(raw.free as bigint),
    usedBytes: BigInt(raw.used as bigint),
  };
}

/** An `nvmlFieldValue_t` after `nvmlDeviceGetFieldValues` wrote it. */
export function decodeFieldValue(raw: Record<string, unknown>): NvmlFieldValue {
  const valueType = Number(raw.valueType);
  const union = raw.value as Record<string, unknown>;
  const nvmlReturn = Number(raw.nvmlReturn);
  // The union's active member is named by valueType (nvmlValueType_t); integers become bigint.
  const member = ['dVal', 'uiVal', 'ulVal', 'ullVal', 'sllVal', 'siVal', 'usVal'][valueType] ?? 'ullVal';
  const rawValue = nvmlReturn === NVML_SUCCESS ? union[member] : 0;
  return {
    fieldId: Number(raw.fieldId),
    scopeId: Number(raw.scopeId),
    nvmlReturn,
    valueType,
    value: valueType === NVML_VALUE_TYPE_DOUBLE ? Number(rawValue) : BigInt(rawValue as bigint),
    timestampMicros: BigInt(raw.timestamp as bigint),
  };
}
