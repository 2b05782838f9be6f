import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeUpstream, loadFixture, type Reply } from '../../helpers/fake-upstream.js';
import { type ProxyHarness, postJson, replay, startOf, startProxy } from './harness.js';

// The client receives exactly what the server would have sent it, and the server sees the
// client's own request id.
const OPENAI = 'openai-gpt4o-chat-stream-include-usage.sse';
const OLLAMA = 'ollama-qwen2.5-0.5b-chat-stream-no-usage.cassette.yaml';
const STREAM = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true };

let fake: FakeUpstream;
let next: () => Reply = () => replay(OPENAI);

beforeAll(async () => {
  fake = await FakeUpstream.start(() => next());
});
afterAll(async () => {
  await fake.close();
});

/** A proxy whose upstream's usage habit is unknown (the daemon's default): it learns it. */
async function learning(): Promise<ProxyHarness> {
  return startProxy(fake, {
    upstreams: [{ name: 'a', url: fake.url, engineId: 'engine-a', models: ['gpt-4o'] }],
  });
}

const sentOptions = () => JSON.parse(fake.last.body.toString()).stream_options;

describe('a server that streams usage unasked (vLLM --enable-force-include-usage)', () => {
  it('has its usage chunk reach the client, on the first request and every later one', async () => {
    // The recording ends with a usage chunk: a server that sends it whether asked or not.
    const h = await learning();
    try {
      next = () => replay(OPENAI);
      const recorded = loadFixture(OPENAI).body;
      for (let i = 0; i < 3; i++) {
        const response = await postJson(`${h.url}/v1/chat/completions`, STREAM);
        expect(response.bytes.equals(recorded)).toBe(true);
        expect(sentOptions()).toBeUndefined(); // the client's body, untouched
        const end = await h.endOf(response.headers.get('x-wattledger-request-id')!);
        expect(end.usage).toEqual({ inputTokens: 14, cachedInputTokens: 0, outputTokens: 30 });
      }
    } finally {
      await h.close();
    }
  });

  it('learns that a server without usage needs asking: the second request asks, the chunk is cut', async () => {
    const h = await learning();
    try {
      next = () => replay(OLLAMA);
      const first = await postJson(`${h.url}/v1/chat/completions`, STREAM);
      expect(first.bytes.equals(loadFixture(OLLAMA).body)).toBe(true);
      expect(sentOptions()).toBeUndefined();
      await h.endOf(first.headers.get('x-wattledger-request-id')!);
      next = () => replay(OPENAI);
      const second = await postJson(`${h.url}/v1/chat/completions`, STREAM);
      expect(sentOptions()).toEqual({ include_usage: true });
      expect(second.bytes.toString()).not.toContain('"usage":{');
      const end = await h.endOf(second.headers.get('x-wattledger-request-id')!);
      expect(end.usage?.outputTokens).toBe(30);
    } finally {
      await h.close();
    }
  });
});

describe("the client's x-request-id", () => {
  it('reaches the server unchanged and is the start event’s upstream request id', async () => {
    const h = await learning();
    try {
      next = () => replay(OPENAI);
      const response = await postJson(`${h.url}/v1/chat/completions`, STREAM, {
        'X-Request-Id': 'client-chosen-42',
      });
      expect(fake.last.headers['x-request-id']).toBe('client-chosen-42');
      const id = response.headers.get('x-wattledger-request-id')!;
      expect(id).not.toBe('client-chosen-42'); // records keep the proxy's unique id
      expect(startOf(h.of(id)).upstreamRequestId).toBe('client-chosen-42');
    } finally {
      await h.close();
    }
  });

  it('is the proxy’s request id when the client sent none', async () => {
    const h = await learning();
    try {
      next = () => replay(OPENAI);
      const response = await postJson(`${h.url}/v1/chat/completions`, STREAM);
      const id = response.headers.get('x-wattledger-request-id')!;
      expect(fake.last.headers['x-request-id']).toBe(id);
      expect(startOf(h.of(id)).upstreamRequestId).toBeUndefined();
    } finally {
      await h.close();
    }
  });
});
