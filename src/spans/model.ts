/**
 * Spans as span intake reads them, whichever encoding they came in (OTLP/HTTP protobuf or JSON).
 * Only what the mapping to requests needs is kept; ids are lowercase hex, as in W3C traceparent.
 */

/**
 * A scalar attribute value. int64 values within ±2^53 are numbers, larger ones bigints; arrays,
 * key-value lists and bytes are `null` (no field span intake reads has such a type).
 */
export type AttributeValue = string | number | bigint | boolean | null;

/** One span of an export. */
export interface OtlpSpan {
  /** 32 lowercase hex, or `''` when absent or not 16 bytes (then the span is rejected if used). */
  readonly traceId: string;
  /** 16 lowercase hex, or `''`. */
  readonly spanId: string;
  readonly name: string;
  /** OTLP `SpanKind`: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly startUnixNanos: bigint;
  readonly endUnixNanos: bigint;
  readonly attributes: ReadonlyMap<string, AttributeValue>;
  /** The attributes of the span's resource (`service.name`, …). */
  readonly resource: ReadonlyMap<string, AttributeValue>;
  /** OTLP `StatusCode`: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
}

/** OTLP `SpanKind` values span intake distinguishes. */
export const SPAN_KIND = {
  unspecified: 0,
  internal: 1,
  server: 2,
  client: 3,
  producer: 4,
  consumer: 5,
} as const;
/** OTLP `StatusCode` of a failed span. */
export const STATUS_ERROR = 2;

/** Lowercase hex of id bytes; `''` unless exactly `bytes` long and not all zero. */
export function idHex(raw: Uint8Array | undefined, bytes: number): string {
  if (raw === undefined || raw.length !== bytes) return '';
  const hex = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('hex');
  return /[^0]/.test(hex) ? hex : '';
}

/** An int64 as a number when exact, else a bigint. */
export function int64Value(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value;
}
