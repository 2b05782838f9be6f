import type { ProbeError } from '../errors.js';
import type { MicroJoules, MilliWatts, MonoNanos } from '../units.js';

/** Which backend produced a device's numbers. */
export type ProbeKind = 'nvml' | 'nvidia-smi' | 'rapl' | 'simulated';

/** OTel `hw.type`-style device class. */
export type HwType = 'gpu' | 'cpu' | 'dram' | 'platform';

/**
 * What a power reading means. NVML's `nvmlDeviceGetPowerUsage` and nvidia-smi's `power.draw` are a
 * 1 s moving average on Ampere and newer (except GA100) and instantaneous on older parts; the
 * field value `NVML_FI_DEV_POWER_INSTANT` is instantaneous everywhere.
 */
export type PowerSemantics = 'instant' | 'average-1s';

/** Where a device's interval energy comes from. */
export type EnergySource = 'counter' | 'integrated-power';

/** A device as discovered at `open()`. Everything a verifier or an operator needs to know it. */
export interface DeviceInfo {
  /** Stable across restarts: GPU UUID (`GPU-…`), RAPL zone id (`intel-rapl:0`), simulated id. */
  readonly id: string;
  readonly probe: ProbeKind;
  readonly hwType: HwType;
  /** Marketing or zone name: `NVIDIA H200`, `package-0`, `dram`. */
  readonly name: string;
  readonly vendor: string;
  /** Probe-specific index (NVML index, zone path order); not stable across reboots. */
  readonly index: number;
  readonly serial?: string;
  readonly pciBusId?: string;
  /** Enforced power limit in mW, the plausibility ceiling for this device. */
  readonly powerLimitMilliWatts?: MilliWatts;
  /** `true` when the device has a cumulative energy counter this probe reads. */
  readonly hasEnergyCounter: boolean;
  /** Semantics of the power readings this probe returns, if it returns any. */
  readonly powerSemantics?: PowerSemantics;
  /** Counter range for wrapping counters (RAPL `max_energy_range_uj`); absent: a decrease is a reset. */
  readonly energyWrapMicroJoules?: MicroJoules;
  /** MIG mode of a GPU: `enabled`, `disabled`, or absent when the GPU has no MIG. */
  readonly migMode?: 'enabled' | 'disabled';
  readonly driverVersion?: string;
  /** Free-form facts worth showing in `probe` (architecture, memory total, NVML version…). */
  readonly details: Readonly<Record<string, string>>;
  /**
   * `overlapping` for a device whose energy already contains other devices' (RAPL psys contains
   * the packages and DRAM): shown, never summed with them. Absent means `additive`.
   */
  readonly accounting?: 'additive' | 'overlapping';
  /** `true` for every device of the simulated probe; every output it feeds carries this mark. */
  readonly simulated: boolean;
}

/** One power observation. `monoNanos` is when the sensor took it, on the injected clock. */
export interface PowerSample {
  readonly monoNanos: MonoNanos;
  readonly powerMilliWatts: MilliWatts;
  /**
   * When the probe received it, where that differs from `monoNanos` (nvidia-smi places rows by
   * their own `timestamp` field; rows may arrive late or in bursts). Optional, diagnostic only.
   */
  readonly receivedMonoNanos?: MonoNanos;
}

/** What one read of one device returned. Every field is optional because hardware varies. */
export interface DeviceReading {
  /** When the read completed, on the probe's clock. */
  readonly monoNanos: MonoNanos;
  /** Cumulative energy counter, already converted to µJ (NVML mJ × 1000; RAPL native µJ). */
  readonly energyCounterMicroJoules?: MicroJoules;
  /**
   * Power observations since the previous read, oldest first (NVML: one; a streaming nvidia-smi:
   * every row that arrived). The meter integrates them.
   */
  readonly powerSamples?: readonly PowerSample[];
  readonly utilizationGpuPercent?: number;
  readonly memoryUsedBytes?: bigint;
  readonly memoryTotalBytes?: bigint;
}

/** Per-device outcome of a read: steady-state failures are data, never exceptions. */
export type DeviceReadResult =
  | { readonly ok: true; readonly deviceId: string; readonly reading: DeviceReading }
  | { readonly ok: false; readonly deviceId: string; readonly error: ProbeError };

/** What `open()` found. */
export interface ProbeInventory {
  readonly devices: readonly DeviceInfo[];
  /** Probe-wide facts: driver version, NVML version, library path, zone root. */
  readonly details: Readonly<Record<string, string>>;
  /** Things an operator should know (e.g. "skipped intel-rapl-mmio:0: duplicate of package-0"). */
  readonly notes: readonly string[];
}

/**
 * One hardware backend. `open()` throws a {@link ProbeError} when the backend cannot be used
 * (which makes selection fall back); `read()` never throws for per-device failures.
 */
export interface Probe {
  readonly kind: ProbeKind;
  open(signal?: AbortSignal): Promise<ProbeInventory>;
  /** One result per device found at `open()`, in the same order. */
  read(signal: AbortSignal): Promise<readonly DeviceReadResult[]>;
  close(): Promise<void>;
}
