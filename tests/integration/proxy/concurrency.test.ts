import http, { Agent } from 'node:http';
import { describe, expect, it } from 'vitest';
import { eventSplits, FakeUpstream, loadFixture } from '../../helpers/fake-upstream.js';
import { replay, startProxy, withoutUsageChunk } from './harness.js';

const OPENAI = 'openai-gpt4o-chat-stream-include-usage.sse';
const STREAMS = 1_000;

/** One streamed request through the proxy with node:http; resolves with the body bytes. */
function stream(url: URL, agent: Agent, body: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: url.hostname, port: url.port, path: '/v1/chat/completions', method: 'POST', agent },
      (response) => {
        const parts: Buffer[] = [];
        response.on('data', (part: Buffer) => parts.push(part));
        response.on('end', () => resolve(Buffer.concat(parts)));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

describe('1,000 concurrent streams', () => {
  it('all complete, byte-exact, with balanced start/end events, in bounded time', async () => {
    const body = loadFixture(OPENAI).body;
    // Every stream sends its first event, then waits until all 1,000 are open, then the rest,
    // one write per event: the proxy really carries 1,000 streams at once.
    let openAll = (): void => {};
    const allOpen = new Promise<void>((resolve) => {
      openAll = resolve;
    });
    const fake = await FakeUpstream.start(() => {
      if (fake.requests.length === STREAMS) openAll();
      return replay(OPENAI, { split: eventSplits(body), holdAfterFirst: allOpen });
    });
    const h = await startProxy(fake, { upstreamTimeoutMs: 60_000 });
    const agent = new Agent({ keepAlive: true, maxSockets: STREAMS });
    const request = JSON.stringify({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
    });
    let peak = 0;
    void allOpen.then(() => {
      peak = h.proxy.stats().inFlight;
    });

    const started = Date.now();
    const bodies = await Promise.all(
      Array.from({ length: STREAMS }, () => stream(new URL(h.url), agent, request)),
    );
    const elapsed = Date.now() - started;

    const expected = withoutUsageChunk(body);
    expect(bodies.every((received) => received.equals(expected))).toBe(true);
    expect(elapsed).toBeLessThan(25_000);
    expect(peak).toBe(STREAMS);

    const starts = h.events.filter((e) => e.type === 'start');
    const ends = h.events.filter((e) => e.type === 'end');
    expect(starts).toHaveLength(STREAMS);
    expect(ends).toHaveLength(STREAMS);
    expect(new Set(ends.map((e) => e.requestId))).toEqual(new Set(starts.map((e) => e.requestId)));
    expect(ends.every((e) => e.outcome === 'ok' && e.usage?.outputTokens === 30)).toBe(true);
    expect(h.events.filter((e) => e.type === 'progress')).toHaveLength(STREAMS * 30);
    expect(h.proxy.stats()).toEqual({
      requests: STREAMS,
      measured: STREAMS,
      measurementErrors: 0,
      inFlight: 0,
    });

    agent.destroy();
    await h.close();
    await fake.close();
  });
});
