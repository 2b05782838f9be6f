import type { Clock } from '../clock.js';
import { ProbeError } from '../errors.js';
import { type MicroJoules, type MilliWatts, NANOS_PER_MILLI } from '../units.js';
import { SimulatedPowerModel } from './power-model.js';
import type { DeviceInfo, DeviceReadResult, Probe, ProbeInventory } from './types.js';

/**
 * A hardware event the simulated GPUs can be told to have, `atMs` after `open()` on the probe's
 * monotonic clock: `reset` (a driver reload: the counter restarts from 0), `lose` (reads fail with
 * `PROBE_DEVICE_LOST` for `forMs`, for ever without it; the counter keeps counting meanwhile).
 */
export type SimulatedFault =
  | { readonly kind: 'reset'; readonly gpu: number; readonly atMs: number }
  | {
      readonly kind: 'lose';
      readonly gpu: number;
      readonly atMs: number;
      readonly forMs?: number | undefined;
    };

export interface SimulatedProbeOptions {
  readonly gpuCount: number;
  readonly name: string;
  readonly idlePowerMilliWatts: MilliWatts;
  /** The devices' enforced power limit, and the model's peak power. */
  readonly maxPowerMilliWatts: MilliWatts;
  readonly seed: number;
  readonly clock: Clock;
  /**
   * A counter range: the counters count modulo it and the devices declare it as their wrap range
   * (like RAPL's `max_energy_range_uj`), so the wrap path runs. Absent: the counters never wrap.
   */
  readonly wrapMicroJoules?: MicroJoules;
  readonly faults?: readonly SimulatedFault[];
}

/** 2025-01-01T00:00:00Z: the simulated counters' zero. */
export const SIMULATION_EPOCH_UNIX_NANOS = 1_735_689_600_000_000_000n;

/**
 * Simulated GPUs for demos and tests, never chosen silently: only when the configuration asks for
 * `probes.gpu: simulated`. They behave like NVML devices (an mJ-granular energy counter, an instant
 * power reading and an enforced power limit) and every device is marked `simulated: true`, which
 * every output it feeds carries.
 *
 * The counter is the model's energy since SIMULATION_EPOCH on wall time: one monotonic counter
 * that an agent restart does not move, whose advance over any span is the energy the model drew
 * in it, at most the power limit × the span. Faults (reset, wrap, a lost GPU) go through the same
 * reads the meter makes of real hardware.
 */
export class SimulatedGpuProbe implements Probe {
  readonly kind = 'simulated' as const;
  private readonly options: SimulatedProbeOptions;
  private models: SimulatedPowerModel[] = [];
  private devices: DeviceInfo[] = [];
  /** Simulation time (ns since SIMULATION_EPOCH) = monotonic time + this offset, fixed at open. */
  private simOffsetNanos = 0n;
  private openedMonoNanos = 0n;
  /** Per GPU: the counter value a simulated driver reload subtracted (0 before one). */
  private resetOffsets: MicroJoules[] = [];
  private resetsDone = new Set<SimulatedFault>();

  constructor(options: SimulatedProbeOptions) {
    this.options = options;
  }

  async open(): Promise<ProbeInventory> {
    this.openedMonoNanos = this.options.clock.monoNanos();
    this.simOffsetNanos =
      this.options.clock.wallUnixNanos() - SIMULATION_EPOCH_UNIX_NANOS - this.openedMonoNanos;
    const startSim = this.openedMonoNanos + this.simOffsetNanos;
    this.models = [];
    this.devices = [];
    this.resetOffsets = [];
    this.resetsDone = new Set();
    for (let index = 0; index < this.options.gpuCount; index++) {
      this.models.push(
        new SimulatedPowerModel({
          idleMilliWatts: this.options.idlePowerMilliWatts,
          maxMilliWatts: this.options.maxPowerMilliWatts,
          seed: this.options.seed * 1000 + index,
          startNanos: startSim,
          absolute: true,
        }),
      );
      this.resetOffsets.push(0n);
      this.devices.push(this.describe(index));
    }
    const faults = this.options.faults ?? [];
    return {
      devices: this.devices,
      details: {
        mode: 'simulated',
        seed: String(this.options.seed),
        ...(faults.length > 0 ? { faults: faults.map(describeFault).join('; ') } : {}),
      },
      notes: ['SIMULATED GPUs: numbers come from a deterministic power model, not from hardware'],
    };
  }

  async read(): Promise<readonly DeviceReadResult[]> {
    const monoNanos = this.options.clock.monoNanos();
    const sinceOpenNanos = monoNanos - this.openedMonoNanos;
    const sim = monoNanos + this.simOffsetNanos;
    return this.devices.map((device, index): DeviceReadResult => {
      const model = this.models[index] as SimulatedPowerModel;
      // Like NVML: the counter has millijoule resolution.
      const raw = (model.energyAt(sim) / 1000n) * 1000n;
      this.applyResets(index, sinceOpenNanos, raw);
      const lost = this.lostFault(index, sinceOpenNanos);
      if (lost) {
        return {
          ok: false,
          deviceId: device.id,
          error: new ProbeError(
            'PROBE_DEVICE_LOST',
            `${device.id}: simulated GPU lost (${describeFault(lost)})`,
          ),
        };
      }
      let counter = raw - (this.resetOffsets[index] as MicroJoules);
      if (this.options.wrapMicroJoules !== undefined && this.options.wrapMicroJoules > 0n)
        counter %= this.options.wrapMicroJoules;
      return {
        ok: true,
        deviceId: device.id,
        reading: {
          monoNanos,
          energyCounterMicroJoules: counter,
          powerSamples: [{ monoNanos, powerMilliWatts: model.powerAt(sim) }],
        },
      };
    });
  }

  /** Pins a simulated GPU's load (‰ of the range between idle and max power); for demos and harnesses. */
  setLoadPermille(index: number, permille: number | null): void {
    this.models[index]?.setLoadPermille(permille);
  }

  async close(): Promise<void> {}

  /** A due reset makes the counter restart from 0 at the first read at or after its time. */
  private applyResets(index: number, sinceOpenNanos: bigint, raw: MicroJoules): void {
    for (const fault of this.options.faults ?? []) {
      if (fault.kind !== 'reset' || fault.gpu !== index || this.resetsDone.has(fault)) continue;
      if (sinceOpenNanos < BigInt(fault.atMs) * NANOS_PER_MILLI) continue;
      this.resetsDone.add(fault);
      this.resetOffsets[index] = raw;
    }
  }

  private lostFault(index: number, sinceOpenNanos: bigint): SimulatedFault | undefined {
    return (this.options.faults ?? []).find((fault) => {
      if (fault.kind !== 'lose' || fault.gpu !== index) return false;
      const from = BigInt(fault.atMs) * NANOS_PER_MILLI;
      const until = fault.forMs === undefined ? null : from + BigInt(fault.forMs) * NANOS_PER_MILLI;
      return sinceOpenNanos >= from && (until === null || sinceOpenNanos < until);
    });
  }

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
      ...(this.options.wrapMicroJoules !== undefined && this.options.wrapMicroJoules > 0n
        ? { energyWrapMicroJoules: this.options.wrapMicroJoules }
        : {}),
      migMode: 'disabled',
      driverVersion: 'simulated',
      details: {
        powerModel:
          'idle + load × (max − idle), 250 ms steps, seeded; counter = energy since 2025-01-01 on wall time',
      },
      simulated: true,
    };
  }
}

function describeFault(fault: SimulatedFault): string {
  if (fault.kind === 'reset') return `reset of GPU ${fault.gpu} at ${fault.atMs} ms`;
  return `GPU ${fault.gpu} lost at ${fault.atMs} ms${fault.forMs === undefined ? '' : ` for ${fault.forMs} ms`}`;
}
