import { gzipSync } from 'node:zlib';
import { SpanKind } from '@opentelemetry/api';
import protobuf from 'protobufjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rfc3339 } from '../../../src/clock.js';
import type { RequestProgressEvent, RequestStartEvent } from '../../../src/requests/types.js';
import { decodeTraceRequest } from '../../helpers/otlp-receiver.js';
import { jsonBody, makeSpans, postSpans, protobufBody, vllmAttributes } from './spans-fixture.js';
import { conservation, MS, S, type SpanHarness, startSpanHarness } from './spans-harness.js';

// Independent of src/spans/proto.ts: the two response messages, from the published field numbers.
const responses = protobuf.parse(`syntax = "proto3";
message ExportTraceServiceResponse { ExportTracePartialSuccess partial_success = 1; }
message ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }
message Status { int32 code = 1; string message = 2; }`).root;
const EXPORT_RESPONSE = responses.lookupType('ExportTraceServiceResponse');
const STATUS = responses.lookupType('Status');

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

let h: SpanHarness;
beforeEach(async () => {
  h = await startSpanHarness();
});
afterEach(async () => {
  await h.close();
});

/** A vLLM request that arrived 3 s before now and ended 1 s before now. */
function vllmSpan(id = 'chatcmpl-abc', traceId = TRACE) {
  const wall = h.clock.wallUnixNanos();
  return makeSpans([
    {
      traceId,
      startUnixNanos: wall - 3n * S,
      endUnixNanos: wall - S,
      attributes: vllmAttributes({ id, prompt: 1200, completion: 180, queueS: 0.2, ttftS: 0.5, e2eS: 2 }),
    },
  ]);
}

describe('OTLP/HTTP span intake', () => {
  it('turns a vLLM llm_request span (protobuf, official serializer) into a request with its timings', async () => {
    const spans = vllmSpan();
    // Cross-check: the official decoder reads the same body the receiver is given.
    const decoded = decodeTraceRequest(protobufBody(spans), 'protobuf');
    expect(decoded.resourceSpans[0].scopeSpans[0].spans[0].traceId).toBe(TRACE);
    const response = await postSpans(h.server.url, protobufBody(spans));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-protobuf');
    const answer = EXPORT_RESPONSE.toObject(
      EXPORT_RESPONSE.decode(new Uint8Array(await response.arrayBuffer())),
    );
    expect(answer.partialSuccess).toBeUndefined();

    const mono = h.clock.monoNanos();
    const wall = h.clock.wallUnixNanos();
    const [start, ...rest] = h.events;
    expect(start).toEqual<RequestStartEvent>({
      type: 'start',
      requestId: 'chatcmpl-abc',
      source: 'otlp',
      engineId: 'vllm-a',
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      operation: 'chat',
      traceId: TRACE,
      // Arrival (now − 3 s) + 0.2 s in the queue: queued time is not GPU work.
      monoNanos: mono - 2800n * MS,
      unixNanos: wall - 2800n * MS,
    });
    const progress = rest.filter((e): e is RequestProgressEvent => e.type === 'progress');
    // First token at arrival + 0.5 s, then 16 points up to 180 tokens at the end.
    expect(progress[0]).toMatchObject({ monoNanos: mono - 2500n * MS, outputTokens: 1, estimated: false });
    expect(progress).toHaveLength(17);
    expect(progress.at(-1)).toMatchObject({ monoNanos: mono - S, outputTokens: 180 });
    expect(rest.at(-1)).toEqual({
      type: 'end',
      requestId: 'chatcmpl-abc',
      monoNanos: mono - S,
      unixNanos: wall - S,
      outcome: 'ok',
      usage: { inputTokens: 1200, cachedInputTokens: 0, outputTokens: 180 },
    });

    // Energy: 4 one-second intervals of 300 J per GPU around the request.
    for (let k = 4n; k > 0n; k -= 1n) h.tick(mono - k * S, mono - (k - 1n) * S, 300_000_000n);
    h.attributor.flush();
    expect(h.records).toHaveLength(1);
    const record = h.records[0]!;
    expect(record).toMatchObject({
      requestId: 'chatcmpl-abc',
      source: 'otlp',
      engineId: 'vllm-a',
      traceId: TRACE,
      startedAt: rfc3339(wall - 2800n * MS),
      endedAt: rfc3339(wall - S),
      durationNanos: String(1800n * MS),
      timeToFirstTokenNanos: String(300n * MS),
      inputTokens: 1200,
      outputTokens: 180,
      tokensSource: 'usage',
      outcome: 'ok',
      estimated: false,
    });
    const sums = conservation(h.allocations, h.records);
    expect(sums.measured).toBe(8n * 300_000_000n);
    expect(sums.recorded).toBe(sums.shares);
    expect(BigInt(record.activeEnergyMicroJoules)).toBeGreaterThan(0n);
  });

  it('takes OTLP/JSON with gzip and answers in JSON', async () => {
    const response = await postSpans(h.server.url, jsonBody(vllmSpan('cmpl-json-1')), {
      type: 'application/json; charset=utf-8',
      gzip: true,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({});
    expect(h.events[0]).toMatchObject({ type: 'start', requestId: 'cmpl-json-1', operation: 'completion' });
    expect(h.events.at(-1)).toMatchObject({ type: 'end', usage: { inputTokens: 1200, outputTokens: 180 } });
  });

  it('ignores spans that are not gen_ai server spans, and a client gen_ai span', async () => {
    const wall = h.clock.wallUnixNanos();
    const spans = makeSpans([
      {
        name: 'GET /health',
        startUnixNanos: wall - 2n * S,
        endUnixNanos: wall - S,
        attributes: { 'http.route': '/health' },
      },
      {
        name: 'chat gpt',
        kind: SpanKind.CLIENT,
        startUnixNanos: wall - 2n * S,
        endUnixNanos: wall - S,
        attributes: { 'gen_ai.usage.input_tokens': 10, 'gen_ai.usage.output_tokens': 5 },
      },
    ]);
    const response = await postSpans(h.server.url, jsonBody(spans), { type: 'application/json' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({});
    expect(h.events).toEqual([]);
    expect(h.intake.stats()).toMatchObject({ spans: 2, ignored: 2, rejected: 0, requests: 0 });
  });

  it('reports spans it cannot use in partial_success and uses the others', async () => {
    const wall = h.clock.wallUnixNanos();
    const spans = makeSpans([
      {
        // A model no engine serves, with two engines configured: which GPUs is unknown.
        startUnixNanos: wall - 2n * S,
        endUnixNanos: wall - S,
        attributes: {
          'gen_ai.request.id': 'x1',
          'gen_ai.response.model': 'unknown/model',
          'gen_ai.usage.prompt_tokens': 1,
        },
      },
      {
        // Ended 11 minutes ago: the event API's window refuses it too.
        startUnixNanos: wall - 662n * S,
        endUnixNanos: wall - 660n * S,
        attributes: vllmAttributes({ id: 'old', prompt: 1, completion: 1, queueS: 0, ttftS: 0.1, e2eS: 2 }),
      },
    ]).concat(vllmSpan('chatcmpl-ok'));
    const json = await postSpans(h.server.url, jsonBody(spans), { type: 'application/json' });
    expect(json.status).toBe(200);
    const body = (await json.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(body.partialSuccess.rejectedSpans).toBe('2');
    expect(body.partialSuccess.errorMessage).toMatch(/no engine for model unknown\/model/);
    expect(body.partialSuccess.errorMessage).toMatch(/more than 10 minutes ago/);
    expect(h.events.filter((e) => e.type === 'start').map((e) => e.requestId)).toEqual(['chatcmpl-ok']);

    // The same in protobuf: the answer is a protobuf ExportTraceServiceResponse.
    const proto = await postSpans(h.server.url, protobufBody(spans.slice(0, 1)));
    const answer = EXPORT_RESPONSE.toObject(
      EXPORT_RESPONSE.decode(new Uint8Array(await proto.arrayBuffer())),
      {
        longs: String,
      },
    );
    expect(answer.partialSuccess).toMatchObject({ rejectedSpans: '1' });
  });

  it('counts a re-sent export once', async () => {
    const body = protobufBody(vllmSpan('chatcmpl-retry'));
    expect((await postSpans(h.server.url, body)).status).toBe(200);
    expect((await postSpans(h.server.url, body)).status).toBe(200);
    expect(h.events.filter((e) => e.type === 'start')).toHaveLength(1);
    expect(h.intake.stats()).toMatchObject({ requests: 1, duplicate: 1 });
  });

  it('places the start at first token − prefill when vLLM reports both (its queue excludes input processing)', async () => {
    const wall = h.clock.wallUnixNanos();
    const spans = makeSpans([
      {
        startUnixNanos: wall - 3n * S,
        endUnixNanos: wall - S,
        attributes: {
          ...vllmAttributes({
            id: 'sched-1',
            prompt: 100,
            completion: 2,
            queueS: 0.1,
            ttftS: 0.5,
            e2eS: 2,
            prefillS: 0.2,
            decodeS: 1.5,
          }),
          'gen_ai.usage.cached_tokens': 64,
        },
      },
    ]);
    await postSpans(h.server.url, protobufBody(spans));
    const mono = h.clock.monoNanos();
    expect(h.events.map((e) => [e.type, e.monoNanos])).toEqual([
      ['start', mono - 2700n * MS],
      ['progress', mono - 2500n * MS],
      ['progress', mono - S],
      ['end', mono - S],
    ]);
    expect(h.events.at(-1)).toMatchObject({
      usage: { inputTokens: 100, cachedInputTokens: 64, outputTokens: 2 },
    });
  });

  it('reads latencies in nanoseconds when they cannot be seconds', async () => {
    const wall = h.clock.wallUnixNanos();
    const spans = makeSpans([
      {
        startUnixNanos: wall - 3n * S,
        endUnixNanos: wall - S,
        attributes: {
          ...vllmAttributes({ id: 'ns-1', prompt: 10, completion: 3, queueS: 0, ttftS: 0, e2eS: 0 }),
          'gen_ai.latency.time_in_queue': 100_000_000,
          'gen_ai.latency.time_to_first_token': 400_000_000,
          'gen_ai.latency.e2e': 2_000_000_000,
        },
      },
    ]);
    await postSpans(h.server.url, protobufBody(spans));
    const mono = h.clock.monoNanos();
    expect(h.events[0]).toMatchObject({ type: 'start', monoNanos: mono - 2900n * MS });
    expect(h.events[1]).toMatchObject({ type: 'progress', monoNanos: mono - 2600n * MS, outputTokens: 1 });
  });

  it('reads a TGI handler span (Rust durations, no token counts) as an estimated request', async () => {
    const wall = h.clock.wallUnixNanos();
    const spans = makeSpans([
      {
        name: 'chat_completions',
        service: 'text-generation-inference.router',
        startUnixNanos: wall - 2n * S,
        endUnixNanos: wall - S,
        attributes: {
          total_time: '1s',
          validation_time: '1.5ms',
          queue_time: '48.5ms',
          inference_time: '950ms',
          time_per_token: '19ms',
        },
      },
    ]);
    const harness = await startSpanHarness({
      engineByService: { 'text-generation-inference.router': 'sglang-b' },
    });
    try {
      expect((await postSpans(harness.server.url, protobufBody(spans))).status).toBe(200);
      const mono = harness.clock.monoNanos();
      expect(harness.events).toHaveLength(2);
      expect(harness.events[0]).toMatchObject({
        type: 'start',
        engineId: 'sglang-b',
        operation: 'chat',
        monoNanos: mono - 1950n * MS,
      });
      expect(harness.events[1]).toMatchObject({ type: 'end', outcome: 'ok' });
      expect(harness.events[1]).not.toHaveProperty('usage');
    } finally {
      await harness.close();
    }
  });
});

describe('span intake refuses bad requests and loses nothing', () => {
  it('answers 400 with a google.rpc.Status in the request encoding, and keeps working', async () => {
    const garbage = await postSpans(h.server.url, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    expect(garbage.status).toBe(400);
    expect(garbage.headers.get('content-type')).toBe('application/x-protobuf');
    const status = STATUS.toObject(STATUS.decode(new Uint8Array(await garbage.arrayBuffer())));
    expect(status).toMatchObject({ code: 3 });
    expect(status.message).toMatch(/^SPANS_MALFORMED: the body is not a protobuf ExportTraceServiceRequest/);

    const notJson = await postSpans(h.server.url, '{"resourceSpans": [', { type: 'application/json' });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toEqual({
      code: 3,
      message: 'SPANS_MALFORMED: the body is not valid JSON',
      error: { code: 'SPANS_MALFORMED', message: 'the body is not valid JSON' },
    });

    const wrongShape = await postSpans(
      h.server.url,
      JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ startTimeUnixNano: 'soon' }] }] }] }),
      { type: 'application/json' },
    );
    expect(wrongShape.status).toBe(400);
    const shape = (await wrongShape.json()) as { error: { code: string; message: string } };
    expect(shape.error.code).toBe('SPANS_MALFORMED');
    expect(shape.error.message).toMatch(/resourceSpans\.0\.scopeSpans\.0\.spans\.0\.startTimeUnixNano/);

    const badGzip = await fetch(`${h.server.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'gzip' },
      body: Buffer.from('not gzip at all'),
    });
    expect(badGzip.status).toBe(400);

    expect(h.events).toEqual([]);
    expect((await postSpans(h.server.url, protobufBody(vllmSpan()))).status).toBe(200);
    expect(h.events.filter((e) => e.type === 'start')).toHaveLength(1);
  });

  it('answers 415 for other content types and encodings, 404 elsewhere', async () => {
    const text = await postSpans(h.server.url, 'hello', { type: 'text/plain' });
    expect(text.status).toBe(415);
    expect(((await text.json()) as { error: { code: string } }).error.code).toBe(
      'SPANS_UNSUPPORTED_MEDIA_TYPE',
    );
    const brotli = await fetch(`${h.server.url}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'br' },
      body: Buffer.from([1, 2, 3]),
    });
    expect(brotli.status).toBe(415);
    const metrics = await fetch(`${h.server.url}/v1/metrics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(metrics.status).toBe(404);
  });

  it('bounds the body before and after decompression, and the spans per export', async () => {
    const small = await startSpanHarness({ maxBodyBytes: 4096, maxSpansPerExport: 2 });
    try {
      const big = Buffer.alloc(8192, 0x20);
      expect((await postSpans(small.server.url, big, { type: 'application/json' })).status).toBe(413);
      // 8 KiB of spaces compress to a few dozen bytes: refused once inflated past the limit.
      const bomb = await fetch(`${small.server.url}/v1/traces`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: gzipSync(big),
      });
      expect(bomb.status).toBe(413);
      expect(((await bomb.json()) as { error: { code: string } }).error.code).toBe('SPANS_TOO_LARGE');
      const wall = small.clock.wallUnixNanos();
      const three = makeSpans(
        ['a', 'b', 'c'].map((id) => ({
          startUnixNanos: wall - 2n * S,
          endUnixNanos: wall - S,
          attributes: vllmAttributes({ id, prompt: 1, completion: 1, queueS: 0, ttftS: 0.1, e2eS: 1 }),
        })),
      );
      const many = await postSpans(small.server.url, protobufBody(three));
      expect(many.status).toBe(400);
      const status = STATUS.toObject(STATUS.decode(new Uint8Array(await many.arrayBuffer())));
      expect(status.message).toMatch(/^SPANS_TOO_MANY: 3 spans/);
      expect(small.events).toEqual([]);
    } finally {
      await small.close();
    }
  });

  it('needs the bearer token when tokens are configured', async () => {
    const token = 'span-token-0123456789abcdef';
    const authed = await startSpanHarness({ tokens: [token] });
    try {
      const body = protobufBody(vllmSpan());
      const none = await postSpans(authed.server.url, body);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(
        (await postSpans(authed.server.url, body, { token: 'wrong-token-0123456789abcdef' })).status,
      ).toBe(401);
      expect(authed.events).toEqual([]);
      expect((await postSpans(authed.server.url, body, { token })).status).toBe(200);
      expect(authed.events.length).toBeGreaterThan(0);
    } finally {
      await authed.close();
    }
  });
});
