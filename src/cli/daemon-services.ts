import type { ScannedLine } from '../api/ledger-index.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import { ConfigError } from '../errors.js';
import type { OtlpExport, OtlpExportOptions } from '../export/index.js';
import type { SealedBatch } from '../ledger/batcher.js';
import type { Logger } from '../log.js';
import type { Meter } from '../meter/meter.js';
import type { DeviceInfo } from '../probes/types.js';
import type { DaemonApi } from './api-wiring.js';
import { CheckpointSummary } from './checkpoint-summary.js';
import { LedgerHealth } from './ledger-health.js';
import type { OpenLedger } from './ledger-wiring.js';
import { listenerLimits, warnExposedListeners } from './listeners.js';
import type { RequestPipeline } from './request-pipeline.js';

/**
 * Everything the daemon runs beside the meter, each only when configured: the signed ledger, the
 * request pipeline (attribution, proxy, event API), the ledger API and OTLP export. Modules load
 * only when enabled, so a daemon that only meters stays small. Wiring is explicit here.
 */
export interface DaemonServices {
  /** Starts what serves or exports, before the meter's first tick (the API) and after it (intake). */
  startBeforeMeter(running: () => boolean): Promise<void>;
  startAfterMeter(): Promise<void>;
  /** Stops intake (no new requests) before the meter stops; `hurry` cuts the drain short. */
  stopIntake(hurry?: AbortSignal): Promise<void>;
  /**
   * After the meter's last tick: allocate what is pending, seal the last window, flush exports.
   * Rejects (`LEDGER_IO`) when the last batches could not be written; `hurry` shortens the retries.
   */
  stopAfterMeter(hurry?: AbortSignal): Promise<void>;
}

interface ServiceInputs {
  readonly config: Config;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly meter: Meter;
  readonly devices: readonly DeviceInfo[];
  readonly credentialsDirectory: string | undefined;
}

/** Opens the configured services and subscribes them to the meter (which is not started yet). */
export async function openDaemonServices(inputs: ServiceInputs): Promise<DaemonServices> {
  const { config, logger, meter } = inputs;
  warnExposedListeners(config, logger);
  if (!config.ledger.enabled) {
    refuseIntakeWithoutLedger(config);
    logger.warn(
      { code: 'LEDGER_DISABLED' },
      'ledger.enabled is false: measurements are not signed or stored',
    );
    // Metering only: the device metrics can still be exported (no requests, no ledger logs).
    let exported: OtlpExport | null = null;
    return {
      startBeforeMeter: async () => {
        if (config.otlp.enabled || config.prometheus.enabled) exported = await startOtlp(inputs, null);
      },
      startAfterMeter: async () => {},
      stopIntake: async () => {},
      stopAfterMeter: async () => {
        await exported?.stop();
      },
    };
  }
  const limits = listenerLimits(config, logger);
  const summary = new CheckpointSummary(logger, config.otlp.enabled && config.otlp.logsEnabled);
  let ledger: OpenLedger | null = null;
  let health: LedgerHealth | null = null;
  let otlp: OtlpExport | null = null;
  const factors = (await import('../factors/index.js')).buildFactorSnapshot(config.factors);
  const pipeline: RequestPipeline = (await import('./request-pipeline.js')).buildRequestPipeline({
    ...inputs,
    factors,
    batcher: () => ledger?.batcher ?? null,
    onRecord: () => (otlp ? (record) => otlp?.recordRequest(record) : null),
    health: () => health,
    limits,
  });
  const api: DaemonApi | null = config.api.enabled
    ? (await import('./api-wiring.js')).createDaemonApi(config, logger, limits)
    : null;
  const opened = await (await import('./ledger-wiring.js')).openLedger({
    ...inputs,
    factors: factors as unknown as Readonly<Record<string, unknown>>,
    // The store's open reads the ledger once; the API index is seeded from that pass.
    ...(api ? { onStartupLine: (line: ScannedLine) => api.index.seed(line) } : {}),
    onSealed: (sealed: SealedBatch) => {
      api?.index.append(sealed);
      otlp?.notifySealed();
      summary.onSealed(sealed);
    },
    attribution: { deviceIds: pipeline.attributedDeviceIds, method: pipeline.attributor.method },
  });
  ledger = opened;
  health = new LedgerHealth(opened.batcher, logger);
  const ledgerHealth = health;
  // The attributor splits the intervals as the ledger counts them (a bridge across batches has no
  // energy there), so no request is given energy that no batch counts.
  meter.subscribe((tick) => {
    let counted = tick;
    try {
      counted = opened.batcher.onTick(tick);
    } finally {
      pipeline.onTick(counted);
    }
  });
  meter.subscribe((tick) => summary.onTick(tick));
  try {
    otlp =
      config.otlp.enabled || config.prometheus.enabled
        ? await startOtlp(
            inputs,
            opened,
            () => pipeline.spanStats(),
            (kind) => summary.onExport(kind),
          )
        : null;
  } catch (error) {
    await opened.close();
    throw error;
  }
  return {
    startBeforeMeter: async (running) => {
      // Not ready while the ledger cannot write: a load balancer sends new work elsewhere.
      await api?.start(
        opened,
        meter,
        () => running() && ledgerHealth.writable,
        () => ledgerHealth.detail(),
      );
    },
    startAfterMeter: () => pipeline.start(),
    stopIntake: (hurry) => pipeline.stopIntake(hurry),
    stopAfterMeter: async (hurry) => {
      // Allocate everything still pending, then seal the last window: nothing measured is lost.
      pipeline.finish();
      const onHurry = () => opened.batcher.hurry();
      hurry?.addEventListener('abort', onHurry, { once: true });
      try {
        const closing = opened.close();
        if (hurry?.aborted) onHurry();
        await closing;
        summary.atStop();
      } finally {
        hurry?.removeEventListener('abort', onHurry);
        await otlp?.stop();
        await api?.close();
      }
    },
  };
}

/**
 * Without a ledger nothing is attributed or sealed, so a proxy, event API or span intake would
 * take requests and lose them (a client of `--no-ledger --proxy` would get connection refused).
 */
function refuseIntakeWithoutLedger(config: Config): void {
  const wanted = (
    [
      ['proxy.enabled', config.proxy.enabled, '--proxy'],
      ['events.enabled', config.events.enabled, 'events.enabled'],
      ['spans.enabled', config.spans.enabled, '--spans'],
    ] as const
  ).filter(([, enabled]) => enabled);
  if (wanted.length === 0) return;
  throw new ConfigError(
    'CONFIG_INVALID',
    `ledger.enabled is false (--no-ledger), which takes no requests, but ${wanted.map(([path]) => path).join(', ')} ${wanted.length === 1 ? 'is' : 'are'} on: drop ${wanted.map(([, , flag]) => flag).join(', ')} or the --no-ledger`,
    wanted.map(([path]) => ({
      path,
      expected: 'false while ledger.enabled is false',
      found: 'true',
    })),
  );
}

/** Starts OTLP and/or Prometheus export; without a ledger, the resource has no signed host id. */
async function startOtlp(
  inputs: ServiceInputs,
  ledger: OpenLedger | null,
  spanStats?: OtlpExportOptions['spanStats'],
  onExport?: (kind: string) => void,
): Promise<OtlpExport | null> {
  const { startOtlpExport } = await import('../export/index.js');
  const exported = await startOtlpExport({
    config: inputs.config,
    meter: inputs.meter,
    ...(spanStats ? { spanStats } : {}),
    ...(ledger ? { host: ledger.host } : {}),
    onEvent: (event) => {
      onExport?.(event.kind);
      inputs.logger.info({ code: 'OTLP_EVENT', event }, `otlp: ${event.kind}`);
    },
  });
  if (exported?.prometheusUrl) {
    inputs.logger.info(
      { code: 'PROMETHEUS_LISTENING', url: exported.prometheusUrl },
      `Prometheus metrics on ${exported.prometheusUrl}`,
    );
  }
  return exported;
}
