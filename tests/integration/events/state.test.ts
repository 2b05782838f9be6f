/**
 * What the event API remembers: repeats answer `duplicate` without reaching the sink, conflicting
 * repeats 409, the in-flight bound 429, silent requests expire, and a failing sink is a 500 that
 * neither stops the server nor loses the event for a retry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { answer, type EventFixture, errorOf, isoAgo, startEvents } from './fixture.js';

let f: EventFixture;
afterEach(async () => f.server.close());

const START = { requestId: 'r1', engineId: 'vllm-a', model: 'm' };
const END = { outcome: 'ok', usage: { inputTokens: 3, outputTokens: 4 } };

describe('idempotency', () => {
  it('answers a repeated start or end 200 duplicate, and the sink sees each once', async () => {
    f = await startEvents();
    const startedAt = isoAgo(f.clock, 10);
    expect((await f.post('/v1/requests/start', { ...START, startedAt })).status).toBe(202);
    f.clock.advanceMillis(5);
    expect(await answer(await f.post('/v1/requests/start', { ...START, startedAt }))).toEqual({
      status: 200,
      body: { status: 'duplicate' },
    });
    expect((await f.post('/v1/requests/r1/end', END)).status).toBe(202);
    expect(await answer(await f.post('/v1/requests/r1/end', END))).toEqual({
      status: 200,
      body: { status: 'duplicate' },
    });
    // A start retried after its end is still the same start.
    expect((await f.post('/v1/requests/start', { ...START, startedAt })).status).toBe(200);
    // Omitted times are not content: a retry without startedAt repeats the same start.
    await f.post('/v1/requests/start', { requestId: 'r2', engineId: 'vllm-a' });
    f.clock.advanceMillis(100);
    expect((await f.post('/v1/requests/start', { requestId: 'r2', engineId: 'vllm-a' })).status).toBe(200);
    expect(f.events.map((e) => `${e.type} ${e.requestId}`)).toEqual(['start r1', 'end r1', 'start r2']);
  });

  it('answers 409 to a repeat with other content, and the batch reports the same per event', async () => {
    f = await startEvents();
    await f.post('/v1/requests/start', START);
    const conflict = await errorOf(await f.post('/v1/requests/start', { ...START, model: 'other' }));
    expect(conflict).toMatchObject({ status: 409, code: 'EVENTS_CONFLICT' });
    await f.post('/v1/requests/r1/end', END);
    expect(await errorOf(await f.post('/v1/requests/r1/end', { outcome: 'error' }))).toMatchObject({
      status: 409,
      code: 'EVENTS_CONFLICT',
    });
    expect(
      (await errorOf(await f.post('/v1/requests/start', { ...START, engineId: 'sglang-b' }))).status,
    ).toBe(409);
    const { body } = await answer(
      await f.post('/v1/requests/batch', {
        events: [{ type: 'end', requestId: 'r1', outcome: 'cancelled' }],
      }),
    );
    expect(body).toMatchObject({
      rejected: 1,
      results: [{ status: 'rejected', error: { code: 'EVENTS_CONFLICT' } }],
    });
    expect(f.events).toHaveLength(2);
  });
});

describe('progress and unknown ids', () => {
  it('takes cumulative counts forward only; repeats are duplicates, going back is 409', async () => {
    f = await startEvents();
    await f.post('/v1/requests/start', { ...START, startedAt: isoAgo(f.clock, 1000) });
    expect(
      (await f.post('/v1/requests/r1/progress', { outputTokens: 5, at: isoAgo(f.clock, 500) })).status,
    ).toBe(202);
    expect(
      (await f.post('/v1/requests/r1/progress', { outputTokens: 5, at: isoAgo(f.clock, 500) })).status,
    ).toBe(200);
    expect(await errorOf(await f.post('/v1/requests/r1/progress', { outputTokens: 4 }))).toMatchObject({
      status: 409,
      code: 'EVENTS_OUT_OF_ORDER',
    });
    const earlier = await f.post('/v1/requests/r1/progress', { outputTokens: 6, at: isoAgo(f.clock, 600) });
    expect((await errorOf(earlier)).code).toBe('EVENTS_OUT_OF_ORDER');
    expect((await f.post('/v1/requests/r1/progress', { outputTokens: 5 })).status).toBe(202);
    await f.post('/v1/requests/r1/end', END);
    expect(await errorOf(await f.post('/v1/requests/r1/progress', { outputTokens: 9 }))).toMatchObject({
      status: 409,
      code: 'EVENTS_REQUEST_ENDED',
    });
    expect(f.events.map((e) => e.type)).toEqual(['start', 'progress', 'progress', 'end']);
  });

  it('answers 404 to progress or end of a request never started', async () => {
    f = await startEvents();
    for (const [path, body] of [
      ['/v1/requests/ghost/progress', { outputTokens: 1 }],
      ['/v1/requests/ghost/end', END],
    ] as const)
      expect(await errorOf(await f.post(path, body))).toMatchObject({
        status: 404,
        code: 'EVENTS_UNKNOWN_REQUEST',
      });
    expect(f.events).toEqual([]);
  });
});

describe('bounds', () => {
  it('answers 429 with Retry-After past maxInFlight open requests, and frees a slot on end', async () => {
    f = await startEvents({ maxInFlight: 2 });
    await f.post('/v1/requests/start', { ...START, requestId: 'a' });
    await f.post('/v1/requests/start', { ...START, requestId: 'b' });
    const full = await f.post('/v1/requests/start', { ...START, requestId: 'c' });
    expect(full.headers.get('retry-after')).toBe('1');
    expect(await errorOf(full)).toMatchObject({ status: 429, code: 'EVENTS_TOO_MANY_IN_FLIGHT' });
    // A repeat of an open start is still answered: it adds nothing.
    expect((await f.post('/v1/requests/start', { ...START, requestId: 'a' })).status).toBe(200);
    await f.post('/v1/requests/a/end', END);
    expect((await f.post('/v1/requests/start', { ...START, requestId: 'c' })).status).toBe(202);
    const batch = await f.post('/v1/requests/batch', {
      events: [{ type: 'start', requestId: 'd', engineId: 'vllm-a' }],
    });
    expect(batch.headers.get('retry-after')).toBe('1');
    expect((await answer(batch)).body).toMatchObject({
      results: [{ error: { code: 'EVENTS_TOO_MANY_IN_FLIGHT' } }],
    });
    expect(f.events.map((e) => `${e.type} ${e.requestId}`)).toEqual([
      'start a',
      'start b',
      'end a',
      'start c',
    ]);
  });

  it('ends requests silent past openTimeoutMs as cancelled at their last event, freeing their slots', async () => {
    f = await startEvents({ maxInFlight: 1, openTimeoutMs: 60_000 });
    await f.post('/v1/requests/start', START);
    f.clock.advanceMillis(1000);
    await f.post('/v1/requests/r1/progress', { outputTokens: 7 });
    const lastMono = f.clock.monoNanos();
    f.clock.advanceMillis(30_000);
    expect((await f.post('/v1/requests/start', { ...START, requestId: 'r2' })).status).toBe(429);
    f.clock.advanceMillis(31_000);
    expect((await f.post('/v1/requests/start', { ...START, requestId: 'r2' })).status).toBe(202);
    expect(f.events.slice(2)).toEqual([
      {
        type: 'end',
        requestId: 'r1',
        monoNanos: lastMono,
        unixNanos: f.clock.wallUnixNanos() - (f.clock.monoNanos() - lastMono),
        outcome: 'cancelled',
      },
      expect.objectContaining({ type: 'start', requestId: 'r2' }),
    ]);
    const late = await errorOf(await f.post('/v1/requests/r1/end', END));
    expect(late).toMatchObject({ status: 409, code: 'EVENTS_CONFLICT' });
    expect(late.message).toContain('ended by the server');
  });
});

describe('a failing sink', () => {
  it('answers 500 EVENTS_SINK_FAILED, keeps serving, and delivers the event again on retry', async () => {
    let fail = true;
    f = await startEvents({
      sink: () => {
        if (fail) throw new Error('disk full at /secret/path');
      },
    });
    const error = await errorOf(await f.post('/v1/requests/start', START));
    expect(error).toMatchObject({ status: 500, code: 'EVENTS_SINK_FAILED' });
    expect(error.message).not.toContain('/secret/path');
    fail = false;
    expect((await f.post('/v1/requests/start', START)).status).toBe(202);
    expect((await f.post('/v1/requests/r1/end', END)).status).toBe(202);
    expect(f.events.map((e) => e.type)).toEqual(['start', 'start', 'end']);
  });
});
