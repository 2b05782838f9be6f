import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMeasuringProxy, type MeasuringProxy } from '../../../src/proxy/proxy.js';
import { FakeUpstream, type ReceivedRequest } from '../../helpers/fake-upstream.js';
import { makeSpans, postSpans, protobufBody, vllmAttributes } from './spans-fixture.js';
import { conservation, MS, S, type SpanHarness, startSpanHarness } from './spans-harness.js';

// A request through the real proxy (in front of a fake vLLM) and vLLM's span of the same request:
// the proxy sends X-Request-Id and a traceparent upstream, vLLM names the request
// `chatcmpl-<X-Request-Id>` and makes its span a child of that traceparent (research §1.8, §3.1).
// The request must be counted once, whichever way the span joins and whenever it arrives.

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const COMPLETION = JSON.stringify({
  id: 'chatcmpl-fake',
  object: 'chat.completion',
  created: 1764000000,
  model: MODEL,
  choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 12, completion_tokens: 34, total_tokens: 46 },
});

let h: SpanHarness;
let upstream: FakeUpstream;
let proxy: MeasuringProxy;
let proxyUrl: string;
let headersDelayMs = 0;

beforeEach(async () => {
  h = await startSpanHarness();
  headersDelayMs = 0;
  upstream = await FakeUpstream.start(() => ({
    headers: [['content-type', 'application/json']],
    body: Buffer.from(COMPLETION),
    headersDelayMs,
  }));
  let n = 0;
  proxy = createMeasuringProxy({
    upstreams: [{ name: 'vllm', url: upstream.url, engineId: 'vllm-a', models: [MODEL] }],
    defaultUpstream: 'vllm',
    sink: (event) => h.onEvent(event),
    clock: h.clock,
    idGenerator: () => `req-${++n}`,
    maxBodyBytes: 1024 * 1024,
    upstreamTimeoutMs: 5_000,
  });
  await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  proxy.server.closeAllConnections();
  await proxy.close();
  await upstream.close();
  await h.close();
});

function chat(): Promise<Response> {
  return fetch(`${proxyUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'hello' }] }),
  });
}

/** vLLM's span of the request the fake upstream received, at the given wall times. */
function spanOf(received: ReceivedRequest, o: { start: bigint; end: bigint; requestId?: string }) {
  const [, traceId, parentSpanId] = String(received.headers.traceparent).split('-');
  return makeSpans([
    {
      traceId: traceId!,
      parentSpanId: parentSpanId!,
      startUnixNanos: o.start,
      endUnixNanos: o.end,
      attributes: vllmAttributes({
        id: o.requestId ?? `chatcmpl-${String(received.headers['x-request-id'])}`,
        prompt: 12,
        completion: 34,
        queueS: 0.1,
        ttftS: 0.5,
        e2eS: Number(o.end - o.start) / 1e9,
      }),
    },
  ]);
}

/** Energy for the last 4 s, then everything finalized. */
function measureAndFlush(): void {
  const mono = h.clock.monoNanos();
  for (let k = 4n; k > 0n; k -= 1n) h.tick(mono - k * S, mono - (k - 1n) * S, 250_000_000n);
  h.attributor.flush();
}

describe('spans join proxied requests', () => {
  it('joins by request id a span that arrives after the proxied request ended: one request, one record', async () => {
    h.clock.advanceMillis(3000);
    expect((await chat()).status).toBe(200);
    const wall = h.clock.wallUnixNanos();
    const received = upstream.last;
    expect(received.headers['x-request-id']).toBe('req-1');
    const response = await postSpans(
      h.server.url,
      protobufBody(spanOf(received, { start: wall - 2n * S, end: wall })),
    );
    expect(response.status).toBe(200);
    expect(h.intake.stats()).toMatchObject({ requests: 0, joinedAfterEnd: 1 });
    measureAndFlush();
    expect(h.records.map((r) => [r.requestId, r.source])).toEqual([['req-1', 'proxy']]);
    expect(h.records[0]).toMatchObject({ inputTokens: 12, outputTokens: 34 });
    const sums = conservation(h.allocations, h.records);
    expect(sums.recorded).toBe(sums.shares);
    expect(sums.measured).toBe(8n * 250_000_000n);
  });

  it('joins by trace id when the server named the request its own way', async () => {
    expect((await chat()).status).toBe(200);
    const wall = h.clock.wallUnixNanos();
    const spans = spanOf(upstream.last, {
      start: wall - S,
      end: wall,
      requestId: 'chatcmpl-6f1c0e9d2b7a4c1e',
    });
    expect((await postSpans(h.server.url, protobufBody(spans))).status).toBe(200);
    expect(h.intake.stats()).toMatchObject({ requests: 0, joinedAfterEnd: 1 });
    expect(h.events.filter((e) => e.type === 'start')).toHaveLength(1);
  });

  it('counts a span of an already recorded request as joined after record, not as a new request', async () => {
    h.clock.advanceMillis(3000);
    expect((await chat()).status).toBe(200);
    const wall = h.clock.wallUnixNanos();
    measureAndFlush();
    expect(h.records).toHaveLength(1);
    expect(
      (await postSpans(h.server.url, protobufBody(spanOf(upstream.last, { start: wall - S, end: wall }))))
        .status,
    ).toBe(200);
    expect(h.intake.stats()).toMatchObject({ requests: 0, joinedAfterRecord: 1 });
    h.attributor.flush();
    expect(h.records).toHaveLength(1);
  });

  it('gives a still open proxied request the span’s first token and decode timings', async () => {
    headersDelayMs = 400;
    const startWall = h.clock.wallUnixNanos();
    const pending = chat();
    // Wait until the upstream holds the request, then let 2 s pass on the daemon's clock.
    for (let waited = 0; upstream.requests.length === 0 && waited < 2000; waited += 5) await sleep(5);
    h.clock.advanceMillis(2000);
    const spans = spanOf(upstream.last, { start: startWall, end: startWall + 1500n * MS });
    expect((await postSpans(h.server.url, protobufBody(spans))).status).toBe(200);
    expect(h.intake.stats()).toMatchObject({ requests: 0, joinedEnriched: 1 });
    expect((await pending).status).toBe(200);
    measureAndFlush();
    expect(h.records).toHaveLength(1);
    expect(h.records[0]).toMatchObject({
      requestId: 'req-1',
      source: 'proxy',
      // vLLM's first token: arrival + 0.5 s; the proxy's start is the arrival here.
      timeToFirstTokenNanos: String(500n * MS),
      inputTokens: 12,
      outputTokens: 34,
      tokensSource: 'usage',
    });
    const sums = conservation(h.allocations, h.records);
    expect(sums.recorded).toBe(sums.shares);
  });

  it('makes a request of a span no proxied request matches', async () => {
    expect((await chat()).status).toBe(200);
    const wall = h.clock.wallUnixNanos();
    const other = makeSpans([
      {
        traceId: '0af7651916cd43dd8448eb211c80319c',
        startUnixNanos: wall - S,
        endUnixNanos: wall,
        attributes: vllmAttributes({
          id: 'chatcmpl-direct',
          prompt: 5,
          completion: 7,
          queueS: 0,
          ttftS: 0.2,
          e2eS: 1,
        }),
      },
    ]);
    expect((await postSpans(h.server.url, protobufBody(other))).status).toBe(200);
    expect(h.intake.stats()).toMatchObject({ requests: 1 });
    measureAndFlush();
    expect(h.records.map((r) => [r.requestId, r.source]).sort()).toEqual([
      ['chatcmpl-direct', 'otlp'],
      ['req-1', 'proxy'],
    ]);
    const sums = conservation(h.allocations, h.records);
    expect(sums.recorded).toBe(sums.shares);
  });
});
