import { describe, expect, it } from 'vitest';
import { allocateCapped } from '../../../src/attribution/allocate.js';
import type { AttributorOptions } from '../../../src/attribution/options.js';
import type { RequestEnergyRecord } from '../../../src/attribution/types.js';
import type { MeterTick } from '../../../src/meter/types.js';
import {
  checkConservation,
  collecting,
  EPOCH_UNIX_NANOS,
  end,
  interval,
  MS,
  progress,
  seeded,
  start,
  usage,
} from './fixtures.js';

const J = 1_000_000n;
const LIMIT_MW = 700_000;

/** Two GPUs of one engine, 700 W each, idle configured 0 (the setting), one RAPL zone. */
const twoGpus: Omit<AttributorOptions, 'onAllocation' | 'onRecord'> = {
  engines: [{ engineId: 'e1', deviceIds: ['gpu0', 'gpu1'], models: [] }],
  hostDeviceIds: ['rapl0'],
  idlePowerMilliWatts: new Map(),
  powerLimitMilliWatts: new Map([
    ['gpu0', LIMIT_MW],
    ['gpu1', LIMIT_MW],
  ]),
};

let seq = 0;
function tick(t0: bigint, t1: bigint, energies: Record<string, bigint>): MeterTick {
  return {
    probe: 'simulated',
    seq: seq++,
    monoNanos: t1,
    unixNanos: EPOCH_UNIX_NANOS + t1,
    intervals: Object.entries(energies).map(([id, e]) => interval(id, t0, t1, e)),
  };
}

const gpuEnergy = (r: RequestEnergyRecord) =>
  BigInt(r.activeEnergyMicroJoules) + BigInt(r.idleShareMicroJoules);
/** µJ that 2 × 700 W allow over the record's duration. */
const ceiling = (r: RequestEnergyRecord) => (2n * BigInt(LIMIT_MW) * BigInt(r.durationNanos)) / 1_000_000n;

describe('allocateCapped', () => {
  it('gives what is over a cap to the others and leaves what none can take', () => {
    expect(allocateCapped(100n, [1n, 1n], [10n, 1000n])).toEqual({ shares: [10n, 90n], left: 0n });
    expect(allocateCapped(100n, [1n, 3n], [10n, 20n])).toEqual({ shares: [10n, 20n], left: 70n });
    expect(allocateCapped(100n, [0n, 1n], [50n, 0n])).toEqual({ shares: [0n, 0n], left: 100n });
    expect(allocateCapped(0n, [1n], [5n])).toEqual({ shares: [0n], left: 0n });
  });

  it('keeps Σ shares + left = total and every share within its cap, on random inputs', () => {
    const rand = seeded(11);
    for (let run = 0; run < 500; run++) {
      const n = 1 + rand.int(8);
      const weights = Array.from({ length: n }, () => BigInt(rand.int(5) === 0 ? 0 : rand.int(1000)));
      const caps = Array.from({ length: n }, () => rand.big(20));
      const total = rand.big(22);
      const { shares, left } = allocateCapped(total, weights, caps);
      expect(shares.reduce((a, b) => a + b, 0n) + left).toBe(total);
      shares.forEach((share, i) => {
        expect(share >= 0n && share <= (caps[i] as bigint)).toBe(true);
        if (weights[i] === 0n) expect(share).toBe(0n);
      });
    }
  });
});

describe('physical bounds of a split', () => {
  it('gives a short request alone in an interval at most the power limit × its time in flight', () => {
    // The issue: a 49 ms HTTP 500 alone in a 100 ms interval took the whole interval's energy.
    const { attributor, allocations, records } = collecting(twoGpus);
    attributor.onEvent(start('short', 'e1', 30n * MS));
    attributor.onEvent(progress('short', 60n * MS, 2));
    attributor.onEvent(end('short', 79n * MS, usage(10, 2)));
    attributor.onTick(tick(0n, 100n * MS, { gpu0: 120n * J, gpu1: 120n * J, rapl0: 5n * J }));
    const record = records[0] as RequestEnergyRecord;
    expect(gpuEnergy(record) <= ceiling(record)).toBe(true);
    // 700 W × 49 ms = 34.3 J per GPU: the rest of each GPU's 120 J stays unattributed.
    expect(record.devices.find((d) => d.deviceId === 'gpu0')?.microJoules).toBe('34300000');
    expect(allocations.find((a) => a.deviceId === 'gpu0')?.unattributedMicroJoules).toBe(
      120n * J - 34_300_000n,
    );
    // The host has no known limit: its average power × 49 of 100 ms.
    expect(record.hostEnergyMicroJoules).toBe(String((5n * J * 49n) / 100n));
    checkConservation(allocations);
  });

  it('gives a request that never reached the engine nothing at all, and says so', () => {
    const { attributor, allocations, records } = collecting({
      ...twoGpus,
      idlePowerMilliWatts: new Map([['gpu0', 50_000]]),
    });
    attributor.onEvent(start('refused', 'e1', 10n * MS));
    attributor.onEvent({ ...end('refused', 18n * MS, undefined, 'unreached'), httpStatus: 502 });
    attributor.onTick(tick(0n, 100n * MS, { gpu0: 30n * J, gpu1: 30n * J, rapl0: 5n * J }));
    expect(records[0]).toMatchObject({
      requestId: 'refused',
      outcome: 'unreached',
      activeEnergyMicroJoules: '0',
      idleShareMicroJoules: '0',
      hostEnergyMicroJoules: '0',
      estimated: false,
    });
    for (const a of allocations) {
      expect(a.shares).toEqual([]);
      expect(a.idleShares).toEqual([]);
    }
    checkConservation(allocations);
  });

  it('gives a server error the work its tokens show, at most its time share', () => {
    const { attributor, allocations, records } = collecting(twoGpus);
    attributor.onEvent(start('busy', 'e1', 0n));
    attributor.onEvent(start('failed', 'e1', 0n));
    attributor.onEvent(start('empty500', 'e1', 0n));
    attributor.onEvent(progress('failed', 50n * MS, 40));
    attributor.onEvent({ ...end('empty500', 49n * MS, undefined, 'error'), httpStatus: 500 });
    attributor.onEvent({ ...end('failed', 60n * MS, undefined, 'error'), httpStatus: 500 });
    attributor.onEvent(end('busy', 100n * MS, usage(0, 1)));
    attributor.onTick(tick(0n, 100n * MS, { gpu0: 60n * J, gpu1: 60n * J, rapl0: 0n }));
    const byId = Object.fromEntries(records.map((r) => [r.requestId, r]));
    // No tokens: no active energy, though it was in flight (its idle share is 0 with idle 0 here).
    expect(byId.empty500?.activeEnergyMicroJoules).toBe('0');
    // 40 decode tokens against busy's 1: by tokens it would take 97.6 %; its time share is
    // 60 ms of the 209 ms in flight, per GPU 60 J × 60/209.
    expect(byId.failed?.devices.find((d) => d.deviceId === 'gpu0')?.microJoules).toBe(
      String((60n * J * 60n) / 209n),
    );
    checkConservation(allocations);
  });

  it('bounds every record by its GPUs’ limit × its duration and conserves, on random loads', () => {
    const rand = seeded(7);
    for (let run = 0; run < 40; run++) {
      const { attributor, allocations, records } = collecting({
        ...twoGpus,
        idlePowerMilliWatts: new Map(rand.int(2) === 0 ? [] : [['gpu0', 60_000]]),
        hostDeviceIds: [],
      });
      const n = 1 + rand.int(12);
      for (let i = 0; i < n; i++) {
        const t0 = BigInt(rand.int(900)) * MS;
        const t1 = t0 + BigInt(1 + rand.int(400)) * MS;
        const id = `r${i}`;
        attributor.onEvent(start(id, 'e1', t0));
        const kind = rand.int(5);
        if (kind === 0) attributor.onEvent({ ...end(id, t1, undefined, 'unreached'), httpStatus: 502 });
        else if (kind === 1) attributor.onEvent({ ...end(id, t1, undefined, 'error'), httpStatus: 500 });
        else if (kind === 2) attributor.onEvent(end(id, t1));
        else attributor.onEvent(end(id, t1, usage(rand.int(5000), 1 + rand.int(300))));
      }
      // Each GPU at up to its limit, every 100 ms, for 1.4 s.
      for (let t = 0n; t < 1400n * MS; t += 100n * MS) {
        const e = () => (BigInt(rand.int(LIMIT_MW)) * 100n * MS) / 1_000_000n;
        attributor.onTick(tick(t, t + 100n * MS, { gpu0: e(), gpu1: e() }));
      }
      attributor.flush();
      expect(records).toHaveLength(n);
      for (const record of records) {
        expect(gpuEnergy(record) <= ceiling(record)).toBe(true);
        if (record.outcome === 'unreached') expect(gpuEnergy(record)).toBe(0n);
      }
      checkConservation(allocations);
    }
  });
});
