import { describe, expect, it } from 'vitest';
import { type SseEvent, SseParser } from '../../../src/proxy/sse.js';
import { StreamUsageTracker, usageFromBody, usageFromTimings } from '../../../src/proxy/usage.js';
import { loadFixture } from '../../helpers/fake-upstream.js';

// Every usage dialect a real server sends (docs/PROXY.md, "Token usage, from every dialect").
// Recordings: tests/fixtures/SOURCES.md, section "openai-sse/".
const TGI_PROMPTS = 'tgi-3.1.2-completions-4-prompts-stream-per-choice-usage.chunks.json';
const GROQ = 'groq-llama-3.3-70b-chat-stream-tool-call-x-groq-usage.chunks.txt';

function events(body: Buffer | string): SseEvent[] {
  const out: SseEvent[] = [];
  new SseParser().push(Buffer.from(body), (event) => out.push(event));
  return out;
}

function track(body: Buffer | string, operation: 'chat' | 'completion', separatePrompts = false) {
  const tracker = new StreamUsageTracker(operation, { separatePrompts });
  const progress: Array<{ outputTokens: number; estimated: boolean }> = [];
  for (const event of events(body)) {
    const step = tracker.observe(event);
    if (step.progress) progress.push(step.progress);
  }
  return { tracker, progress };
}

describe('per-choice usage (TGI /v1/completions with several prompts)', () => {
  it('sums the four choices’ usages: 6+5+8+3 prompt and 4×10 output tokens, not the last one', () => {
    const { tracker, progress } = track(loadFixture(TGI_PROMPTS).body, 'completion', true);
    expect(tracker.usage).toEqual({ inputTokens: 22, cachedInputTokens: 0, outputTokens: 40 });
    // Each choice's usage arrives with its last chunk: the server's count, cumulated.
    expect(progress.filter((p) => !p.estimated).map((p) => p.outputTokens)).toEqual([10, 20, 30, 40]);
  });

  it('counts one shared prompt once when the request had a single prompt (n > 1)', () => {
    const { tracker } = track(loadFixture(TGI_PROMPTS).body, 'completion', false);
    expect(tracker.usage).toEqual({ inputTokens: 8, cachedInputTokens: 0, outputTokens: 40 });
  });
});

describe("Groq's x_groq.usage", () => {
  it('reads the recording (usage both in x_groq and at the top level): 210 in, 15 out', () => {
    expect(track(loadFixture(GROQ).body, 'chat').tracker.usage).toEqual({
      inputTokens: 210,
      cachedInputTokens: 0,
      outputTokens: 15,
    });
  });

  it('reads x_groq.usage alone, as Groq sent it before it added the top-level copy', () => {
    // Constructed from the recording: the top-level `usage` member removed, which leaves the
    // x_groq-only shape of Groq's earlier streams (vercel/ai's 2024 groq tests show it).
    const body = loadFixture(GROQ).body.toString('utf8');
    // The top-level member follows x_groq's closing braces; x_groq's own usage stays.
    const groqOnly = body.replace(/\}\},"usage":\{[^}]*\}\}/g, '}}}');
    expect(groqOnly).not.toContain('},"usage"');
    expect(groqOnly).toContain('"x_groq":{"id":"req_01kh52nj5yfcat8hrmvrk2j2hj","usage":{');
    expect(track(groqOnly, 'chat').tracker.usage).toEqual({
      inputTokens: 210,
      cachedInputTokens: 0,
      outputTokens: 15,
    });
  });
});

describe("llama.cpp's timings", () => {
  // Constructed from llama-server's documented wire (research/inference.md §1.4, §3.5): no
  // recording of a llama-server stream with `timings` was found in public repositories.
  const chunk = (delta: string, extra = '') =>
    `data: {"choices":[{"finish_reason":null,"index":0,"delta":{"content":"${delta}"}}],"created":1,"id":"chatcmpl-x","model":"m","system_fingerprint":"b5000-abcdef12","object":"chat.completion.chunk"${extra}}\n\n`;
  const timings =
    ',"timings":{"cache_n":96,"prompt_n":24,"prompt_ms":31.2,"prompt_per_token_ms":1.3,"prompt_per_second":769.2,"predicted_n":3,"predicted_ms":40.1,"predicted_per_token_ms":13.4,"predicted_per_second":74.8}';
  const stream = `${chunk('He')}${chunk('llo')}${chunk('!', timings)}data: [DONE]\n\n`;

  it('takes prompt_n + cache_n as input, cache_n as cached and predicted_n as output, unasked', () => {
    expect(track(stream, 'chat').tracker.usage).toEqual({
      inputTokens: 120,
      cachedInputTokens: 96,
      outputTokens: 3,
    });
  });

  it('fills the cached count a `usage` without prompt_tokens_details lacks, in a body too', () => {
    const body = {
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hello!' } }],
      usage: { prompt_tokens: 120, completion_tokens: 3, total_tokens: 123 },
      timings: { cache_n: 96, prompt_n: 24, predicted_n: 3 },
    };
    expect(usageFromBody('chat', body)).toEqual({ inputTokens: 120, cachedInputTokens: 96, outputTokens: 3 });
    expect(usageFromTimings({ prompt_n: 'x', predicted_n: 1 })).toBeUndefined();
  });
});

describe('output estimated from text when no usage comes', () => {
  it('counts ~4 characters a token, so chunks of several tokens are not counted as one each', () => {
    const chunk = (text: string) =>
      `data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"${text}"}}]}\n\n`;
    // Two chunks of 5 tokens each (~20 characters), as a server with speculative decoding sends.
    const body = `${chunk('The quick brown fox ')}${chunk('jumps over the lazy ')}data: [DONE]\n\n`;
    const { progress } = track(body, 'chat');
    expect(progress).toEqual([
      { outputTokens: 5, estimated: true },
      { outputTokens: 10, estimated: true },
    ]);
  });
});
