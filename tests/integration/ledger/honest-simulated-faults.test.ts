import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BatchPredicate, WireDevice } from '../../../src/attest/batch-format.js';
import type { RequestEvent } from '../../../src/requests/types.js';
import {
  checkpointNotes,
  ledgerLines,
  SIM_ENGINE_ID,
  verifyLines,
  writeLedger,
} from '../../helpers/ledger-fixture.js';
import type { ManualClock } from '../../helpers/manual-clock.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { predicatesOf, windowContractViolations } from '../../helpers/window-contract.js';

// Honest ledgers on simulated GPUs told to misbehave (lost, reset, wrapping, a restart that the
// counters cannot back): each verifies with zero findings, keeps the device-window contract, and
// declares what happened instead of inventing energy.
let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTmpDir()));
afterEach(async () => cleanup());

const GPU0 = 'GPU-5140a7ed-0000-4000-8000-000000000001';
const GPU1 = 'GPU-5140a7ed-0000-4000-8000-000000000002';

async function honestLedger(): Promise<BatchPredicate[]> {
  const lines = await ledgerLines(dir);
  const report = verifyLines(lines, await checkpointNotes(dir));
  expect(report.findings).toEqual([]);
  expect(windowContractViolations(lines)).toEqual([]);
  return predicatesOf(lines);
}
const device = (p: BatchPredicate, id: string): WireDevice =>
  p.devices.find((d) => d.deviceId === id) as WireDevice;

describe('honest simulated ledgers', () => {
  it('does not count a lost GPU’s energy across batches: unmeasured batches, then an unbridged jump', async () => {
    await writeLedger(dir, { ticks: 60, faults: [{ kind: 'lose', gpu: 0, atMs: 1500, forMs: 2000 }] });
    const batches = await honestLedger();
    const lost = batches.filter((p) => device(p, GPU0).unmeasuredReason === 'device-lost');
    expect(lost.length).toBeGreaterThanOrEqual(1);
    for (const p of lost) {
      expect(device(p, GPU0).energyMicroJoules).toBe('0');
      expect(device(p, GPU0).gaps.every((g) => g.reason === 'device-lost' && !g.bridged)).toBe(true);
      expect(device(p, GPU1).unmeasuredReason).toBeNull(); // the other GPU is measured all along
    }
    const jumps = batches.flatMap((p) => device(p, GPU0).discontinuities);
    expect(jumps).toHaveLength(1);
    expect(jumps[0]?.reason).toBe('unbridged-gap');
    expect(BigInt(jumps[0]?.toMicroJoules ?? 0)).toBeGreaterThan(BigInt(jumps[0]?.fromMicroJoules ?? 0));
    // No listed gap claims a bridge the ledger did not make.
    expect(batches.flatMap((p) => device(p, GPU0).gaps).some((g) => g.bridged)).toBe(false);
  });

  it('bridges a short loss inside one batch with the counter, and says so', async () => {
    await writeLedger(dir, {
      ticks: 40,
      batchIntervalMs: 3000,
      faults: [{ kind: 'lose', gpu: 0, atMs: 1250, forMs: 300 }],
    });
    const batches = await honestLedger();
    const gaps = batches.flatMap((p) => device(p, GPU0).gaps);
    expect(gaps.length).toBeGreaterThan(0);
    expect(gaps.every((g) => g.reason === 'device-lost' && g.bridged)).toBe(true);
    expect(batches.flatMap((p) => device(p, GPU0).discontinuities)).toEqual([]);
  });

  it('declares a counter reset', async () => {
    await writeLedger(dir, { ticks: 40, faults: [{ kind: 'reset', gpu: 1, atMs: 1550 }] });
    const batches = await honestLedger();
    const resets = batches.flatMap((p) => device(p, GPU1).discontinuities);
    expect(resets.map((d) => d.reason)).toEqual(['counter-reset']);
    expect(batches.flatMap((p) => device(p, GPU0).discontinuities)).toEqual([]);
  });

  it('counts across the wraps of a counter with a wrap range', async () => {
    await writeLedger(dir, { ticks: 40, wrapMicroJoules: 50_000_000n });
    const batches = await honestLedger();
    expect(batches.reduce((n, p) => n + device(p, GPU0).wrapCount, 0)).toBeGreaterThan(0);
    expect(batches.every((p) => device(p, GPU0).wrapRangeMicroJoules === '50000000')).toBe(true);
  });

  it('counts the downtime in the first batch after a restart, even when it seals before any reading', async () => {
    const { clock } = await writeLedger(dir, { ticks: 25, batchIntervalMs: 300 });
    const before = (await ledgerLines(dir)).length;
    clock.advanceMillis(4_000);
    // The first tick comes 500 ms after the batcher starts: the window is due before any reading.
    await writeLedger(dir, { ticks: 10, batchIntervalMs: 300, clock, startDelayMs: 500 });
    const batches = await honestLedger();
    const first = batches[before] as BatchPredicate;
    expect(BigInt(first.window.downtimeNanos)).toBeGreaterThanOrEqual(4_000_000_000n);
    for (const id of [GPU0, GPU1]) {
      const d = device(first, id);
      expect(d.gaps[0]).toMatchObject({ reason: 'agent-downtime', bridged: true });
      expect(BigInt(d.downtimeEnergyMicroJoules)).toBeGreaterThan(0n);
      // Covered: the downtime, the 500 ms before the first reading, and the intervals after it.
      expect(BigInt(d.coveredNanos)).toBeGreaterThan(4_500_000_000n);
    }
    for (const p of batches.slice(before + 1)) expect(p.window.downtimeNanos).toBe('0');
  });

  it('declares a counter advance across downtime that the power limit cannot back, and counts none of it', async () => {
    const { clock } = await writeLedger(dir, { ticks: 25 });
    const before = (await ledgerLines(dir)).length;
    clock.advanceMillis(2_000);
    // A different model on the same GPU ids: its counter stands far beyond what 2 s could add.
    await writeLedger(dir, { ticks: 25, clock, idlePowerMilliWatts: 900_000, maxPowerMilliWatts: 900_000 });
    const batches = await honestLedger();
    const first = batches[before] as BatchPredicate;
    const d = device(first, GPU0);
    expect(d.downtimeEnergyMicroJoules).toBe('0');
    expect(d.gaps[0]).toMatchObject({ reason: 'agent-downtime', bridged: false });
    expect(d.discontinuities[0]?.reason).toBe('implausible-counter');
  });

  it('does not count downtime energy from a counter value read before the last batch ended', async () => {
    // GPU 0 is lost from 2 s on, so the last batch before the restart has its value from 2 s.
    const { clock } = await writeLedger(dir, { ticks: 35, faults: [{ kind: 'lose', gpu: 0, atMs: 2000 }] });
    const before = (await ledgerLines(dir)).length;
    clock.advanceMillis(2_000);
    await writeLedger(dir, { ticks: 25, clock });
    const batches = await honestLedger();
    const first = batches[before] as BatchPredicate;
    const lost = device(first, GPU0);
    expect(lost.downtimeEnergyMicroJoules).toBe('0');
    expect(lost.gaps[0]).toMatchObject({ reason: 'agent-downtime', bridged: false });
    expect(lost.discontinuities.map((d) => d.reason)).toEqual(['unbridged-gap']);
    const kept = device(first, GPU1);
    expect(kept.gaps[0]).toMatchObject({ reason: 'agent-downtime', bridged: true });
    expect(BigInt(kept.downtimeEnergyMicroJoules)).toBeGreaterThan(0n);
  });

  it('gives requests only energy the ledger counts when a lost GPU comes back in a later batch', async () => {
    // One request in flight from 0.2 s to 4.5 s on both GPUs; GPU 0 is lost from 1.5 s to 3.5 s.
    const events = (tick: number, clock: ManualClock): RequestEvent[] => {
      const at = {
        monoNanos: clock.monoNanos() - 10_000_000n,
        unixNanos: clock.wallUnixNanos() - 10_000_000n,
      };
      if (tick === 2)
        return [
          { type: 'start', requestId: 'r', source: 'proxy', engineId: SIM_ENGINE_ID, model: 'm', ...at },
        ];
      if (tick === 45) return [{ type: 'end', requestId: 'r', outcome: 'ok', ...at }];
      return [];
    };
    const { unmatchedAllocations } = await writeLedger(dir, {
      ticks: 60,
      faults: [{ kind: 'lose', gpu: 0, atMs: 1500, forMs: 2000 }],
      attribution: { idlePowerMilliWatts: 70_000, events },
    });
    expect(unmatchedAllocations).toBe(0);
    const batches = await honestLedger();
    expect(batches.flatMap((p) => device(p, GPU0).discontinuities.map((d) => d.reason))).toEqual([
      'unbridged-gap',
    ]);
    // What the records were given is what the batches booked to requests (fresh + resolved).
    let booked = 0n;
    for (const p of batches)
      for (const d of p.devices)
        booked +=
          BigInt(d.attribution.requestsMicroJoules) + BigInt(d.attribution.resolved.requestsMicroJoules);
    let recorded = 0n;
    for (const line of await ledgerLines(join(dir, 'records'))) {
      const { record } = JSON.parse(line) as { record: { activeEnergyMicroJoules: string } };
      recorded += BigInt(record.activeEnergyMicroJoules);
    }
    expect(recorded).toBeGreaterThan(0n);
    expect(recorded).toBe(booked);
  });
});
