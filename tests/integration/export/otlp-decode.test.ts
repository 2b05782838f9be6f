import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  decodeOtlpRequest,
  decodeTraceRequest,
  OtlpDecodeError,
  OtlpReceiver,
} from '../../helpers/otlp-receiver.js';

// The test receiver's decoder against requests written by hand from the OTLP specification
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): hex ids, int64 as strings or
// numbers, integer enums; protobuf bodies are encoded with the official generated types.
const TRACE_ID = '5b8efff798038103d269b633813fc60c';
const SPAN_ID = 'eee19b7ec3c1b174';

const traceJson = {
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'proxy' } }] },
      scopeSpans: [
        {
          scope: { name: 'wattledger.proxy' },
          spans: [
            {
              traceId: TRACE_ID.toUpperCase(),
              spanId: SPAN_ID,
              parentSpanId: '',
              name: 'chat llama',
              kind: 2,
              startTimeUnixNano: '1700000000000000001',
              endTimeUnixNano: 1700000000500000000,
              attributes: [{ key: 'gen_ai.usage.input_tokens', value: { intValue: '42' } }],
              status: { code: 1 },
            },
          ],
        },
      ],
    },
  ],
};

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const officialTypes = createRequire(import.meta.url)('otlp-official-proto/build/src/generated/root.js')
  .opentelemetry.proto;

describe('decodeTraceRequest', () => {
  it('turns OTLP/JSON into the canonical shape: lowercase hex ids, int64 as decimal strings', () => {
    const span = decodeTraceRequest(json(traceJson), 'json').resourceSpans[0].scopeSpans[0].spans[0];
    expect(span).toMatchObject({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      name: 'chat llama',
      kind: 2,
      startTimeUnixNano: '1700000000000000001',
      endTimeUnixNano: '1700000000500000000',
      attributes: [{ key: 'gen_ai.usage.input_tokens', value: { intValue: '42' } }],
      status: { code: 1 },
    });
  });

  it('decodes protobuf encoded with the official types into the same shape', () => {
    const type = officialTypes.collector.trace.v1.ExportTraceServiceRequest;
    const wire = structuredClone(traceJson) as typeof traceJson;
    const span = wire.resourceSpans[0]?.scopeSpans[0]?.spans[0] as Record<string, unknown>;
    span.traceId = Buffer.from(TRACE_ID, 'hex').toString('base64');
    span.spanId = Buffer.from(SPAN_ID, 'hex').toString('base64');
    const bytes: Uint8Array = type.encode(type.fromObject(wire)).finish();
    expect(decodeTraceRequest(bytes, 'protobuf')).toEqual(decodeTraceRequest(json(traceJson), 'json'));
  });

  it.each([
    [
      'an unknown field',
      { resourceSpans: [{ scopeSpans: [{ spans: [{ nmae: 'x' }] }] }] },
      /nmae: no such field/,
    ],
    [
      'a base64 id',
      { resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'W47/95gDgQPSabYzgT/GDA==' }] }] }] },
      /hex/,
    ],
    [
      'an enum by name',
      { resourceSpans: [{ scopeSpans: [{ spans: [{ kind: 'SPAN_KIND_SERVER' }] }] }] },
      /kind/,
    ],
    [
      'a string where a bool goes',
      {
        resourceSpans: [
          { scopeSpans: [{ spans: [{ attributes: [{ key: 'k', value: { boolValue: 'true' } }] }] }] },
        ],
      },
      /boolValue/,
    ],
    [
      'two values of one oneof',
      {
        resourceSpans: [
          {
            scopeSpans: [
              { spans: [{ attributes: [{ key: 'k', value: { stringValue: 'a', intValue: '1' } }] }] },
            ],
          },
        ],
      },
      /multiple values/,
    ],
    [
      'a fractional int64',
      { resourceSpans: [{ scopeSpans: [{ spans: [{ startTimeUnixNano: 1.5 }] }] }] },
      /startTimeUnixNano/,
    ],
  ])('refuses %s', (_name, request, message) => {
    expect(() => decodeTraceRequest(json(request), 'json')).toThrow(message);
    expect(() => decodeTraceRequest(json(request), 'json')).toThrow(OtlpDecodeError);
  });

  it('refuses bytes that are not a protobuf request', () => {
    expect(() => decodeTraceRequest(Buffer.from([0x0a, 0xff, 0xff]), 'protobuf')).toThrow(OtlpDecodeError);
  });
});

describe('decodeOtlpRequest', () => {
  it('accepts null and empty repeated fields, and double special values, as OTLP/JSON allows', () => {
    const request = {
      resourceMetrics: [
        {
          resource: { attributes: [], droppedAttributesCount: null },
          scopeMetrics: [
            {
              metrics: [
                { name: 'hw.power', gauge: { dataPoints: [{ asDouble: 'NaN', timeUnixNano: '1' }] } },
              ],
            },
          ],
        },
      ],
    };
    const point = decodeOtlpRequest('metrics', json(request), 'json').resourceMetrics[0].scopeMetrics[0]
      .metrics[0].gauge.dataPoints[0];
    expect(point.asDouble).toBeNaN();
    expect(point.timeUnixNano).toBe('1');
  });
});

describe('OtlpReceiver', () => {
  let receiver: OtlpReceiver;
  beforeEach(async () => {
    receiver = await OtlpReceiver.start();
  });
  afterEach(() => receiver.close());

  it('takes /v1/traces (gzip too), and answers an invalid body 400 with the reason', async () => {
    const post = (body: Uint8Array, headers: Record<string, string>) =>
      fetch(`${receiver.endpoint}/v1/traces`, { method: 'POST', body, headers });
    const ok = await post(gzipSync(json(traceJson)), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    expect(ok.status).toBe(200);
    const bad = await post(json({ resourceSpans: [{ unknown: 1 }] }), { 'content-type': 'application/json' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/resourceSpans\[0\]\.unknown: no such field/);
    expect(receiver.accepted('traces')).toHaveLength(1);
    expect(receiver.requests.map((r) => [r.signal, r.status, r.problem !== undefined])).toEqual([
      ['traces', 200, false],
      ['traces', 400, true],
    ]);
  });
});
