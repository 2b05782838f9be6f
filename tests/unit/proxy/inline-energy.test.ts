import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { buildFactorSnapshot, recordActiveImpact } from '../../../src/factors/index.js';
import { inlineEnergyOf, pendingEnergy } from '../../../src/proxy/inline-energy.js';
import { energyEvent, withEnergyMember } from '../../../src/proxy/inline-frame.js';
import { RecordWaiters } from '../../../src/proxy/record-waiter.js';
import { SseParser } from '../../../src/proxy/sse.js';
import { SseTap } from '../../../src/proxy/stream-tap.js';
import { chunksOf, FIXTURE_CASES, loadFixture } from '../../helpers/fake-upstream.js';

/**
 * The stream's bytes before its include_usage chunk or `data: [DONE]` event, whichever comes first,
 * and from there on, found by plain text search.
 */
function splitAtDone(body: Buffer): [Buffer, Buffer] {
  const text = body.toString('utf8');
  const at = text.search(/(^|\n)data: ?(\[DONE\]|\{.*"choices":\s*\[\].*"usage":\s*\{)/);
  if (at < 0) return [body, Buffer.alloc(0)];
  const start = text[at] === '\n' ? at + 1 : at;
  const offset = Buffer.byteLength(text.slice(0, start));
  return [body.subarray(0, offset), body.subarray(offset)];
}

describe('SseTap holding [DONE] (inline energy)', () => {
  const streams = FIXTURE_CASES.filter((f) => f.stream);
  for (const fixture of streams) {
    it(`${fixture.file}: forwards everything before the usage chunk or [DONE] as it comes, holds the rest`, () => {
      const body = loadFixture(fixture.file).body;
      const [before, done] = splitAtDone(body);
      for (const split of ['whole', 1, 7, 64, 997] as const) {
        const tap = new SseTap(
          fixture.operation === 'responses' ? 'responses' : 'chat',
          false,
          () => {},
          () => {},
          true,
        );
        const pieces = chunksOf(body, split).map((chunk) => tap.push(chunk));
        pieces.push(tap.finish());
        expect(Buffer.concat(pieces).toString()).toBe(before.toString());
        expect(tap.takeTail().toString()).toBe(done.toString());
        expect(tap.endedCleanly).toBe(true);
        expect(tap.usage).toEqual(fixture.usage);
      }
    });
  }

  it('reports a stream that ends inside an event as not ended cleanly', () => {
    const tap = new SseTap(
      'chat',
      false,
      () => {},
      () => {},
      true,
    );
    tap.push(Buffer.from('data: {"choices":[]}\n\ndata: {"cho'));
    expect(tap.finish().toString()).toBe('data: {"cho');
    expect(tap.endedCleanly).toBe(false);
  });

  it('remembers the first chunk’s id, object, created and model', () => {
    const body = loadFixture('openai-gpt4o-chat-stream-include-usage.sse').body;
    const tap = new SseTap(
      'chat',
      true,
      () => {},
      () => {},
      true,
    );
    tap.push(body);
    const first = JSON.parse(/^data: (.*)$/m.exec(body.toString())![1]!);
    expect(tap.identity).toEqual({
      id: first.id,
      object: 'chat.completion.chunk',
      created: first.created,
      model: first.model,
    });
  });
});

describe('the energy event and member', () => {
  const energy = pendingEnergy('req-7');

  it('shapes a chat chunk like the stream’s own, one choice that adds nothing, as one SSE event', () => {
    const identity = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 5, model: 'm' };
    const events: Array<{ event: string; data: string }> = [];
    new SseParser().push(energyEvent('chat', identity, energy), (e) => events.push(e));
    expect(events).toHaveLength(1);
    expect(events[0]!.event).toBe('message');
    const choice = { index: 0, delta: { content: '' }, logprobs: null, finish_reason: null };
    expect(JSON.parse(events[0]!.data)).toEqual({ ...identity, choices: [choice], wattledger: energy });
  });

  it('shapes a completions chunk with one empty text choice', () => {
    const identity = { id: 'cmpl-1', object: 'text_completion', created: 5, model: 'm' };
    const events: Array<{ event: string; data: string }> = [];
    new SseParser().push(energyEvent('completion', identity, energy), (e) => events.push(e));
    expect(JSON.parse(events[0]!.data).choices).toEqual([
      { index: 0, text: '', logprobs: null, finish_reason: null },
    ]);
  });

  it('sends a keepalive event after the last sequence number for the Responses API', () => {
    const events: Array<{ event: string; data: string }> = [];
    new SseParser().push(energyEvent('responses', undefined, energy, 41), (e) => events.push(e));
    expect(events[0]!.event).toBe('keepalive');
    expect(JSON.parse(events[0]!.data)).toEqual({
      type: 'keepalive',
      sequence_number: 42,
      wattledger: energy,
    });
  });

  it('adds a last member to a JSON object and keeps every other byte', () => {
    const body = Buffer.from('{"a": 1.50, "seed": 12345678901234567890}\n');
    const out = withEnergyMember(body, energy)!;
    expect(out.toString()).toBe(
      `{"a": 1.50, "seed": 12345678901234567890,"wattledger":${JSON.stringify(energy)}}\n`,
    );
    expect(withEnergyMember(Buffer.from('{ }'), energy)!.toString()).toBe(
      `{ "wattledger":${JSON.stringify(energy)}}`,
    );
    expect(JSON.parse(withEnergyMember(Buffer.from('{ }'), energy)!.toString()).wattledger).toEqual(energy);
  });

  it('leaves alone what is not a JSON object, or already has a wattledger member', () => {
    for (const text of ['[1,2]', 'null', '{"a":', 'not json', '{"wattledger":1}'])
      expect(withEnergyMember(Buffer.from(text), energy)).toBeUndefined();
  });
});

describe('inlineEnergyOf', () => {
  const record = { requestId: 'r1', estimated: false, activeEnergyMicroJoules: '7200000000' };

  it('reports the active boundary with its CO2e and water when there is no comprehensive one', () => {
    const factors = buildFactorSnapshot(
      configSchema.parse({
        factors: { zone: 'DE', wueMillilitersPerKilowattHour: 1800, wueSource: 'test' },
      }).factors,
    );
    const activeImpact = recordActiveImpact({ ...record, hostEnergyMicroJoules: '0' }, factors);
    const inline = inlineEnergyOf({ ...record, activeImpact, comprehensive: null }, factors);
    expect(inline).toMatchObject({
      status: 'final',
      requestId: 'r1',
      receipt: '/v1/receipts/r1',
      estimated: false,
      energy: { active: { microJoules: '7200000000', joules: 7200 }, comprehensive: null },
      co2e: { boundary: 'active', locationMicrograms: activeImpact.co2eLocationMicrograms },
      water: { boundary: 'active', onSiteMicroliters: '3600' }, // 2 Wh × 1.8 L/kWh = 3.6 mL
      factorSource: { zone: 'DE' },
    });
    expect(BigInt(inline.co2e.locationMicrograms!)).toBeGreaterThan(0n);
  });

  it('prefers the comprehensive boundary for CO2e and water when the record has it', () => {
    const factors = buildFactorSnapshot(configSchema.parse({}).factors);
    const activeImpact = recordActiveImpact({ ...record, hostEnergyMicroJoules: '0' }, factors);
    const comprehensive = {
      ...activeImpact,
      boundary: 'comprehensive' as const,
      pueMilli: 1200,
      facilityEnergyMicroJoules: '9000000000',
      waterOnSiteMicroliters: '42',
    };
    const inline = inlineEnergyOf({ ...record, activeImpact, comprehensive }, factors);
    expect(inline.energy.comprehensive).toEqual({ microJoules: '9000000000', joules: 9000, pueMilli: 1200 });
    expect(inline.co2e.boundary).toBe('comprehensive');
    expect(inline.water).toMatchObject({ boundary: 'comprehensive', onSiteMicroliters: '42' });
    expect(inline.factorSource).toBeNull();
  });
});

describe('RecordWaiters', () => {
  it('delivers to a waiter, and only builds the value when someone waits', async () => {
    const waiters = new RecordWaiters<string>();
    let built = 0;
    waiters.deliver('nobody', () => `${++built}`);
    expect(built).toBe(0);
    const waiting = waiters.wait('a', 10_000);
    expect(waiters.pending).toBe(1);
    waiters.deliver('a', () => `${++built}`);
    expect(await waiting).toBe('1');
    expect(waiters.pending).toBe(0);
  });

  it('resolves undefined after the wait and forgets the waiter', async () => {
    const waiters = new RecordWaiters<string>();
    const t0 = performance.now();
    expect(await waiters.wait('a', 30)).toBeUndefined();
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(waiters.pending).toBe(0);
    waiters.deliver('a', () => 'late'); // nobody waits any more: nothing happens
  });

  it('is bounded, refuses a second wait for one id, and survives a throwing builder', async () => {
    const waiters = new RecordWaiters<string>(2);
    const a = waiters.wait('a', 10_000);
    const again = waiters.wait('a', 10_000);
    const b = waiters.wait('b', 10_000);
    expect(await waiters.wait('c', 10_000)).toBeUndefined();
    expect(await again).toBeUndefined();
    waiters.deliver('a', () => {
      throw new Error('bad record');
    });
    expect(await a).toBeUndefined();
    waiters.clear();
    expect(await b).toBeUndefined();
    expect(waiters.pending).toBe(0);
  });
});
