import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { CliError, describeError } from '../errors.js';
import type { Logger } from '../log.js';
import { createGapLogger } from '../meter/gap-log.js';
import { Meter } from '../meter/meter.js';
import { closeProbes, type ProbeSelection, selectProbes } from '../probes/select.js';
import { VERSION } from '../version.js';
import { openDaemonServices } from './daemon-services.js';
import { SIMULATED_BANNER } from './format.js';

/** How often the daemon logs a per-device energy summary. */
const SUMMARY_INTERVAL_MS = 60_000;

/**
 * `wattledger run`: the daemon. Opens the probes, samples until `signal` aborts (SIGTERM/SIGINT),
 * then stops in order: the sampler finishes its tick in progress, the final totals are logged, and
 * the probes are closed. Wiring is explicit here; no component starts another by side effect.
 */
export async function runDaemon(
  config: Config,
  clock: Clock,
  logger: Logger,
  signal: AbortSignal,
  credentialsDirectory?: string,
  /** Opens the probes instead of `selectProbes` (the demo's simulated node); default: the configured ones. */
  openProbes?: () => Promise<ProbeSelection>,
  /** Aborted by a second signal: drains stop waiting; the last batch is still sealed. */
  hurry?: AbortSignal,
): Promise<void> {
  logger.info(
    { code: 'DAEMON_STARTING', version: VERSION, probes: config.probes.gpu, meter: config.meter },
    'wattledger starting',
  );
  const selection = await (openProbes?.() ??
    selectProbes(config, clock, signal, (event) =>
      logger.warn(
        { code: 'PROBE_EVENT', probe: event.probe, event: event.type },
        `${event.probe}: ${event.type} ${event.detail}`,
      ),
    ));
  logSelection(selection, logger);
  try {
    assertUsable(selection, config);
    const devices = selection.opened.flatMap(({ inventory }) => inventory.devices);
    if (devices.some((d) => d.simulated))
      logger.warn({ code: 'DAEMON_SIMULATED', simulated: true }, SIMULATED_BANNER);
    const meter = new Meter(
      selection.opened.map(({ probe, inventory, intervalMs }) => ({
        probe,
        devices: inventory.devices,
        intervalMs,
      })),
      {
        clock,
        readTimeoutMs: config.meter.readTimeoutMs,
        onTickError: (error, probe) =>
          logger.error(
            { code: 'METER_TICK_FAILED', probe, err: describeError(error) },
            `${probe}: a sampling tick failed and was dropped (counted in /readyz detail.tickErrors): ${describeError(error)}`,
          ),
      },
    );
    meter.subscribe(createGapLogger(logger));
    const services = await openDaemonServices({
      config,
      clock,
      logger,
      meter,
      devices,
      credentialsDirectory,
    });
    let running = false;
    let metered = false;
    try {
      await services.startBeforeMeter(() => running);
      meter.start();
      metered = true;
      running = true;
      await services.startAfterMeter();
      logger.info(
        { code: 'DAEMON_RUNNING', deviceCount: devices.length },
        `measuring ${devices.length} devices`,
      );
      await runUntilAborted(meter, logger, signal);
    } finally {
      // Also after a failed start (a port in use): stop in order, seal what was measured.
      logger.info({ code: 'DAEMON_STOPPING' }, 'stopping: draining requests, finishing the tick in progress');
      running = false;
      await services.stopIntake(hurry);
      await meter.stop();
      // One last reading of every probe, so the final batch ends at a reading, not up to a sampling
      // interval after the last one (that time would otherwise count as the next run's downtime).
      // Skipped when told to hurry.
      if (metered && !hurry?.aborted) await meter.tickAll();
      await services.stopAfterMeter(hurry);
    }
    logTotals(meter, logger, 'DAEMON_STOPPED');
  } finally {
    await closeProbes(selection);
  }
}

function logSelection(selection: ProbeSelection, logger: Logger): void {
  for (const attempt of selection.attempts) {
    const level = attempt.outcome === 'failed' ? 'warn' : 'info';
    logger[level](
      { code: attempt.code ?? 'PROBE_SELECTED', ...attempt },
      `probe ${attempt.kind}: ${attempt.outcome}${attempt.reason ? ` (${attempt.reason})` : ''}`,
    );
  }
  for (const { probe, inventory } of selection.opened) {
    for (const note of inventory.notes) logger.info({ code: 'PROBE_NOTE', probe: probe.kind }, note);
    for (const device of inventory.devices)
      logger.info({ code: 'DEVICE_FOUND', probe: probe.kind, device }, `${device.id}: ${device.name}`);
  }
}

/** Fails start-up when the configuration's requirements are not met, with the reason and a hint. */
function assertUsable(selection: ProbeSelection, config: Config): void {
  const fatal = selection.fatal[0];
  if (fatal) {
    throw new CliError(
      'CLI_NO_DEVICES',
      `required probe ${fatal.kind} could not be used: ${fatal.reason ?? 'unknown reason'}`,
      {
        ...(fatal.hint ? { hint: fatal.hint } : {}),
      },
    );
  }
  const hasGpu = selection.opened.some(({ inventory }) => inventory.devices.some((d) => d.hwType === 'gpu'));
  if (!hasGpu && config.probes.gpu !== 'none') {
    throw new CliError('CLI_NO_DEVICES', 'no GPU found: neither NVML nor nvidia-smi could be used', {
      hint: 'run `wattledger probe` for the reasons; use --simulate for a demo, or set probes.gpu: none to meter the host only',
    });
  }
}

function logTotals(meter: Meter, logger: Logger, code: string): void {
  for (const status of meter.status()) {
    logger.info(
      {
        code,
        deviceId: status.device.id,
        energyMicroJoules: status.energyMicroJoules,
        quality: status.quality,
      },
      status.quality.unmeasuredReason === null
        ? `${status.device.id}: ${status.energyMicroJoules} µJ measured`
        : `${status.device.id}: unmeasured (${status.quality.unmeasuredReason}), not in the totals`,
    );
  }
}

/** Logs a summary every minute until SIGTERM/SIGINT. */
async function runUntilAborted(meter: Meter, logger: Logger, signal: AbortSignal): Promise<void> {
  const summary = setInterval(() => logTotals(meter, logger, 'DAEMON_SUMMARY'), SUMMARY_INTERVAL_MS);
  summary.unref();
  if (!signal.aborted)
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  clearInterval(summary);
}
