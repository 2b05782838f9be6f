import type { LibraryHandle } from 'koffi';
import { ProbeError } from '../errors.js';
import { callAsync, fieldValues, migMode, outScalar, outString, outStruct } from './nvml-async.js';
import {
  NAME_BUFFER_BYTES,
  type NvmlCall,
  PROTOTYPES,
  REQUIRED,
  SERIAL_BUFFER_BYTES,
  symbolOf,
  UUID_BUFFER_BYTES,
  VERSION_BUFFER_BYTES,
} from './nvml-prototypes.js';
import {
  declareTypes,
  decodeMemory,
  decodePci,
  decodeUtilization,
  type NvmlFieldValue,
  type NvmlMemoryInfo,
  type NvmlPciInfo,
  type NvmlUtilization,
} from './nvml-structs.js';

/**
 * koffi declarations of the NVML subset wattledger uses, 1:1 with the C header (prototypes and
 * layouts as declared in NVML's nvml.h). This is the only module that imports koffi, and it
 * does so lazily, so nothing else in the program needs the native addon.
 *
 * Every call runs through koffi's `.async` (libuv's thread pool), because NVML can block for seconds
 * (GPU initialisation, a wedged driver) and the sampler's event loop must keep running.
 */

export type { NvmlCall } from './nvml-prototypes.js';
export type { NvmlFieldValue, NvmlMemoryInfo, NvmlPciInfo, NvmlUtilization } from './nvml-structs.js';

/** koffi's module object; `nvml-structs.ts` receives it as a parameter instead of importing koffi. */
export type Koffi = typeof import('koffi').default;
/** A C function koffi declared; `nvml-async.ts` runs it with `.async`. */
export type NativeFunction = ReturnType<LibraryHandle['func']>;

/** An `nvmlDevice_t`. koffi 3 hands opaque pointers to JS as their address, a `bigint`. */
export type NvmlDeviceHandle = bigint;

/** The outcome of one NVML call: the value, or the non-success `nvmlReturn_t`. */
export type NvmlResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly ret: number };

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
  deviceGetUtilizationRates(device: NvmlDeviceHandle): Promise<NvmlResult<NvmlUtilization>>;
  deviceGetMemoryInfo(device: NvmlDeviceHandle): Promise<NvmlResult<NvmlMemoryInfo>>;
  deviceGetMigMode(device: NvmlDeviceHandle): Promise<NvmlResult<{ current: number; pending: number }>>;
}

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
    deviceGetUtilizationRates: (device) => outStruct(fn('utilization'), [device], decodeUtilization),
    deviceGetMemoryInfo: (device) => outStruct(fn('memory'), [device], decodeMemory),
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
