import type { Clock } from '../clock.js';
import type { DeviceInfo, Probe } from '../probes/types.js';
import type { MicroJoules, MilliWatts } from '../units.js';
import { QualityAccumulator, type QualityRecord } from './quality.js';
import { ProbeSampler } from './sampler.js';
import type { DeviceInterval, MeterTick } from './types.js';

/** A probe that has been opened, with the devices it found and how often to sample it. */
export interface MeteredProbe {
  readonly probe: Probe;
  readonly devices: readonly DeviceInfo[];
  readonly intervalMs: number;
}

/** Live state of one device since the meter started. */
export interface DeviceStatus {
  readonly device: DeviceInfo;
  readonly energyMicroJoules: MicroJoules;
  readonly powerMilliWatts: MilliWatts | null;
  readonly utilizationGpuPercent: number | null;
  readonly lastGap: DeviceInterval['gap'];
  readonly quality: QualityRecord;
}

export type TickListener = (tick: MeterTick) => void;

/**
 * The meter: one sampler per probe, running totals and a quality record per device, and listeners
 * (the attribution, ledger and exporters later) that receive every tick. Knows nothing of what
 * consumes it.
 */
export class Meter {
  private readonly samplers: ProbeSampler[];
  private readonly listeners = new Set<TickListener>();
  private readonly state = new Map<
    string,
    { device: DeviceInfo; quality: QualityAccumulator; last: DeviceInterval | null }
  >();
  private listenerErrors = 0;

  constructor(
    probes: readonly MeteredProbe[],
    options: {
      readonly clock: Clock;
      readonly readTimeoutMs: number;
      /** A sampling tick that threw and was dropped (logged by the daemon as `METER_TICK_FAILED`). */
      readonly onTickError?: (error: unknown, probe: string) => void;
    },
  ) {
    for (const { devices } of probes) {
      for (const device of devices)
        this.state.set(device.id, { device, quality: new QualityAccumulator(device), last: null });
    }
    this.samplers = probes.map(
      ({ probe, devices, intervalMs }) =>
        new ProbeSampler({
          probe,
          devices,
          intervalMs,
          readTimeoutMs: options.readTimeoutMs,
          clock: options.clock,
          onTick: (tick) => this.handleTick(tick),
          onTickError: (error) => options.onTickError?.(error, probe.kind),
        }),
    );
  }

  /** Subscribes to every tick; returns the unsubscribe function. Listener errors never stop sampling. */
  subscribe(listener: TickListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  start(): void {
    for (const sampler of this.samplers) sampler.start();
  }

  /** Stops every sampler after its tick in progress, so the last intervals reach the listeners. */
  async stop(): Promise<void> {
    await Promise.all(this.samplers.map((sampler) => sampler.stop()));
  }

  /** Runs one tick of every probe now (used by `probe` and by tests with a manual clock). */
  async tickAll(): Promise<MeterTick[]> {
    return Promise.all(this.samplers.map((sampler) => sampler.runOnce()));
  }

  /** Per-device totals and quality since start, in discovery order. */
  status(): DeviceStatus[] {
    return [...this.state.values()].map(({ device, quality, last }) => {
      const record = quality.snapshot();
      return {
        device,
        energyMicroJoules: record.energyMicroJoules,
        powerMilliWatts: last?.powerMilliWatts ?? null,
        utilizationGpuPercent: last?.utilizationGpuPercent ?? null,
        lastGap: last?.gap ?? null,
        quality: record,
      };
    });
  }

  /** Sampler overruns and listener failures, for health reporting. */
  health(): { readonly overruns: number; readonly listenerErrors: number; readonly tickErrors: number } {
    return {
      overruns: this.samplers.reduce((sum, s) => sum + s.overruns, 0),
      tickErrors: this.samplers.reduce((sum, s) => sum + s.tickErrors, 0),
      listenerErrors: this.listenerErrors,
    };
  }

  private handleTick(tick: MeterTick): void {
    for (const interval of tick.intervals) {
      const entry = this.state.get(interval.deviceId);
      if (!entry) continue;
      entry.quality.add(interval);
      entry.last = interval;
    }
    for (const listener of this.listeners) {
      try {
        listener(tick);
      } catch {
        this.listenerErrors += 1;
      }
    }
  }
}
