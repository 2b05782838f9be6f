import { SpanIntakeError } from './errors.js';
import { type AttributeValue, idHex, int64Value, type OtlpSpan } from './model.js';
import { EXPORT_REQUEST } from './proto.js';

/**
 * The decoded message as protobufjs gives it: unset fields read as their defaults (from the
 * prototype), 64-bit integers as `Long` (exact through `toString`), bytes as `Uint8Array`, and the
 * oneof of `AnyValue` as the virtual property `value` naming the field that is set. Read directly,
 * without `toObject`, which would copy every message once more.
 */
type Int64 = { toString(): string } | number;
interface AnyValueMessage {
  value?: 'stringValue' | 'boolValue' | 'intValue' | 'doubleValue' | string;
  stringValue: string;
  boolValue: boolean;
  intValue: Int64;
  doubleValue: number;
}
interface KeyValueMessage {
  key: string;
  value: AnyValueMessage | null;
}
interface SpanMessage {
  traceId: Uint8Array;
  spanId: Uint8Array;
  name: string;
  kind: number;
  startTimeUnixNano: Int64;
  endTimeUnixNano: Int64;
  attributes: KeyValueMessage[];
  status: { code: number } | null;
}
interface RequestMessage {
  resourceSpans: {
    resource: { attributes: KeyValueMessage[] } | null;
    scopeSpans: { spans: SpanMessage[] }[];
  }[];
}

/**
 * Decodes a protobuf `ExportTraceServiceRequest`. Throws `SPANS_MALFORMED` when the bytes are not
 * one, and `SPANS_TOO_MANY` past `maxSpans` (counted before anything is mapped).
 */
export function decodeProtobufExport(body: Uint8Array, maxSpans: number): OtlpSpan[] {
  let object: RequestMessage;
  try {
    object = EXPORT_REQUEST.decode(body) as unknown as RequestMessage;
  } catch (error) {
    throw new SpanIntakeError(
      'SPANS_MALFORMED',
      `the body is not a protobuf ExportTraceServiceRequest (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  const groups = object.resourceSpans;
  let total = 0;
  for (const group of groups) for (const scope of group.scopeSpans) total += scope.spans.length;
  if (total > maxSpans)
    throw new SpanIntakeError(
      'SPANS_TOO_MANY',
      `${total} spans in one export; at most ${maxSpans} are taken`,
    );
  const spans: OtlpSpan[] = [];
  for (const group of groups) {
    const resource = attributeMap(group.resource?.attributes ?? []);
    for (const scope of group.scopeSpans) for (const span of scope.spans) spans.push(toSpan(span, resource));
  }
  return spans;
}

function toSpan(span: SpanMessage, resource: ReadonlyMap<string, AttributeValue>): OtlpSpan {
  return {
    traceId: idHex(span.traceId, 16),
    spanId: idHex(span.spanId, 8),
    name: span.name,
    kind: span.kind,
    startUnixNanos: BigInt(span.startTimeUnixNano.toString()),
    endUnixNanos: BigInt(span.endTimeUnixNano.toString()),
    attributes: attributeMap(span.attributes),
    resource,
    statusCode: span.status?.code ?? 0,
  };
}

function attributeMap(list: readonly KeyValueMessage[]): Map<string, AttributeValue> {
  const map = new Map<string, AttributeValue>();
  for (const { key, value } of list) {
    if (key === '') continue;
    map.set(key, scalar(value));
  }
  return map;
}

function scalar(value: AnyValueMessage | null): AttributeValue {
  switch (value?.value) {
    case 'stringValue':
      return value.stringValue;
    case 'boolValue':
      return value.boolValue;
    case 'intValue':
      return int64Value(BigInt(value.intValue.toString()));
    case 'doubleValue':
      return value.doubleValue;
    default:
      return null;
  }
}
