import type { ScannedLine } from '../api/ledger-index.js';
import type { Clock } from '../clock.js';
import type { Config } from '../config/schema.js';
import type { OtlpExport, OtlpExportOptions } from '../export/index.js';
import type { SealedBatch } from '../ledger/batcher.js';
import type { Logger } from '../log.js';
import type { Meter } from '../meter/meter.js';
import type { DeviceInfo } from '../probes/types.js';
import type { DaemonApi } from './api-wiring.js';
import type { OpenLedger } from './ledger-wiring.js';
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
  /** Stops intake (no new requests) before the meter stops. */
  stopIntake(): Promise<void>;
  /** After the meter's last tick: allocate what is pending, seal the last window, flush exports. */
  stopAfterMeter(): Promise<void>;
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
  if (!config.ledger.enabled) {
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
  let ledger: OpenLedger | null = null;
  let otlp: OtlpExport | null = null;
  const factors = (await import('../factors/index.js')).buildFactorSnapshot(config.factors);
  const pipeline: RequestPipeline = (await import('./request-pipeline.js')).buildRequestPipeline({
    ...inputs,
    factors,
    batcher: () => ledger?.batcher ?? null,
    onRecord: () => (otlp ? (record) => otlp?.recordRequest(record) : null),
  });
  const api: DaemonApi | null = config.api.enabled
    ? (await import('./api-wiring.js')).createDaemonApi(config, logger)
    : null;
  const opened = await (await import('./ledger-wiring.js')).openLedger({
    ...inputs,
    factors: factors as unknown as Readonly<Record<string, unknown>>,
    // The store's open reads the ledger once; the API index is seeded from that pass.
    ...(api ? { onStartupLine: (line: ScannedLine) => api.index.seed(line) } : {}),
    onSealed: (sealed: SealedBatch) => {
      api?.index.append(sealed);
      otlp?.notifySealed();
    },
    attribution: { deviceIds: pipeline.attributedDeviceIds, method: pipeline.attributor.method },
  });
  ledger = opened;
  meter.subscribe((tick) => opened.batcher.onTick(tick));
  meter.subscribe((tick) => pipeline.onTick(tick));
  try {
    otlp =
      config.otlp.enabled || config.prometheus.enabled
        ? await startOtlp(inputs, opened, () => pipeline.spanStats())
        : null;
  } catch (error) {
    await opened.close();
    throw error;
  }
  return {
    startBeforeMeter: async (running) => {
      await api?.start(opened, meter, running);
    },
    startAfterMeter: () => pipeline.start(),
    stopIntake: () => pipeline.stopIntake(),
    stopAfterMeter: async () => {
      // Allocate everything still pending, then seal the last window: nothing measured is lost.
      pipeline.finish();
      await opened.close();
      await otlp?.stop();
      await api?.close();
    },
  };
}

/** Starts OTLP and/or Prometheus export; without a ledger, the resource has no signed host id. */
async function startOtlp(
  inputs: ServiceInputs,
  ledger: OpenLedger | null,
  spanStats?: OtlpExportOptions['spanStats'],
): Promise<OtlpExport | null> {
  const { startOtlpExport } = await import('../export/index.js');
  const exported = await startOtlpExport({
    config: inputs.config,
    meter: inputs.meter,
    ...(spanStats ? { spanStats } : {}),
    ...(ledger ? { host: ledger.host } : {}),
    onEvent: (event) => inputs.logger.info({ code: 'OTLP_EVENT', event }, `otlp: ${event.kind}`),
  });
  if (exported?.prometheusUrl) {
    inputs.logger.info(
      { code: 'PROMETHEUS_LISTENING', url: exported.prometheusUrl },
      `Prometheus metrics on ${exported.prometheusUrl}`,
    );
  }
  return exported;
}
