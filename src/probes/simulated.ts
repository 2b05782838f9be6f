import type { Clock } from '../clock.js';
import {
  energyFromConstantPower,
  type MicroJoules,
  type MilliWatts,
  microJoulesFromMilliJoules,
} from '../units.js';
import { SimulatedPowerModel } from './power-model.js';
import type { DeviceInfo, DeviceReadResult, Probe, ProbeInventory } from './types.js';

export interface SimulatedProbeOptions {
  readonly gpuCount: number;
  readonly name: string;
  readonly idlePowerMilliWatts: MilliWatts;
  readonly maxPowerMilliWatts: MilliWatts;
  readonly seed: number;
  readonly clock: Clock;
}

/** 2025-01-01T00:00:00Z: the simulated counters' zero. */
const SIMULATION_EPOCH_UNIX_NANOS = 1_735_689_600_000_000_000n;

/**
 * Simulated GPUs for demos and tests, never chosen silently: only when the configuration asks for
 * `probes.gpu: simulated`. They behave like NVML devices (an mJ-granular energy counter and an
 * instant power reading) and every device is marked `simulated: true`, which every output it feeds
 * carries.
 */
export class SimulatedGpuProbe implements Probe {
  readonly kind = 'simulated' as const;
  private readonly options: SimulatedProbeOptions;
  private models: SimulatedPowerModel[] = [];
  private devices: DeviceInfo[] = [];
  private baselineMicroJoules: MicroJoules = 0n;

  constructor(options: SimulatedProbeOptions) {
    this.options = options;
  }

  async open(): Promise<ProbeInventory> {
    const start = this.options.clock.monoNanos();
    // Like a real counter, the simulated one does not restart with the agent: it starts from what
    // full power since SIMULATION_EPOCH would give, so it never runs backwards across restarts.
    const sinceEpoch = this.options.clock.wallUnixNanos() - SIMULATION_EPOCH_UNIX_NANOS;
    this.baselineMicroJoules = energyFromConstantPower(
      this.options.maxPowerMilliWatts,
      sinceEpoch > 0n ? sinceEpoch : 0n,
    );
    this.models = [];
    this.devices = [];
    for (let index = 0; index < this.options.gpuCount; index++) {
      this.models.push(
        new SimulatedPowerModel({
          idleMilliWatts: this.options.idlePowerMilliWatts,
          maxMilliWatts: this.options.maxPowerMilliWatts,
          seed: this.options.seed * 1000 + index,
          startNanos: start,
        }),
      );
      this.devices.push(this.describe(index));
    }
    return {
      devices: this.devices,
      details: { mode: 'simulated', seed: String(this.options.seed) },
      notes: ['SIMULATED GPUs: numbers come from a deterministic power model, not from hardware'],
    };
  }

  async read(): Promise<readonly DeviceReadResult[]> {
    const monoNanos = this.options.clock.monoNanos();
    return this.devices.map((device, index) => {
      const model = this.models[index] as SimulatedPowerModel;
      // Like NVML: the counter has millijoule resolution.
      const milliJoules = (this.baselineMicroJoules + model.energyAt(monoNanos)) / 1000n;
      return {
        ok: true,
        deviceId: device.id,
        reading: {
          monoNanos,
          energyCounterMicroJoules: microJoulesFromMilliJoules(milliJoules),
          powerSamples: [{ monoNanos, powerMilliWatts: model.powerAt(monoNanos) }],
        },
      };
    });
  }

  /** Pins a simulated GPU's load (‰ of the range between idle and max power); for demos and harnesses. */
  setLoadPermille(index: number, permille: number | null): void {
    this.models[index]?.setLoadPermille(permille);
  }

  async close(): Promise<void> {}

  private describe(index: number): DeviceInfo {
    const hex = (index + 1).toString(16).padStart(12, '0');
    return {
      id: `GPU-5140a7ed-0000-4000-8000-${hex}`,
      probe: 'simulated',
      hwType: 'gpu',
      name: this.options.name,
      vendor: 'NVIDIA (simulated)',
      index,
      serial: `SIM${String(index).padStart(10, '0')}`,
      pciBusId: `00000000:${(0x18 + index * 0x10).toString(16).toUpperCase().padStart(2, '0')}:00.0`,
      powerLimitMilliWatts: this.options.maxPowerMilliWatts,
      hasEnergyCounter: true,
      powerSemantics: 'instant',
      migMode: 'disabled',
      driverVersion: 'simulated',
      details: { powerModel: 'idle + load × (max − idle), 250 ms steps, seeded' },
      simulated: true,
    };
  }
}
