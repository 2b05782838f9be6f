import { type IdleBaselineStatus, idleBaselineStatus } from '../attribution/idle-status.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { Meter } from '../meter/meter.js';
import type { DeviceInterval } from '../meter/types.js';
import { closeProbes, type ProbeAttempt, selectProbes } from '../probes/select.js';
import type { DeviceInfo, ProbeKind } from '../probes/types.js';

/** Everything `wattledger probe` found, as data (printed as text or JSON). */
export interface ProbeReport {
  readonly attempts: readonly ProbeAttempt[];
  readonly probes: readonly {
    readonly kind: ProbeKind;
    readonly details: Readonly<Record<string, string>>;
    readonly notes: readonly string[];
    readonly devices: readonly DeviceInfo[];
  }[];
  /** One interval per device between two readings taken `sampleMs` apart. */
  readonly readings: readonly DeviceInterval[];
  readonly sampleMs: number;
  readonly gpuCount: number;
  readonly simulated: boolean;
  /** The idle power the daemon would start from for each GPU (`attribution.idleBaseline`). */
  readonly idleBaseline: {
    readonly path: string | null;
    readonly problem: string | null;
    readonly devices: readonly IdleBaselineStatus[];
  };
}

/**
 * Selects and opens the configured probes, takes two readings `sampleMs` apart, closes everything
 * and returns what it saw. Never throws for probe failures: they are in `attempts`.
 */
export async function buildProbeReport(config: Config, clock: Clock, sampleMs: number): Promise<ProbeReport> {
  const selection = await selectProbes(config, clock);
  try {
    const meter = new Meter(
      selection.opened.map(({ probe, inventory }) => ({
        probe,
        devices: inventory.devices,
        intervalMs: sampleMs,
      })),
      { clock, readTimeoutMs: config.meter.readTimeoutMs },
    );
    const readings: DeviceInterval[] = [];
    if (selection.opened.length > 0) {
      await meter.tickAll();
      await new Promise((resolve) => setTimeout(resolve, sampleMs));
      for (const tick of await meter.tickAll()) readings.push(...tick.intervals);
    }
    const devices = selection.opened.flatMap(({ inventory }) => inventory.devices);
    return {
      attempts: selection.attempts,
      probes: selection.opened.map(({ probe, inventory }) => ({
        kind: probe.kind,
        details: inventory.details,
        notes: inventory.notes,
        devices: inventory.devices,
      })),
      readings,
      sampleMs,
      gpuCount: devices.filter((d) => d.hwType === 'gpu').length,
      simulated: devices.some((d) => d.simulated),
      idleBaseline: idleBaselineStatus(
        config,
        devices.filter((d) => d.hwType === 'gpu').map((d) => d.id),
      ),
    };
  } finally {
    await closeProbes(selection);
  }
}
