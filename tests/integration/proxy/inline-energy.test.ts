import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestEnergyRecord } from '../../../src/attribution/types.js';
import { buildRequestPipeline, type RequestPipeline } from '../../../src/cli/request-pipeline.js';
import { systemClock } from '../../../src/clock.js';
import { configSchema } from '../../../src/config/schema.js';
import { buildFactorSnapshot } from '../../../src/factors/index.js';
import { createLogger } from '../../../src/log.js';
import type { DeviceInfo } from '../../../src/probes/types.js';
import {
  eventSplits,
  FakeUpstream,
  FIXTURE_CASES,
  loadFixture,
  type Reply,
} from '../../helpers/fake-upstream.js';
import { postJson, replay, startProxy, withoutUsageChunk } from './harness.js';

// proxy.inlineEnergy end to end in process: the daemon's own request pipeline (proxy → attributor →
// onRecord → the proxy's record waiters) in front of recorded servers (tests/fixtures/openai-sse,
// SOURCES.md), with a GPU "meter" ticking every 20 ms, and the official `openai` client reading.

const GPU: DeviceInfo = {
  id: 'gpu-0',
  probe: 'nvml',
  hwType: 'gpu',
  name: 'test GPU',
  vendor: 'nvidia',
  index: 0,
  hasEnergyCounter: true,
  details: {},
  simulated: false,
};
const TICK_MS = 20;
const POWER_MW = 100_000n; // 100 W: 2 J per tick
const OPENAI = 'openai-gpt4o-chat-stream-include-usage.sse';
const MESSAGES = [{ role: 'user' as const, content: 'hi' }];

/** The pipeline with a meter that can stop (a device that never catches up). */
interface Rig {
  readonly pipeline: RequestPipeline;
  readonly url: string;
  readonly records: Map<string, RequestEnergyRecord>;
  ticking: boolean;
  close(): Promise<void>;
}

async function startRig(fake: FakeUpstream, proxy: Record<string, unknown>): Promise<Rig> {
  const config = configSchema.parse({
    // The GPU draws a constant 100 W: half of it idle (the learned baseline's prior), nothing persisted.
    attribution: { idlePowerMilliWatts: 50_000 },
    ledger: { enabled: false },
    proxy: {
      enabled: true,
      listen: '127.0.0.1:0',
      upstreams: [
        {
          name: 'a',
          url: fake.url,
          engine: 'default',
          models: ['gpt-4o', 'gpt-5'],
          sendsUsageUnasked: false,
        },
      ],
      ...proxy,
    },
  });
  const records = new Map<string, RequestEnergyRecord>();
  const pipeline = buildRequestPipeline({
    config,
    clock: systemClock,
    logger: createLogger('silent'),
    devices: [GPU],
    factors: buildFactorSnapshot(config.factors),
    batcher: () => null,
    onRecord: () => (record) => records.set(record.requestId, record),
  });
  await pipeline.start();
  let seq = 0;
  let last = systemClock.monoNanos();
  const rig: Rig = {
    pipeline,
    url: `http://127.0.0.1:${(pipeline.proxy!.server.address() as AddressInfo).port}`,
    records,
    ticking: true,
    async close() {
      clearInterval(timer);
      pipeline.proxy!.server.closeAllConnections();
      await pipeline.stopIntake();
    },
  };
  const timer = setInterval(() => {
    if (!rig.ticking) return;
    const now = systemClock.monoNanos();
    const energy = (POWER_MW * (now - last)) / 1_000_000n; // mW × ns / 10^6 → µJ
    pipeline.onTick({
      probe: 'nvml',
      seq: seq++,
      monoNanos: now,
      unixNanos: systemClock.wallUnixNanos(),
      intervals: [
        {
          deviceId: GPU.id,
          startMonoNanos: last,
          endMonoNanos: now,
          energyMicroJoules: energy,
          source: 'counter',
          counterEnergyMicroJoules: energy,
          integratedEnergyMicroJoules: null,
          counterStartMicroJoules: null,
          counterEndMicroJoules: null,
          powerMilliWatts: Number(POWER_MW),
          powerSampleCount: 1,
          wrapped: false,
          gap: null,
          bridgedGapNanos: 0n,
        },
      ],
    });
    last = now;
  }, TICK_MS);
  return rig;
}

/** SSE events of a body, as `data` strings (plain text split, independent of the proxy's parser). */
function dataOf(body: string): string[] {
  return body
    .split(/\r?\n\r?\n/)
    .flatMap((frame) => frame.split(/\r?\n/).filter((line) => line.startsWith('data:')))
    .map((line) => line.replace(/^data: ?/, ''));
}

/** The body with the proxy's energy event taken out (plain text), and that event's data. */
function takeEnergyEvent(body: string): { rest: string; energy: Record<string, unknown> | undefined } {
  const match = /(?:event: keepalive\n)?data: (\{[^\n]*"wattledger":[^\n]*)\n\n/.exec(body);
  if (match === null) return { rest: body, energy: undefined };
  return {
    rest: body.slice(0, match.index) + body.slice(match.index + match[0].length),
    energy: JSON.parse(match[1]!) as Record<string, unknown>,
  };
}

let fake: FakeUpstream;
let next: () => Reply = () => replay(OPENAI);
let rig: Rig;
let client: OpenAI;

beforeAll(async () => {
  fake = await FakeUpstream.start(() => next());
  rig = await startRig(fake, { inlineEnergy: true, inlineEnergyMaxWaitMs: 2000 });
  client = new OpenAI({ apiKey: 'sk-test', baseURL: `${rig.url}/v1`, maxRetries: 0 });
});
afterAll(async () => {
  await rig.close();
  await fake.close();
});

describe('proxy.inlineEnergy with the openai client', () => {
  it('streams chat: one last chunk, whose one choice adds nothing, carries the energy of the sealed record', async () => {
    const body = loadFixture(OPENAI).body;
    next = () => replay(OPENAI, { split: eventSplits(body), delayMs: 1 });
    const { data: stream, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: MESSAGES, stream: true })
      .withResponse();
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks).toHaveLength(33); // 32 content chunks (usage chunk cut) + the energy chunk
    const last = chunks.at(-1)! as (typeof chunks)[number] & { wattledger: Record<string, unknown> };
    expect(last.choices).toEqual([{ index: 0, delta: { content: '' }, logprobs: null, finish_reason: null }]);
    expect(last.id).toBe(chunks[0]!.id);
    expect(last.model).toBe(chunks[0]!.model);
    expect(last.object).toBe('chat.completion.chunk');
    const id = response.headers.get('x-wattledger-request-id')!;
    const record = rig.records.get(id)!;
    expect(last.wattledger).toMatchObject({
      status: 'final',
      requestId: id,
      receipt: response.headers.get('x-wattledger-receipt'),
      estimated: record.estimated,
      energy: {
        active: {
          microJoules: record.activeEnergyMicroJoules,
          joules: Number(record.activeEnergyMicroJoules) / 1e6,
        },
      },
      co2e: { boundary: record.comprehensive === null ? 'active' : 'comprehensive' },
    });
    expect(BigInt(record.activeEnergyMicroJoules)).toBeGreaterThan(0n);
    // Conservation: the record is the sum of its device shares; the inline figure is the record's.
    const devices = record.devices.reduce((sum, d) => sum + BigInt(d.microJoules), 0n);
    expect(devices).toBe(BigInt(record.activeEnergyMicroJoules) + BigInt(record.hostEnergyMicroJoules));
    const text = chunks.map((chunk) => chunk.choices[0]?.delta.content ?? '').join('');
    expect(text.startsWith("I'm unable to provide")).toBe(true);
  });

  it('keeps the usage chunk a client asked for last: the energy chunk comes just before it', async () => {
    next = () => replay(OPENAI, { split: 64 });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks).toHaveLength(34); // 32 content chunks, the energy chunk, the usage chunk
    expect(chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 14, completion_tokens: 30 });
    expect(chunks.at(-2)).toMatchObject({
      choices: [{ index: 0, delta: { content: '' } }],
      wattledger: { status: 'final' },
    });
    expect(chunks.at(-2)!.usage).toBeUndefined();
  });

  it('runs the most common hand-written loop, choices[0].delta.content on every chunk, unchanged', async () => {
    next = () => replay(OPENAI, { split: 64 });
    const response = await fetch(`${rig.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: MESSAGES, stream: true }),
    });
    const body = await response.text();
    // The loop as people write it: every data line but [DONE], no check of choices' length.
    let text = '';
    let sawEnergy = false;
    for (const data of dataOf(body)) {
      if (data === '[DONE]') break;
      const chunk = JSON.parse(data);
      text += chunk.choices[0].delta.content ?? '';
      sawEnergy ||= chunk.wattledger !== undefined;
    }
    expect(sawEnergy).toBe(true);
    expect(text.startsWith("I'm unable to provide")).toBe(true);
    expect(text).not.toContain('undefined');
  });

  it('works with the chat stream helper (finalChatCompletion)', async () => {
    next = () => replay(OPENAI, { split: 64 });
    const runner = client.chat.completions.stream({ model: 'gpt-4o', messages: MESSAGES });
    const final = await runner.finalChatCompletion();
    expect(final.choices[0]!.message.content!.startsWith("I'm unable to provide")).toBe(true);
  });

  it('adds a top-level wattledger member to a non-streamed body, with a true content-length', async () => {
    const completion = {
      id: 'chatcmpl-x',
      object: 'chat.completion',
      created: 1,
      model: 'gpt-4o',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Atlantic' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 20, completion_tokens: 1, total_tokens: 21 },
    };
    const raw = Buffer.from(JSON.stringify(completion));
    next = () => ({
      headers: [
        ['content-type', 'application/json'],
        ['content-length', String(raw.length)],
      ],
      body: raw,
      split: 10,
    });
    const { data, response } = await client.chat.completions
      .create({ model: 'gpt-4o', messages: MESSAGES })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe('Atlantic');
    const id = response.headers.get('x-wattledger-request-id')!;
    const wattledger = (data as unknown as { wattledger: Record<string, unknown> }).wattledger;
    expect(wattledger).toMatchObject({ status: 'final', requestId: id });
    expect(wattledger.energy).toMatchObject({
      active: { microJoules: rig.records.get(id)!.activeEnergyMicroJoules },
    });

    // The bytes: the upstream's, plus one member; the length header says so.
    const direct = await postJson(`${rig.url}/v1/chat/completions`, { model: 'gpt-4o', messages: MESSAGES });
    expect(Number(direct.headers.get('content-length'))).toBe(direct.bytes.length);
    const text = direct.bytes.toString();
    expect(text.startsWith(raw.toString().slice(0, -1))).toBe(true);
    const { wattledger: _, ...rest } = JSON.parse(text);
    expect(rest).toEqual(completion);
  });

  it('creates embeddings with the energy in the body (Ollama recording)', async () => {
    next = () => replay('ollama-all-minilm-embeddings.cassette.yaml');
    const result = await client.embeddings.create({
      model: 'all-minilm:33m',
      input: ['x'],
      encoding_format: 'float',
    });
    expect(result.data[0]!.embedding).toHaveLength(384);
    expect((result as unknown as { wattledger: { status: string } }).wattledger.status).toBe('final');
  });

  it('streams a Responses API call: a keepalive event with the energy after response.completed', async () => {
    next = () => replay('openai-responses-api-stream-usage.cassette.yaml', { split: 512 });
    const stream = await client.responses.create({ model: 'gpt-5', input: 'Calculate', stream: true });
    const events: Array<{ type: string; wattledger?: { status: string } }> = [];
    for await (const event of stream) events.push(event as (typeof events)[number]);
    expect(events.at(-2)!.type).toBe('response.completed');
    expect(events.at(-1)).toMatchObject({ type: 'keepalive', wattledger: { status: 'final' } });
    const sequence = (events.at(-2) as unknown as { sequence_number: number }).sequence_number;
    expect((events.at(-1) as unknown as { sequence_number: number }).sequence_number).toBe(sequence + 1);

    next = () => replay('openai-responses-api-stream-usage.cassette.yaml', { split: 512 });
    const helper = client.responses.stream({ model: 'gpt-5', input: 'Calculate' });
    const final = await helper.finalResponse();
    expect(final.status).toBe('completed');
  });

  it('relays upstream errors untouched', async () => {
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
      },
    );
  });
});

describe('proxy.inlineEnergy: every recording, and the records that do not come', () => {
  it('replays every fixture: the upstream bytes, plus one energy event before the usage chunk, [DONE] or the end', async () => {
    for (const fixture of FIXTURE_CASES) {
      const upstreamBody = loadFixture(fixture.file).body;
      for (const askUsage of fixture.stream && fixture.operation === 'chat' ? [false, true] : [false]) {
        for (const split of ['whole', 'events', 7] as const) {
          next = () =>
            replay(fixture.file, { split: split === 'events' ? eventSplits(upstreamBody) : split });
          const request =
            fixture.operation === 'embedding'
              ? { model: 'all-minilm:33m', input: ['x'] }
              : fixture.operation === 'responses'
                ? { model: 'gpt-5', input: 'x', stream: true }
                : {
                    model: 'gpt-4o',
                    messages: MESSAGES,
                    stream: true,
                    ...(askUsage ? { stream_options: { include_usage: true } } : {}),
                  };
          const response = await postJson(rig.url + fixture.path, request);
          const where = `${fixture.file} split ${split}${askUsage ? ' include_usage' : ''}`;
          expect(response.status, where).toBe(200);
          const id = response.headers.get('x-wattledger-request-id')!;
          const injected = fixture.operation === 'chat' && !askUsage;
          const expected = (injected ? withoutUsageChunk(upstreamBody) : upstreamBody).toString();
          const text = response.bytes.toString();
          if (!fixture.stream) {
            const { wattledger, ...rest } = JSON.parse(text);
            expect(rest).toEqual(JSON.parse(expected));
            expect(wattledger).toMatchObject({ status: 'final', requestId: id });
            continue;
          }
          const { rest, energy } = takeEnergyEvent(text);
          expect(rest, where).toBe(expected);
          expect(energy!.wattledger).toMatchObject({ status: 'final', requestId: id });
          // Where: after every content event, before the usage chunk the client asked for and [DONE].
          const upstreamData = dataOf(expected);
          const isUsageChunk = (d: string) => /^\{.*"choices":\s*\[\].*"usage":\s*\{/.test(d);
          const firstHeld = upstreamData.findIndex((d) => d === '[DONE]' || isUsageChunk(d));
          const at = dataOf(text).findIndex((d) => d.includes('"wattledger"'));
          expect(at, where).toBe(firstHeld < 0 ? upstreamData.length : firstHeld);
        }
      }
    }
  });

  it('sends status pending after the max wait when the device never catches up, and forgets the wait', async () => {
    const stalled = await startRig(fake, { inlineEnergy: true, inlineEnergyMaxWaitMs: 150 });
    stalled.ticking = false;
    try {
      next = () => replay(OPENAI, { split: 64 });
      const stalledClient = new OpenAI({ apiKey: 'sk-test', baseURL: `${stalled.url}/v1`, maxRetries: 0 });
      const t0 = performance.now();
      const { data: stream, response } = await stalledClient.chat.completions
        .create({ model: 'gpt-4o', messages: MESSAGES, stream: true })
        .withResponse();
      const chunks = [];
      for await (const chunk of stream) chunks.push(chunk);
      const elapsed = performance.now() - t0;
      const id = response.headers.get('x-wattledger-request-id')!;
      expect((chunks.at(-1) as unknown as { wattledger: unknown }).wattledger).toEqual({
        status: 'pending',
        requestId: id,
        receipt: `/v1/receipts/${id}`,
      });
      expect(chunks).toHaveLength(33);
      expect(elapsed).toBeGreaterThanOrEqual(140);
      expect(elapsed).toBeLessThan(2000);

      next = () => ({ headers: [['content-type', 'application/json']], body: Buffer.from('{"id":"x"}') });
      const json = await postJson(`${stalled.url}/v1/chat/completions`, {
        model: 'gpt-4o',
        messages: MESSAGES,
      });
      expect(JSON.parse(json.bytes.toString())).toMatchObject({ id: 'x', wattledger: { status: 'pending' } });
    } finally {
      await stalled.close();
    }
  });

  it('with the option off, relays every byte as before', async () => {
    const off = await startRig(fake, {});
    try {
      const fixture = FIXTURE_CASES.find((f) => f.file === OPENAI)!;
      next = () => replay(fixture.file);
      const response = await postJson(`${off.url}/v1/chat/completions`, {
        model: 'gpt-4o',
        messages: MESSAGES,
        stream: true,
      });
      expect(response.bytes.toString()).toBe(withoutUsageChunk(loadFixture(OPENAI).body).toString());
      next = () => replay('ollama-all-minilm-embeddings.cassette.yaml');
      const json = await postJson(`${off.url}/v1/embeddings`, { model: 'all-minilm:33m', input: ['x'] });
      expect(json.bytes.equals(loadFixture('ollama-all-minilm-embeddings.cassette.yaml').body)).toBe(true);
    } finally {
      await off.close();
    }
  });

  it('an upstream that breaks mid-body: a clean 502 for a held JSON body, a broken stream for SSE', async () => {
    const completion = Buffer.from(JSON.stringify({ id: 'x', choices: [], pad: 'p'.repeat(4000) }));
    next = () => ({
      headers: [['content-type', 'application/json']],
      body: completion,
      split: 1000,
      failAfterBytes: 2000,
      fail: 'reset',
    });
    const json = await postJson(`${rig.url}/v1/chat/completions`, { model: 'gpt-4o', messages: MESSAGES });
    expect(json.status).toBe(502);
    expect(json.headers.get('x-wattledger-request-id')).not.toBeNull();
    expect(JSON.parse(json.bytes.toString()).error.code).toBe('upstream_connection_failed');

    // Cut short but ended cleanly: not a JSON object any more, so relayed as it came.
    next = () => ({
      headers: [['content-type', 'application/json']],
      body: completion,
      failAfterBytes: 2000,
      fail: 'truncate',
    });
    const cut = await postJson(`${rig.url}/v1/chat/completions`, { model: 'gpt-4o', messages: MESSAGES });
    expect(cut.bytes.equals(completion.subarray(0, 2000))).toBe(true);

    next = () => ({ ...replay(OPENAI), split: 500, failAfterBytes: 2_000, fail: 'reset' });
    const stream = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: MESSAGES,
      stream: true,
    });
    const chunks: unknown[] = [];
    await expect(
      (async () => {
        for await (const chunk of stream) chunks.push(chunk);
      })(),
    ).rejects.toThrow();
    expect(chunks.some((chunk) => JSON.stringify(chunk).includes('wattledger'))).toBe(false);
  });

  it('a waiter that throws or rejects costs a pending energy, never the response', async () => {
    const failing = [
      () => {
        throw new Error('waiter bug');
      },
      () => Promise.reject(new Error('waiter rejected')),
    ];
    for (const waitFor of failing) {
      const h = await startProxy(fake, { inlineEnergy: { maxWaitMs: 100, waitFor } });
      try {
        next = () => replay(OPENAI);
        const response = await postJson(`${h.url}/v1/chat/completions`, {
          model: 'gpt-4o',
          messages: MESSAGES,
          stream: true,
        });
        const { rest, energy } = takeEnergyEvent(response.bytes.toString());
        expect(rest).toBe(withoutUsageChunk(loadFixture(OPENAI).body).toString());
        expect(energy!.wattledger).toMatchObject({ status: 'pending' });
      } finally {
        await h.close();
      }
    }
  });

  it('a client that leaves while the proxy waits breaks nothing', async () => {
    const stalled = await startRig(fake, { inlineEnergy: true, inlineEnergyMaxWaitMs: 300 });
    stalled.ticking = false;
    try {
      next = () => replay(OPENAI);
      const controller = new AbortController();
      const response = await fetch(`${stalled.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages: MESSAGES, stream: true }),
        signal: controller.signal,
      });
      const reader = response.body!.getReader();
      await reader.read(); // the content arrives before the wait
      controller.abort();
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(stalled.pipeline.proxy!.stats()).toMatchObject({ inFlight: 0, measurementErrors: 0 });
    } finally {
      await stalled.close();
    }
  });
});
