import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  eventSplits,
  FakeUpstream,
  loadFixture,
  type Reply,
  tgiErrorReply,
} from '../../helpers/fake-upstream.js';
import { type ProxyHarness, postJson, replay, startOf, startProxy } from './harness.js';

const OPENAI = 'openai-gpt4o-chat-stream-include-usage.sse';
const STREAM = { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }], stream: true };
const SSE = [['content-type', 'text/event-stream']] as const;

let fake: FakeUpstream;
let h: ProxyHarness;
let next: (body: Buffer) => Reply = () => replay(OPENAI);

beforeAll(async () => {
  fake = await FakeUpstream.start((request) => next(request.body));
  h = await startProxy(fake, { upstreamTimeoutMs: 300 });
});
afterAll(async () => {
  await h.close();
  await fake.close();
});

const idOf = (response: { headers: Headers }) => response.headers.get('x-wattledger-request-id')!;

describe('upstream errors are relayed exactly', () => {
  it("relays a 500 with TGI's (non-OpenAI) error shape", async () => {
    next = () => tgiErrorReply();
    const response = await postJson(`${h.url}/v1/chat/completions`, STREAM);
    expect(response.status).toBe(500);
    expect(response.bytes.equals(tgiErrorReply().body)).toBe(true);
    expect(await h.endOf(idOf(response))).toMatchObject({ outcome: 'error', httpStatus: 500 });
  });

  it('marks an in-stream error event as an error, and relays it', async () => {
    const body = Buffer.from(
      'data: {"error":{"message":"boom","type":"InternalServerError","code":500}}\n\ndata: [DONE]\n\n',
    );
    next = () => ({ headers: SSE, body });
    const response = await postJson(`${h.url}/v1/chat/completions`, STREAM);
    expect(response.bytes.equals(body)).toBe(true);
    expect(await h.endOf(idOf(response))).toMatchObject({ outcome: 'error', httpStatus: 200 });
  });

  it('retries without stream_options when the server refuses it, and stops injecting there', async () => {
    const refusal = Buffer.from(
      JSON.stringify({ object: 'error', message: 'extra fields not permitted: stream_options' }),
    );
    const scoped = await FakeUpstream.start((request) =>
      request.body.includes('stream_options') ? { status: 400, body: refusal } : replay(OPENAI),
    );
    const p = await startProxy(scoped);
    const first = await postJson(`${p.url}/v1/chat/completions`, STREAM);
    expect(first.status).toBe(200);
    expect(first.bytes.equals(loadFixture(OPENAI).body)).toBe(true); // the recording's own usage chunk stays
    expect(scoped.requests).toHaveLength(2);
    await postJson(`${p.url}/v1/chat/completions`, STREAM);
    expect(scoped.requests).toHaveLength(3);
    expect((await p.endOf(idOf(first))).usage?.outputTokens).toBe(30);
    await p.close();
    await scoped.close();
  });

  it('relays a 400 that is not about stream_options once, as sent, without retrying', async () => {
    const body = Buffer.from(
      '{"error":{"message":"messages: field required","type":"BadRequestError","code":400}}',
    );
    next = () => ({ status: 400, headers: [['content-type', 'application/json']], body });
    const before = fake.requests.length;
    const response = await postJson(`${h.url}/v1/chat/completions`, STREAM);
    expect(response.status).toBe(400);
    expect(response.bytes.equals(body)).toBe(true);
    expect(fake.requests.length).toBe(before + 1);
    expect(await h.endOf(idOf(response))).toMatchObject({ outcome: 'error', httpStatus: 400 });
  });
});

describe('broken upstreams', () => {
  it('answers 502 when the upstream cannot be reached; the request never reached it (unreached)', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const p = await startProxy(fake, {
      upstreams: [{ name: 'a', url: `http://127.0.0.1:${port}`, engineId: 'e', models: [] }],
    });
    const response = await postJson(`${p.url}/v1/chat/completions`, STREAM);
    expect(response.status).toBe(502);
    expect(JSON.parse(response.bytes.toString())).toMatchObject({
      error: { code: 'upstream_connection_failed', param: null },
    });
    const end = await p.endOf(idOf(response));
    expect(end.outcome).toBe('unreached');
    expect(end.httpStatus).toBeUndefined();
    const passed = await fetch(`${p.url}/v1/models`);
    expect(passed.status).toBe(502);
    await p.close();
  });

  it('answers 504 when the upstream is silent past the timeout', async () => {
    next = () => ({ ...replay(OPENAI), headersDelayMs: 1_000 });
    const response = await postJson(`${h.url}/v1/chat/completions`, STREAM);
    expect(response.status).toBe(504);
    expect(JSON.parse(response.bytes.toString()).error.code).toBe('upstream_timeout');
    expect((await h.endOf(idOf(response))).outcome).toBe('error');
  });

  it('cuts the client off when the upstream resets mid-stream, and ends the request as an error', async () => {
    next = () => ({ ...replay(OPENAI), split: 500, failAfterBytes: 2_000, fail: 'reset' });
    const response = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(STREAM),
    });
    expect(response.status).toBe(200);
    await expect(response.arrayBuffer()).rejects.toThrow();
    const end = await h.endOf(idOf(response));
    expect(end).toMatchObject({ outcome: 'error', httpStatus: 200 });
    expect(end.usage).toBeUndefined();
    expect(h.of(idOf(response)).some((e) => e.type === 'progress')).toBe(true);
  });

  it('relays a stream that ends early but cleanly as it is: ok, without usage', async () => {
    const body = loadFixture(OPENAI).body;
    next = () => ({ ...replay(OPENAI), split: 300, failAfterBytes: 2_100, fail: 'truncate' });
    const response = await postJson(`${h.url}/v1/chat/completions`, STREAM);
    expect(response.bytes.equals(body.subarray(0, 2_100))).toBe(true);
    const end = await h.endOf(idOf(response));
    expect(end).toMatchObject({ outcome: 'ok', httpStatus: 200 });
    expect(end.usage).toBeUndefined();
  });

  it('forwards malformed SSE byte for byte without failing', async () => {
    const body = Buffer.concat([
      Buffer.from(
        'data: {not json\n\nevent\x00: ?\r\ndata:{"choices":[{"delta":{"content":"x"}}]}\r\r\n: c\n',
      ),
      Buffer.from([0xff, 0xfe, 0x0a, 0x0a]), // not UTF-8 at all
      Buffer.from('data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\ndata: [DONE]'),
    ]);
    next = () => ({ headers: SSE, body, split: 3 });
    const response = await postJson(`${h.url}/v1/chat/completions`, STREAM);
    // Only the usage chunk we asked for is cut; everything else, garbage included, is as sent.
    const usageEvent = Buffer.from(
      'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\n',
    );
    const at = body.indexOf(usageEvent);
    const expected = Buffer.concat([body.subarray(0, at), body.subarray(at + usageEvent.length)]);
    expect(response.bytes.equals(expected)).toBe(true);
    expect(await h.endOf(idOf(response))).toMatchObject({
      outcome: 'ok',
      usage: { inputTokens: 1, outputTokens: 1 },
    });
  });
});

describe('clients and sinks that misbehave', () => {
  it('aborts the upstream request when the client disconnects, and ends it as cancelled', async () => {
    next = () => ({ ...replay(OPENAI), split: 400, delayMs: 50 });
    const controller = new AbortController();
    const response = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(STREAM),
      signal: controller.signal,
    });
    const reader = response.body!.getReader();
    await reader.read();
    const upstreamRequest = fake.last;
    controller.abort();
    await upstreamRequest.done;
    expect(upstreamRequest.aborted).toBe(true);
    expect(await h.endOf(idOf(response))).toMatchObject({ outcome: 'cancelled', httpStatus: 200 });
  });

  it('keeps traffic intact when the sink throws, and counts the failures', async () => {
    next = () => ({ ...replay(OPENAI), split: 100 });
    const p = await startProxy(fake, {
      sink: () => {
        throw new Error('sink down');
      },
    });
    const response = await postJson(`${p.url}/v1/chat/completions`, {
      ...STREAM,
      stream_options: { include_usage: true },
    });
    expect(response.bytes.equals(loadFixture(OPENAI).body)).toBe(true);
    const stats = p.proxy.stats();
    expect(stats).toMatchObject({ requests: 1, measured: 1 });
    expect(stats.measurementErrors).toBe(1 + 30 + 1); // start, 30 progress, end
    await p.close();
  });

  it('streams each chunk on as it arrives (no added buffering)', async () => {
    // Two events (role, then the first token) at once, the rest 1.5 s later.
    next = () => ({ ...replay(OPENAI), split: [eventSplits(loadFixture(OPENAI).body)[1]!], delayMs: 1_500 });
    const started = Date.now();
    const response = await fetch(`${h.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify(STREAM),
    });
    const first = await response.body!.getReader().read();
    expect(first.value!.length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(1_000);
    const events = h.of(idOf(response));
    expect(startOf(events)).toBeDefined();
    expect(events.some((e) => e.type === 'progress')).toBe(true); // the first token is already seen
    await h.endOf(idOf(response));
  });
});
