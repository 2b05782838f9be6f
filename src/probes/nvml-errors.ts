import { ProbeError, type ProbeErrorCode } from '../errors.js';

/** `NVML_SUCCESS`: the one `nvmlReturn_t` that is not an error. */
export const NVML_SUCCESS = 0;
/** `NVML_ERROR_NOT_SUPPORTED`: the device or driver lacks the feature; callers omit it, not fail. */
export const NVML_ERROR_NOT_SUPPORTED = 3;
/** `NVML_ERROR_FUNCTION_NOT_FOUND`: also what the binding reports for a symbol the library lacks. */
export const NVML_ERROR_FUNCTION_NOT_FOUND = 13;
/** `NVML_ERROR_GPU_IS_LOST`: the GPU fell off the bus; the probe stops asking it anything. */
export const NVML_ERROR_GPU_IS_LOST = 15;
/** `NVML_ERROR_UNKNOWN`: also what the probe reports for a value it cannot decode. */
export const NVML_ERROR_UNKNOWN = 999;

/**
 * Every `nvmlReturn_t` of the NVML 13.3 header, by number, without the `NVML_ERROR_` prefix.
 * Source: the nvmlReturn_t enum in NVML's nvml.h (NVML 13.3).
 */
export const NVML_RETURN_NAMES: Readonly<Record<number, string>> = Object.freeze({
  0: 'SUCCESS',
  1: 'UNINITIALIZED',
  2: 'INVALID_ARGUMENT',
  3: 'NOT_SUPPORTED',
  4: 'NO_PERMISSION',
  5: 'ALREADY_INITIALIZED',
  6: 'NOT_FOUND',
  7: 'INSUFFICIENT_SIZE',
  8: 'INSUFFICIENT_POWER',
  9: 'DRIVER_NOT_LOADED',
  10: 'TIMEOUT',
  11: 'IRQ_ISSUE',
  12: 'LIBRARY_NOT_FOUND',
  13: 'FUNCTION_NOT_FOUND',
  14: 'CORRUPTED_INFOROM',
  15: 'GPU_IS_LOST',
  16: 'RESET_REQUIRED',
  17: 'OPERATING_SYSTEM',
  18: 'LIB_RM_VERSION_MISMATCH',
  19: 'IN_USE',
  20: 'MEMORY',
  21: 'NO_DATA',
  22: 'VGPU_ECC_NOT_SUPPORTED',
  23: 'INSUFFICIENT_RESOURCES',
  24: 'FREQ_NOT_SUPPORTED',
  25: 'ARGUMENT_VERSION_MISMATCH',
  26: 'DEPRECATED',
  27: 'NOT_READY',
  28: 'GPU_NOT_FOUND',
  29: 'INVALID_STATE',
  30: 'RESET_TYPE_NOT_SUPPORTED',
  999: 'UNKNOWN',
});

/** Stable code for a return value a newer driver may add and this table does not know yet. */
export const NVML_UNRECOGNIZED_CODE: ProbeErrorCode = 'NVML_UNRECOGNIZED_RETURN';

const HINTS: Readonly<Record<string, string>> = Object.freeze({
  DRIVER_NOT_LOADED:
    'load the nvidia kernel module (modprobe nvidia); in a container, run with the nvidia container runtime',
  NO_PERMISSION:
    'run as a user that can open /dev/nvidiactl and /dev/nvidia*, or allow them in the device cgroup',
  LIB_RM_VERSION_MISMATCH: 'reboot or reload the nvidia kernel module after a driver upgrade',
  LIBRARY_NOT_FOUND: 'install the nvidia driver user-space libraries or set probes.nvmlLibraryPath',
  GPU_IS_LOST: 'the gpu fell off the bus; check the kernel log for xid 79, then reset the gpu or reboot',
  RESET_REQUIRED: 'reset the gpu (nvidia-smi --gpu-reset) or reboot',
  INSUFFICIENT_POWER: 'check that the gpu auxiliary power cables are attached',
  IRQ_ISSUE: 'check the kernel log for nvidia interrupt errors',
  CORRUPTED_INFOROM: 'the gpu inforom is corrupted; contact the hardware vendor',
  UNINITIALIZED: 'nvmlInit was not called or nvmlShutdown ran; this is a bug in the probe lifecycle',
});

/** The stable `NVML_<NAME>` code for an `nvmlReturn_t` (`15` → `NVML_GPU_IS_LOST`). */
export function nvmlErrorCode(nvmlReturn: number): ProbeErrorCode {
  const name = NVML_RETURN_NAMES[nvmlReturn];
  return name === undefined ? NVML_UNRECOGNIZED_CODE : `NVML_${name}`;
}

/** An operator hint for the return codes where one helps, else `undefined`. */
export function nvmlErrorHint(nvmlReturn: number): string | undefined {
  const name = NVML_RETURN_NAMES[nvmlReturn];
  return name === undefined ? undefined : HINTS[name];
}

/** Where a failed NVML call happened, for the error message. */
export interface NvmlCallContext {
  /** The C function that returned the code, e.g. `nvmlDeviceGetTotalEnergyConsumption`. */
  readonly functionName: string;
  /** GPU UUID, when the device is known by then. */
  readonly deviceUuid?: string;
  /** NVML index, when the UUID is not known yet (enumeration). */
  readonly deviceIndex?: number;
  /** `nvmlErrorString(code)` as the loaded library reports it. */
  readonly errorString?: string;
}

/**
 * Builds the {@link ProbeError} for a non-success `nvmlReturn_t`. The message names the function,
 * the device (UUID, else index) when known, the numeric code and NVML's own text; `nvmlReturn`
 * carries the number for callers that branch on it.
 */
export function nvmlError(nvmlReturn: number, context: NvmlCallContext): ProbeError {
  const code = nvmlErrorCode(nvmlReturn);
  const device =
    context.deviceUuid !== undefined
      ? ` for gpu ${context.deviceUuid}`
      : context.deviceIndex !== undefined
        ? ` for gpu index ${context.deviceIndex}`
        : '';
  // NVML's text is quoted as-is; it is the string operators search for.
  const text = context.errorString === undefined ? '' : `: "${context.errorString}"`;
  const message = `${context.functionName} failed${device}: nvml returned ${nvmlReturn} (${code})${text}`;
  const hint = nvmlErrorHint(nvmlReturn);
  return new ProbeError(code, message, hint === undefined ? { nvmlReturn } : { nvmlReturn, hint });
}
