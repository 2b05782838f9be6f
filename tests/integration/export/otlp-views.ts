/**
 * Flat views of decoded OTLP requests (JSON, or protobuf decoded into the JSON shape by the
 * receiver) for assertions: attributes as plain objects, 64-bit integers as numbers.
 */
import type { OtlpRequest } from '../../helpers/otlp-receiver.js';

type Value = string | number | boolean | null | Value[];

/** An OTLP `AnyValue` as a plain value; 64-bit integers (strings in JSON) as numbers. */
export function plainValue(value: OtlpRequest | undefined): Value {
  if (value === undefined) return null;
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return value.doubleValue;
  if ('arrayValue' in value) return (value.arrayValue.values ?? []).map(plainValue);
  return null;
}

/** `[{key, value}]` → `{key: plain value}`. */
export function plainAttributes(list: OtlpRequest[] | undefined): Record<string, Value> {
  return Object.fromEntries((list ?? []).map((kv) => [kv.key, plainValue(kv.value)]));
}

/** One metric data point, flattened, numbers as numbers. */
export interface MetricPoint {
  readonly name: string;
  readonly unit: string;
  readonly kind: 'sum' | 'gauge' | 'histogram';
  readonly temporality: number;
  readonly monotonic: boolean;
  readonly attributes: Record<string, Value>;
  readonly resource: Record<string, Value>;
  readonly value: number;
  readonly count: number;
  readonly sum: number;
  readonly bucketCounts: number[];
  readonly explicitBounds: number[];
}

/** Every data point of every request, in order. */
export function metricPoints(requests: readonly OtlpRequest[]): MetricPoint[] {
  return requests.flatMap((request) =>
    (request.resourceMetrics ?? []).flatMap((rm: OtlpRequest) =>
      (rm.scopeMetrics ?? []).flatMap((sm: OtlpRequest) =>
        (sm.metrics ?? []).flatMap((metric: OtlpRequest) =>
          pointsOf(metric, plainAttributes(rm.resource?.attributes)),
        ),
      ),
    ),
  );
}

function pointsOf(metric: OtlpRequest, resource: Record<string, Value>): MetricPoint[] {
  const kind = metric.sum ? 'sum' : metric.gauge ? 'gauge' : 'histogram';
  const data = metric[kind] ?? {};
  return (data.dataPoints ?? []).map((p: OtlpRequest) => ({
    name: metric.name,
    unit: metric.unit ?? '',
    kind,
    temporality: Number(data.aggregationTemporality ?? 0),
    monotonic: data.isMonotonic === true,
    attributes: plainAttributes(p.attributes),
    resource,
    value: Number(p.asDouble ?? p.asInt ?? Number.NaN),
    count: Number(p.count ?? 0),
    sum: Number(p.sum ?? 0),
    bucketCounts: (p.bucketCounts ?? []).map(Number),
    explicitBounds: (p.explicitBounds ?? []).map(Number),
  }));
}

/** One log record, flattened. */
export interface LogRecordView {
  readonly body: Value;
  readonly eventName: string;
  readonly severityNumber: number;
  readonly timeUnixNano: string;
  readonly attributes: Record<string, Value>;
  readonly resource: Record<string, Value>;
}

/** Every log record of every request, in order. */
export function logRecords(requests: readonly OtlpRequest[]): LogRecordView[] {
  return requests.flatMap((request) =>
    (request.resourceLogs ?? []).flatMap((rl: OtlpRequest) =>
      (rl.scopeLogs ?? []).flatMap((sl: OtlpRequest) =>
        (sl.logRecords ?? []).map((r: OtlpRequest) => ({
          body: plainValue(r.body),
          eventName: r.eventName ?? '',
          severityNumber: Number(r.severityNumber ?? 0),
          timeUnixNano: String(r.timeUnixNano ?? '0'),
          attributes: plainAttributes(r.attributes),
          resource: plainAttributes(rl.resource?.attributes),
        })),
      ),
    ),
  );
}
