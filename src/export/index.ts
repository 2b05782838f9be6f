/**
 * Export, wired in one call: metrics from the meter and attribution records (pushed over OTLP,
 * served to Prometheus, or both, from one `MeterProvider`), logs from the ledger. The daemon calls
 * {@link startOtlpExport} after the meter and before the batcher start, feeds it finished requests
 * and sealed batches, and stops it after the ledger closed, so that the last batch and checkpoint
 * are sent too.
 */
import { getBooleanFromEnv } from '@opentelemetry/core';
import type { Config } from '../config/schema.js';
import { VERSION } from '../version.js';
import { type LogExportEvent, OtlpLedgerLogs } from './otlp-logs.js';
import {
  type ExportedRequest,
  type MeterStatusSource,
  OtlpMetrics,
  type OtlpMetricsOptions,
} from './otlp-metrics.js';
import { PrometheusEndpoint } from './prometheus.js';
import { buildOtlpResource, type ResourceHost } from './resource.js';

export type { LogExportEvent } from './otlp-logs.js';
export { OtlpLedgerLogs } from './otlp-logs.js';
export { type ExportedRequest, type MeterStatusSource, OtlpMetrics } from './otlp-metrics.js';
export { PrometheusEndpoint } from './prometheus.js';
export { buildOtlpResource, type ResourceHost } from './resource.js';

/** Options of {@link startOtlpExport}. */
export interface OtlpExportOptions {
  readonly config: Pick<Config, 'otlp' | 'ledger' | 'prometheus'>;
  /** The running `Meter` (its `status()` is read at each metric collection). */
  readonly meter: MeterStatusSource;
  /** The host identity the batches carry (`readHostIdentity()`), for `host.id` / `host.name`. */
  readonly host?: ResourceHost;
  /** Span intake's counters, exported as `wattledger.spans.received` (see {@link OtlpMetricsOptions}). */
  readonly spanStats?: OtlpMetricsOptions['spanStats'];
  /** Log-export progress and failures, for the daemon's log. */
  readonly onEvent?: (event: LogExportEvent) => void;
}

/** The running exporters. */
export interface OtlpExport {
  /** The instruments (OTLP push and/or the Prometheus endpoint read them). */
  readonly metrics: OtlpMetrics | null;
  readonly logs: OtlpLedgerLogs | null;
  /** The scrape endpoint, listening, when `prometheus.enabled`. */
  readonly prometheus: PrometheusEndpoint | null;
  /** The scrape URL (`http://127.0.0.1:9466/metrics`), when `prometheus.enabled`. */
  readonly prometheusUrl: string | null;
  /** Attributor `onRecord`: adds the request to the latency, energy, CO2e and water histograms. */
  recordRequest(record: ExportedRequest): void;
  /** Batcher `onSealed`: exports the new batch (and checkpoint) now rather than at the next poll. */
  notifySealed(): void;
  /** Sends what is left (metrics once more, the ledger up to its end), then closes every exporter. */
  stop(): Promise<void>;
}

/**
 * Builds and starts the exporters the configuration asks for: OTLP when `otlp.enabled` (and not
 * `OTEL_SDK_DISABLED=true`), the Prometheus endpoint when `prometheus.enabled` (with or without
 * OTLP); `null` when neither. Logs need the ledger (`ledger.enabled`). Throws
 * `EXPORT_PROTOCOL_UNSUPPORTED` for `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`, `EXPORT_CURSOR_IO` when the
 * cursor cannot be read, and `EXPORT_LISTEN_FAILED` when the Prometheus address is taken.
 */
export async function startOtlpExport(options: OtlpExportOptions): Promise<OtlpExport | null> {
  const { otlp, ledger, prometheus: scrape } = options.config;
  const otlpOn = otlp.enabled && !getBooleanFromEnv('OTEL_SDK_DISABLED');
  const pushMetrics = otlpOn && otlp.metricsEnabled;
  if (!otlpOn && !scrape.enabled) return null;
  const resource = buildOtlpResource({
    serviceVersion: VERSION,
    ...(options.host ? { host: options.host } : {}),
  });
  const prometheus = scrape.enabled ? new PrometheusEndpoint(scrape) : null;
  const metrics =
    pushMetrics || prometheus
      ? new OtlpMetrics({
          meter: options.meter,
          resource,
          settings: otlp,
          pushOtlp: pushMetrics,
          readers: prometheus ? [prometheus.reader] : [],
          ...(options.spanStats ? { spanStats: options.spanStats } : {}),
        })
      : null;
  let prometheusUrl: string | null = null;
  let logs: OtlpLedgerLogs | null = null;
  try {
    prometheusUrl = prometheus ? await prometheus.start() : null;
    logs =
      otlpOn && otlp.logsEnabled && ledger.enabled
        ? await OtlpLedgerLogs.open({
            ledgerDir: ledger.dir,
            resource,
            settings: otlp,
            ...(options.onEvent ? { onEvent: options.onEvent } : {}),
          })
        : null;
  } catch (error) {
    await Promise.all([prometheus?.close(), metrics?.shutdown()]);
    throw error;
  }
  logs?.start();
  return {
    metrics,
    logs,
    prometheus,
    prometheusUrl,
    recordRequest: (record) => metrics?.recordRequest(record),
    notifySealed: () => logs?.notify(),
    stop: async () => {
      await Promise.all([metrics?.shutdown(), logs?.stop(), prometheus?.close()]);
    },
  };
}
