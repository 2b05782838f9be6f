import { z } from 'zod';
import { SpanIntakeError } from './errors.js';
import { type AttributeValue, int64Value, type OtlpSpan } from './model.js';

/**
 * OTLP/JSON (the proto3 JSON mapping with the OTLP exceptions): lowerCamelCase keys, trace and
 * span ids as hex, int64 as decimal strings (numbers accepted too), enums as integers (names
 * accepted too), `null` for a field's default. Unknown fields are ignored, as OTLP receivers must; a field of the wrong type
 * makes the whole body malformed (400), with the first problems and their paths in the message.
 */

const INT64 = /^-?(0|[1-9][0-9]{0,18})$/;
const UINT64 = /^(0|[1-9][0-9]{0,19})$/;
/** JSON numbers are accepted for int64 too (some exporters send them); past 2^53 they are inexact. */
const integral = () => z.number().refine(Number.isInteger, 'must be an integer');
const int64 = z.union([z.string().regex(INT64), integral()]);
const uint64 = z.union([z.string().regex(UINT64), integral().refine((n) => n >= 0, 'must be ≥ 0')]);
const SPAN_KINDS = [
  'SPAN_KIND_UNSPECIFIED',
  'SPAN_KIND_INTERNAL',
  'SPAN_KIND_SERVER',
  'SPAN_KIND_CLIENT',
  'SPAN_KIND_PRODUCER',
  'SPAN_KIND_CONSUMER',
] as const;
const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'] as const;

const anyValue = z.looseObject({
  stringValue: z.string().optional(),
  boolValue: z.boolean().optional(),
  intValue: int64.optional(),
  doubleValue: z.union([z.number(), z.enum(['NaN', 'Infinity', '-Infinity'])]).optional(),
});
const keyValue = z.looseObject({ key: z.string().default(''), value: anyValue.optional() });
const attributes = z.array(keyValue).default([]);
const span = z.looseObject({
  traceId: z.string().default(''),
  spanId: z.string().default(''),
  name: z.string().default(''),
  kind: z.union([z.int(), z.enum(SPAN_KINDS)]).default(0),
  startTimeUnixNano: uint64.default('0'),
  endTimeUnixNano: uint64.default('0'),
  attributes,
  status: z.looseObject({ code: z.union([z.int(), z.enum(STATUS_CODES)]).default(0) }).optional(),
});
const exportRequest = z.looseObject({
  resourceSpans: z
    .array(
      z.looseObject({
        resource: z.looseObject({ attributes }).optional(),
        scopeSpans: z.array(z.looseObject({ spans: z.array(span).default([]) })).default([]),
      }),
    )
    .default([]),
});

/** Problems spelt out in the message. */
const MESSAGE_PROBLEMS = 5;

/**
 * Decodes an OTLP/JSON `ExportTraceServiceRequest` from UTF-8 bytes. Throws `SPANS_MALFORMED`
 * (not JSON, or not the shape) and `SPANS_TOO_MANY` (more than `maxSpans`).
 */
export function decodeJsonExport(body: Uint8Array, maxSpans: number): OtlpSpan[] {
  let parsed: unknown;
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SpanIntakeError('SPANS_MALFORMED', 'the body is not valid JSON');
  }
  const total = countSpans(parsed);
  if (total > maxSpans)
    throw new SpanIntakeError(
      'SPANS_TOO_MANY',
      `${total} spans in one export; at most ${maxSpans} are taken`,
    );
  let result = exportRequest.safeParse(parsed);
  // proto3 JSON allows `null` for any field, meaning its default. Rare: only then parse again
  // without the nulls (a reviver on every parse would slow the common case).
  if (!result.success && text.includes('null'))
    result = exportRequest.safeParse(JSON.parse(text, (_key, value) => (value === null ? undefined : value)));
  if (!result.success) {
    const problems = result.error.issues.map(
      (issue) => `${issue.path.map(String).join('.') || '(body)'}: ${issue.message}`,
    );
    const shown = problems.slice(0, MESSAGE_PROBLEMS).join('; ');
    const more =
      problems.length > MESSAGE_PROBLEMS ? ` (and ${problems.length - MESSAGE_PROBLEMS} more)` : '';
    throw new SpanIntakeError(
      'SPANS_MALFORMED',
      `the body is not an OTLP/JSON ExportTraceServiceRequest: ${shown}${more}`,
    );
  }
  const spans: OtlpSpan[] = [];
  for (const group of result.data.resourceSpans) {
    const resource = attributeMap(group.resource?.attributes ?? []);
    for (const scope of group.scopeSpans)
      for (const item of scope.spans) {
        spans.push({
          traceId: hexId(item.traceId, 32),
          spanId: hexId(item.spanId, 16),
          name: item.name,
          kind: typeof item.kind === 'number' ? item.kind : SPAN_KINDS.indexOf(item.kind),
          startUnixNanos: BigInt(item.startTimeUnixNano),
          endUnixNanos: BigInt(item.endTimeUnixNano),
          attributes: attributeMap(item.attributes),
          resource,
          statusCode: statusCode(item.status?.code),
        });
      }
  }
  return spans;
}

/** Spans in a parsed body, counted before validation so that a huge export is refused cheaply. */
function countSpans(parsed: unknown): number {
  let n = 0;
  const groups = (parsed as { resourceSpans?: unknown } | null)?.resourceSpans;
  if (!Array.isArray(groups)) return 0;
  for (const group of groups) {
    const scopes = (group as { scopeSpans?: unknown } | null)?.scopeSpans;
    if (!Array.isArray(scopes)) continue;
    for (const scope of scopes) {
      const list = (scope as { spans?: unknown } | null)?.spans;
      if (Array.isArray(list)) n += list.length;
    }
  }
  return n;
}

function statusCode(code: number | (typeof STATUS_CODES)[number] | undefined): number {
  if (code === undefined) return 0;
  return typeof code === 'number' ? code : STATUS_CODES.indexOf(code);
}

/** Lowercase hex id of `digits` digits, not all zero; `''` otherwise. */
function hexId(text: string, digits: number): string {
  const hex = text.toLowerCase();
  return hex.length === digits && /^[0-9a-f]+$/.test(hex) && /[^0]/.test(hex) ? hex : '';
}

function attributeMap(list: readonly z.infer<typeof keyValue>[]): Map<string, AttributeValue> {
  const map = new Map<string, AttributeValue>();
  for (const { key, value } of list) {
    if (key === '') continue;
    map.set(key, scalar(value));
  }
  return map;
}

function scalar(value: z.infer<typeof anyValue> | undefined): AttributeValue {
  if (value === undefined) return null;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return int64Value(BigInt(value.intValue));
  if (value.doubleValue !== undefined)
    return typeof value.doubleValue === 'number' ? value.doubleValue : Number(value.doubleValue);
  return null;
}
