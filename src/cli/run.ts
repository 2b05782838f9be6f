import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { CliError } from '../errors.js';
import type { OtlpExport } from '../export/index.js';
import type { SealedBatch } from '../ledger/batcher.js';
import type { Logger } from '../log.js';
import { createGapLogger } from '../meter/gap-log.js';
import { Meter } from '../meter/meter.js';
import { closeProbes, type ProbeSelection, selectProbes } from '../probes/select.js';
import { VERSION } from '../version.js';
import { SIMULATED_BANNER } from './format.js';
import type { OpenLedger } from './ledger-wiring.js';

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
): Promise<void> {
  logger.info(
    { code: 'DAEMON_STARTING', version: VERSION, probes: config.probes.gpu, meter: config.meter },
    'wattledger starting',
  );
  const selection = await selectProbes(config, clock, signal, (event) =>
    logger.warn(
      { code: 'PROBE_EVENT', probe: event.probe, event: event.type },
      `${event.probe}: ${event.type} ${event.detail}`,
    ),
  );
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
      { clock, readTimeoutMs: config.meter.readTimeoutMs },
    );
    meter.subscribe(createGapLogger(logger));
    let ledger: OpenLedger | null = null;
    let otlp: OtlpExport | null = null;
    // The ledger, the API and the proxy load only when enabled: a daemon that only meters stays small.
    const { buildRequestPipeline } = config.ledger.enabled
      ? await import('./request-pipeline.js')
      : { buildRequestPipeline: null };
    const { openLedger } = config.ledger.enabled ? await import('./ledger-wiring.js') : { openLedger: null };
    const { createDaemonApi } =
      config.ledger.enabled && config.api.enabled
        ? await import('./api-wiring.js')
        : { createDaemonApi: null };
    const factors = config.ledger.enabled
      ? (await import('../factors/index.js')).buildFactorSnapshot(config.factors)
      : null;
    const pipeline =
      buildRequestPipeline && factors
        ? buildRequestPipeline({
            factors,
            config,
            clock,
            logger,
            devices,
            batcher: () => ledger?.batcher ?? null,
          })
        : null;
    const api = createDaemonApi ? createDaemonApi(config, logger) : null;
    ledger = openLedger
      ? await openLedger({
          config,
          clock,
          logger,
          devices,
          credentialsDirectory,
          factors: factors as unknown as Readonly<Record<string, unknown>> | null,
          onSealed: (sealed: SealedBatch) => {
            api?.index.append(sealed);
            otlp?.notifySealed();
          },
          ...(pipeline
            ? { attribution: { deviceIds: pipeline.attributedDeviceIds, method: pipeline.attributor.method } }
            : {}),
        })
      : null;
    const openedLedger = ledger;
    if (openedLedger) meter.subscribe((tick) => openedLedger.batcher.onTick(tick));
    if (pipeline) meter.subscribe((tick) => pipeline.onTick(tick));
    else
      logger.warn(
        { code: 'LEDGER_DISABLED' },
        'ledger.enabled is false: measurements are not signed or stored',
      );
    otlp = config.otlp.enabled
      ? await (await import('../export/index.js')).startOtlpExport({
          config,
          meter,
          ...(openedLedger ? { host: openedLedger.host } : {}),
          onEvent: (event) => logger.info({ code: 'OTLP_EVENT', event }, `otlp: ${event.kind}`),
        })
      : null;
    let running = false;
    if (api && openedLedger) await api.start(openedLedger, meter, () => running);
    meter.start();
    running = true;
    await pipeline?.start();
    logger.info(
      { code: 'DAEMON_RUNNING', deviceCount: devices.length },
      `measuring ${devices.length} devices`,
    );
    const summary = setInterval(() => logTotals(meter, logger, 'DAEMON_SUMMARY'), SUMMARY_INTERVAL_MS);
    summary.unref();
    await waitForAbort(signal);
    clearInterval(summary);
    logger.info({ code: 'DAEMON_STOPPING' }, 'stopping: draining requests, finishing the tick in progress');
    running = false;
    await pipeline?.stopIntake();
    await meter.stop();
    // Allocate everything still pending, then seal the last window: nothing measured is lost.
    pipeline?.finish();
    await openedLedger?.close();
    await otlp?.stop();
    await api?.close();
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
      `${status.device.id}: ${status.energyMicroJoules} µJ measured`,
    );
  }
}

function waitForAbort(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
