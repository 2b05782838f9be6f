import { describe, expect, it } from 'vitest';
import { SseParser } from '../../../src/proxy/sse.js';
import { hasGeneratedOutput, quickOutput } from '../../../src/proxy/usage.js';
import { FIXTURE_CASES, loadFixture } from '../../helpers/fake-upstream.js';

// The tracker's no-parse fast path must agree with the full parse on every recorded chunk
// (tests/fixtures/openai-sse, SOURCES.md) and on the shapes that make it unsure.
describe('quickOutput', () => {
  for (const fixture of FIXTURE_CASES.filter((f) => f.stream && f.operation === 'chat')) {
    it(`${fixture.file}: agrees with the parsed chunk wherever it answers`, () => {
      const datas: string[] = [];
      new SseParser().push(loadFixture(fixture.file).body, (event) => datas.push(event.data));
      let answered = 0;
      for (const data of datas) {
        if (!data.startsWith('{')) continue;
        const quick = quickOutput(data);
        if (quick === undefined) continue;
        answered += 1;
        expect(quick, data).toBe(hasGeneratedOutput(JSON.parse(data)));
      }
      // Chunks without usage (or with `"usage": null`) are read without a parse.
      if (!fixture.cumulative) expect(answered).toBeGreaterThan(fixture.contentChunks / 2);
    });
  }

  it('answers for plain deltas, with or without spaces', () => {
    expect(quickOutput('{"choices":[{"index":0,"delta":{"content":"hi"}}]}')).toBe(true);
    expect(quickOutput('{"choices": [{"index": 0, "delta": {"content": "hi"}}]}')).toBe(true);
    expect(quickOutput('{"choices":[{"delta":{"role":"assistant","content":""}}]}')).toBe(false);
    expect(quickOutput('{"choices":[{"delta":{"content":null},"finish_reason":"stop"}]}')).toBe(false);
    expect(quickOutput('{"choices":[{"delta":{}}]}')).toBe(false);
    expect(quickOutput('{"choices":[{"delta":{"content":"x","tool_calls":null}}],"usage":null}')).toBe(true);
    // Text that merely mentions a key is escaped, so it is not taken for one.
    expect(quickOutput('{"choices":[{"delta":{"content":"say \\"usage\\": 1"}}]}')).toBe(true);
    expect(quickOutput('{"choices":[{"delta":{"content":"\\"content\\":\\"\\""}}]}')).toBe(true);
  });

  it('leaves usage, errors, other output fields and several choices to the full parse', () => {
    for (const data of [
      '{"choices":[],"usage":{"prompt_tokens":1}}',
      '{"choices":[{"delta":{"content":"a"}}],"usage": {"prompt_tokens":1}}',
      '{"error":"overloaded"}',
      '{"error":{"message":"x"}}',
      '{"choices":[{"delta":{"tool_calls":[{"index":0}]}}]}',
      '{"choices":[{"delta":{"reasoning_content":"think"}}]}',
      '{"choices":[{"text":"legacy"}]}',
      '{"choices":[{"delta":{"content":""}},{"delta":{"content":"b"}}]}',
      '{"choices":[{"delta":{"content":"a"},"logprobs":{"content":[]}}]}',
      '{"choices":[{"delta":{"content":1}}]}',
    ])
      expect(quickOutput(data), data).toBeUndefined();
  });
});
