/**
 * What the event API refuses before anything reaches the sink: missing or wrong tokens, invalid
 * bodies (every problem listed), unknown engines, oversized and non-JSON bodies, stray queries.
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEventApiServer } from '../../../src/events/server.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { type EventFixture, errorOf, startEvents, TOKEN } from './fixture.js';

let f: EventFixture;
beforeEach(async () => {
  f = await startEvents({ tokens: [TOKEN, 'second-token-for-rotation'], maxBodyBytes: 2048 });
});
afterEach(async () => f.server.close());

const START = { requestId: 'r1', engineId: 'vllm-a' };

describe('authentication', () => {
  it('answers 401 with WWW-Authenticate without a token, with a wrong one or another scheme', async () => {
    const attempts: [string | null, Record<string, string>?][] = [
      [null],
      ['wrong-token-0123456789abcdef'],
      [`${TOKEN}x`],
      [TOKEN.slice(0, -1)],
      [null, { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` }],
      [null, { authorization: TOKEN }],
    ];
    for (const [token, headers] of attempts) {
      const response = await f.post('/v1/requests/start', START, { token, ...(headers ? { headers } : {}) });
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="wattledger-events"');
      const error = await errorOf(response);
      expect(error).toMatchObject({ status: 401, code: 'EVENTS_UNAUTHORIZED' });
      expect(error.message).not.toContain(TOKEN.slice(0, 8));
    }
    expect(f.events).toEqual([]);
  });

  it('accepts every configured token, the scheme in any case, and serves /openapi.json without one', async () => {
    expect((await f.post('/v1/requests/start', START, { token: 'second-token-for-rotation' })).status).toBe(
      202,
    );
    const lower = await f.post(
      '/v1/requests/r1/end',
      { outcome: 'ok' },
      { token: null, headers: { authorization: `bearer ${TOKEN}` } },
    );
    expect(lower.status).toBe(202);
    expect((await fetch(`${f.server.url}/openapi.json`)).status).toBe(200);
  });

  it('checks before reading the body: an unauthenticated oversized body is a 401, not a 413', async () => {
    const response = await f.post(
      '/v1/requests/start',
      { ...START, model: 'x'.repeat(4096) },
      { token: null },
    );
    expect(response.status).toBe(401);
  });

  it('never writes a token to the log, whatever the outcome', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logged = await startEvents({
      logger: pino({ level: 'trace' }, sink),
      sink: (event) => {
        if (event.type === 'end') throw new Error('sink down');
      },
    });
    try {
      await logged.post('/v1/requests/start', START);
      await logged.post('/v1/requests/start', START, { token: 'wrong-token-0123456789abcdef' });
      await logged.post('/v1/requests/r1/end', { outcome: 'ok' });
      await logged.post('/v1/requests/batch', { events: [{ type: 'end', requestId: 'r1', outcome: 'ok' }] });
    } finally {
      await logged.server.close();
    }
    expect(lines.length).toBeGreaterThanOrEqual(4);
    expect(lines.join('\n')).toContain('EVENTS_SINK_FAILED');
    for (const secret of [TOKEN, 'wrong-token', 'Bearer']) expect(lines.join('\n')).not.toContain(secret);
  });

  it('refuses to start without a token or with a malformed one', async () => {
    const base = {
      sink: () => undefined,
      clock: new ManualClock(),
      engines: ['e'],
      listen: { host: '127.0.0.1', port: 0 },
      maxInFlight: 1,
      maxBodyBytes: 1024,
    };
    await expect(createEventApiServer({ ...base, tokens: [] })).rejects.toThrow(/at least one bearer token/);
    await expect(createEventApiServer({ ...base, tokens: ['short'] })).rejects.toThrow(/token #1/);
    await expect(createEventApiServer({ ...base, tokens: [TOKEN], engines: [] })).rejects.toThrow(/engine/);
  });
});

describe('validation', () => {
  it('lists every problem of a body at once, unknown fields included', async () => {
    const body = {
      requestId: 'has space',
      engineId: 'vllm-a',
      model: '',
      operation: 'chat-completion',
      traceId: '0'.repeat(32),
      startedAt: 17,
      priority: 'high',
      user: 'x',
    };
    const error = await errorOf(await f.post('/v1/requests/start', body));
    expect(error).toMatchObject({ status: 400, code: 'EVENTS_INVALID' });
    expect(error.problems?.map((p) => p.path).sort()).toEqual(
      ['model', 'operation', 'priority', 'requestId', 'startedAt', 'traceId', 'user'].sort(),
    );
    expect(error.message).toMatch(/^invalid event \(7 problems\): /);
    expect(f.events).toEqual([]);
  });

  it('checks ids in paths and bodies: 1–128 characters of [A-Za-z0-9._:-]', async () => {
    expect(
      (await f.post('/v1/requests/start', { ...START, requestId: `a.b_c:d-${'9'.repeat(120)}` })).status,
    ).toBe(202);
    for (const requestId of ['', 'x'.repeat(129), 'a/b', 'é', 'a b']) {
      const error = await errorOf(await f.post('/v1/requests/start', { ...START, requestId }));
      expect(error.problems, requestId).toEqual([
        { path: 'requestId', message: expect.stringContaining('1 to 128') },
      ]);
    }
    const error = await errorOf(
      await f.post(`/v1/requests/${'x'.repeat(129)}/progress`, { outputTokens: 1.5, foo: 1 }),
    );
    expect(error.problems?.map((p) => p.path)).toEqual(['requestId', 'outputTokens', 'foo']);
  });

  it('checks token counts: integers from 0 to 10^9, cached ≤ input, no unknown usage fields', async () => {
    await f.post('/v1/requests/start', START);
    const usage = { inputTokens: 10, cachedInputTokens: 11, outputTokens: 1e9 + 1, reasoningTokens: 3 };
    const error = await errorOf(await f.post('/v1/requests/r1/end', { outcome: 'done', usage }));
    expect(error.problems?.map((p) => p.path).sort()).toEqual(
      ['outcome', 'usage.cachedInputTokens', 'usage.outputTokens', 'usage.reasoningTokens'].sort(),
    );
    for (const outputTokens of [-1, 0.5, '3', null, 2 ** 53]) {
      const response = await f.post('/v1/requests/r1/progress', { outputTokens });
      expect(response.status, String(outputTokens)).toBe(400);
    }
    expect(f.events.map((e) => e.type)).toEqual(['start']);
  });

  it('answers an unknown engine with its own code and the known engines', async () => {
    const error = await errorOf(await f.post('/v1/requests/start', { ...START, engineId: 'tgi-c' }));
    expect(error).toMatchObject({ status: 400, code: 'EVENTS_UNKNOWN_ENGINE' });
    expect(error.message).toContain('known engines: vllm-a, sglang-b');
    const mixed = await errorOf(await f.post('/v1/requests/start', { requestId: '', engineId: 'tgi-c' }));
    expect(mixed.code).toBe('EVENTS_INVALID');
    expect(mixed.problems?.find((p) => p.path === 'engineId')?.message).toContain('vllm-a, sglang-b');
  });

  it('refuses query parameters, missing and non-JSON bodies', async () => {
    const query = await errorOf(await f.post('/v1/requests/start?debug=1', START));
    expect(query.problems).toEqual([{ path: 'query.debug', message: expect.any(String) }]);
    expect((await errorOf(await f.post('/v1/requests/start', '{"requestId":'))).code).toBe(
      'EVENTS_MALFORMED',
    );
    const text = await f.post('/v1/requests/start', 'hello', { headers: { 'content-type': 'text/plain' } });
    expect(await errorOf(text)).toMatchObject({ status: 415, code: 'EVENTS_UNSUPPORTED_MEDIA_TYPE' });
    const none = await fetch(`${f.server.url}/v1/requests/start`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect((await errorOf(none)).problems).toEqual([{ path: '(body)', message: expect.any(String) }]);
    expect(await errorOf(await f.post('/v1/requests', START))).toMatchObject({
      status: 404,
      code: 'EVENTS_NOT_FOUND',
    });
  });
});

describe('body limit', () => {
  it('answers 413 past maxBodyBytes, with or without a Content-Length, and keeps serving', async () => {
    const body = JSON.stringify({ ...START, model: 'm'.repeat(2100) });
    expect(await errorOf(await f.post('/v1/requests/start', body))).toMatchObject({
      status: 413,
      code: 'EVENTS_TOO_LARGE',
    });
    const chunks = new ReadableStream({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(body));
        controller.close();
      },
    });
    const streamed = await fetch(`${f.server.url}/v1/requests/start`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect((await f.post('/v1/requests/start', START)).status).toBe(202);
    expect(f.events).toHaveLength(1);
  });
});
