import type { NativeFunction, NvmlDeviceHandle, NvmlResult } from './nvml-binding.js';
import { NVML_ERROR_FUNCTION_NOT_FOUND, NVML_SUCCESS } from './nvml-errors.js';
import { decodeFieldValue, encodeFieldRequests, type NvmlFieldValue } from './nvml-structs.js';

/**
 * Calls of declared NVML functions through koffi's `.async` (libuv's thread pool), because NVML can
 * block for seconds (GPU initialisation, a wedged driver) and the sampler's event loop must keep
 * running; and the decoding of their out-parameters into {@link NvmlResult}s.
 */

/**
 * Runs `fn` as napi async work, i.e. on libuv's thread pool (`UV_THREADPOOL_SIZE`, default 4, shared
 * with fs and crypto). An absent optional symbol answers FUNCTION_NOT_FOUND without a call.
 */
export function callAsync(fn: NativeFunction | undefined, args: readonly unknown[]): Promise<number> {
  if (fn === undefined) return Promise.resolve(NVML_ERROR_FUNCTION_NOT_FOUND);
  return new Promise((resolve, reject) => {
    fn.async(...args, (error: unknown, ret: number) => (error ? reject(error) : resolve(ret)));
  });
}

/** Calls `fn(...args, &out)` for one scalar out-parameter and decodes it. */
export async function outScalar<T>(
  fn: NativeFunction | undefined,
  args: readonly unknown[],
  decode: (raw: unknown) => T,
): Promise<NvmlResult<T>> {
  const out: unknown[] = [null];
  const ret = await callAsync(fn, [...args, out]);
  return ret === NVML_SUCCESS ? { ok: true, value: decode(out[0]) } : { ok: false, ret };
}

/** Calls `fn(...args, &out)` for one struct out-parameter and decodes it. */
export async function outStruct<T>(
  fn: NativeFunction | undefined,
  args: readonly unknown[],
  decode: (raw: Record<string, unknown>) => T,
): Promise<NvmlResult<T>> {
  const out: Record<string, unknown> = {};
  const ret = await callAsync(fn, [...args, out]);
  return ret === NVML_SUCCESS ? { ok: true, value: decode(out) } : { ok: false, ret };
}

/** Calls `fn(...args, buffer, bytes)` and reads the NUL-terminated string NVML wrote. */
export async function outString(
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

/** `nvmlDeviceGetFieldValues` for `fields`, each decoded with its own status. */
export async function fieldValues(
  fn: NativeFunction | undefined,
  device: NvmlDeviceHandle,
  fields: readonly { readonly fieldId: number; readonly scopeId: number }[],
): Promise<NvmlResult<readonly NvmlFieldValue[]>> {
  // A Buffer is passed as the array itself and written in place; the closure keeps it alive.
  const buffer = encodeFieldRequests(fields);
  const ret = await callAsync(fn, [device, fields.length, buffer]);
  if (ret !== NVML_SUCCESS) return { ok: false, ret };
  return { ok: true, value: fields.map((_, index) => decodeFieldValue(buffer, index)) };
}

/** `nvmlDeviceGetMigMode`: its two out-parameters, current and pending mode. */
export async function migMode(
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
