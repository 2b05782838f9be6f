/**
 * Hostile span content against the real receiver: numbers that overflow, durations that do not
 * parse, times and ids of every wrong shape. Nothing may answer 5xx (an exporter retries a 5xx and
 * then drops the whole export); a gen_ai span whose attribute cannot be read is rejected alone, in
 * `partial_success`, with the attribute's path.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { jsonBody, makeSpans, postSpans, protobufBody, vllmAttributes } from './spans-fixture.js';
import { S, type SpanHarness, startSpanHarness } from './spans-harness.js';

let h: SpanHarness;
beforeEach(async () => {
  h = await startSpanHarness({ engineByService: { tgi: 'sglang-b' } });
});
afterEach(async () => {
  await h.close();
});

interface Partial {
  partialSuccess?: { rejectedSpans: string; errorMessage: string };
}

async function postJson(body: unknown): Promise<{ status: number; body: Partial }> {
  const response = await postSpans(h.server.url, JSON.stringify(body), { type: 'application/json' });
  return { status: response.status, body: (await response.json()) as Partial };
}

function vllm(id: string, latency: Record<string, number>) {
  const wall = h.clock.wallUnixNanos();
  return makeSpans([
    {
      startUnixNanos: wall - 3n * S,
      endUnixNanos: wall - S,
      attributes: {
        ...vllmAttributes({ id, prompt: 10, completion: 5, queueS: 0.1, ttftS: 0.2, e2eS: 2 }),
        ...latency,
      },
    },
  ]);
}

describe('span intake under hostile numbers', () => {
  it.each([
    ['gen_ai.latency.time_to_first_token', 1e300],
    ['gen_ai.latency.time_in_queue', Number.MAX_VALUE],
    ['gen_ai.latency.time_in_model_prefill', 1e20],
    ['gen_ai.latency.time_in_model_decode', -1],
  ])('rejects a span whose %s is %s alone, naming the attribute', async (key, value) => {
    const spans = [...vllm('chatcmpl-bad', { [key]: value }), ...vllm('chatcmpl-good', {})];
    for (const body of [protobufBody(spans), jsonBody(spans)]) {
      const type = body === undefined ? '' : body[0] === 0x7b ? 'application/json' : 'application/x-protobuf';
      const response = await postSpans(h.server.url, body, { type });
      expect(response.status).toBe(200);
      if (type === 'application/json') {
        const answer = (await response.json()) as Partial;
        expect(answer.partialSuccess?.rejectedSpans).toBe('1');
        expect(answer.partialSuccess?.errorMessage).toContain(`attributes["${key}"]`);
      }
    }
    expect(h.events.filter((e) => e.type === 'start').map((e) => e.requestId)).toEqual(['chatcmpl-good']);
  });

  it.each([
    ['queue_time', `${'9'.repeat(400)}s`],
    ['queue_time', '99999999999999999999ms'],
    ['validation_time', 'twelve ms'],
    ['validation_time', '-5ms'],
  ])('rejects a TGI span whose %s is %s, naming it', async (key, value) => {
    const wall = h.clock.wallUnixNanos();
    const spans = makeSpans([
      {
        name: 'chat_completions',
        service: 'tgi',
        startUnixNanos: wall - 2n * S,
        endUnixNanos: wall - S,
        attributes: { queue_time: '48.5ms', inference_time: '950ms', [key]: value },
      },
    ]);
    const response = await postSpans(h.server.url, jsonBody(spans), { type: 'application/json' });
    expect(response.status).toBe(200);
    const answer = (await response.json()) as Partial;
    expect(answer.partialSuccess?.errorMessage).toContain(`attributes["${key}"]`);
    expect(h.events).toEqual([]);
  });

  it('never answers 5xx to a seeded fuzz of OTLP/JSON values, and keeps working', async () => {
    const hostile: unknown[] = [
      '1e400',
      '-1',
      '',
      'NaN',
      'Infinity',
      '-Infinity',
      '18446744073709551616',
      '99999999999999999999999999999',
      '0x10',
      '1.5',
      ' 7',
      -1,
      1e308,
      -1e308,
      1.5,
      0,
      null,
      true,
      [],
      {},
      '💥',
      'a'.repeat(10_000),
    ];
    const values = (pick: () => unknown) => [
      { intValue: pick() },
      { doubleValue: pick() },
      { stringValue: pick() },
      { boolValue: pick() },
      { arrayValue: { values: [{ intValue: pick() }] } },
    ];
    let seed = 0x2545f491;
    const next = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const pick = () => hostile[next(hostile.length)];
    // Well-typed but extreme values, which the decoder passes on to the mapper.
    const extreme = [
      { doubleValue: 1e308 },
      { doubleValue: 1e300 },
      { doubleValue: -0.5 },
      { doubleValue: 5e-324 },
      { intValue: '9223372036854775807' },
      { intValue: '-9223372036854775808' },
      { stringValue: `${'9'.repeat(400)}s` },
      { stringValue: '18446744073709551615ns' },
      { stringValue: '1.5µs' },
    ];
    const keys = [
      'gen_ai.request.id',
      'gen_ai.usage.prompt_tokens',
      'gen_ai.usage.completion_tokens',
      'gen_ai.latency.time_in_queue',
      'gen_ai.latency.time_to_first_token',
      'gen_ai.latency.time_in_model_prefill',
      'queue_time',
      'inference_time',
      'validation_time',
    ];
    const wall = h.clock.wallUnixNanos();
    const statuses = new Map<number, number>();
    for (let i = 0; i < 300; i++) {
      const attributes = keys
        .filter(() => next(3) > 0)
        .map((key) => ({
          key,
          value: next(4) === 0 ? values(pick)[next(5)] : extreme[next(extreme.length)],
        }));
      const span = {
        traceId: next(4) === 0 ? pick() : '4bf92f3577b34da6a3ce929d0e0e4736',
        spanId: next(4) === 0 ? pick() : `00f067aa0ba9${String(1000 + i).slice(-4)}`,
        name: next(2) === 0 ? 'chat_completions' : 'llm_request',
        kind: next(4) === 0 ? pick() : 2,
        startTimeUnixNano: next(3) === 0 ? pick() : String(wall - 3n * S),
        endTimeUnixNano: next(3) === 0 ? pick() : String(wall - S),
        attributes,
      };
      const body = {
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'tgi' } }] },
            scopeSpans: [{ spans: [span] }],
          },
        ],
      };
      const { status } = await postJson(body);
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      expect(status, JSON.stringify(span).slice(0, 400)).toBeLessThan(500);
    }
    // The fuzz reaches both the decoder's refusals and the mapper.
    expect(statuses.get(400)).toBeGreaterThan(0);
    expect(statuses.get(200)).toBeGreaterThan(0);
    expect((await postSpans(h.server.url, protobufBody(vllm('chatcmpl-after', {})))).status).toBe(200);
  });
});
