import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { describeError, ProbeError } from '../errors.js';
import type { Probe, ProbeInventory, ProbeKind } from './types.js';

/** What happened when one probe was tried: used, failed (and why), or not tried (and why). */
export interface ProbeAttempt {
  readonly kind: ProbeKind;
  readonly role: 'gpu' | 'host';
  readonly outcome: 'used' | 'failed' | 'not-tried';
  readonly reason?: string;
  readonly code?: string;
  readonly hint?: string;
  readonly deviceCount?: number;
}

export interface OpenedProbe {
  readonly probe: Probe;
  readonly inventory: ProbeInventory;
  readonly intervalMs: number;
}

/** The probes in use and the story of how they were chosen. */
export interface ProbeSelection {
  readonly opened: readonly OpenedProbe[];
  readonly attempts: readonly ProbeAttempt[];
  /** Failures the configuration made fatal (an explicitly requested probe that did not open). */
  readonly fatal: readonly ProbeAttempt[];
}

/** Receives notable probe events (an nvidia-smi restart, a hang) for the daemon's log. */
export type ProbeEventSink = (event: {
  readonly probe: ProbeKind;
  readonly type: string;
  readonly detail: string;
}) => void;

type Factory = (config: Config, clock: Clock, onEvent: ProbeEventSink) => Promise<Probe>;

/**
 * The explicit factory table: no registration by import side effect. Each factory imports its
 * probe's module when called, so a daemon loads only the probes it tries: NVML never loads
 * node-nvidia-smi and xml2js (several MiB of heap), nvidia-smi never loads the NVML binding.
 */
const FACTORIES: Readonly<Record<ProbeKind, Factory>> = {
  nvml: async (config, clock) => {
    const { NvmlProbe } = await import('./nvml.js');
    return new NvmlProbe({ libraryPath: config.probes.nvmlLibraryPath, clock });
  },
  'nvidia-smi': async (config, clock, onEvent) => {
    const { NvidiaSmiProbe } = await import('./nvidia-smi.js');
    return new NvidiaSmiProbe({
      nvidiaSmiPath: config.probes.nvidiaSmiPath,
      intervalMs: config.meter.gpuIntervalMs,
      // Half the meter's read timeout: a read that waits for a fresh row never times out.
      readWaitMs: Math.floor(config.meter.readTimeoutMs / 2),
      clock,
      // Restarts, hangs, parse errors and dropped fields, rate-limited by the probe.
      log: (type, detail) => onEvent({ probe: 'nvidia-smi', type, detail }),
    });
  },
  rapl: async (config, clock) => {
    const { RaplProbe } = await import('./rapl.js');
    return new RaplProbe({ sysfsRoot: config.probes.sysfsRoot, clock });
  },
  simulated: async (config, clock) => {
    const { SimulatedGpuProbe } = await import('./simulated.js');
    return new SimulatedGpuProbe({
      gpuCount: config.probes.simulated.gpuCount,
      name: config.probes.simulated.name,
      idlePowerMilliWatts: config.probes.simulated.idlePowerMilliWatts,
      maxPowerMilliWatts: config.probes.simulated.maxPowerMilliWatts,
      seed: config.probes.simulated.seed,
      clock,
      faults: config.probes.simulated.faults,
      ...(config.probes.simulated.wrapMicroJoules !== null
        ? { wrapMicroJoules: BigInt(config.probes.simulated.wrapMicroJoules) }
        : {}),
    });
  },
};

/** GPU preference lists per `probes.gpu` choice. Simulated GPUs are never in the `auto` list. */
const GPU_ORDER: Readonly<Record<Config['probes']['gpu'], readonly ProbeKind[]>> = {
  auto: ['nvml', 'nvidia-smi'],
  nvml: ['nvml'],
  'nvidia-smi': ['nvidia-smi'],
  simulated: ['simulated'],
  'auto-or-simulated': ['nvml', 'nvidia-smi', 'simulated'],
  none: [],
};

/**
 * Opens the configured probes: GPUs by preference (NVML, then nvidia-smi), then RAPL. Every probe
 * not used comes back with the reason, so `probe` and the daemon's log can explain the choice.
 */
export async function selectProbes(
  config: Config,
  clock: Clock,
  signal?: AbortSignal,
  onEvent: ProbeEventSink = () => undefined,
): Promise<ProbeSelection> {
  const opened: OpenedProbe[] = [];
  const attempts: ProbeAttempt[] = [];
  const fatal: ProbeAttempt[] = [];
  const order = GPU_ORDER[config.probes.gpu];
  for (const kind of order) {
    if (opened.length > 0) {
      attempts.push({
        kind,
        role: 'gpu',
        outcome: 'not-tried',
        reason: `a preferred GPU probe (${opened[0]?.probe.kind}) is in use`,
      });
      continue;
    }
    const attempt = await tryOpen(kind, 'gpu', config, clock, config.meter.gpuIntervalMs, signal, onEvent);
    attempts.push(attempt.attempt);
    if (attempt.opened) opened.push(attempt.opened);
  }
  if (config.probes.gpu === 'none')
    attempts.push({ kind: 'nvml', role: 'gpu', outcome: 'not-tried', reason: 'probes.gpu is none' });
  if (!['auto', 'none', 'auto-or-simulated'].includes(config.probes.gpu) && opened.length === 0) {
    fatal.push(...attempts.filter((a) => a.role === 'gpu' && a.outcome === 'failed'));
  }
  if (config.probes.rapl === 'off') {
    attempts.push({ kind: 'rapl', role: 'host', outcome: 'not-tried', reason: 'probes.rapl is off' });
  } else {
    const attempt = await tryOpen(
      'rapl',
      'host',
      config,
      clock,
      config.meter.raplIntervalMs,
      signal,
      onEvent,
    );
    attempts.push(attempt.attempt);
    if (attempt.opened) opened.push(attempt.opened);
    else if (config.probes.rapl === 'on') fatal.push(attempt.attempt);
  }
  return { opened, attempts, fatal };
}

async function tryOpen(
  kind: ProbeKind,
  role: 'gpu' | 'host',
  config: Config,
  clock: Clock,
  intervalMs: number,
  signal: AbortSignal | undefined,
  onEvent: ProbeEventSink,
): Promise<{ attempt: ProbeAttempt; opened?: OpenedProbe }> {
  let probe: Probe | undefined;
  try {
    // Inside the try: a module that fails to load is that probe's failure, not the daemon's.
    probe = await FACTORIES[kind](config, clock, onEvent);
    const inventory = await probe.open(signal);
    if (inventory.devices.length === 0) {
      await probe.close();
      throw new ProbeError('PROBE_NO_DEVICES', `${kind} found no devices`);
    }
    return {
      attempt: { kind, role, outcome: 'used', deviceCount: inventory.devices.length },
      opened: { probe, inventory, intervalMs },
    };
  } catch (error) {
    await probe?.close().catch(() => undefined);
    const attempt: ProbeAttempt =
      error instanceof ProbeError
        ? {
            kind,
            role,
            outcome: 'failed',
            reason: error.message,
            code: error.code,
            ...(error.hint ? { hint: error.hint } : {}),
          }
        : { kind, role, outcome: 'failed', reason: describeError(error), code: 'PROBE_UNAVAILABLE' };
    return { attempt };
  }
}

/** Closes every opened probe, ignoring errors (used on shutdown). */
export async function closeProbes(selection: ProbeSelection): Promise<void> {
  await Promise.all(selection.opened.map(({ probe }) => probe.close().catch(() => undefined)));
}
