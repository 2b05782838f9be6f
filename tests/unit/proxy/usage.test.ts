import { describe, expect, it } from 'vitest';
import { BodyTap, usageFromTail } from '../../../src/proxy/body-tap.js';
import { type SseEvent, SseParser } from '../../../src/proxy/sse.js';
import {
  isUsageChunk,
  StreamUsageTracker,
  usageFromBody,
  usageFromCompletionUsage,
  usageFromResponsesUsage,
} from '../../../src/proxy/usage.js';
import { FIXTURE_CASES, loadFixture } from '../../helpers/fake-upstream.js';

function events(body: Buffer): SseEvent[] {
  const out: SseEvent[] = [];
  const parser = new SseParser();
  parser.push(body, (event) => out.push(event));
  return out;
}

/**
 * Characters of generated text in a recorded stream, read with JSON.parse, independently of the
 * tracker: chat deltas, completions text, Responses API `*.delta` events.
 */
function streamedChars(file: string): number {
  let chars = 0;
  for (const event of events(loadFixture(file).body)) {
    if (!event.data.startsWith('{')) continue;
    const data = JSON.parse(event.data);
    if (typeof data.type === 'string' && data.type.endsWith('.delta'))
      chars += String(data.delta ?? '').length;
    for (const choice of data.choices ?? []) {
      chars += String(choice.delta?.content ?? '').length + String(choice.text ?? '').length;
    }
  }
  return chars;
}

/** Runs a tracker over a recorded stream; returns what it saw. */
function track(file: string, operation: 'chat' | 'responses') {
  const tracker = new StreamUsageTracker(operation);
  const progress: Array<{ outputTokens: number; estimated: boolean }> = [];
  let usageChunks = 0;
  for (const event of events(loadFixture(file).body)) {
    const step = tracker.observe(event);
    if (step.usageChunk) usageChunks += 1;
    if (step.progress) progress.push(step.progress);
  }
  return { tracker, progress, usageChunks };
}

// Expected values come from the recordings themselves; see tests/fixtures/SOURCES.md,
// section "openai-sse/", for each file's origin and what it shows.
describe('usage from every recorded fixture (SOURCES.md "openai-sse/")', () => {
  for (const fixture of FIXTURE_CASES.filter((f) => f.stream)) {
    it(`${fixture.file}: usage, usage chunk and progress`, () => {
      const operation = fixture.operation === 'responses' ? 'responses' : 'chat';
      const { tracker, progress, usageChunks } = track(fixture.file, operation);
      expect(tracker.usage).toEqual(fixture.usage);
      expect(tracker.failed).toBe(false);
      expect(usageChunks).toBe(fixture.usageChunk ? 1 : 0);
      if (fixture.cumulative) {
        // Hyperbolic/vLLM: usage on every chunk, 1..21 completion tokens; the server's count wins.
        expect(progress.map((p) => p.outputTokens)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
        expect(progress.every((p) => !p.estimated)).toBe(true);
      } else {
        // Without usage the output is estimated from the text, ~4 characters a token, never fewer
        // tokens than content chunks.
        expect(progress).toHaveLength(fixture.contentChunks);
        const byText = Math.ceil(streamedChars(fixture.file) / 4);
        expect(progress.at(-1)).toEqual({
          outputTokens: Math.max(fixture.contentChunks, byText),
          estimated: true,
        });
      }
    });
  }

  it('ollama-all-minilm-embeddings: prompt tokens only, from the body', () => {
    const body = JSON.parse(loadFixture('ollama-all-minilm-embeddings.cassette.yaml').body.toString('utf8'));
    expect(usageFromBody('embedding', body)).toEqual({
      inputTokens: 4,
      cachedInputTokens: 0,
      outputTokens: 0,
    });
  });

  it("Azure's first `choices: []` chunk (prompt_filter_results, no usage) is not the usage chunk", () => {
    const first = events(loadFixture(FIXTURE_CASES[2]!.file).body)[0]!;
    const chunk = JSON.parse(first.data);
    expect(chunk.choices).toEqual([]);
    expect(chunk.prompt_filter_results).toBeDefined();
    expect(isUsageChunk(chunk)).toBe(false);
  });

  it('OpenAI n=3: one usage chunk covers all three choices', () => {
    const { tracker } = track('openai-gpt4o-chat-stream-n3-include-usage.sse', 'chat');
    expect(tracker.usage?.outputTokens).toBe(42);
  });
});

describe('usage shapes', () => {
  it('reads cached prompt tokens from prompt_tokens_details (hand-written vLLM/OpenAI shape)', () => {
    const usage = {
      prompt_tokens: 100,
      completion_tokens: 5,
      total_tokens: 105,
      prompt_tokens_details: { cached_tokens: 64 },
    };
    expect(usageFromCompletionUsage(usage)).toEqual({
      inputTokens: 100,
      cachedInputTokens: 64,
      outputTokens: 5,
    });
    expect(usageFromCompletionUsage({ ...usage, prompt_tokens_details: null })?.cachedInputTokens).toBe(0);
    expect(usageFromCompletionUsage(null)).toBeUndefined();
    expect(usageFromCompletionUsage({ completion_tokens: 1 })).toBeUndefined();
  });

  it('reads Responses API usage with input_tokens_details.cached_tokens', () => {
    const usage = {
      input_tokens: 53,
      input_tokens_details: { cached_tokens: 32 },
      output_tokens: 469,
      total_tokens: 522,
    };
    expect(usageFromResponsesUsage(usage)).toEqual({
      inputTokens: 53,
      cachedInputTokens: 32,
      outputTokens: 469,
    });
    expect(usageFromBody('responses', { object: 'response', usage })?.cachedInputTokens).toBe(32);
  });

  it('reads a non-stream chat body and ignores bodies without usage', () => {
    const body = {
      object: 'chat.completion',
      choices: [],
      usage: { prompt_tokens: 3, completion_tokens: 4 },
    };
    expect(usageFromBody('chat', body)).toEqual({ inputTokens: 3, cachedInputTokens: 0, outputTokens: 4 });
    expect(usageFromBody('chat', { error: { message: 'x' } })).toBeUndefined();
    expect(usageFromBody('chat', 'text')).toBeUndefined();
  });

  it('counts tool calls, reasoning and legacy completions text as output; role-only deltas not', () => {
    const tracker = new StreamUsageTracker('chat');
    const observe = (chunk: unknown) =>
      tracker.observe({ event: 'message', data: JSON.stringify(chunk), lastEventId: '', start: 0, end: 0 });
    expect(observe({ choices: [{ delta: { role: 'assistant', content: '' } }] }).progress).toBeUndefined();
    expect(observe({ choices: [{ delta: { tool_calls: [{ index: 0 }] } }] }).progress?.outputTokens).toBe(1);
    expect(observe({ choices: [{ delta: { reasoning_content: 'hm' } }] }).progress?.outputTokens).toBe(2);
    expect(observe({ choices: [{ text: 'legacy', index: 0 }] }).progress?.outputTokens).toBe(3);
    expect(observe({ choices: [{ delta: {}, finish_reason: 'stop' }] }).progress).toBeUndefined();
  });

  it('notes in-stream errors and ignores [DONE] and malformed data', () => {
    const tracker = new StreamUsageTracker('chat');
    const observe = (data: string) =>
      tracker.observe({ event: 'message', data, lastEventId: '', start: 0, end: 0 });
    expect(observe('[DONE]')).toEqual({ usageChunk: false });
    expect(observe('{not json')).toEqual({ usageChunk: false });
    expect(tracker.failed).toBe(false);
    observe('{"error":{"message":"boom","type":"BadRequestError","code":400}}');
    expect(tracker.failed).toBe(true);
  });
});

describe('BodyTap (non-stream bodies)', () => {
  it('reads usage after the data array of a body too large to keep whole', () => {
    const data = Array.from({ length: 30_000 }, (_, i) => i / 7);
    const body = Buffer.from(
      JSON.stringify({ object: 'list', data, model: 'm', usage: { prompt_tokens: 9, total_tokens: 9 } }),
    );
    const tap = new BodyTap(16 * 1024);
    for (let at = 0; at < body.length; at += 1000) tap.push(body.subarray(at, at + 1000));
    expect(tap.usage('embedding')).toEqual({ inputTokens: 9, cachedInputTokens: 0, outputTokens: 0 });
  });

  it('finds nothing in a tail without usage, or with a broken one', () => {
    expect(usageFromTail('chat', '{"data":[1,2,3]}')).toBeUndefined();
    expect(usageFromTail('chat', '"usage": {"prompt_tokens": 1')).toBeUndefined();
    expect(usageFromTail('chat', '"usage": "x" {')).toBeUndefined();
  });
});
