import { describe, expect, it } from 'vitest';
import { type SseEvent, SseLimitError, SseParser } from '../../../src/proxy/sse.js';
import { chunksOf, FIXTURE_CASES, loadFixture } from '../../helpers/fake-upstream.js';

/** Parses `input` fed in the given chunks; returns the events and the parser. */
function parse(input: string | Buffer, split: 'whole' | number | number[] = 'whole'): SseEvent[] {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  const bytes = typeof input === 'string' ? Buffer.from(input) : input;
  for (const chunk of chunksOf(bytes, split)) parser.push(chunk, (event) => events.push(event));
  parser.finish((event) => events.push(event));
  return events;
}

const strip = (events: SseEvent[]) => events.map(({ event, data }) => ({ event, data }));

describe('SseParser (WHATWG event-stream rules)', () => {
  it('accepts data: with and without the space, and strips only one space', () => {
    expect(strip(parse('data:a\n\ndata: b\n\ndata:  c\n\n'))).toEqual([
      { event: 'message', data: 'a' },
      { event: 'message', data: 'b' },
      { event: 'message', data: ' c' },
    ]);
  });

  it('treats \\n, \\r\\n and \\r alike as line ends', () => {
    const expected = [
      { event: 'message', data: 'x' },
      { event: 'message', data: 'y' },
    ];
    expect(strip(parse('data: x\n\ndata: y\n\n'))).toEqual(expected);
    expect(strip(parse('data: x\r\n\r\ndata: y\r\n\r\n'))).toEqual(expected);
    expect(strip(parse('data: x\r\rdata: y\r\r'))).toEqual(expected);
  });

  it('ignores comments, joins multi-line data with \\n, names events, keeps the last id', () => {
    const events = parse(
      ': keep-alive\n\nevent: ping\nid: 7\ndata: one\n: inside\ndata: two\n\ndata: three\n\n',
    );
    expect(strip(events)).toEqual([
      { event: 'ping', data: 'one\ntwo' },
      { event: 'message', data: 'three' },
    ]);
    expect(events.map((e) => e.lastEventId)).toEqual(['7', '7']);
  });

  it('dispatches nothing for an event without data and discards an unterminated last event', () => {
    expect(parse('event: x\n\n:\n\ndata: kept\n\ndata: cut')).toHaveLength(1);
  });

  it('treats a field with no colon as a name with an empty value, and data: alone as empty data', () => {
    expect(strip(parse('data\n\ndata:\n\n'))).toEqual([
      { event: 'message', data: '' },
      { event: 'message', data: '' },
    ]);
  });

  it('skips a leading UTF-8 BOM and keeps multi-byte characters split across chunks', () => {
    const input = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('data: héllo – 日本\n\n')]);
    for (let size = 1; size < 6; size++)
      expect(parse(input, size).map((e) => e.data)).toEqual(['héllo – 日本']);
  });

  it('reports exact byte ranges, including a CRLF split between chunks', () => {
    const input = ': c\r\n\r\ndata: a\r\n\r\nevent: e\r\ndata: b\r\n\r\n';
    const whole = parse(input);
    expect(whole.map((e) => input.slice(e.start, e.end))).toEqual([
      'data: a\r\n\r\n',
      'event: e\r\ndata: b\r\n\r\n',
    ]);
    for (let at = 1; at < input.length; at++) {
      expect(parse(input, [at]).map((e) => [e.start, e.end])).toEqual(whole.map((e) => [e.start, e.end]));
    }
  });

  it('keeps settledOffset at the start of an incomplete event and past finished ones', () => {
    const parser = new SseParser();
    parser.push(Buffer.from(': hi\n\ndata: x\n\nda'), () => {});
    expect(parser.settledOffset).toBe(15);
    parser.push(Buffer.from('ta: y\n'), () => {});
    expect(parser.settledOffset).toBe(15);
    parser.push(Buffer.from('\n'), () => {});
    expect(parser.settledOffset).toBe(24);
  });

  it('gives up with SseLimitError on an event larger than its limit', () => {
    const parser = new SseParser(64);
    expect(() => parser.push(Buffer.from(`data: ${'x'.repeat(100)}`), () => {})).toThrow(SseLimitError);
  });

  // Every recorded stream parses to the same events whatever the chunking (SOURCES.md "openai-sse/").
  for (const fixture of FIXTURE_CASES.filter((f) => f.stream)) {
    it(`parses ${fixture.file} identically in one piece, per 7 bytes and per byte`, () => {
      const body = loadFixture(fixture.file).body;
      const whole = parse(body);
      expect(whole.length).toBeGreaterThan(fixture.contentChunks);
      expect(parse(body, 7)).toEqual(whole);
      expect(parse(body, 1)).toEqual(whole);
      // The events tile the body: nothing between them but blank lines and comments.
      expect(whole.at(-1)!.end).toBe(body.length);
    });
  }

  it('reads TGI 1.4.3 `data:{` (no space) and the Responses API `event:` names', () => {
    const tgi = parse(loadFixture('tgi-1.4.3-chat-stream-nospace-nodone.cassette.yaml').body);
    expect(tgi[0]!.data.startsWith('{"id":""')).toBe(true);
    expect(tgi.at(-1)!.data).not.toBe('[DONE]'); // TGI 1.4.3 sent no [DONE]
    const responses = parse(loadFixture('openai-responses-api-stream-usage.cassette.yaml').body);
    expect(responses[0]!.event).toBe('response.created');
    expect(responses.at(-1)!.event).toBe('response.completed');
  });
});
