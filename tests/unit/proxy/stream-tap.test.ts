import { describe, expect, it } from 'vitest';
import { SseTap } from '../../../src/proxy/stream-tap.js';
import { chunksOf, FIXTURE_CASES, loadFixture } from '../../helpers/fake-upstream.js';

/** Runs a body through a tap; returns each forwarded piece and what the tap saw. */
function run(body: Buffer, drop: boolean, split: 'whole' | number | number[]) {
  const progress: number[] = [];
  const errors: unknown[] = [];
  const tap = new SseTap(
    'chat',
    drop,
    (tokens) => progress.push(tokens),
    (error) => errors.push(error),
  );
  const pieces: Buffer[] = [];
  for (const chunk of chunksOf(body, split)) pieces.push(tap.push(chunk));
  pieces.push(tap.finish());
  return { out: Buffer.concat(pieces), pieces, progress, errors, usage: tap.usage };
}

/** The body without its include_usage event, computed independently of the parser. */
function withoutUsageChunk(body: Buffer): Buffer {
  const frames = body.toString('utf8').split(/(?<=\n\n)/);
  return Buffer.from(frames.filter((f) => !/^data: ?\{.*"choices":\s*\[\].*"usage":\s*\{/.test(f)).join(''));
}

describe('SseTap', () => {
  const streams = FIXTURE_CASES.filter((f) => f.stream && f.operation === 'chat');
  for (const fixture of streams) {
    it(`${fixture.file}: passes bytes through untouched, or cuts only the usage chunk`, () => {
      const body = loadFixture(fixture.file).body;
      for (const split of ['whole', 1, 5, 64, 997] as const) {
        const observed = run(body, false, split);
        expect(observed.out.equals(body)).toBe(true);
        const cut = run(body, true, split);
        expect(cut.out.toString()).toBe(withoutUsageChunk(body).toString());
        expect(cut.usage).toEqual(fixture.usage);
        expect(cut.errors).toEqual([]);
      }
      expect(withoutUsageChunk(body).length < body.length).toBe(fixture.usageChunk);
    });
  }

  it('without cutting, returns each chunk itself at once (no added buffering)', () => {
    const body = loadFixture(streams[0]!.file).body;
    const chunks = chunksOf(body, 13);
    const tap = new SseTap(
      'chat',
      false,
      () => {},
      () => {},
    );
    for (const chunk of chunks) expect(tap.push(chunk)).toBe(chunk);
  });

  it('when cutting, holds back at most the incomplete event', () => {
    const tap = new SseTap(
      'chat',
      true,
      () => {},
      () => {},
    );
    expect(
      tap.push(Buffer.from('data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"cho')).toString(),
    ).toBe('data: {"choices":[{"delta":{"content":"a"}}]}\n\n');
    expect(
      tap.push(Buffer.from('ices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\n')).length,
    ).toBe(0);
    expect(tap.push(Buffer.from('data: [DONE]\n\n')).toString()).toBe('data: [DONE]\n\n');
    expect(tap.usage).toEqual({ inputTokens: 1, cachedInputTokens: 0, outputTokens: 1 });
  });

  it('forwards an unterminated last event at the end, byte for byte', () => {
    const { out } = run(Buffer.from('data: {"choices":[]}\n\ndata: trailing'), true, 3);
    expect(out.toString()).toBe('data: {"choices":[]}\n\ndata: trailing');
  });

  it('fails open: after a parser failure the held bytes and all later chunks pass unaltered', () => {
    const errors: unknown[] = [];
    const tap = new SseTap(
      'chat',
      true,
      () => {},
      (error) => errors.push(error),
    );
    const huge = Buffer.from(`data: ${'x'.repeat(17 * 1024 * 1024)}`);
    const first = tap.push(Buffer.from('data: {"choices":[],"usage":{"prompt_tokens":1}}\n\ndata: '));
    expect(first.length).toBe(0); // the usage chunk was cut, the next event is held
    const released = tap.push(huge);
    expect(errors).toHaveLength(1);
    expect(released.toString().startsWith('data: data: xxx')).toBe(true);
    expect(released.length).toBe(6 + huge.length);
    const later = Buffer.from('\n\ndata: [DONE]\n\n');
    expect(tap.push(later)).toBe(later);
  });
});
