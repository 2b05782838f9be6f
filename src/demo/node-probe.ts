import type { Clock } from '../clock.js';
import type { TruthLedger } from '../harness/truth-ledger.js';
import type { DeviceInfo, DeviceReadResult, Probe, ProbeInventory } from '../probes/types.js';
import { averageMilliWatts, energyFromConstantPower, type MicroJoules, NANOS_PER_SECOND } from '../units.js';
import { DEMO_GPU, DEMO_GPU_COUNT, type DemoEngine, demoGpuId } from './models.js';

/** One engine of the node as the probe sees it: its GPUs and the exact energy of its work. */
export interface ProbedEngine {
  readonly engine: DemoEngine;
  readonly ledger: TruthLedger;
}

/** 2025-01-01T00:00:00Z: the simulated counters' zero, as for `probes.gpu: simulated`. */
const SIMULATION_EPOCH_UNIX_NANOS = 1_735_689_600_000_000_000n;
/** Window of the averaged power reading, as NVML's 1 s average on Ampere and newer. */
const AVERAGE_WINDOW_NANOS = NANOS_PER_SECOND;

/**
 * The `Probe` of the demo's simulated node: 8 GPUs. Each engine's energy is its
 * {@link TruthLedger}'s exact integral (idle + the work its requests did), split evenly over the
 * engine's GPUs. The node has no simulated host sensor: host energy is split over every request
 * on the host, so each record would wait for every request in flight with it to end (seconds to
 * a minute under the demo's load) before it could be sealed. Counters
 * have millijoule resolution like NVML's and start from the power limit × the time since
 * 2025-01-01, so they never run backwards across demo restarts on the same `--dir`. Every device
 * is marked `simulated`, which every batch and record carries.
 */
export class DemoNodeProbe implements Probe {
  readonly kind = 'simulated' as const;
  private readonly engines: readonly ProbedEngine[];
  private readonly clock: Clock;
  private readonly devices: DeviceInfo[];
  private readonly originNanos: bigint;
  private baselineMicroJoules: MicroJoules = 0n;
  private lastTotalMilliWatts = 0;

  constructor(engines: readonly ProbedEngine[], clock: Clock) {
    this.engines = engines;
    this.clock = clock;
    this.originNanos = clock.monoNanos();
    this.devices = Array.from({ length: DEMO_GPU_COUNT }, (_, i) => gpuInfo(i));
  }

  async open(): Promise<ProbeInventory> {
    const sinceEpoch = this.clock.wallUnixNanos() - SIMULATION_EPOCH_UNIX_NANOS;
    this.baselineMicroJoules = energyFromConstantPower(
      DEMO_GPU.powerLimitMilliWatts,
      sinceEpoch > 0n ? sinceEpoch : 0n,
    );
    return {
      devices: this.devices,
      details: { mode: 'simulated', node: 'wattledger demo: 8 GPUs, 4 engines' },
      notes: ['SIMULATED node (wattledger demo): energy comes from a model of the requests it served'],
    };
  }

  async read(): Promise<readonly DeviceReadResult[]> {
    const t = this.clock.monoNanos();
    const now = this.energies(t);
    const before = this.energies(t - AVERAGE_WINDOW_NANOS);
    let total = 0;
    const results: DeviceReadResult[] = this.devices.map((device, i) => {
      const energy = now[i] as MicroJoules;
      const power = averageMilliWatts(energy - (before[i] as MicroJoules), AVERAGE_WINDOW_NANOS) ?? 0;
      total += power;
      // Like NVML: the counter has millijoule resolution.
      const counter = ((this.baselineMicroJoules + energy) / 1000n) * 1000n;
      return {
        ok: true,
        deviceId: device.id,
        reading: {
          monoNanos: t,
          energyCounterMicroJoules: counter,
          powerSamples: [{ monoNanos: t, powerMilliWatts: power }],
        },
      };
    });
    this.lastTotalMilliWatts = total;
    return results;
  }

  /** The node's GPU power at the last read, mW; for the demo's progress line. */
  get totalMilliWatts(): number {
    return this.lastTotalMilliWatts;
  }

  async close(): Promise<void> {}

  /** Energy of each GPU from the probe's origin to `t`, µJ. */
  private energies(t: bigint): MicroJoules[] {
    const gpus: MicroJoules[] = Array.from({ length: DEMO_GPU_COUNT }, () => 0n);
    for (const { engine, ledger } of this.engines) {
      const share = ledger.energyAt(t) / BigInt(engine.gpuIndexes.length);
      for (const index of engine.gpuIndexes) gpus[index] = share;
    }
    // A GPU no engine uses idles.
    const elapsed = t > this.originNanos ? t - this.originNanos : 0n;
    const used = new Set(this.engines.flatMap(({ engine }) => engine.gpuIndexes));
    for (let i = 0; i < DEMO_GPU_COUNT; i++)
      if (!used.has(i)) gpus[i] = energyFromConstantPower(DEMO_GPU.idleMilliWatts, elapsed);
    return gpus;
  }
}

function gpuInfo(index: number): DeviceInfo {
  return {
    id: demoGpuId(index),
    probe: 'simulated',
    hwType: 'gpu',
    name: DEMO_GPU.name,
    vendor: 'NVIDIA (simulated by wattledger demo)',
    index,
    serial: `DEMO${String(index).padStart(9, '0')}`,
    powerLimitMilliWatts: DEMO_GPU.powerLimitMilliWatts,
    hasEnergyCounter: true,
    powerSemantics: 'average-1s',
    driverVersion: 'simulated',
    details: { powerModel: 'idle + a·prefill rate + b·decode rate of the requests served (demo)' },
    simulated: true,
  };
}
