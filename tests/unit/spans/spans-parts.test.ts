import { describe, expect, it } from 'vitest';
import { decodeJsonExport } from '../../../src/spans/decode-json.js';
import { latencyNanos, rustDurationNanos } from '../../../src/spans/durations.js';
import { createEngineResolver } from '../../../src/spans/engines.js';
import { SpanJoinIndex } from '../../../src/spans/join.js';
import { isLoopbackHost } from '../../../src/spans/loopback.js';

const S = 1_000_000_000n;
const encode = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('span latencies', () => {
  it('reads Rust Debug durations', () => {
    expect(rustDurationNanos('48.5ms')).toBe(48_500_000n);
    expect(rustDurationNanos('1.25s')).toBe(1_250_000_000n);
    expect(rustDurationNanos('830µs')).toBe(830_000n);
    expect(rustDurationNanos('12ns')).toBe(12n);
    expect(rustDurationNanos('fast')).toBeNull();
    expect(rustDurationNanos('-1ms')).toBeNull();
  });

  it('reads seconds, and nanoseconds only when seconds cannot be', () => {
    expect(latencyNanos({ queue: 0.25, ttft: 1.5 }, 2n * S)).toEqual({
      queue: 250_000_000n,
      ttft: 1_500_000_000n,
    });
    expect(latencyNanos({ queue: 250_000_000, ttft: 1_500_000_000 }, 2n * S)).toEqual({
      queue: 250_000_000n,
      ttft: 1_500_000_000n,
    });
    // 5 s in a 2 s span is neither: kept as seconds (then clamped into the span by the mapping).
    expect(latencyNanos({ ttft: 5 }, 2n * S)).toEqual({ ttft: 5n * S });
    expect(latencyNanos({ queue: null, ttft: -1, e2e: Number.NaN }, S)).toEqual({
      queue: null,
      ttft: null,
      e2e: null,
    });
  });
});

describe('engine of a span', () => {
  const engines = [
    { engineId: 'a', deviceIds: ['gpu0'], models: ['llama'] },
    { engineId: 'b', deviceIds: ['gpu1'], models: [] },
  ];
  it('prefers the service, then the engines’ models, then the upstreams’ models', () => {
    const resolve = createEngineResolver({
      engines,
      upstreams: [{ engine: 'b', models: ['qwen', 'llama'] }],
      engineByService: { 'vllm-b': 'b' },
    });
    expect(resolve('llama', 'vllm-b')).toEqual({ engineId: 'b' });
    expect(resolve('llama', 'other')).toEqual({ engineId: 'a' });
    expect(resolve('qwen', null)).toEqual({ engineId: 'b' });
    expect(resolve('mistral', null)).toMatchObject({
      problem: expect.stringMatching(/no engine for model mistral/),
    });
  });
  it('takes the only engine, and refuses a service mapped to an unknown engine', () => {
    expect(createEngineResolver({ engines: engines.slice(0, 1) })('x', null)).toEqual({ engineId: 'a' });
    expect(() => createEngineResolver({ engines, engineByService: { s: 'c' } })).toThrow(/unknown engine c/);
  });
});

describe('join index', () => {
  const start = (requestId: string, source: 'proxy' | 'event-api', traceId?: string) => ({
    type: 'start' as const,
    requestId,
    source,
    engineId: 'a',
    ...(traceId === undefined ? {} : { traceId }),
    monoNanos: 0n,
    unixNanos: 0n,
  });
  const T1 = '1'.repeat(32);
  it('matches request ids with and without vLLM prefixes, and unique traces', () => {
    const join = new SpanJoinIndex();
    join.observe(start('req-1', 'proxy', T1));
    expect(join.lookup('chatcmpl-req-1', '')).toEqual({
      kind: 'request',
      requestId: 'req-1',
      by: 'request-id',
    });
    expect(join.lookup('req-1', '')).toEqual({ kind: 'request', requestId: 'req-1', by: 'request-id' });
    expect(join.lookup('other', T1)).toEqual({ kind: 'request', requestId: 'req-1', by: 'trace-id' });
    join.observe(start('req-2', 'event-api', T1));
    expect(join.lookup('other', T1)).toEqual({ kind: 'trace', requestIds: ['req-1', 'req-2'] });
    join.remember('chatcmpl-x', 'otlp', T1);
    expect(join.lookup('chatcmpl-x', T1)).toEqual({ kind: 'duplicate', requestId: 'chatcmpl-x' });
    expect(join.lookup(null, '2'.repeat(32))).toEqual({ kind: 'none' });
  });
  it("joins by the client's own x-request-id the proxy relayed (upstreamRequestId)", () => {
    const join = new SpanJoinIndex();
    join.observe({ ...start('proxy-id-1', 'proxy', T1), upstreamRequestId: 'client-42' });
    // vLLM names the request after the header it received: chatcmpl-client-42.
    expect(join.lookup('chatcmpl-client-42', '')).toEqual({
      kind: 'request',
      requestId: 'proxy-id-1',
      by: 'request-id',
    });
  });
  it('forgets the oldest past its capacity, trace included', () => {
    const join = new SpanJoinIndex(2);
    join.observe(start('r1', 'proxy', T1));
    join.observe(start('r2', 'proxy'));
    join.observe(start('r3', 'proxy'));
    expect(join.size).toBe(2);
    expect(join.lookup('r1', T1)).toEqual({ kind: 'none' });
    expect(join.lookup('r3', '')).toMatchObject({ kind: 'request', requestId: 'r3' });
  });
});

describe('OTLP/JSON decoding', () => {
  const body = (span: Record<string, unknown>) =>
    encode({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'vllm' } }] },
          scopeSpans: [{ spans: [span] }],
          unknownField: true,
        },
      ],
    });
  it('takes int64 as strings or numbers, enums as integers or names, ids as hex of the right length', () => {
    const [span] = decodeJsonExport(
      body({
        traceId: '4BF92F3577B34DA6A3CE929D0E0E4736',
        spanId: '00f067aa0ba902b7',
        kind: 'SPAN_KIND_SERVER',
        startTimeUnixNano: '1764000000123456789',
        endTimeUnixNano: 1764000001000000000,
        status: { code: 'STATUS_CODE_ERROR' },
        attributes: [
          { key: 'a', value: { intValue: '9007199254740993' } },
          { key: 'b', value: { intValue: 7 } },
          { key: 'c', value: { doubleValue: 'NaN' } },
          { key: 'd', value: { arrayValue: { values: [] } } },
        ],
      }),
      10,
    );
    expect(span).toMatchObject({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      kind: 2,
      startUnixNanos: 1764000000123456789n,
      endUnixNanos: 1764000001000000000n,
      statusCode: 2,
    });
    expect(span?.resource.get('service.name')).toBe('vllm');
    expect(span?.attributes.get('a')).toBe(9007199254740993n);
    expect(span?.attributes.get('b')).toBe(7);
    expect(span?.attributes.get('c')).toBeNaN();
    expect(span?.attributes.get('d')).toBeNull();
    const [bad] = decodeJsonExport(body({ traceId: 'xyz', spanId: '0000000000000000' }), 10);
    expect(bad).toMatchObject({ traceId: '', spanId: '' });
  });
  it('takes null as a field’s default, as proto3 JSON allows', () => {
    const spans = decodeJsonExport(
      encode({
        resourceSpans: [
          { resource: null, scopeSpans: [{ spans: [{ name: 'x', attributes: null, status: null }] }] },
        ],
      }),
      10,
    );
    expect(spans).toHaveLength(1);
    expect(spans[0]).toMatchObject({ name: 'x', kind: 0, statusCode: 0, startUnixNanos: 0n });
    expect(decodeJsonExport(encode({ resourceSpans: null }), 10)).toEqual([]);
  });

  it('refuses wrong types with their paths, and too many spans before validating them', () => {
    expect(() => decodeJsonExport(body({ kind: 'SERVER' }), 10)).toThrow(/spans\.0\.kind/);
    expect(() => decodeJsonExport(encode([1, 2]), 10)).toThrow(/SPANS|not an OTLP/);
    expect(() =>
      decodeJsonExport(encode({ resourceSpans: [{ scopeSpans: [{ spans: [1, 2, 3] }] }] }), 2),
    ).toThrow(/3 spans in one export/);
  });
});

describe('loopback hosts', () => {
  it('knows loopback from the rest', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost'])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '10.0.0.1', '::', 'example.com', '127.0.0.1.example.com'])
      expect(isLoopbackHost(host), host).toBe(false);
  });
});
