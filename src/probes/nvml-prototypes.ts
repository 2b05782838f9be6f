/**
 * The C prototypes of the NVML subset wattledger uses, 1:1 with the header (prototypes and layouts
 * in NVML's nvml.h), and the header's buffer sizes. Pure data: `nvml-binding.ts`
 * declares these with koffi.
 */

/** Every C function the binding declares, by role; each lists its exported names, newest first. */
// Newest name first: go-nvml's order. Unversioned names are what drivers before the _v2 exports had.
export const PROTOTYPES = {
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
  // No _Inout_: the array is a Buffer written in place (nvml-structs.ts FIELD_VALUE_LAYOUT).
  fields: [
    'nvmlReturn_t nvmlDeviceGetFieldValues(nvmlDevice_t device, int valuesCount, nvmlFieldValue_t *values)',
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

/** The C functions by role; `NvmlBinding.name` says which exported name each resolved to. */
export type NvmlCall = keyof typeof PROTOTYPES;

/** Without these the probe cannot work at all; every other symbol is optional. */
export const REQUIRED: ReadonlySet<NvmlCall> = new Set([
  'init',
  'shutdown',
  'errorString',
  'count',
  'handle',
  'uuid',
]);

// NVML_DEVICE_*_V2_BUFFER_SIZE / NVML_SYSTEM_*_BUFFER_SIZE from the header.
/** `NVML_DEVICE_NAME_V2_BUFFER_SIZE`. */
export const NAME_BUFFER_BYTES = 96;
/** `NVML_DEVICE_UUID_V2_BUFFER_SIZE`. */
export const UUID_BUFFER_BYTES = 96;
/** `NVML_DEVICE_SERIAL_BUFFER_SIZE`. */
export const SERIAL_BUFFER_BYTES = 30;
/** `NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE` (also enough for the NVML version). */
export const VERSION_BUFFER_BYTES = 80;

/** The C function name in a prototype: `nvmlInit_v2` for `nvmlReturn_t nvmlInit_v2(void)`. */
export function symbolOf(prototype: string | undefined): string {
  return /(nvml\w+)\(/.exec(prototype ?? '')?.[1] ?? String(prototype);
}
