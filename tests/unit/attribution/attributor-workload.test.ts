import { describe, expect, it } from 'vitest';
import type { AttributorOptions } from '../../../src/attribution/options.js';
import type { RequestEvent } from '../../../src/requests/types.js';
import {
  checkConservation,
  collecting,
  EPOCH_UNIX_NANOS,
  end,
  interval,
  MS,
  progress,
  recordEnergy,
  recordIdleShare,
  S,
  seeded,
  start,
  usage,
} from './fixtures.js';

const options: Omit<AttributorOptions, 'onAllocation' | 'onRecord'> = {
  engines: [
    { engineId: 'e1', deviceIds: ['gpu0', 'gpu1'], models: [] },
    { engineId: 'e2', deviceIds: ['gpu2'], models: [] },
  ],
  hostDeviceIds: ['rapl0'],
  idlePowerMilliWatts: new Map([
    ['gpu0', 60_000],
    ['gpu1', 60_000],
    ['gpu2', 55_000],
    ['rapl0', 30_000],
  ]),
};
const DEVICES = ['gpu0', 'gpu1', 'gpu2', 'rapl0'];

/** 10,000 requests, all in flight around t = 1.2 s: streams, non-streams, missing usage, cache hits. */
function workload(seed: number, count: number): RequestEvent[] {
  const rand = seeded(seed);
  const events: RequestEvent[] = [];
  for (let i = 0; i < count; i++) {
    const id = `r${i}`;
    const t0 = BigInt(rand.int(1_000)) * MS + BigInt(rand.int(1_000_000));
    const t1 = 1_200n * MS + BigInt(rand.int(2_000)) * MS;
    events.push(start(id, rand.int(3) === 0 ? 'e2' : 'e1', t0));
    let tokens = 0;
    const chunks = rand.int(2) === 0 ? 0 : 1 + rand.int(12);
    for (let k = 1; k <= chunks; k++) {
      tokens += 1 + rand.int(8);
      events.push(progress(id, t0 + ((t1 - t0) * BigInt(k)) / BigInt(chunks + 1), tokens, true));
    }
    const input = rand.int(8_000);
    const tokensOut = chunks > 0 ? tokens + rand.int(3) : rand.int(500);
    events.push(end(id, t1, rand.int(100) === 0 ? undefined : usage(input, tokensOut, rand.int(input + 1))));
  }
  // Stable sort by time: the order a live daemon would see them in.
  return events.sort((a, b) => (a.monoNanos < b.monoNanos ? -1 : a.monoNanos > b.monoNanos ? 1 : 0));
}

function run(seed: number, count: number) {
  const rand = seeded(seed + 1);
  const { attributor, allocations, records } = collecting({ ...options, maxDelayNanos: 2n * S });
  const events = workload(seed, count);
  let fed = 0n;
  let next = 0;
  let peakInFlight = 0;
  for (let t = 0n; t < 4_000n * MS; t += 250n * MS) {
    const t1 = t + 250n * MS;
    while (next < events.length && (events[next] as RequestEvent).monoNanos <= t1) {
      attributor.onEvent(events[next] as RequestEvent);
      next++;
    }
    peakInFlight = Math.max(peakInFlight, attributor.stats().inFlight);
    const intervals = DEVICES.map((id) => {
      const energy = id === 'rapl0' && rand.int(10) === 0 ? null : BigInt(rand.int(90_000_000));
      fed += energy ?? 0n;
      return interval(id, t, t1, energy);
    });
    attributor.onTick({
      probe: 'simulated',
      seq: 0,
      monoNanos: t1,
      unixNanos: EPOCH_UNIX_NANOS + t1,
      intervals,
    });
  }
  attributor.flush();
  return { allocations, records, fed, peakInFlight, stats: attributor.stats() };
}

describe('Attributor under a seeded 10,000-request workload', () => {
  it('conserves energy exactly per interval and over the run, and closes every request', () => {
    const { allocations, records, fed, peakInFlight, stats } = run(2024, 10_000);
    expect(peakInFlight).toBe(10_000);
    const totals = checkConservation(allocations);
    expect(totals.energy).toBe(fed);
    expect(totals.requests + totals.idle + totals.unattributed).toBe(fed);
    expect(records).toHaveLength(10_000);
    expect(new Set(records.map((r) => r.requestId)).size).toBe(10_000);
    // Every µJ given to a request reaches exactly one record.
    expect(recordEnergy(records)).toBe(totals.requests);
    expect(totals.requests).toBeGreaterThan(0n);
    // And every µJ of idle shared to a request reaches exactly one record's idle share.
    expect(recordIdleShare(records)).toBe(totals.idleShared);
    expect(totals.idleShared).toBeGreaterThan(0n);
    expect(records.filter((r) => r.tokensSource !== 'usage').every((r) => r.estimated)).toBe(true);
    expect(stats).toMatchObject({ inFlight: 0, tracked: 0, pendingIntervals: 0, pendingRecords: 0 });
  });

  it('is deterministic: the same events give the same allocations and records', () => {
    const stringify = (value: unknown) =>
      JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
    const a = run(99, 500);
    const b = run(99, 500);
    expect(stringify(a.allocations)).toBe(stringify(b.allocations));
    expect(stringify(a.records)).toBe(stringify(b.records));
  });
});
