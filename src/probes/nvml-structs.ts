import { endianness } from 'node:os';
import type { Koffi } from './nvml-binding.js';
import { NVML_SUCCESS } from './nvml-errors.js';

/**
 * koffi declarations of NVML's structs and unions (layouts as declared in NVML's nvml.h) and
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

/**
 * Byte layout of `nvmlFieldValue_t` on the LP64 little-endian platforms NVML ships for (x86-64,
 * aarch64, ppc64le); `declareTypes` checks it against koffi's own layout of the struct. Field
 * values travel as a raw Buffer in this layout because koffi's marshalling of an in/out array of
 * structs with a union was a quarter to a third of each call's CPU time (measured on the fake).
 */
export const FIELD_VALUE_LAYOUT = {
  size: 40,
  fieldId: 0,
  scopeId: 4,
  timestamp: 8,
  latencyUsec: 16,
  valueType: 24,
  nvmlReturn: 28,
  value: 32,
} as const;

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
  checkFieldValueLayout(koffi);
}

/** Refuses to read field values where {@link FIELD_VALUE_LAYOUT} is not the platform's layout. */
function checkFieldValueLayout(koffi: Koffi): void {
  const { size, ...offsets } = FIELD_VALUE_LAYOUT;
  const mismatched = Object.entries(offsets)
    .filter(([member, offset]) => koffi.offsetof('nvmlFieldValue_t', member) !== offset)
    .map(([member]) => member);
  if (endianness() !== 'LE' || koffi.sizeof('nvmlFieldValue_t') !== size || mismatched.length > 0)
    throw new Error(
      `nvmlFieldValue_t layout differs on this platform (${endianness()}-endian; offsets of: ${mismatched.join(', ')})`,
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

/** The `nvmlFieldValue_t` array that asks for `fields`, zeroed but for each field id and scope id. */
export function encodeFieldRequests(
  fields: readonly { readonly fieldId: number; readonly scopeId: number }[],
): Buffer {
  const buffer = Buffer.alloc(fields.length * FIELD_VALUE_LAYOUT.size);
  fields.forEach((field, index) => {
    const at = index * FIELD_VALUE_LAYOUT.size;
    buffer.writeUInt32LE(field.fieldId, at + FIELD_VALUE_LAYOUT.fieldId);
    buffer.writeUInt32LE(field.scopeId, at + FIELD_VALUE_LAYOUT.scopeId);
  });
  return buffer;
}

/** The `index`th `nvmlFieldValue_t` of `buffer` after `nvmlDeviceGetFieldValues` wrote it. */
export function decodeFieldValue(buffer: Buffer, index: number): NvmlFieldValue {
  const at = index * FIELD_VALUE_LAYOUT.size;
  const valueType = buffer.readInt32LE(at + FIELD_VALUE_LAYOUT.valueType);
  const nvmlReturn = buffer.readInt32LE(at + FIELD_VALUE_LAYOUT.nvmlReturn);
  // A failed field's value is meaningless: zero of the type its valueType names.
  const zero = valueType === NVML_VALUE_TYPE_DOUBLE ? 0 : 0n;
  const value =
    nvmlReturn === NVML_SUCCESS ? readValue(buffer, at + FIELD_VALUE_LAYOUT.value, valueType) : zero;
  return {
    fieldId: buffer.readUInt32LE(at + FIELD_VALUE_LAYOUT.fieldId),
    scopeId: buffer.readUInt32LE(at + FIELD_VALUE_LAYOUT.scopeId),
    nvmlReturn,
    valueType,
    value,
    timestampMicros: buffer.readBigInt64LE(at + FIELD_VALUE_LAYOUT.timestamp),
  };
}

/** The `nvmlValue_t` member that `valueType` (`nvmlValueType_t`) names; integers as bigint. */
function readValue(buffer: Buffer, at: number, valueType: number): bigint | number {
  switch (valueType) {
    case NVML_VALUE_TYPE_DOUBLE:
      return buffer.readDoubleLE(at);
    case 1: // UNSIGNED_INT
      return BigInt(buffer.readUInt32LE(at));
    case 4: // SIGNED_LONG_LONG
      return buffer.readBigInt64LE(at);
    case 5: // SIGNED_INT
      return BigInt(buffer.readInt32LE(at));
    case 6: // UNSIGNED_SHORT
      return BigInt(buffer.readUInt16LE(at));
    default: // 2 UNSIGNED_LONG (64-bit on LP64), 3 UNSIGNED_LONG_LONG, and any newer type
      return buffer.readBigUInt64LE(at);
  }
}
