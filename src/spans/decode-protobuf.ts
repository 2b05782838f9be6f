import { SpanIntakeError } from './errors.js';
import { type AttributeValue, idHex, int64Value, type OtlpSpan } from './model.js';
import { EXPORT_REQUEST } from './proto.js';

/** The decoded message, as protobufjs's `toObject` gives it (longs as decimal strings). */
interface KeyValueObject {
  key?: string;
  value?: {
    stringValue?: string;
    boolValue?: boolean;
    intValue?: string;
    doubleValue?: number;
  };
}
interface SpanObject {
  traceId?: Uint8Array;
  spanId?: Uint8Array;
  name?: string;
  kind?: number;
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  attributes?: KeyValueObject[];
  status?: { code?: number };
}
interface RequestObject {
  resourceSpans?: {
    resource?: { attributes?: KeyValueObject[] };
    scopeSpans?: { spans?: SpanObject[] }[];
  }[];
}

/**
 * Decodes a protobuf `ExportTraceServiceRequest`. Throws `SPANS_MALFORMED` when the bytes are not
 * one, and `SPANS_TOO_MANY` past `maxSpans` (counted before anything is mapped).
 */
export function decodeProtobufExport(body: Uint8Array, maxSpans: number): OtlpSpan[] {
  let object: RequestObject;
  try {
    const message = EXPORT_REQUEST.decode(body);
    object = EXPORT_REQUEST.toObject(message, { longs: String }) as RequestObject;
  } catch (error) {
    throw new SpanIntakeError(
      'SPANS_MALFORMED',
      `the body is not a protobuf ExportTraceServiceRequest (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  const groups = object.resourceSpans ?? [];
  const total = groups.reduce(
    (n, group) => n + (group.scopeSpans ?? []).reduce((m, scope) => m + (scope.spans?.length ?? 0), 0),
    0,
  );
  if (total > maxSpans)
    throw new SpanIntakeError(
      'SPANS_TOO_MANY',
      `${total} spans in one export; at most ${maxSpans} are taken`,
    );
  const spans: OtlpSpan[] = [];
  for (const group of groups) {
    const resource = attributeMap(group.resource?.attributes);
    for (const scope of group.scopeSpans ?? [])
      for (const span of scope.spans ?? []) spans.push(toSpan(span, resource));
  }
  return spans;
}

function toSpan(span: SpanObject, resource: ReadonlyMap<string, AttributeValue>): OtlpSpan {
  return {
    traceId: idHex(span.traceId, 16),
    spanId: idHex(span.spanId, 8),
    name: span.name ?? '',
    kind: span.kind ?? 0,
    startUnixNanos: BigInt(span.startTimeUnixNano ?? '0'),
    endUnixNanos: BigInt(span.endTimeUnixNano ?? '0'),
    attributes: attributeMap(span.attributes),
    resource,
    statusCode: span.status?.code ?? 0,
  };
}

function attributeMap(list: KeyValueObject[] | undefined): Map<string, AttributeValue> {
  const map = new Map<string, AttributeValue>();
  for (const { key, value } of list ?? []) {
    if (key === undefined || key === '') continue;
    map.set(key, scalar(value));
  }
  return map;
}

function scalar(value: KeyValueObject['value']): AttributeValue {
  if (value === undefined) return null;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return int64Value(BigInt(value.intValue));
  if (value.doubleValue !== undefined) return value.doubleValue;
  return null;
}
