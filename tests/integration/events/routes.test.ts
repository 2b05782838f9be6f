/**
 * Every event route delivers exactly the `RequestEvent` it describes to the sink, with client
 * wall-clock times placed on the daemon's monotonic clock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RequestTracker } from '../../../src/attribution/tracker.js';
import { NANOS_PER_MILLI } from '../../../src/units.js';
import { answer, type EventFixture, errorOf, isoAgo, startEvents } from './fixture.js';

let f: EventFixture;
beforeEach(async () => {
  f = await startEvents();
});
afterEach(async () => f.server.close());

describe('single event routes', () => {
  it('start, progress and end each answer 202 accepted and reach the sink as RequestEvents', async () => {
    const mono0 = f.clock.monoNanos();
    const wall0 = f.clock.wallUnixNanos();
    const start = {
      requestId: 'req-1',
      engineId: 'vllm-a',
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      operation: 'chat',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    };
    expect(await answer(await f.post('/v1/requests/start', start))).toEqual({
      status: 202,
      body: { status: 'accepted' },
    });
    f.clock.advanceMillis(250);
    expect((await f.post('/v1/requests/req-1/progress', { outputTokens: 1 })).status).toBe(202);
    f.clock.advanceMillis(750);
    const end = { outcome: 'ok', usage: { inputTokens: 120, cachedInputTokens: 100, outputTokens: 42 } };
    expect(await answer(await f.post('/v1/requests/req-1/end', end))).toEqual({
      status: 202,
      body: { status: 'accepted' },
    });
    expect(f.events).toEqual([
      { type: 'start', source: 'event-api', ...start, monoNanos: mono0, unixNanos: wall0 },
      {
        type: 'progress',
        requestId: 'req-1',
        monoNanos: mono0 + 250n * NANOS_PER_MILLI,
        outputTokens: 1,
        estimated: false,
      },
      {
        type: 'end',
        requestId: 'req-1',
        monoNanos: mono0 + 1000n * NANOS_PER_MILLI,
        unixNanos: wall0 + 1000n * NANOS_PER_MILLI,
        ...end,
      },
    ]);
  });

  it('fills optional fields with nothing: no model, no usage; cachedInputTokens defaults to 0', async () => {
    await f.post('/v1/requests/start', { requestId: 'r', engineId: 'sglang-b' });
    await f.post('/v1/requests/r/end', { outcome: 'cancelled', usage: { inputTokens: 5, outputTokens: 0 } });
    await f.post('/v1/requests/start', { requestId: 's', engineId: 'sglang-b' });
    await f.post('/v1/requests/s/end', { outcome: 'error' });
    expect(Object.keys(f.events[0]!).sort()).toEqual([
      'engineId',
      'monoNanos',
      'requestId',
      'source',
      'type',
      'unixNanos',
    ]);
    expect(f.events[1]).toMatchObject({
      outcome: 'cancelled',
      usage: { inputTokens: 5, cachedInputTokens: 0 },
    });
    expect(f.events[3]).not.toHaveProperty('usage');
  });
});

describe('into the real request tracker', () => {
  it('delivers only events the tracker accepts, retries and conflicts included', async () => {
    const tracker = new RequestTracker();
    const t = await startEvents({ sink: (event) => tracker.handle(event) });
    try {
      const start = { requestId: 'q', engineId: 'vllm-a', startedAt: isoAgo(t.clock, 2000) };
      await t.post('/v1/requests/start', start);
      await t.post('/v1/requests/start', start);
      await t.post('/v1/requests/q/progress', { outputTokens: 1, at: isoAgo(t.clock, 1500) });
      await t.post('/v1/requests/q/progress', { outputTokens: 0 });
      await t.post('/v1/requests/q/end', { outcome: 'ok', usage: { inputTokens: 7, outputTokens: 9 } });
      await t.post('/v1/requests/q/end', { outcome: 'error' });
      await t.post('/v1/requests/nobody/end', { outcome: 'ok' });
    } finally {
      await t.server.close();
    }
    expect(tracker.stats()).toMatchObject({
      accepted: 3,
      duplicate: 0,
      unknown: 0,
      invalid: 0,
      outOfOrder: 0,
    });
    expect(tracker.get('q')).toMatchObject({
      source: 'event-api',
      outcome: 'ok',
      usage: { inputTokens: 7, cachedInputTokens: 0, outputTokens: 9 },
      timeline: [{ outputTokens: 1 }],
    });
  });
});

describe('time conversion', () => {
  it('places explicit times at mono = clock.mono − (clock.wall − t), to the nanosecond', async () => {
    const mono = f.clock.monoNanos();
    const wall = f.clock.wallUnixNanos();
    // 2.5 s and 123456789 ns before now, written with a +02:00 offset.
    const t = wall - 2_500_000_000n - 123_456_789n;
    const local = new Date(Number(t / NANOS_PER_MILLI) + 2 * 3600_000).toISOString().slice(0, 19);
    const fraction = (t % 1_000_000_000n).toString().padStart(9, '0');
    const startedAt = `${local}.${fraction}+02:00`;
    await f.post('/v1/requests/start', { requestId: 't1', engineId: 'vllm-a', startedAt });
    await f.post('/v1/requests/t1/progress', { outputTokens: 3, at: isoAgo(f.clock, 1000) });
    await f.post('/v1/requests/t1/end', { outcome: 'ok', endedAt: isoAgo(f.clock, 500) });
    expect(f.events.map((e) => e.monoNanos)).toEqual([
      mono - (wall - t),
      mono - 1000n * NANOS_PER_MILLI,
      mono - 500n * NANOS_PER_MILLI,
    ]);
    expect(f.events[0]).toMatchObject({ unixNanos: t });
  });

  it('takes a time up to 1 s ahead as now, and refuses times further ahead or over 10 minutes old', async () => {
    const mono = f.clock.monoNanos();
    await f.post('/v1/requests/start', {
      requestId: 'a',
      engineId: 'vllm-a',
      startedAt: isoAgo(f.clock, -900),
    });
    expect(f.events[0]).toMatchObject({ monoNanos: mono, unixNanos: f.clock.wallUnixNanos() });
    const ahead = await errorOf(
      await f.post('/v1/requests/start', {
        requestId: 'b',
        engineId: 'vllm-a',
        startedAt: isoAgo(f.clock, -1500),
      }),
    );
    expect(ahead).toMatchObject({ status: 400, code: 'EVENTS_INVALID' });
    expect(ahead.problems).toEqual([{ path: 'startedAt', message: expect.stringContaining('future') }]);
    const old = await errorOf(
      await f.post('/v1/requests/start', {
        requestId: 'c',
        engineId: 'vllm-a',
        startedAt: isoAgo(f.clock, 600_001),
      }),
    );
    expect(old.problems).toEqual([{ path: 'startedAt', message: expect.stringContaining('10 minutes') }]);
    const ok = await f.post('/v1/requests/start', {
      requestId: 'd',
      engineId: 'vllm-a',
      startedAt: isoAgo(f.clock, 599_000),
    });
    expect(ok.status).toBe(202);
    expect(f.events.map((e) => e.requestId)).toEqual(['a', 'd']);
  });

  it('refuses impossible dates, leap seconds and non-RFC 3339 text', async () => {
    for (const startedAt of [
      '2025-02-30T00:00:00Z',
      '2025-11-24T15:59:60Z',
      '2025-11-24 16:00:00Z',
      '1764000000',
      'now',
    ]) {
      const error = await errorOf(
        await f.post('/v1/requests/start', { requestId: 'x', engineId: 'vllm-a', startedAt }),
      );
      expect(error.problems, startedAt).toEqual([
        { path: 'startedAt', message: expect.stringContaining('RFC 3339') },
      ]);
    }
    expect(f.events).toEqual([]);
  });
});

describe('POST /v1/requests/batch', () => {
  it('applies events in order and answers each one', async () => {
    const mono = f.clock.monoNanos();
    await f.post('/v1/requests/start', { requestId: 'dup', engineId: 'vllm-a' });
    const events = [
      { type: 'start', requestId: 'b1', engineId: 'vllm-a', startedAt: isoAgo(f.clock, 300) },
      { type: 'progress', requestId: 'b1', outputTokens: 4, at: isoAgo(f.clock, 200) },
      {
        type: 'end',
        requestId: 'b1',
        outcome: 'ok',
        usage: { inputTokens: 9, outputTokens: 5 },
        endedAt: isoAgo(f.clock, 100),
      },
      { type: 'start', requestId: 'dup', engineId: 'vllm-a' },
      { type: 'end', requestId: 'never-started', outcome: 'ok' },
    ];
    const { status, body } = await answer(await f.post('/v1/requests/batch', { events }));
    expect(status).toBe(200);
    expect(body).toEqual({
      accepted: 3,
      duplicate: 1,
      rejected: 1,
      results: [
        { status: 'accepted' },
        { status: 'accepted' },
        { status: 'accepted' },
        { status: 'duplicate' },
        { status: 'rejected', error: { code: 'EVENTS_UNKNOWN_REQUEST', message: expect.any(String) } },
      ],
    });
    expect(f.events.slice(1).map((e) => [e.type, e.monoNanos])).toEqual([
      ['start', mono - 300n * NANOS_PER_MILLI],
      ['progress', mono - 200n * NANOS_PER_MILLI],
      ['end', mono - 100n * NANOS_PER_MILLI],
    ]);
  });

  it('takes up to 1000 events and refuses the whole batch, listing every problem, when one is invalid', async () => {
    const many = Array.from({ length: 1000 }, (_, i) => ({
      type: 'start',
      requestId: `m${i}`,
      engineId: 'sglang-b',
    }));
    const big = await startEvents({ maxInFlight: 1000, maxBodyBytes: 1_048_576 });
    try {
      const { body } = await answer(await big.post('/v1/requests/batch', { events: many }));
      expect(body).toMatchObject({ accepted: 1000, rejected: 0 });
      const tooMany = await errorOf(await big.post('/v1/requests/batch', { events: [...many, many[0]] }));
      expect(tooMany.problems).toEqual([{ path: 'events', message: 'must hold at most 1000 events' }]);
    } finally {
      await big.server.close();
    }
    const bad = [
      { type: 'start', requestId: 'ok', engineId: 'vllm-a' },
      { type: 'progress', requestId: 'ok', outputTokens: -1 },
      { type: 'finish', requestId: 'ok' },
      { type: 'end', requestId: 'ok', outcome: 'ok', extra: true },
    ];
    const error = await errorOf(await f.post('/v1/requests/batch', { events: bad }));
    expect(error).toMatchObject({ status: 400, code: 'EVENTS_INVALID' });
    expect(error.problems?.map((p) => p.path)).toEqual([
      'events[1].outputTokens',
      'events[2].type',
      'events[3].extra',
    ]);
    expect(f.events).toEqual([]);
    expect((await errorOf(await f.post('/v1/requests/batch', { events: [] }))).problems).toEqual([
      { path: 'events', message: 'must hold at least one event' },
    ]);
  });
});
