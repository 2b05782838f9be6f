/**
 * The event API when the ledger cannot write and when the daemon stops: new requests are refused
 * (503, Retry-After) while open ones still progress and end; at stop the open requests get their
 * drain time, and those still open after it are ended as cancelled and reported.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestEvent } from '../../../src/requests/types.js';
import { type EventFixture, errorOf, startEvents } from './fixture.js';

let f: EventFixture | null = null;
afterEach(async () => {
  await f?.server.close();
  f = null;
});

const ends = (events: RequestEvent[]) => events.filter((e) => e.type === 'end');

describe('event API admission', () => {
  it('refuses new requests with 503 and Retry-After while refused, but takes ends and repeats of open ones', async () => {
    let refusing = false;
    f = await startEvents({
      admission: () => (refusing ? { reason: 'the ledger cannot write', retryAfterSeconds: 30 } : null),
    });
    expect((await f.post('/v1/requests/start', { requestId: 'a', engineId: 'vllm-a' })).status).toBe(202);
    refusing = true;
    const refused = await f.post('/v1/requests/start', { requestId: 'b', engineId: 'vllm-a' });
    expect(refused.headers.get('retry-after')).toBe('30');
    expect(await errorOf(refused)).toMatchObject({
      status: 503,
      code: 'EVENTS_UNAVAILABLE',
      message: 'the ledger cannot write; retry later',
    });
    // A retried start of an acknowledged request stays a duplicate (200), not a refusal.
    expect((await f.post('/v1/requests/start', { requestId: 'a', engineId: 'vllm-a' })).status).toBe(200);
    expect((await f.post('/v1/requests/a/progress', { outputTokens: 4 })).status).toBe(202);
    expect((await f.post('/v1/requests/a/end', { outcome: 'ok' })).status).toBe(202);
    const batch = await f.post('/v1/requests/batch', {
      events: [
        { type: 'start', requestId: 'c', engineId: 'vllm-a' },
        { type: 'end', requestId: 'a', outcome: 'ok' },
      ],
    });
    expect(batch.status).toBe(200);
    expect(batch.headers.get('retry-after')).toBe('30');
    expect(await batch.json()).toMatchObject({
      accepted: 0,
      duplicate: 1,
      rejected: 1,
      results: [{ status: 'rejected', error: { code: 'EVENTS_UNAVAILABLE' } }, { status: 'duplicate' }],
    });
    expect(f.events.map((e) => `${e.type}:${e.requestId}`)).toEqual(['start:a', 'progress:a', 'end:a']);
  });
});

describe('event API at stop', () => {
  it('ends the requests still open after the drain as cancelled and returns their ids', async () => {
    f = await startEvents();
    for (const id of ['open-1', 'open-2'])
      expect((await f.post('/v1/requests/start', { requestId: id, engineId: 'vllm-a' })).status).toBe(202);
    const server = f.server;
    f = null;
    expect(await server.close()).toEqual(['open-1', 'open-2']);
  });

  it('waits for open requests to end, refusing new ones meanwhile, and closes as soon as none is open', async () => {
    const fixture = await startEvents();
    f = null;
    expect((await fixture.post('/v1/requests/start', { requestId: 'r', engineId: 'vllm-a' })).status).toBe(
      202,
    );
    const closing = fixture.server.close({ drainMs: 30_000 });
    const refused = await fixture.post('/v1/requests/start', { requestId: 'late', engineId: 'vllm-a' });
    expect(await errorOf(refused)).toMatchObject({ status: 503, code: 'EVENTS_UNAVAILABLE' });
    expect((await fixture.post('/v1/requests/r/end', { outcome: 'ok' })).status).toBe(202);
    expect(await closing).toEqual([]);
    expect(ends(fixture.events)).toMatchObject([{ requestId: 'r', outcome: 'ok' }]);
  });

  it('stops waiting when hurried (a second SIGTERM) and ends the open request as cancelled', async () => {
    const fixture = await startEvents();
    f = null;
    expect((await fixture.post('/v1/requests/start', { requestId: 'slow', engineId: 'vllm-a' })).status).toBe(
      202,
    );
    const hurry = new AbortController();
    const closing = fixture.server.close({ drainMs: 60_000, hurry: hurry.signal });
    hurry.abort();
    expect(await closing).toEqual(['slow']);
    expect(ends(fixture.events)).toMatchObject([{ requestId: 'slow', outcome: 'cancelled' }]);
  });
});
