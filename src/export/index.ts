/**
 * OTLP export, wired in one call: metrics from the meter and attribution records, logs from the
 * ledger. The daemon calls {@link startOtlpExport} after the meter and before the batcher
 * start, feeds it finished requests and sealed batches, and stops it after the ledger closed, so
 * that the last batch and checkpoint are sent too.
 */
import { getBooleanFromEnv } from '@opentelemetry/core';
import type { RequestEnergyRecord } from '../attribution/types.js';
import type { Config } from '../config/schema.js';
import { VERSION } from '../version.js';
import { type LogExportEvent, OtlpLedgerLogs } from './otlp-logs.js';
import { type MeterStatusSource, OtlpMetrics } from './otlp-metrics.js';
import { buildOtlpResource, type ResourceHost } from './resource.js';

export type { LogExportEvent } from './otlp-logs.js';
export { OtlpLedgerLogs } from './otlp-logs.js';
export { type MeterStatusSource, OtlpMetrics } from './otlp-metrics.js';
export { buildOtlpResource, type ResourceHost } from './resource.js';

/** Options of {@link startOtlpExport}. */
export interface OtlpExportOptions {
  readonly config: Pick<Config, 'otlp' | 'ledger'>;
  /** The running `Meter` (its `status()` is read at each metric collection). */
  readonly meter: MeterStatusSource;
  /** The host identity the batches carry (`readHostIdentity()`), for `host.id` / `host.name`. */
  readonly host?: ResourceHost;
  /** Log-export progress and failures, for the daemon's log. */
  readonly onEvent?: (event: LogExportEvent) => void;
}

/** The running exporters. */
export interface OtlpExport {
  readonly metrics: OtlpMetrics | null;
  readonly logs: OtlpLedgerLogs | null;
  /** Attributor `onRecord`: adds the request to the latency and energy histograms. */
  recordRequest(record: RequestEnergyRecord): void;
  /** Batcher `onSealed`: exports the new batch (and checkpoint) now rather than at the next poll. */
  notifySealed(): void;
  /** Sends what is left (metrics once more, the ledger up to its end), then closes both exporters. */
  stop(): Promise<void>;
}

/**
 * Builds and starts the exporters the configuration asks for; `null` when `otlp.enabled` is false
 * or `OTEL_SDK_DISABLED=true`. Logs need the ledger (`ledger.enabled`). Throws
 * `EXPORT_PROTOCOL_UNSUPPORTED` for `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`, and `EXPORT_CURSOR_IO`
 * when the cursor cannot be read.
 */
export async function startOtlpExport(options: OtlpExportOptions): Promise<OtlpExport | null> {
  const { otlp, ledger } = options.config;
  if (!otlp.enabled || getBooleanFromEnv('OTEL_SDK_DISABLED')) return null;
  const resource = buildOtlpResource({
    serviceVersion: VERSION,
    ...(options.host ? { host: options.host } : {}),
  });
  const metrics = otlp.metricsEnabled
    ? new OtlpMetrics({ meter: options.meter, resource, settings: otlp })
    : null;
  const logs =
    otlp.logsEnabled && ledger.enabled
      ? await OtlpLedgerLogs.open({
          ledgerDir: ledger.dir,
          resource,
          settings: otlp,
          ...(options.onEvent ? { onEvent: options.onEvent } : {}),
        })
      : null;
  logs?.start();
  return {
    metrics,
    logs,
    recordRequest: (record) => metrics?.recordRequest(record),
    notifySealed: () => logs?.notify(),
    stop: async () => {
      await Promise.all([metrics?.shutdown(), logs?.stop()]);
    },
  };
}
