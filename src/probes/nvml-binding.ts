import type { LibraryHandle, TypeObject } from 'koffi';
import { ProbeError } from '../errors.js';
import { NVML_ERROR_FUNCTION_NOT_FOUND, NVML_SUCCESS } from './nvml-errors.js';

/**
 * koffi declarations of the NVML subset wattledger uses, 1:1 with the C header (prototypes and
 * layouts in shared/research/hardware.md §1). This is the only module that imports koffi, and it
 * does so lazily, so nothing else in the program needs the native addon.
 *
 * Every call runs through koffi's `.async` (libuv's thread pool), because NVML can block for seconds
 * (GPU initialisation, a wedged driver) and the sampler's event loop must keep running.
 */

type Koffi = typeof import('koffi').default;
type NativeFunction = ReturnType<LibraryHandle['func']>;

/** An `nvmlDevice_t`. koffi 3 hands opaque pointers to JS as their address, a `bigint`. */
export type NvmlDeviceHandle = bigint;

/** The outcome of one NVML call: the value, or the non-success `nvmlReturn_t`. */
export type NvmlResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly ret: number };

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

/** The C functions by role; {@link NvmlBinding.name} says which exported name each resolved to. */
export type NvmlCall = keyof typeof PROTOTYPES;

/** The loaded library. Optional symbols that are absent answer `NVML_ERROR_FUNCTION_NOT_FOUND`. */
export interface NvmlBinding {
  readonly libraryPath: string;
  /** Optional symbols this library does not export (older drivers). */
  readonly missingFunctions: readonly string[];
  /** The C name each call resolved to, for messages: `name('init')` → `nvmlInit_v2` or `nvmlInit`. */
  name(call: NvmlCall): string;
  errorString(ret: number): string;
  init(): Promise<number>;
  shutdown(): Promise<number>;
  systemGetDriverVersion(): Promise<NvmlResult<string>>;
  systemGetNvmlVersion(): Promise<NvmlResult<string>>;
  systemGetCudaDriverVersion(): Promise<NvmlResult<number>>;
  deviceGetCount(): Promise<NvmlResult<number>>;
  deviceGetHandleByIndex(index: number): Promise<NvmlResult<NvmlDeviceHandle>>;
  deviceGetName(device: NvmlDeviceHandle): Promise<NvmlResult<string>>;
  deviceGetUuid(device: NvmlDeviceHandle): Promise<NvmlResult<string>>;
  deviceGetSerial(device: NvmlDeviceHandle): Promise<NvmlResult<string>>;
  deviceGetPciInfo(device: NvmlDeviceHandle): Promise<NvmlResult<NvmlPciInfo>>;
  deviceGetArchitecture(device: NvmlDeviceHandle): Promise<NvmlResult<number>>;
  /** Millijoules since the driver was loaded (64-bit; resets on driver reload). */
  deviceGetTotalEnergyConsumption(device: NvmlDeviceHandle): Promise<NvmlResult<bigint>>;
  /** Milliwatts. */
  deviceGetPowerUsage(device: NvmlDeviceHandle): Promise<NvmlResult<number>>;
  deviceGetFieldValues(
    device: NvmlDeviceHandle,
    fields: readonly { readonly fieldId: number; readonly scopeId: number }[],
  ): Promise<NvmlResult<readonly NvmlFieldValue[]>>;
  /** Milliwatts. */
  deviceGetEnforcedPowerLimit(device: NvmlDeviceHandle): Promise<NvmlResult<number>>;
  /** Percent of the last sample period with a kernel running. */
  deviceGetUtilizationRates(device: NvmlDeviceHandle): Promise<NvmlResult<{ gpu: number; memory: number }>>;
  deviceGetMemoryInfo(device: NvmlDeviceHandle): Promise<NvmlResult<NvmlMemoryInfo>>;
  deviceGetMigMode(device: NvmlDeviceHandle): Promise<NvmlResult<{ current: number; pending: number }>>;
}

// Newest name first: go-nvml's order. Unversioned names are what drivers before the _v2 exports had.
const PROTOTYPES = {
  init: ['nvmlReturn_t nvmlInit_v2(void)', 'nvmlReturn_t nvmlInit(void)'],
  shutdown: ['nvmlReturn_t nvmlShutdown(void)'],
  errorString: ['const char *nvmlErrorString(nvmlReturn_t result)'],
  driverVersion: ['nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)'],
  nvmlVersion: ['nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length)'],
  cudaVersion: [
    'nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(_Out_ int *cudaDriverVersion)',
    'nvmlReturn_t nvmlSystemGetCudaDriverVersion(_Out_ int *cudaDriverVersion)',
  ],
  count: [
    'nvmlReturn_t nvmlDeviceGetCount_v2(_Out_ unsigned int *deviceCount)',
    'nvmlReturn_t nvmlDeviceGetCount(_Out_ unsigned int *deviceCount)',
  ],
  handle: [
    'nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, _Out_ nvmlDevice_t *device)',
    'nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int index, _Out_ nvmlDevice_t *device)',
  ],
  name: ['nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length)'],
  uuid: ['nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length)'],
  serial: ['nvmlReturn_t nvmlDeviceGetSerial(nvmlDevice_t device, char *serial, unsigned int length)'],
  pci: [
    'nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t device, _Out_ nvmlPciInfo_t *pci)',
    'nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t device, _Out_ nvmlPciInfo_t *pci)',
  ],
  arch: ['nvmlReturn_t nvmlDeviceGetArchitecture(nvmlDevice_t device, _Out_ nvmlDeviceArchitecture_t *arch)'],
  energy: [
    'nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, _Out_ unsigned long long *energy)',
  ],
  power: ['nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, _Out_ unsigned int *power)'],
  fields: [
    'nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount, _Inout_ nvmlFieldValue_t *values)',
  ],
  limit: ['nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t device, _Out_ unsigned int *limit)'],
  utilization: [
    'nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t device, _Out_ nvmlUtilization_t *utilization)',
  ],
  memory: ['nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, _Out_ nvmlMemory_t *memory)'],
  mig: [
    'nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, _Out_ unsigned int *currentMode, _Out_ unsigned int *pendingMode)',
  ],
} as const;

/** Without these the probe cannot work at all; every other symbol is optional. */
const REQUIRED: ReadonlySet<NvmlCall> = new Set([
  'init',
  'shutdown',
  'errorString',
  'count',
  'handle',
  'uuid',
]);

// NVML_DEVICE_*_V2_BUFFER_SIZE / NVML_SYSTEM_*_BUFFER_SIZE from the header.
const NAME_BUFFER_BYTES = 96;
const UUID_BUFFER_BYTES = 96;
const SERIAL_BUFFER_BYTES = 30;
const VERSION_BUFFER_BYTES = 80;
const NVML_VALUE_TYPE_DOUBLE = 0;

/**
 * Loads koffi and the NVML library at `libraryPath` and declares every function. Does not call
 * `nvmlInit`. Throws `ProbeError` `PROBE_UNAVAILABLE` when koffi or the library cannot be loaded
 * (the message carries the path and the dlopen error) or a required symbol is missing.
 */
export async function loadNvmlBinding(libraryPath: string): Promise<NvmlBinding> {
  let koffi: Koffi;
  try {
    koffi = (await import('koffi')).default;
  } catch (cause) {
    throw new ProbeError('PROBE_UNAVAILABLE', `cannot load the koffi ffi module: ${String(cause)}`, {
      cause,
      hint: 'reinstall wattledger so that koffi installs its prebuilt binary for this platform',
    });
  }
  let lib: LibraryHandle;
  try {
    lib = koffi.load(libraryPath);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ProbeError('PROBE_UNAVAILABLE', `cannot load nvml library ${libraryPath}: ${reason}`, {
      cause,
      hint: 'install the nvidia driver or set probes.nvmlLibraryPath to the libnvidia-ml.so.1 of the driver',
    });
  }
  declareTypes(koffi);
  return bindFunctions(lib, libraryPath);
}

/** koffi type names are process-global; a second binding (another path, a test) reuses them. */
function declareTypes(koffi: Koffi): void {
  const once = (name: string, make: () => TypeObject): void => {
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
function declareFieldValueTypes(koffi: Koffi, once: (name: string, make: () => TypeObject) => void): void {
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

interface Declared {
  readonly fn: NativeFunction;
  readonly name: string;
}

/** Declares every prototype, newest name first; throws when a required symbol is missing. */
function resolveSymbols(lib: LibraryHandle, libraryPath: string) {
  const table = new Map<NvmlCall, Declared>();
  const missingFunctions: string[] = [];
  for (const [call, prototypes] of Object.entries(PROTOTYPES) as [NvmlCall, readonly string[]][]) {
    const declared = declareFirst(lib, prototypes);
    if (declared) table.set(call, declared);
    else if (REQUIRED.has(call)) {
      throw new ProbeError(
        'PROBE_UNAVAILABLE',
        `nvml library ${libraryPath} lacks ${symbolOf(prototypes[0])}`,
        {
          hint: 'set probes.nvmlLibraryPath to the libnvidia-ml.so.1 of an nvidia driver, not a stub',
        },
      );
    } else missingFunctions.push(symbolOf(prototypes[0]));
  }
  return { table, missingFunctions };
}

function bindFunctions(lib: LibraryHandle, libraryPath: string): NvmlBinding {
  const { table, missingFunctions } = resolveSymbols(lib, libraryPath);
  const fn = (call: NvmlCall) => table.get(call)?.fn;
  const errorString = table.get('errorString')!.fn;
  return {
    libraryPath,
    missingFunctions,
    name: (call) => table.get(call)?.name ?? symbolOf(PROTOTYPES[call][0]),
    // A static string inside the library: a cheap synchronous call, safe on the event loop.
    errorString: (ret) => String(errorString(ret) ?? ''),
    init: () => callAsync(fn('init'), []),
    shutdown: () => callAsync(fn('shutdown'), []),
    systemGetDriverVersion: () => outString(fn('driverVersion'), [], VERSION_BUFFER_BYTES),
    systemGetNvmlVersion: () => outString(fn('nvmlVersion'), [], VERSION_BUFFER_BYTES),
    systemGetCudaDriverVersion: () => outScalar(fn('cudaVersion'), [], Number),
    deviceGetCount: () => outScalar(fn('count'), [], Number),
    deviceGetHandleByIndex: (index) => outScalar(fn('handle'), [index], (raw) => BigInt(raw as bigint)),
    deviceGetName: (device) => outString(fn('name'), [device], NAME_BUFFER_BYTES),
    deviceGetUuid: (device) => outString(fn('uuid'), [device], UUID_BUFFER_BYTES),
    deviceGetSerial: (device) => outString(fn('serial'), [device], SERIAL_BUFFER_BYTES),
    deviceGetPciInfo: (device) => outStruct(fn('pci'), [device], decodePci),
    deviceGetArchitecture: (device) => outScalar(fn('arch'), [device], Number),
    // koffi returns a 64-bit integer as number or bigint depending on magnitude: always BigInt it.
    deviceGetTotalEnergyConsumption: (device) =>
      outScalar(fn('energy'), [device], (raw) => BigInt(raw as bigint)),
    deviceGetPowerUsage: (device) => outScalar(fn('power'), [device], Number),
    deviceGetFieldValues: (device, fields) => fieldValues(fn('fields'), device, fields),
    deviceGetEnforcedPowerLimit: (device) => outScalar(fn('limit'), [device], Number),
    deviceGetUtilizationRates: (device) =>
      outStruct(fn('utilization'), [device], (raw) => ({ gpu: Number(raw.gpu), memory: Number(raw.memory) })),
    deviceGetMemoryInfo: (device) =>
      outStruct(fn('memory'), [device], (raw) => ({
        totalBytes: BigInt(raw.total as bigint),
        freeBytes: BigInt(raw.free as bigint),
        usedBytes: BigInt(raw.used as bigint),
      })),
    deviceGetMigMode: (device) => migMode(fn('mig'), device),
  };
}

function declareFirst(lib: LibraryHandle, prototypes: readonly string[]): Declared | undefined {
  for (const prototype of prototypes) {
    try {
      return { fn: lib.func(prototype), name: symbolOf(prototype) };
    } catch {
      // koffi throws when dlsym finds no such symbol: try the older name.
    }
  }
  return undefined;
}

function symbolOf(prototype: string | undefined): string {
  return /(nvml\w+)\(/.exec(prototype ?? '')?.[1] ?? String(prototype);
}

/**
 * Runs `fn` as napi async work, i.e. on libuv's thread pool (`UV_THREADPOOL_SIZE`, default 4, shared
 * with fs and crypto). An absent optional symbol answers FUNCTION_NOT_FOUND without a call.
 */
function callAsync(fn: NativeFunction | undefined, args: readonly unknown[]): Promise<number> {
  if (fn === undefined) return Promise.resolve(NVML_ERROR_FUNCTION_NOT_FOUND);
  return new Promise((resolve, reject) => {
    fn.async(...args, (error: unknown, ret: number) => (error ? reject(error) : resolve(ret)));
  });
}

async function outScalar<T>(
  fn: NativeFunction | undefined,
  args: readonly unknown[],
  decode: (raw: unknown) => T,
): Promise<NvmlResult<T>> {
  const out: unknown[] = [null];
  const ret = await callAsync(fn, [...args, out]);
  return ret === NVML_SUCCESS ? { ok: true, value: decode(out[0]) } : { ok: false, ret };
}

async function outStruct<T>(
  fn: NativeFunction | undefined,
  args: readonly unknown[],
  decode: (raw: Record<string, unknown>) => T,
): Promise<NvmlResult<T>> {
  const out: Record<string, unknown> = {};
  const ret = await callAsync(fn, [...args, out]);
  return ret === NVML_SUCCESS ? { ok: true, value: decode(out) } : { ok: false, ret };
}

async function outString(
  fn: NativeFunction | undefined,
  args: readonly unknown[],
  bytes: number,
): Promise<NvmlResult<string>> {
  // A Buffer is passed as the char* itself; the closure keeps it alive while the worker writes.
  const buffer = Buffer.alloc(bytes);
  const ret = await callAsync(fn, [...args, buffer, bytes]);
  if (ret !== NVML_SUCCESS) return { ok: false, ret };
  const end = buffer.indexOf(0);
  return { ok: true, value: buffer.toString('utf8', 0, end < 0 ? bytes : end) };
}

function decodePci(raw: Record<string, unknown>): NvmlPciInfo {
  return {
    busId: String(raw.busId),
    pciDeviceId: Number(raw.pciDeviceId),
    pciSubSystemId: Number(raw.pciSubSystemId),
  };
}

async function fieldValues(
  fn: NativeFunction | undefined,
  device: NvmlDeviceHandle,
  fields: readonly { readonly fieldId: number; readonly scopeId: number }[],
): Promise<NvmlResult<readonly NvmlFieldValue[]>> {
  const values = fields.map((field) => ({ fieldId: field.fieldId, scopeId: field.scopeId }));
  const ret = await callAsync(fn, [device, values.length, values]);
  if (ret !== NVML_SUCCESS) return { ok: false, ret };
  return { ok: true, value: values.map((raw) => decodeFieldValue(raw as Record<string, unknown>)) };
}

function decodeFieldValue(raw: Record<string, unknown>): NvmlFieldValue {
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

async function migMode(
  fn: NativeFunction | undefined,
  device: NvmlDeviceHandle,
): Promise<NvmlResult<{ current: number; pending: number }>> {
  const current: unknown[] = [null];
  const pending: unknown[] = [null];
  const ret = await callAsync(fn, [device, current, pending]);
  return ret === NVML_SUCCESS
    ? { ok: true, value: { current: Number(current[0]), pending: Number(pending[0]) } }
    : { ok: false, ret };
}
