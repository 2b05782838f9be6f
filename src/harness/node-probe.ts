import type { Clock } from '../clock.js';
import type { DeviceInfo, DeviceReadResult, Probe, ProbeInventory } from '../probes/types.js';
import { energyFromConstantPower, type MilliWatts, type MonoNanos, NANOS_PER_SECOND } from '../units.js';
import type { TruthLedger } from './truth-ledger.js';

/**
 * What the simulated GPU exposes. `energy-counter`: an NVML-like cumulative counter with mJ
 * resolution (plus the 1 s average power, for show). `power-average-1s`: no counter, only the
 * 1 s trailing-average power that NVML `nvmlDeviceGetPowerUsage` and nvidia-smi `power.draw` give
 * on Ampere and newer, so the meter must integrate a lagged signal.
 */
export type SimulatedSensor = 'energy-counter' | 'power-average-1s';

/** Options of {@link SimulatedNodeProbe}. */
export interface SimulatedNodeProbeOptions {
  readonly ledger: TruthLedger;
  readonly clock: Clock;
  readonly sensor: SimulatedSensor;
  readonly deviceId: string;
  readonly powerLimitMilliWatts: MilliWatts;
}

/** Window of the averaged power reading. */
const AVERAGE_WINDOW_NANOS = NANOS_PER_SECOND;

/**
 * The `Probe` of a simulated node: one GPU whose energy is the {@link TruthLedger}'s exact
 * integral of the simulated power, read on the same clock as the simulated server, so the real
 * `Meter` samples it like hardware. Every device is marked `simulated`.
 */
export class SimulatedNodeProbe implements Probe {
  readonly kind = 'simulated' as const;
  private readonly options: SimulatedNodeProbeOptions;
  private readonly device: DeviceInfo;

  constructor(options: SimulatedNodeProbeOptions) {
    this.options = options;
    const counter = options.sensor === 'energy-counter';
    this.device = {
      id: options.deviceId,
      probe: 'simulated',
      hwType: 'gpu',
      name: 'Simulated inference GPU',
      vendor: 'wattledger accuracy harness',
      index: 0,
      powerLimitMilliWatts: options.powerLimitMilliWatts,
      hasEnergyCounter: counter,
      powerSemantics: 'average-1s',
      details: {
        powerModel: 'idle + a·prefill rate + b·decode tokens (accuracy harness)',
        sensor: options.sensor,
      },
      simulated: true,
    };
  }

  async open(): Promise<ProbeInventory> {
    return {
      devices: [this.device],
      details: { mode: 'simulated', sensor: this.options.sensor },
      notes: ['SIMULATED node: energy known by construction from the requests it served'],
    };
  }

  async read(): Promise<readonly DeviceReadResult[]> {
    const monoNanos = this.options.clock.monoNanos();
    const powerSamples = [{ monoNanos, powerMilliWatts: this.averagePowerAt(monoNanos) }];
    if (this.options.sensor === 'power-average-1s') {
      return [{ ok: true, deviceId: this.device.id, reading: { monoNanos, powerSamples } }];
    }
    // Like NVML: the counter has millijoule resolution.
    const energyCounterMicroJoules = (this.options.ledger.energyAt(monoNanos) / 1000n) * 1000n;
    return [
      { ok: true, deviceId: this.device.id, reading: { monoNanos, energyCounterMicroJoules, powerSamples } },
    ];
  }

  async close(): Promise<void> {}

  /** Mean power over the trailing second, integer mW; before the origin the GPU was idle. */
  private averagePowerAt(t: MonoNanos): MilliWatts {
    const ledger = this.options.ledger;
    const from = t - AVERAGE_WINDOW_NANOS;
    const before =
      from < ledger.origin ? energyFromConstantPower(ledger.idleMilliWatts, ledger.origin - from) : 0n;
    const energy = ledger.energyAt(t) - ledger.energyAt(from) + before;
    // µJ / ns × 10^6 = mW.
    return Number((energy * 1_000_000n) / AVERAGE_WINDOW_NANOS);
  }
}
