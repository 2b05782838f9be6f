import type { ProbeError } from '../errors.js';
import type { NvmlBinding, NvmlCall, NvmlResult } from './nvml-binding.js';
import { NVML_ERROR_FUNCTION_NOT_FOUND, NVML_ERROR_NOT_SUPPORTED, nvmlError } from './nvml-errors.js';

/** Failed NVML calls as `ProbeError`s, named after the C function the binding resolved. */

/** The `ProbeError` of `call` answering `ret`, at a GPU given by UUID or index where known. */
export function callError(
  binding: NvmlBinding,
  ret: number,
  call: NvmlCall,
  at: { uuid?: string; index?: number },
): ProbeError {
  return nvmlError(ret, {
    functionName: binding.name(call),
    errorString: binding.errorString(ret),
    ...(at.uuid !== undefined && { deviceUuid: at.uuid }),
    ...(at.index !== undefined && { deviceIndex: at.index }),
  });
}

/** The first call in `results` that failed with a code `matches` accepts, as a ProbeError. */
export function failureOf(
  binding: NvmlBinding,
  uuid: string,
  results: readonly (readonly [NvmlCall, NvmlResult<unknown> | undefined])[],
  matches: (ret: number) => boolean,
): ProbeError | undefined {
  for (const [call, result] of results) {
    if (result !== undefined && !result.ok && matches(result.ret))
      return callError(binding, result.ret, call, { uuid });
  }
  return undefined;
}

/** Whether `ret` means the GPU or driver lacks the query (so stop asking), not that it failed. */
export function isUnsupported(ret: number): boolean {
  return ret === NVML_ERROR_NOT_SUPPORTED || ret === NVML_ERROR_FUNCTION_NOT_FOUND;
}
