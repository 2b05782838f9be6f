import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventSplits, FakeUpstream, FIXTURE_CASES, loadFixture } from '../../helpers/fake-upstream.js';
import { type ProxyHarness, postJson, replay, startOf, startProxy, withoutUsageChunk } from './harness.js';

// Every recorded response (tests/fixtures/SOURCES.md, "openai-sse/") replayed through the proxy.
let fake: FakeUpstream;
let h: ProxyHarness;
let current = FIXTURE_CASES[0]!;
let split: 'whole' | 'events' | number = 'whole';

beforeAll(async () => {
  fake = await FakeUpstream.start(() => {
    const body = loadFixture(current.file).body;
    return replay(current.file, { split: split === 'events' ? eventSplits(body) : split });
  });
  h = await startProxy(fake);
});
afterAll(async () => {
  await h.close();
  await fake.close();
});

const MESSAGES = [{ role: 'user', content: 'Which ocean contains the Falkland Islands?' }];

function clientBody(fixture: (typeof FIXTURE_CASES)[number], askUsage: boolean): Record<string, unknown> {
  if (fixture.operation === 'embedding')
    return { model: 'all-minilm:33m', input: ['South Atlantic Ocean.'], encoding_format: 'float' };
  if (fixture.operation === 'responses')
    return { model: 'gpt-5', input: 'Calculate 100 * 200 / 3', stream: true };
  const body: Record<string, unknown> = { model: 'gpt-4o', messages: MESSAGES, stream: true };
  if (askUsage) body.stream_options = { include_usage: true };
  return body;
}

describe('every fixture through the proxy', () => {
  for (const fixture of FIXTURE_CASES) {
    for (const askUsage of fixture.stream && fixture.operation === 'chat' ? [true, false] : [true]) {
      it(`${fixture.file}, client ${askUsage ? 'asked for' : 'did not ask for'} usage`, async () => {
        current = fixture;
        const upstreamBody = loadFixture(fixture.file).body;
        for (const s of ['whole', 'events', 7] as const) {
          split = s;
          const sent = JSON.stringify(clientBody(fixture, askUsage));
          const response = await postJson(h.url + fixture.path, sent);
          const id = response.headers.get('x-wattledger-request-id')!;
          expect(response.status).toBe(200);
          expect(response.headers.get('x-wattledger-receipt')).toBe(`/v1/receipts/${id}`);

          // What the upstream received: our id and trace, and include_usage only when injected.
          const received = fake.last;
          const injected = !askUsage;
          expect(received.headers['x-request-id']).toBe(id);
          expect(received.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
          if (injected)
            expect(JSON.parse(received.body.toString()).stream_options).toEqual({ include_usage: true });
          else expect(received.body.toString()).toBe(sent);

          // What the client received: the upstream's bytes, minus the usage chunk we asked for.
          const expected = injected ? withoutUsageChunk(upstreamBody) : upstreamBody;
          expect(response.bytes.toString('utf8')).toBe(expected.toString('utf8'));
          expect(response.bytes.equals(expected)).toBe(true);

          // What was measured.
          const end = await h.endOf(id);
          const events = h.of(id);
          expect(startOf(events)).toMatchObject({
            source: 'proxy',
            engineId: 'engine-a',
            operation: fixture.operation,
          });
          expect(startOf(events).traceId).toBe(String(received.headers.traceparent).split('-')[1]);
          expect(end).toMatchObject({ outcome: 'ok', httpStatus: 200 });
          expect(end.usage).toEqual(fixture.usage);
          const progress = events.filter((e) => e.type === 'progress');
          expect(progress).toHaveLength(fixture.cumulative ? 21 : fixture.contentChunks);
          expect(events.map((e) => e.type)).toEqual(['start', ...progress.map(() => 'progress'), 'end']);
        }
      });
    }
  }

  it('relays the recorded response headers (Azure) and drops only a length the cut made false', async () => {
    current = FIXTURE_CASES.find((f) => f.file.startsWith('azure'))!;
    split = 'whole';
    const response = await postJson(`${h.url}/v1/chat/completions`, clientBody(current, true));
    expect(response.headers.get('apim-request-id')).toBe('5e2a8895-103f-499a-90bf-1c4693d5fc6a');
    expect(response.headers.get('x-ms-region')).toBe('Switzerland North');
    expect(response.headers.get('content-type')).toBe('text/event-stream');

    current = FIXTURE_CASES.find((f) => f.file.startsWith('tgi-3.0.1'))!; // recorded with Content-Length: 5543
    const asked = await postJson(`${h.url}/v1/chat/completions`, clientBody(current, true));
    expect(asked.headers.get('content-length')).toBe('5543');
    const cut = await postJson(`${h.url}/v1/chat/completions`, clientBody(current, false));
    expect(cut.headers.get('content-length')).toBeNull();
    expect(cut.bytes.length).toBe(5543); // nothing to cut in this stream: the bytes are all there
  });
});

describe('routing, trace context and unmeasured traffic', () => {
  it('routes by model to its upstream and engine, and unknown models to the default', async () => {
    const other = await FakeUpstream.start(() => replay('ollama-all-minilm-embeddings.cassette.yaml'));
    const routed = await startProxy(fake, {
      upstreams: [
        { name: 'a', url: fake.url, engineId: 'engine-a', models: ['gpt-4o'] },
        { name: 'b', url: `${other.url}/`, engineId: 'engine-b', models: ['all-minilm:33m'] },
      ],
    });
    current = FIXTURE_CASES.find((f) => f.operation === 'embedding')!;
    const before = fake.requests.length;
    const hit = await postJson(`${routed.url}/v1/embeddings`, { model: 'all-minilm:33m', input: 'x' });
    expect(other.requests).toHaveLength(1);
    expect(other.last.url).toBe('/v1/embeddings');
    expect(startOf(routed.of(hit.headers.get('x-wattledger-request-id')!)).engineId).toBe('engine-b');
    const miss = await postJson(`${routed.url}/v1/embeddings`, { model: 'unknown', input: 'x' });
    expect(fake.requests.length).toBe(before + 1);
    expect(startOf(routed.of(miss.headers.get('x-wattledger-request-id')!))).toMatchObject({
      engineId: 'engine-a',
      model: 'unknown',
    });
    await routed.close();
    await other.close();
  });

  it("keeps the client's trace id with a new span id, and passes tracestate on", async () => {
    current = FIXTURE_CASES.find((f) => f.operation === 'embedding')!;
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const response = await postJson(`${h.url}/v1/embeddings`, clientBody(current, true), {
      traceparent,
      tracestate: 'vendor=x',
    });
    const sent = fake.last.headers.traceparent!;
    expect(sent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(sent).not.toBe(traceparent);
    expect(fake.last.headers.tracestate).toBe('vendor=x');
    expect(startOf(h.of(response.headers.get('x-wattledger-request-id')!)).traceId).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
  });

  it('passes other paths, methods, non-JSON and oversized bodies through untouched and unmeasured', async () => {
    current = FIXTURE_CASES.find((f) => f.operation === 'embedding')!;
    const small = await startProxy(fake, { maxBodyBytes: 64 });
    const before = small.events.length;
    const big = JSON.stringify({ model: 'gpt-4o', input: 'y'.repeat(500) });
    const cases: Array<[string, string, string | undefined]> = [
      ['GET', '/v1/models', undefined],
      ['POST', '/v1/chat/completions', 'this is not json'],
      ['POST', '/v1/embeddings', big],
      ['POST', '/v1/unknown?x=1', '{"model":"gpt-4o"}'],
      ['PUT', '/v1/chat/completions', '{"model":"gpt-4o","stream":true}'],
    ];
    for (const [method, path, body] of cases) {
      const response = await fetch(small.url + path, { method, ...(body === undefined ? {} : { body }) });
      const bytes = Buffer.from(await response.arrayBuffer());
      expect(bytes.equals(loadFixture(current.file).body)).toBe(true);
      expect(response.headers.get('x-wattledger-request-id')).toBeNull();
      expect(fake.last).toMatchObject({ method, url: path });
      expect(fake.last.body.toString()).toBe(body ?? '');
      expect(fake.last.headers['x-request-id']).toBeUndefined();
      expect(fake.last.headers.traceparent).toBeUndefined();
    }
    expect(small.events.length).toBe(before);
    expect(small.proxy.stats()).toMatchObject({ requests: 5, measured: 0, measurementErrors: 0 });
    await small.close();
  });
});
