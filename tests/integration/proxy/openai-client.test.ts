import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventSplits, FakeUpstream, loadFixture, type Reply } from '../../helpers/fake-upstream.js';
import { type ProxyHarness, replay, startProxy } from './harness.js';

// The official `openai` npm client talking to recorded servers through the proxy.
const OPENAI = 'openai-gpt4o-chat-stream-include-usage.sse';
const MESSAGES = [{ role: 'user' as const, content: 'hi' }];

let fake: FakeUpstream;
let h: ProxyHarness;
let client: OpenAI;
let next: () => Reply = () => replay(OPENAI);

beforeAll(async () => {
  fake = await FakeUpstream.start(() => next());
  h = await startProxy(fake);
  client = new OpenAI({ apiKey: 'sk-test', baseURL: `${h.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await h.close();
  await fake.close();
});

const lastEnd = () => h.endOf(h.events.at(-1)!.requestId);

describe('the openai client through the proxy', () => {
  it('iterates chat.completions.create({stream: true}); the injected usage chunk never reaches it', async () => {
    const body = loadFixture(OPENAI).body;
    next = () => replay(OPENAI, { split: eventSplits(body), delayMs: 1 });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
      stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks).toHaveLength(32); // 33 JSON chunks recorded, minus the usage chunk we asked for
    expect(chunks.every((chunk) => chunk.choices.length === 1)).toBe(true);
    const text = chunks.map((chunk) => chunk.choices[0]!.delta.content ?? '').join('');
    expect(text.startsWith("I'm unable to provide")).toBe(true);
    expect(JSON.parse(fake.last.body.toString()).stream_options).toEqual({ include_usage: true });
    expect((await lastEnd()).usage).toEqual({ inputTokens: 14, cachedInputTokens: 0, outputTokens: 30 });
  });

  it('hands the usage chunk to a client that asked for it', async () => {
    next = () => replay(OPENAI);
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 14, completion_tokens: 30 });
  });

  it('reads the proxy headers and a non-streamed completion', async () => {
    const completion = {
      id: 'chatcmpl-x',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Atlantic' }, finish_reason: 'stop' }],
      usage: {
        prompt_tokens: 20,
        completion_tokens: 1,
        total_tokens: 21,
        prompt_tokens_details: { cached_tokens: 16 },
      },
    };
    next = () => ({
      headers: [['content-type', 'application/json']],
      body: Buffer.from(JSON.stringify(completion)),
    });
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: MESSAGES })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe('Atlantic');
    const id = response.headers.get('x-wattledger-request-id')!;
    expect(response.headers.get('x-wattledger-receipt')).toBe(`/v1/receipts/${id}`);
    expect(await h.endOf(id)).toMatchObject({
      outcome: 'ok',
      usage: { inputTokens: 20, cachedInputTokens: 16, outputTokens: 1 },
    });
  });

  it('creates embeddings (Ollama recording)', async () => {
    next = () => replay('ollama-all-minilm-embeddings.cassette.yaml');
    const result = await client.embeddings.create({
      model: 'all-minilm:33m',
      input: ['x'],
      encoding_format: 'float',
    });
    expect(result.data[0]!.embedding).toHaveLength(384);
    expect((await lastEnd()).usage).toEqual({ inputTokens: 4, cachedInputTokens: 0, outputTokens: 0 });
  });

  it('streams a Responses API call and sees response.completed', async () => {
    next = () => replay('openai-responses-api-stream-usage.cassette.yaml', { split: 512 });
    const stream = await client.responses.create({
      model: 'gpt-5',
      input: 'Calculate 100 * 200 / 3',
      stream: true,
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types.at(-1)).toBe('response.completed');
    expect((await lastEnd()).usage).toEqual({ inputTokens: 53, cachedInputTokens: 0, outputTokens: 469 });
  });

  it('raises the relayed upstream error as an APIError', async () => {
    next = () => ({
      status: 404,
      headers: [['content-type', 'application/json']],
      body: Buffer.from(
        '{"error":{"message":"model not found","type":"NotFoundError","param":null,"code":404}}',
      ),
    });
    await expect(client.chat.completions.create({ model: 'nope', messages: MESSAGES })).rejects.toMatchObject(
      {
        status: 404,
        message: expect.stringContaining('model not found'),
      },
    );
    expect(await lastEnd()).toMatchObject({ outcome: 'error', httpStatus: 404 });
  });

  it('cancels: aborting the client stream aborts the upstream request', async () => {
    next = () => replay(OPENAI, { split: 300, delayMs: 40 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'gpt-4o', messages: MESSAGES, stream: true },
      { signal: controller.signal },
    );
    const upstreamRequest = fake.last;
    let seen = 0;
    // openai-node ends the iteration quietly when its own signal aborts it.
    for await (const _chunk of stream) {
      seen += 1;
      controller.abort();
    }
    expect(seen).toBe(1);
    await upstreamRequest.done;
    expect(upstreamRequest.aborted).toBe(true);
    expect(await lastEnd()).toMatchObject({ outcome: 'cancelled' });
  });
});
