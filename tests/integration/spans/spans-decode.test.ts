import { describe, expect, it } from 'vitest';
import { decodeJsonExport } from '../../../src/spans/decode-json.js';
import { decodeProtobufExport } from '../../../src/spans/decode-protobuf.js';
import type { OtlpSpan } from '../../../src/spans/model.js';
import { decodeTraceRequest, type OtlpRequest } from '../../helpers/otlp-receiver.js';
import { jsonBody, makeSpans, protobufBody, vllmAttributes } from './spans-fixture.js';

// Span intake's own decoders (a hand-declared protobuf descriptor; OTLP/JSON with zod) against the
// official opentelemetry-proto definitions (the test receiver's decoder), on bodies the official
// SDK serializers wrote: the same spans, ids, times and attribute values.

const S = 1_000_000_000n;
const T0 = 1_764_000_000_123_456_789n;

function sample() {
  return makeSpans([
    {
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      startUnixNanos: T0,
      endUnixNanos: T0 + 2n * S + 7n,
      attributes: {
        ...vllmAttributes({
          id: 'chatcmpl-1',
          prompt: 1200,
          completion: 180,
          queueS: 0.125,
          ttftS: 0.5,
          e2eS: 2,
        }),
        flag: true,
        big: 2 ** 40,
      },
    },
    {
      service: 'sglang',
      name: 'GET /health',
      startUnixNanos: T0,
      endUnixNanos: T0 + S,
      attributes: { n: -3 },
    },
    {
      service: 'tgi',
      error: true,
      startUnixNanos: T0 + 1n,
      endUnixNanos: T0 + 5n,
      attributes: { t: '1.5ms' },
    },
  ]);
}

/** The official decoding reduced to what span intake keeps. */
function official(request: OtlpRequest) {
  const out: unknown[] = [];
  for (const group of request.resourceSpans ?? []) {
    const service = group.resource.attributes.find((a: { key: string }) => a.key === 'service.name')?.value;
    for (const scope of group.scopeSpans ?? [])
      for (const span of scope.spans ?? [])
        out.push({
          traceId: span.traceId,
          spanId: span.spanId,
          name: span.name,
          kind: span.kind,
          start: String(span.startTimeUnixNano),
          end: String(span.endTimeUnixNano),
          status: span.status?.code ?? 0,
          service: service?.stringValue,
          attributes: Object.fromEntries(
            span.attributes.map((a: { key: string; value: Record<string, unknown> }) => {
              const v = a.value;
              const value =
                v.stringValue ??
                v.boolValue ??
                (v.intValue === undefined ? v.doubleValue : Number(v.intValue));
              return [a.key, value];
            }),
          ),
        });
  }
  return out;
}

function ours(spans: readonly OtlpSpan[]) {
  return spans.map((span) => ({
    traceId: span.traceId,
    spanId: span.spanId,
    name: span.name,
    kind: span.kind,
    start: String(span.startUnixNanos),
    end: String(span.endUnixNanos),
    status: span.statusCode,
    service: span.resource.get('service.name'),
    attributes: Object.fromEntries(
      [...span.attributes].map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v]),
    ),
  }));
}

describe('span decoding agrees with the official definitions', () => {
  it('protobuf', () => {
    const body = protobufBody(sample());
    const mine = ours(decodeProtobufExport(body, 100));
    expect(mine).toHaveLength(3);
    expect(mine).toEqual(official(decodeTraceRequest(body, 'protobuf')));
    expect(mine[0]).toMatchObject({ start: String(T0), end: String(T0 + 2n * S + 7n), kind: 2 });
    expect(mine[2]).toMatchObject({ status: 2, service: 'tgi' });
  });

  it('OTLP/JSON', () => {
    const body = jsonBody(sample());
    const mine = ours(decodeJsonExport(body, 100));
    expect(mine).toEqual(official(decodeTraceRequest(body, 'json')));
    expect(mine[0]).toMatchObject({ start: String(T0), kind: 2, service: 'vllm' });
  });
});
