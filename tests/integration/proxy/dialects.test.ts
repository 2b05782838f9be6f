import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeUpstream, loadFixture, type Reply } from '../../helpers/fake-upstream.js';
import { type ProxyHarness, postJson, replay, startProxy } from './harness.js';

// Usage dialects through the real proxy, from recordings (tests/fixtures/SOURCES.md).
const TGI_PROMPTS = 'tgi-3.1.2-completions-4-prompts-stream-per-choice-usage.chunks.json';
const GROQ = 'groq-llama-3.3-70b-chat-stream-tool-call-x-groq-usage.chunks.txt';

let fake: FakeUpstream;
let h: ProxyHarness;
let next: () => Reply = () => replay(GROQ);

beforeAll(async () => {
  fake = await FakeUpstream.start(() => next());
  h = await startProxy(fake);
});
afterAll(async () => {
  await h.close();
  await fake.close();
});

const endOf = (response: { headers: Headers }) => h.endOf(response.headers.get('x-wattledger-request-id')!);

describe('usage dialects through the proxy', () => {
  it('TGI /v1/completions with 4 prompts: 22 prompt and 40 output tokens, the bytes relayed', async () => {
    next = () => replay(TGI_PROMPTS);
    const response = await postJson(`${h.url}/v1/completions`, {
      model: 'gpt-4o',
      prompt: ['Say', 'Hello', 'I am a', 'def'],
      max_tokens: 10,
      stream: true,
      stream_options: { include_usage: false },
    });
    expect(response.bytes.equals(loadFixture(TGI_PROMPTS).body)).toBe(true);
    expect((await endOf(response)).usage).toEqual({
      inputTokens: 22,
      cachedInputTokens: 0,
      outputTokens: 40,
    });
  });

  it('Groq chat stream: usage from x_groq as well, the bytes relayed', async () => {
    next = () => replay(GROQ);
    const response = await postJson(`${h.url}/v1/chat/completions`, {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'weather?' }],
      stream: true,
      stream_options: { include_usage: false },
    });
    expect(response.bytes.equals(loadFixture(GROQ).body)).toBe(true);
    expect((await endOf(response)).usage).toEqual({
      inputTokens: 210,
      cachedInputTokens: 0,
      outputTokens: 15,
    });
  });
});
