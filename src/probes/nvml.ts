import type { Clock } from '../clock.js';
import { ProbeError } from '../errors.js';
import { loadNvmlBinding, type NvmlBinding } from './nvml-binding.js';
import { NVML_SUCCESS } from './nvml-errors.js';
import { callError } from './nvml-failures.js';
import { type Gpu, inventoryGpus } from './nvml-inventory.js';
import { readGpu } from './nvml-reader.js';
import type { DeviceReadResult, Probe, ProbeInventory } from './types.js';

export { isGa100, NVML_FI_DEV_POWER_INSTANT, powerUsageSemantics } from './nvml-power.js';

/** Options of {@link NvmlProbe}. */
export interface NvmlProbeOptions {
  /** Path of `libnvidia-ml.so.1` (config `probes.nvmlLibraryPath`). */
  readonly libraryPath: string;
  readonly clock: Clock;
  /**
   * Utilization and memory are asked on every Nth read only (default 10: 1 Hz at the default
   * 100 ms GPU interval); reads in between repeat the last answers. Energy and power are read
   * every time.
   */
  readonly auxiliaryEveryTicks?: number;
}

/** {@link NvmlProbeOptions.auxiliaryEveryTicks} when not given. */
export const DEFAULT_AUXILIARY_EVERY_TICKS = 10;

/**
 * GPU energy and power through NVML, loaded with koffi. Energy is the cumulative counter
 * (`nvmlDeviceGetTotalEnergyConsumption`, mJ → µJ) passed through raw: the meter, not the probe,
 * decides what a decrease means. Every NVML call of `read()` runs off the event loop. Each koffi
 * async call costs the event loop tens of µs, so a read makes as few as it can: power and energy
 * in one field read where the GPU allows it, utilization and memory only every Nth read.
 */
export class NvmlProbe implements Probe {
  readonly kind = 'nvml' as const;
  private readonly libraryPath: string;
  private readonly clock: Clock;
  private readonly auxiliaryEveryTicks: number;
  private ticks = 0;
  private binding: NvmlBinding | undefined;
  private gpus: Gpu[] = [];
  private state: 'new' | 'open' | 'closed' = 'new';

  constructor(options: NvmlProbeOptions) {
    this.libraryPath = options.libraryPath;
    this.clock = options.clock;
    this.auxiliaryEveryTicks = options.auxiliaryEveryTicks ?? DEFAULT_AUXILIARY_EVERY_TICKS;
    if (!Number.isSafeInteger(this.auxiliaryEveryTicks) || this.auxiliaryEveryTicks < 1)
      throw new RangeError(`auxiliaryEveryTicks must be a positive integer, got ${this.auxiliaryEveryTicks}`);
  }

  /**
   * Loads the library, initialises NVML and inventories every GPU. Throws `ProbeError`:
   * `PROBE_UNAVAILABLE` (koffi or the library cannot be loaded), `NVML_<NAME>` (nvmlInit or the
   * device count failed), `PROBE_NO_DEVICES` (no usable GPU), `PROBE_TIMEOUT` (aborted between
   * GPUs). A GPU whose handle or UUID cannot be read is skipped with a note. Call once.
   */
  async open(signal?: AbortSignal): Promise<ProbeInventory> {
    if (this.state !== 'new')
      throw new ProbeError('PROBE_UNAVAILABLE', `nvml probe is already ${this.state}`);
    const binding = await loadNvmlBinding(this.libraryPath);
    const ret = await binding.init();
    if (ret !== NVML_SUCCESS) throw callError(binding, ret, 'init', {});
    try {
      const { gpus, inventory } = await inventoryGpus(binding, signal);
      this.gpus = gpus;
      this.binding = binding;
      this.state = 'open';
      return inventory;
    } catch (error) {
      await binding.shutdown(); // balance the successful nvmlInit: NVML counts references
      throw error;
    }
  }

  /**
   * Reads every GPU concurrently: energy counter (µJ), one power sample (mW), utilization and
   * memory where supported (asked on the first read and every `auxiliaryEveryTicks`th after it,
   * the last answers repeated in between). Per-GPU failures are `{ ok: false }`. When `signal` aborts, GPUs not
   * finished yet answer `PROBE_TIMEOUT`; their NVML calls finish in the background, and until they
   * do, that GPU answers `PROBE_TIMEOUT` at once instead of queueing more calls.
   */
  async read(signal: AbortSignal): Promise<readonly DeviceReadResult[]> {
    if (this.state !== 'open')
      throw new ProbeError('PROBE_UNAVAILABLE', `nvml probe is ${this.state}, not open`);
    const binding = this.binding!;
    const auxiliary = this.ticks++ % this.auxiliaryEveryTicks === 0;
    return Promise.all(this.gpus.map((gpu) => readGpu(binding, this.clock, gpu, signal, auxiliary)));
  }

  /** Calls `nvmlShutdown` once; later calls do nothing. */
  async close(): Promise<void> {
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    if (wasOpen) await this.binding?.shutdown();
  }
}
