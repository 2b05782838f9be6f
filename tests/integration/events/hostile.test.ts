/**
 * Hostile values against the real event API: numbers that overflow, strings that do not parse,
 * wrong types in every field of every route. None may answer 5xx; a refused body names the path
 * of what is wrong.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EventFixture, startEvents } from './fixture.js';

let f: EventFixture;
beforeEach(async () => {
  f = await startEvents();
});
afterEach(async () => {
  await f.server.close();
});

const HOSTILE: unknown[] = [
  1e300,
  -1e300,
  -1,
  1.5,
  2 ** 53,
  '1e400',
  '99999999999999999999999999',
  '2026-13-45T99:99:99Z',
  '9999-12-31T23:59:59Z',
  '0000-01-01T00:00:00Z',
  '',
  'x'.repeat(5000),
  '💥',
  null,
  true,
  [],
  {},
  { nested: { deep: [1, 2, 3] } },
];

describe('event API under hostile values', () => {
  it('never answers 5xx, and names the field path of a refused value', async () => {
    let seed = 0x9e3779b9;
    const next = (n: number) => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    const pick = () => HOSTILE[next(HOSTILE.length)];
    const statuses = new Map<number, number>();
    const shapes: (() => [string, Record<string, unknown>])[] = [
      () => ['/v1/requests/start', { requestId: `r${next(50)}`, engineId: 'vllm-a' }],
      () => ['/v1/requests/start', { requestId: `r${next(50)}`, engineId: 'vllm-a', startedAt: pick() }],
      () => ['/v1/requests/start', { requestId: pick(), engineId: pick(), model: pick(), traceId: pick() }],
      () => [`/v1/requests/r${next(50)}/progress`, { outputTokens: pick(), at: pick() }],
      () => [
        `/v1/requests/r${next(50)}/end`,
        {
          outcome: next(2) ? 'ok' : pick(),
          usage: { inputTokens: pick(), outputTokens: pick(), cachedInputTokens: pick() },
          endedAt: pick(),
        },
      ],
      () => [
        '/v1/requests/batch',
        {
          events: [
            { type: 'start', requestId: `b${next(50)}`, engineId: 'vllm-a', startedAt: pick() },
            pick(),
          ],
        },
      ],
    ];
    for (let i = 0; i < 400; i++) {
      const [path, body] = (shapes[next(shapes.length)] as () => [string, Record<string, unknown>])();
      const response = await f.post(path, body);
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      const text = await response.text();
      expect(
        response.status,
        `${path} ${JSON.stringify(body).slice(0, 300)} → ${text.slice(0, 300)}`,
      ).toBeLessThan(500);
      if (response.status === 400) {
        const error = (JSON.parse(text) as { error: { code: string; problems?: { path: string }[] } }).error;
        if (error.code === 'EVENTS_INVALID') expect(error.problems?.[0]?.path).toMatch(/^[A-Za-z[\]0-9.]+$/);
      }
    }
    expect(statuses.get(400)).toBeGreaterThan(0);
    expect([...statuses.keys()].some((s) => s === 202 || s === 200)).toBe(true);
  });
});
