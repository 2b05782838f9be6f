import { describe, expect, it } from 'vitest';
import { ProbeError } from '../../../src/errors.js';
import {
  NVML_RETURN_NAMES,
  NVML_UNRECOGNIZED_CODE,
  nvmlError,
  nvmlErrorCode,
  nvmlErrorHint,
} from '../../../src/probes/nvml-errors.js';

// Copied by hand from the NVML 13.3 header's nvmlReturn_t table (nvml.h), so that a typo
// in the source table fails here instead of silently renaming a stable code.
const HEADER: readonly [number, string][] = [
  [0, 'SUCCESS'],
  [1, 'UNINITIALIZED'],
  [2, 'INVALID_ARGUMENT'],
  [3, 'NOT_SUPPORTED'],
  [4, 'NO_PERMISSION'],
  [5, 'ALREADY_INITIALIZED'],
  [6, 'NOT_FOUND'],
  [7, 'INSUFFICIENT_SIZE'],
  [8, 'INSUFFICIENT_POWER'],
  [9, 'DRIVER_NOT_LOADED'],
  [10, 'TIMEOUT'],
  [11, 'IRQ_ISSUE'],
  [12, 'LIBRARY_NOT_FOUND'],
  [13, 'FUNCTION_NOT_FOUND'],
  [14, 'CORRUPTED_INFOROM'],
  [15, 'GPU_IS_LOST'],
  [16, 'RESET_REQUIRED'],
  [17, 'OPERATING_SYSTEM'],
  [18, 'LIB_RM_VERSION_MISMATCH'],
  [19, 'IN_USE'],
  [20, 'MEMORY'],
  [21, 'NO_DATA'],
  [22, 'VGPU_ECC_NOT_SUPPORTED'],
  [23, 'INSUFFICIENT_RESOURCES'],
  [24, 'FREQ_NOT_SUPPORTED'],
  [25, 'ARGUMENT_VERSION_MISMATCH'],
  [26, 'DEPRECATED'],
  [27, 'NOT_READY'],
  [28, 'GPU_NOT_FOUND'],
  [29, 'INVALID_STATE'],
  [30, 'RESET_TYPE_NOT_SUPPORTED'],
  [999, 'UNKNOWN'],
];

describe('nvml return code mapping', () => {
  it('knows exactly the return codes of the NVML 13.3 header', () => {
    expect(Object.entries(NVML_RETURN_NAMES).map(([n, name]) => [Number(n), name])).toEqual(HEADER);
  });

  it.each(HEADER)('maps nvmlReturn_t %i to the stable code NVML_%s', (ret, name) => {
    expect(nvmlErrorCode(ret)).toBe(`NVML_${name}`);
    const error = nvmlError(ret, { functionName: 'nvmlDeviceGetPowerUsage' });
    expect(error).toBeInstanceOf(ProbeError);
    expect(error.code).toBe(`NVML_${name}`);
    expect(error.nvmlReturn).toBe(ret);
  });

  it('gives a return code from a newer driver a stable code of its own and keeps the number', () => {
    const error = nvmlError(31, { functionName: 'nvmlInit_v2' });
    expect(error.code).toBe(NVML_UNRECOGNIZED_CODE);
    expect(error.nvmlReturn).toBe(31);
    expect(error.message).toContain('31');
  });

  it('names the function, the gpu uuid, the number and the nvml text in the message', () => {
    const error = nvmlError(15, {
      functionName: 'nvmlDeviceGetTotalEnergyConsumption',
      deviceUuid: 'GPU-5a8c1f0e',
      errorString: 'GPU is lost',
    });
    expect(error.message).toBe(
      'nvmlDeviceGetTotalEnergyConsumption failed for gpu GPU-5a8c1f0e: nvml returned 15 (NVML_GPU_IS_LOST): "GPU is lost"',
    );
  });

  it('names the gpu index when the uuid is not known yet', () => {
    const error = nvmlError(4, { functionName: 'nvmlDeviceGetHandleByIndex_v2', deviceIndex: 3 });
    expect(error.message).toContain('for gpu index 3');
  });

  it('tells the operator to reload the kernel module after a driver upgrade on a version mismatch', () => {
    expect(nvmlError(18, { functionName: 'nvmlInit_v2' }).hint).toBe(
      'reboot or reload the nvidia kernel module after a driver upgrade',
    );
  });

  it('gives hints for a driver that is not loaded and for missing permissions', () => {
    expect(nvmlErrorHint(9)).toMatch(/modprobe nvidia/);
    expect(nvmlErrorHint(4)).toMatch(/\/dev\/nvidia/);
    expect(nvmlErrorHint(15)).toMatch(/xid 79/);
  });

  it('has no hint where there is nothing for an operator to do', () => {
    expect(nvmlErrorHint(3)).toBeUndefined();
    expect(nvmlError(3, { functionName: 'nvmlDeviceGetMigMode' }).hint).toBeUndefined();
  });
});
