/**
 * Which OTLP exporter to build and with what, following the OpenTelemetry environment
 * specification: the standard `OTEL_EXPORTER_OTLP_*` variables win, and the configuration only
 * fills in what they leave unset. The SDK exporters read endpoint, headers, timeout, compression,
 * certificates and temporality from the environment themselves, but a value passed to their
 * constructor would override the environment, so a configured default is passed only when the
 * corresponding variables are absent.
 */
import { getNumberFromEnv, getStringFromEnv } from '@opentelemetry/core';
import { OTLPLogExporter as JsonLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { OTLPLogExporter as ProtoLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { ExportError } from './errors.js';

export type OtlpProtocol = 'http/protobuf' | 'http/json';
type Signal = 'METRICS' | 'LOGS';

/** The part of the `otlp` configuration that chooses the exporter. */
export interface OtlpEndpointSettings {
  /** Base URL; `/v1/<signal>` is appended. */
  readonly endpoint: string;
  readonly protocol: OtlpProtocol;
}

const RESOURCE_PATH: Record<Signal, string> = { METRICS: 'v1/metrics', LOGS: 'v1/logs' };

/**
 * The protocol for a signal: `OTEL_EXPORTER_OTLP_<SIGNAL>_PROTOCOL`, then `OTEL_EXPORTER_OTLP_PROTOCOL`,
 * then the configured one. `grpc` is refused rather than silently replaced by HTTP, because the
 * collector would then be called on the wrong port.
 */
export function resolveProtocol(signal: Signal, configured: OtlpProtocol): OtlpProtocol {
  const variable = getStringFromEnv(`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`)
    ? `OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const fromEnv = getStringFromEnv(variable)?.trim();
  if (fromEnv === undefined) return configured;
  if (fromEnv === 'http/protobuf' || fromEnv === 'http/json') return fromEnv;
  throw new ExportError('EXPORT_PROTOCOL_UNSUPPORTED', `${variable}=${fromEnv} is not supported`, {
    hint: 'use http/protobuf or http/json (OTLP/HTTP, port 4318); grpc is not built in',
  });
}

/** Constructor options: the configured URL only when no endpoint variable applies to the signal. */
function exporterOptions(signal: Signal, settings: OtlpEndpointSettings): { url?: string } {
  const fromEnv =
    getStringFromEnv(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`) ??
    getStringFromEnv('OTEL_EXPORTER_OTLP_ENDPOINT');
  if (fromEnv !== undefined) return {};
  const base = settings.endpoint.endsWith('/') ? settings.endpoint : `${settings.endpoint}/`;
  return { url: `${base}${RESOURCE_PATH[signal]}` };
}

/** The OTLP/HTTP metric exporter for the resolved protocol. */
export function createMetricExporter(settings: OtlpEndpointSettings): PushMetricExporter {
  const options = exporterOptions('METRICS', settings);
  return resolveProtocol('METRICS', settings.protocol) === 'http/json'
    ? new JsonMetricExporter(options)
    : new ProtoMetricExporter(options);
}

/** The OTLP/HTTP log exporter for the resolved protocol. */
export function createLogExporter(settings: OtlpEndpointSettings): LogRecordExporter {
  const options = exporterOptions('LOGS', settings);
  return resolveProtocol('LOGS', settings.protocol) === 'http/json'
    ? new JsonLogExporter(options)
    : new ProtoLogExporter(options);
}

/**
 * The periodic reader's timing: `OTEL_METRIC_EXPORT_INTERVAL` / `OTEL_METRIC_EXPORT_TIMEOUT` when
 * set (the SDK reads them only inside `NodeSDK`, which we do not use), else the configured interval
 * and the specification's 30 s timeout. The timeout is clamped to the interval, as the reader
 * rejects a longer one.
 */
export function metricExportTiming(configuredIntervalMs: number): {
  exportIntervalMillis: number;
  exportTimeoutMillis: number;
} {
  const interval = positive(getNumberFromEnv('OTEL_METRIC_EXPORT_INTERVAL')) ?? configuredIntervalMs;
  const timeout = positive(getNumberFromEnv('OTEL_METRIC_EXPORT_TIMEOUT')) ?? 30_000;
  return { exportIntervalMillis: interval, exportTimeoutMillis: Math.min(timeout, interval) };
}

function positive(value: number | undefined): number | undefined {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : undefined;
}
