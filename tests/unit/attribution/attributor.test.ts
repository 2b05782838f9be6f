import { describe, expect, it } from 'vitest';
import { canonicalBytes } from '../../../src/attest/canonical.js';
import { allocate } from '../../../src/attribution/allocate.js';
import { Attributor } from '../../../src/attribution/attributor.js';
import { AttributionError } from '../../../src/attribution/errors.js';
import type { AttributorOptions } from '../../../src/attribution/options.js';
import type { RequestRecord } from '../../../src/ledger/record-log.js';
import type { MeterTick } from '../../../src/meter/types.js';
import type { RequestEventSink } from '../../../src/requests/types.js';
import {
  checkConservation,
  collecting,
  EPOCH_UNIX_NANOS,
  end,
  interval,
  MS,
  progress,
  recordEnergy,
  S,
  start,
  usage,
} from './fixtures.js';

const IDLE_W = 50_000; // 50 W in mW: 50 J = 50,000,000 µJ idle per GPU-second
const J = 1_000_000n;

const base: Omit<AttributorOptions, 'onAllocation' | 'onRecord'> = {
  engines: [
    { engineId: 'e1', deviceIds: ['gpu0', 'gpu1'], models: ['llama'] },
    { engineId: 'e2', deviceIds: ['gpu2'], models: ['qwen'] },
  ],
  hostDeviceIds: ['rapl0'],
  idlePowerMilliWatts: new Map([
    ['gpu0', IDLE_W],
    ['gpu1', IDLE_W],
    ['gpu2', IDLE_W],
    ['rapl0', 20_000],
  ]),
  // GPUs draw at most 700 W: no request takes more of one than 700 W × its in-flight time.
  powerLimitMilliWatts: new Map([
    ['gpu0', 700_000],
    ['gpu1', 700_000],
    ['gpu2', 700_000],
  ]),
};

/** One-GPU setup without a host device, for tests about a single device. */
const single: typeof base = {
  engines: [{ engineId: 'e1', deviceIds: ['gpu0'], models: [] }],
  hostDeviceIds: [],
  idlePowerMilliWatts: new Map([['gpu0', IDLE_W]]),
  powerLimitMilliWatts: new Map([['gpu0', 700_000]]),
};

let seq = 0;
function tick(t0: bigint, t1: bigint, energies: Record<string, bigint | null>): MeterTick {
  return {
    probe: 'simulated',
    seq: seq++,
    monoNanos: t1,
    unixNanos: EPOCH_UNIX_NANOS + t1,
    intervals: Object.entries(energies).map(([id, e]) => interval(id, t0, t1, e)),
  };
}
const sharesOf = (a: { shares: readonly { requestId: string; microJoules: bigint }[] } | undefined) =>
  Object.fromEntries((a?.shares ?? []).map((s) => [s.requestId, s.microJoules]));

describe('Attributor splits', () => {
  it('gives prefill-heavy and decode-heavy requests energy in proportion to a·prefill + b·decode', () => {
    const { attributor, allocations, records } = collecting(single);
    attributor.onEvent(start('prefill', 'e1', 0n));
    attributor.onEvent(start('decode', 'e1', 0n));
    attributor.onEvent(end('prefill', S, usage(4_000, 10)));
    attributor.onEvent(end('decode', S, usage(100, 900)));
    attributor.onTick(tick(0n, S, { gpu0: 300n * J }));
    expect(allocations).toHaveLength(1);
    const [a] = allocations;
    expect(a).toMatchObject({ idleMicroJoules: 50n * J, unattributedMicroJoules: 0n, weighting: 'tokens' });
    // a=1, b=4 in milli-tokens: 4,000,000 + 40,000 against 100,000 + 3,600,000.
    const [p, d] = allocate(250n * J, [4_040_000n, 3_700_000n]);
    expect(sharesOf(a)).toEqual({ prefill: p, decode: d });
    expect(records.map((r) => [r.requestId, r.activeEnergyMicroJoules])).toEqual([
      ['prefill', String(p)],
      ['decode', String(d)],
    ]);
    checkConservation(allocations);
  });

  it('honours configured weights: with b=0 only prefill counts', () => {
    const { attributor, allocations } = collecting({ ...single, prefillWeight: 1, decodeWeight: 0 });
    attributor.onEvent(start('a', 'e1', 0n));
    attributor.onEvent(start('b', 'e1', 0n));
    attributor.onEvent(end('a', S, usage(300, 1_000)));
    attributor.onEvent(end('b', S, usage(150, 1, 50)));
    attributor.onTick(tick(0n, S, { gpu0: 70n * J }));
    expect(sharesOf(allocations[0])).toEqual({ a: 15n * J, b: 5n * J });
    expect(attributor.method).toBe('tokens-v1(a=1,b=0,idle=configured)');
  });

  it('puts everything below the idle baseline into idle, even with requests in flight', () => {
    const { attributor, allocations } = collecting(single);
    attributor.onEvent(start('r', 'e1', 0n));
    attributor.onEvent(end('r', S, usage(10, 10)));
    attributor.onTick(tick(0n, S, { gpu0: 30n * J }));
    expect(allocations[0]).toMatchObject({
      energyMicroJoules: 30n * J,
      idleMicroJoules: 30n * J,
      requestsMicroJoules: 0n,
      unattributedMicroJoules: 0n,
      shares: [],
    });
  });

  it('leaves active energy unattributed when no request overlaps, and on unassigned devices', () => {
    const { attributor, allocations } = collecting(single);
    attributor.onTick(tick(0n, S, { gpu0: 80n * J, nvme0: 7n * J }));
    expect(
      allocations.map((a) => [a.deviceId, a.role, a.idleMicroJoules, a.unattributedMicroJoules]),
    ).toEqual([
      ['gpu0', 'engine', 50n * J, 30n * J],
      ['nvme0', 'unassigned', 0n, 7n * J],
    ]);
  });

  it('gives a request overlapping part of an interval only the work it did there', () => {
    const { attributor, allocations, records } = collecting(single);
    attributor.onEvent(start('whole', 'e1', 0n));
    attributor.onEvent(start('part', 'e1', 500n * MS));
    attributor.onEvent(end('part', 1_500n * MS, usage(0, 1_000)));
    attributor.onEvent(end('whole', 2n * S, usage(0, 2_000)));
    attributor.onTick(tick(0n, S, { gpu0: 80n * J }));
    attributor.onTick(tick(S, 2n * S, { gpu0: 110n * J }));
    // Decode spread uniformly: whole does 1,000 tokens per second, part 500 in each interval.
    expect(sharesOf(allocations[0])).toEqual({ whole: 20n * J, part: 10n * J });
    expect(sharesOf(allocations[1])).toEqual({ whole: 40n * J, part: 20n * J });
    expect(records.map((r) => [r.requestId, r.activeEnergyMicroJoules])).toEqual([
      ['part', String(30n * J)],
      ['whole', String(60n * J)],
    ]);
  });

  it('splits by time overlap when every token weight is 0', () => {
    const { attributor, allocations } = collecting(single);
    attributor.onEvent(start('a', 'e1', 0n));
    attributor.onEvent(start('b', 'e1', 750n * MS));
    attributor.onEvent(end('a', S, usage(0, 0)));
    attributor.onEvent(end('b', 2n * S, usage(0, 0)));
    attributor.onTick(tick(0n, S, { gpu0: 100n * J }));
    expect(allocations[0]).toMatchObject({ weighting: 'time', estimated: false });
    expect(sharesOf(allocations[0])).toEqual({ a: 40n * J, b: 10n * J });
  });

  it('splits a shared host device over the requests of both engines, GPUs over their own', () => {
    const { attributor, allocations, records } = collecting(base);
    attributor.onEvent(start('a', 'e1', 0n));
    attributor.onEvent(start('b', 'e2', 0n));
    attributor.onEvent(end('a', S, usage(1_000, 0)));
    attributor.onEvent(end('b', S, usage(0, 750)));
    attributor.onTick(tick(0n, S, { gpu0: 150n * J, gpu1: 250n * J, gpu2: 90n * J, rapl0: 50n * J }));
    const byDevice = Object.fromEntries(allocations.map((x) => [x.deviceId, sharesOf(x)]));
    expect(byDevice).toEqual({
      gpu0: { a: 100n * J },
      gpu1: { a: 200n * J },
      gpu2: { b: 40n * J },
      // Host: 50 J − 20 J idle, split 1,000,000 : 3,000,000.
      rapl0: { a: 7_500_000n, b: 22_500_000n },
    });
    const a = records.find((r) => r.requestId === 'a');
    expect(a).toMatchObject({
      gpuDeviceIds: ['gpu0', 'gpu1'],
      activeEnergyMicroJoules: String(300n * J),
      hostEnergyMicroJoules: '7500000',
      devices: [
        { deviceId: 'gpu0', microJoules: String(100n * J) },
        { deviceId: 'gpu1', microJoules: String(200n * J) },
        { deviceId: 'rapl0', microJoules: '7500000' },
      ],
    });
    const totals = checkConservation(allocations);
    expect(totals.requests).toBe(recordEnergy(records));
  });
});

describe('Attributor gaps', () => {
  it('attributes nothing in a gap and the bridged energy over the bridging interval span', () => {
    const { attributor, allocations, records } = collecting(single);
    attributor.onEvent(start('r', 'e1', 1_200n * MS));
    attributor.onEvent(end('r', 1_800n * MS, usage(0, 600)));
    attributor.onTick(tick(0n, S, { gpu0: 60n * J }));
    attributor.onTick(tick(S, 2n * S, { gpu0: null }));
    expect(allocations.map((a) => a.intervalEndMonoNanos)).toEqual([S]);
    // The request ended inside the gap: its record waits for the bridging interval.
    expect(records).toHaveLength(0);
    attributor.onInterval(interval('gpu0', S, 3n * S, 250n * J, S));
    expect(allocations[1]).toMatchObject({ intervalStartMonoNanos: S, idleMicroJoules: 100n * J });
    expect(sharesOf(allocations[1])).toEqual({ r: 150n * J });
    expect(records[0]).toMatchObject({
      requestId: 'r',
      activeEnergyMicroJoules: String(150n * J),
      estimated: false,
    });
  });
});

describe('Attributor deferral', () => {
  it('waits for the end of every overlapping request, then allocates in order', () => {
    const { attributor, allocations, records } = collecting(single);
    attributor.onEvent(start('r', 'e1', 0n));
    attributor.onTick(tick(0n, S, { gpu0: 100n * J }));
    attributor.onTick(tick(S, 2n * S, { gpu0: 100n * J }));
    expect(allocations).toHaveLength(0);
    expect(attributor.stats()).toMatchObject({ pendingIntervals: 2, inFlight: 1 });
    attributor.onEvent(end('r', 1_500n * MS, usage(10, 10)));
    expect(allocations).toHaveLength(0);
    attributor.advance(2n * S);
    expect(allocations.map((a) => [a.intervalEndMonoNanos, a.weighting, a.estimated])).toEqual([
      [S, 'tokens', false],
      [2n * S, 'tokens', false],
    ]);
    expect(records).toHaveLength(1);
    expect(records[0]?.activeEnergyMicroJoules).toBe(String(100n * J));
    expect(attributor.stats()).toMatchObject({ pendingIntervals: 0, pendingRecords: 0, tracked: 0 });
  });

  it('after the max delay splits by time overlap and marks the allocation and record estimated', () => {
    const { attributor, allocations, records } = collecting({ ...single, maxDelayNanos: 5n * S });
    attributor.onEvent(start('open', 'e1', 0n));
    attributor.onEvent(start('done', 'e1', 500n * MS));
    attributor.onEvent(end('done', S, usage(5_000, 5_000)));
    attributor.onTick(tick(0n, S, { gpu0: 125n * J }));
    attributor.advance(5_999n * MS);
    expect(allocations).toHaveLength(0);
    attributor.advance(6n * S);
    expect(allocations[0]).toMatchObject({ weighting: 'mixed', estimated: true });
    // The open request's tokens are unknown: it takes its time share (1 s of 1.5 s in flight);
    // done, whatever its tokens, shares the rest by them (alone here).
    expect(sharesOf(allocations[0])).toEqual({ open: 50n * J, done: 25n * J });
    expect(records.map((r) => [r.requestId, r.estimated])).toEqual([['done', true]]);
    attributor.onEvent(end('open', 6_500n * MS, usage(1, 1)));
    attributor.onTick(tick(S, 7n * S, { gpu0: 300n * J }));
    expect(allocations[1]).toMatchObject({ weighting: 'tokens', estimated: false });
    expect(records[1]).toMatchObject({ requestId: 'open', estimated: true, outcome: 'ok' });
  });

  it('waits at least the min delay for late events', () => {
    const { attributor, allocations } = collecting({ ...single, minDelayNanos: 2n * S });
    attributor.onTick(tick(0n, S, { gpu0: 60n * J }));
    attributor.onEvent(start('late', 'e1', 500n * MS));
    attributor.onEvent(end('late', 900n * MS, usage(1, 1)));
    attributor.advance(3n * S);
    expect(sharesOf(allocations[0])).toEqual({ late: 10n * J });
  });

  it('releases a record incomplete after the max delay when a device never reports', () => {
    const { attributor, records } = collecting({ ...base, maxDelayNanos: S });
    attributor.onEvent(start('r', 'e2', 0n));
    attributor.onEvent(end('r', 500n * MS, usage(1, 1)));
    attributor.onTick(tick(0n, S, { gpu2: 60n * J }));
    expect(records).toHaveLength(0);
    attributor.advance(1_500n * MS);
    expect(records[0]).toMatchObject({
      requestId: 'r',
      activeEnergyMicroJoules: String(10n * J),
      estimated: true,
    });
  });

  it('flushes everything on shutdown', () => {
    const { attributor, allocations, records } = collecting(single);
    attributor.onEvent(start('open', 'e1', 0n));
    attributor.onEvent(start('done', 'e1', 0n));
    attributor.onEvent(end('done', S, usage(1, 1)));
    attributor.onTick(tick(0n, S, { gpu0: 70n * J }));
    attributor.flush();
    expect(sharesOf(allocations[0])).toEqual({ open: 10n * J, done: 10n * J });
    expect(records.map((r) => r.requestId)).toEqual(['done']);
    expect(attributor.stats()).toMatchObject({ inFlight: 1, pendingIntervals: 0 });
  });
});

describe('Attributor events', () => {
  it('counts unknown, duplicate and out-of-order events and keeps conservation', () => {
    const { attributor, allocations, records } = collecting(single);
    const sink: RequestEventSink = attributor.onEvent;
    sink(start('other', 'e1', 2n * S));
    expect(attributor.stats().inFlight).toBe(1);
    expect(attributor.onEvent(progress('ghost', 10n, 1))).toBe('unknown');
    expect(attributor.onEvent(start('r', 'e1', 100n * MS))).toBe('accepted');
    expect(attributor.onEvent(start('r', 'e1', 200n * MS))).toBe('duplicate');
    expect(attributor.onEvent(progress('r', 300n * MS, 4))).toBe('accepted');
    expect(attributor.onEvent(progress('r', 250n * MS, 5))).toBe('out-of-order');
    expect(attributor.onEvent(end('ghost', 400n * MS, usage(1, 1)))).toBe('unknown');
    expect(attributor.onEvent(end('r', 500n * MS, usage(8, 4)))).toBe('accepted');
    expect(attributor.onEvent(end('r', 600n * MS, usage(8, 4)))).toBe('duplicate');
    attributor.onTick(tick(0n, S, { gpu0: 90n * J }));
    expect(sharesOf(allocations[0])).toEqual({ r: 40n * J });
    expect(records).toHaveLength(1);
    expect(attributor.stats()).toMatchObject({ unknown: 2, duplicate: 2, outOfOrder: 1 });
    attributor.onInterval(interval('gpu0', 0n, S, 5n * J));
    expect(attributor.stats().staleIntervals).toBe(1);
  });

  it('closes an evicted request with outcome evicted and a time share, estimated', () => {
    const { attributor, allocations, records } = collecting({ ...single, maxInFlight: 1 });
    attributor.onEvent(start('old', 'e1', 0n));
    attributor.onEvent(start('new', 'e1', 600n * MS));
    attributor.onEvent(end('new', S, usage(1, 1)));
    attributor.onTick(tick(0n, S, { gpu0: 150n * J }));
    expect(allocations[0]).toMatchObject({ weighting: 'mixed', estimated: true });
    // old (no tokens) takes its time share, 0.6 s of 1 s in flight; new the rest by its tokens.
    expect(sharesOf(allocations[0])).toEqual({ old: 60n * J, new: 40n * J });
    expect(records.map((r) => [r.requestId, r.outcome, r.estimated])).toEqual([
      ['old', 'evicted', true],
      ['new', 'ok', true],
    ]);
    expect(attributor.stats().evicted).toBe(1);
  });
});

describe('Attributor records and options', () => {
  it('builds a canonical-JSON record with every field', () => {
    const { attributor, records } = collecting(single);
    attributor.onEvent({ ...start('req-1', 'e1', 100n * MS, 'llama'), traceId: 'ab'.repeat(16) });
    attributor.onEvent(progress('req-1', 350n * MS, 1));
    attributor.onEvent(progress('req-1', 600n * MS, 3));
    attributor.onEvent({ ...end('req-1', 700n * MS, usage(20, 3, 4)), httpStatus: 200 });
    attributor.onTick(tick(0n, S, { gpu0: 51n * J }));
    const record = records[0] as RequestRecord;
    expect(record).toEqual({
      recordVersion: 1,
      requestId: 'req-1',
      engineId: 'e1',
      gpuDeviceIds: ['gpu0'],
      model: 'llama',
      operation: 'chat',
      source: 'proxy',
      traceId: 'ab'.repeat(16),
      startedAt: '2025-01-01T00:00:00.100Z',
      endedAt: '2025-01-01T00:00:00.700Z',
      durationNanos: '600000000',
      timeToFirstTokenNanos: '250000000',
      inputTokens: 20,
      cachedInputTokens: 4,
      outputTokens: 3,
      tokensSource: 'usage',
      outcome: 'ok',
      httpStatus: 200,
      activeEnergyMicroJoules: '1000000',
      hostEnergyMicroJoules: '0',
      // The one request in flight gets the idle energy of its time in flight (50 W × 0.6 s).
      idleShareMicroJoules: '30000000',
      devices: [{ deviceId: 'gpu0', microJoules: '1000000', idleShareMicroJoules: '30000000' }],
      attributionMethod: 'tokens-v1(a=1,b=4,idle=configured)',
      estimated: false,
      comprehensive: null,
    });
    expect(() => canonicalBytes(record)).not.toThrow();
  });

  it('refuses contradictory options, listing every problem', () => {
    const bad = () =>
      new Attributor({
        ...base,
        engines: [...base.engines, { engineId: 'e3', deviceIds: ['gpu0', 'rapl0'], models: [] }],
        prefillWeight: 0,
        decodeWeight: 0,
        minDelayNanos: 10n,
        maxDelayNanos: 5n,
      });
    expect(bad).toThrow(AttributionError);
    expect(bad).toThrow(/gpu0 is in engines e1 and e3.*rapl0 is both/);
    expect(bad).toThrow(/cannot both be 0/);
    expect(bad).toThrow(/minDelayNanos/);
  });
});
