import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { BATCH_PAYLOAD_TYPE } from '../../../src/attest/batch-format.js';
import { canonicalBytes, canonicalString } from '../../../src/attest/canonical.js';
import { signDsse } from '../../../src/attest/dsse.js';
import { LearnedIdleBaseline } from '../../../src/attribution/idle-learner.js';
import { devicesDigestHex } from '../../../src/ledger/batch-builder.js';
import { loadChainState } from '../../../src/ledger/chain-state.js';
import type { RequestEvent } from '../../../src/requests/types.js';
import { NANOS_PER_MILLI } from '../../../src/units.js';
import { LedgerVerifier } from '../../../src/verify/verifier.js';
import {
  type FixtureAttribution,
  ledgerLines,
  SIM_ENGINE_ID,
  testSigner,
  verifyLines,
  writeLedger,
} from '../../helpers/ledger-fixture.js';
import type { ManualClock } from '../../helpers/manual-clock.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

// A simulated-GPU ledger whose energy is attributed to generated requests: allocations wait for
// the requests overlapping an interval to end, so many arrive after their batch is sealed and show
// up as `resolved` in later batches, while every batch still balances (FORMAT.md invariants A, B).

const TICKS = 80;
/** Requests end by this tick, so that every one has a record once the attributor is flushed. */
const LAST_END_TICK = 72;

type Sums = {
  requestsMicroJoules: string;
  idleMicroJoules: string;
  unattributedMicroJoules: string;
  idleSharedMicroJoules: string;
  idleUnsharedMicroJoules: string;
};
type Attribution = Sums & {
  deferredMicroJoules: string;
  resolved: Sums;
  outstandingDeferredMicroJoules: string;
  idleBaseline: {
    source: string;
    powerMilliWatts: number;
    minPowerMilliWatts: number;
    maxPowerMilliWatts: number;
    sampleCount: number;
    idleNanos: string;
  } | null;
};
type Device = {
  deviceId: string;
  energyMicroJoules: string;
  downtimeEnergyMicroJoules: string;
  attribution: Attribution;
};
type Predicate = {
  sequence: string;
  devices: Device[];
  requests: { attributionMethod: string; count: number };
};
type Statement = { predicate: Predicate; subject: { digest: { sha256: string } }[] };

/** One planned request: ticks it spans, and how it reports tokens. */
interface Plan {
  readonly id: string;
  readonly startTick: number;
  readonly endTick: number;
  readonly streams: boolean;
  readonly usage: boolean;
}

/** Requests spread over ticks 1..`lastEndTick`, from a small seeded LCG (the same on every run). */
function plans(seed: number, count: number, lastEndTick = LAST_END_TICK): Plan[] {
  let state = seed;
  const int = (max: number): number => {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    return (state >>> 8) % max;
  };
  return Array.from({ length: count }, (_, i) => {
    const startTick = 1 + int(lastEndTick - 4);
    const endTick = Math.min(lastEndTick, startTick + 2 + int(25));
    return { id: `req-${i}`, startTick, endTick, streams: int(3) > 0, usage: int(10) > 0 };
  });
}

/** The events of tick `tick`: at times inside the 100 ms before it, in time order. */
function eventsAt(all: readonly Plan[], tick: number, clock: ManualClock): RequestEvent[] {
  const now = clock.monoNanos();
  const wall = clock.wallUnixNanos();
  const at = (ms: number) => ({
    monoNanos: now - BigInt(ms) * NANOS_PER_MILLI,
    unixNanos: wall - BigInt(ms) * NANOS_PER_MILLI,
  });
  const events: RequestEvent[] = [];
  for (const p of all) {
    const base = { requestId: p.id };
    if (p.startTick === tick)
      events.push({
        type: 'start',
        ...base,
        source: 'proxy',
        engineId: SIM_ENGINE_ID,
        model: 'm',
        ...at(90),
      });
    if (p.streams && tick > p.startTick && tick <= p.endTick)
      events.push({
        type: 'progress',
        ...base,
        outputTokens: 7 * (tick - p.startTick),
        estimated: false,
        ...at(50),
      });
    if (p.endTick === tick) {
      const outputTokens = p.streams ? 7 * (tick - p.startTick) : 40;
      const usage = { inputTokens: 300, cachedInputTokens: 100, outputTokens };
      events.push({ type: 'end', ...base, outcome: 'ok', ...(p.usage ? { usage } : {}), ...at(10) });
    }
  }
  return events.sort((a, b) => (a.monoNanos < b.monoNanos ? -1 : a.monoNanos > b.monoNanos ? 1 : 0));
}

function attribution(requests: readonly Plan[], extra: Partial<FixtureAttribution> = {}): FixtureAttribution {
  return {
    idlePowerMilliWatts: 90_000,
    maxDelayNanos: 5_000_000_000n,
    events: (tick, clock) => eventsAt(requests, tick, clock),
    ...extra,
  };
}

function statementOf(line: string): Statement {
  return JSON.parse(Buffer.from(JSON.parse(line).payload, 'base64').toString('utf8')) as Statement;
}

const total = (s: Sums): bigint =>
  BigInt(s.requestsMicroJoules) + BigInt(s.idleMicroJoules) + BigInt(s.unattributedMicroJoules);

/** Σ over every request record of its active (GPU) and host energy. */
async function recordEnergy(dir: string): Promise<{ count: number; microJoules: bigint }> {
  const lines = await ledgerLines(join(dir, 'records'));
  let microJoules = 0n;
  for (const line of lines) {
    const { record } = JSON.parse(line) as {
      record: { activeEnergyMicroJoules: string; hostEnergyMicroJoules: string };
    };
    microJoules += BigInt(record.activeEnergyMicroJoules) + BigInt(record.hostEnergyMicroJoules);
  }
  return { count: lines.length, microJoules };
}

/** Σ over every request record of its idle share, checked against its devices' idle shares. */
async function recordIdleShares(dir: string): Promise<bigint> {
  let microJoules = 0n;
  for (const line of await ledgerLines(join(dir, 'records'))) {
    const { record } = JSON.parse(line) as {
      record: { idleShareMicroJoules: string; devices: { idleShareMicroJoules: string }[] };
    };
    const perDevice = record.devices.reduce((sum, d) => sum + BigInt(d.idleShareMicroJoules), 0n);
    expect(perDevice).toBe(BigInt(record.idleShareMicroJoules));
    microJoules += BigInt(record.idleShareMicroJoules);
  }
  return microJoules;
}

/** Σ over batches and devices of a number picked from each device's attribution. */
function sumOver(statements: readonly Statement[], pick: (a: Attribution, d: Device) => bigint): bigint {
  let sum = 0n;
  for (const s of statements) for (const d of s.predicate.devices) sum += pick(d.attribution, d);
  return sum;
}

/** Re-signs an edited statement with the genuine test key, as the mutation suite does. */
function resign(line: string, edit: (s: Statement) => void): string {
  const statement = statementOf(line);
  edit(statement);
  statement.subject[0]!.digest.sha256 = devicesDigestHex(statement.predicate.devices as never);
  const { signer } = testSigner(1);
  return canonicalString(signDsse(BATCH_PAYLOAD_TYPE, canonicalBytes(statement), [signer]));
}

const bump = (value: string): string => (BigInt(value) + 1n).toString();

describe('a ledger with request attribution', () => {
  const requests = plans(7, 40);
  let dir: string;
  let lines: string[];
  let statements: Statement[];
  let unmatched: number;
  beforeAll(async () => {
    const tmp = await makeTmpDir();
    dir = tmp.dir;
    ({ unmatchedAllocations: unmatched } = await writeLedger(dir, {
      ticks: TICKS,
      batchIntervalMs: 1000,
      attribution: attribution(requests),
    }));
    lines = await ledgerLines(dir);
    statements = lines.map(statementOf);
    return tmp.cleanup;
  });

  it('verifies with no findings, names the method, and matches every allocation to an interval', () => {
    expect(lines.length).toBeGreaterThanOrEqual(8);
    expect(verifyLines(lines).findings).toEqual([]);
    expect(new Set(statements.map((s) => s.predicate.requests.attributionMethod))).toEqual(
      new Set(['tokens-v1(a=1,b=4,idle=configured)']),
    );
    expect(unmatched).toBe(0);
  });

  it('books late allocations as resolved in later batches, and ends with nothing outstanding', () => {
    const deferred = statements.filter((s) =>
      s.predicate.devices.some((d) => BigInt(d.attribution.deferredMicroJoules) > 0n),
    );
    const resolving = statements.filter((s) =>
      s.predicate.devices.some((d) => total(d.attribution.resolved) > 0n),
    );
    expect(deferred.length).toBeGreaterThan(2);
    expect(resolving.length).toBeGreaterThan(2);
    expect(Number(resolving[0]!.predicate.sequence)).toBeGreaterThan(Number(deferred[0]!.predicate.sequence));
    expect(sumOver(statements, (a) => BigInt(a.resolved.requestsMicroJoules))).toBeGreaterThan(0n);
    // The stop flushed the attributor: the last batch resolved everything deferred before it.
    for (const d of statements.at(-1)!.predicate.devices)
      expect(d.attribution.outstandingDeferredMicroJoules).toBe('0');
    // With nothing outstanding, fresh + resolved allocations account for all energy, exactly.
    const allocated = sumOver(statements, (a) => total(a) + total(a.resolved));
    expect(allocated).toBe(sumOver(statements, (_, d) => BigInt(d.energyMicroJoules)));
  });

  it("gives requests in the batches exactly the energy of the requests' records", async () => {
    // A record's activeEnergyMicroJoules is Σ of its shares over its engine's GPUs and
    // hostEnergyMicroJoules Σ over host devices (none here, so 0); an allocation's
    // requestsMicroJoules is Σ of its shares. Every share goes to a request that ended (all end by
    // LAST_END_TICK), and every ended request's record is out after the flush, so Σ fresh +
    // resolved `requests` over all batches equals Σ of the records' energy, to the microjoule.
    // (A request still open at the stop would have shares in the batches but no record.)
    const records = await recordEnergy(dir);
    expect(records.count).toBe(requests.length);
    const attributed = sumOver(
      statements,
      (a) => BigInt(a.requestsMicroJoules) + BigInt(a.resolved.requestsMicroJoules),
    );
    expect(attributed).toBeGreaterThan(0n);
    expect(attributed).toBe(records.microJoules);
  });

  it("splits idle exactly: the records' idle shares are the batches' shared idle, the rest unshared", async () => {
    for (const s of statements) {
      for (const d of s.predicate.devices) {
        for (const sums of [d.attribution, d.attribution.resolved]) {
          expect(BigInt(sums.idleSharedMicroJoules) + BigInt(sums.idleUnsharedMicroJoules)).toBe(
            BigInt(sums.idleMicroJoules),
          );
        }
      }
    }
    const shared = sumOver(
      statements,
      (a) => BigInt(a.idleSharedMicroJoules) + BigInt(a.resolved.idleSharedMicroJoules),
    );
    const unshared = sumOver(
      statements,
      (a) => BigInt(a.idleUnsharedMicroJoules) + BigInt(a.resolved.idleUnsharedMicroJoules),
    );
    // Both parts occur: intervals with requests in flight, and intervals with none.
    expect(shared).toBeGreaterThan(0n);
    expect(unshared).toBeGreaterThan(0n);
    expect(await recordIdleShares(dir)).toBe(shared);
    const baselines = statements.flatMap((s) => s.predicate.devices.map((d) => d.attribution.idleBaseline));
    expect(baselines).toContainEqual(
      expect.objectContaining({ source: 'configured', powerMilliWatts: 90_000 }),
    );
  });

  it('catches a mutated idle share by the idle split', () => {
    const i = statements.findIndex(
      (s) => BigInt(s.predicate.devices[0]!.attribution.idleSharedMicroJoules) > 0n,
    );
    const edited = resign(lines[i]!, (s) => {
      const a = s.predicate.devices[0]!.attribution;
      a.idleSharedMicroJoules = bump(a.idleSharedMicroJoules);
    });
    const findings = verifyLines([...lines.slice(0, i), edited]).findings;
    expect(findings.map((f) => [f.code, f.check, f.sequence])).toEqual([
      ['VERIFY_SUM_MISMATCH', 'idle-split', String(i)],
    ]);
  });

  it('catches a mutated deferred part by conservation and by the deferred balance', () => {
    const i = statements.findIndex(
      (s) => BigInt(s.predicate.devices[0]!.attribution.deferredMicroJoules) > 0n,
    );
    const edited = resign(lines[i]!, (s) => {
      const a = s.predicate.devices[0]!.attribution;
      a.deferredMicroJoules = bump(a.deferredMicroJoules);
    });
    const findings = verifyLines([...lines.slice(0, i), edited]).findings;
    expect(findings.map((f) => [f.code, f.check, f.sequence])).toEqual([
      ['VERIFY_SUM_MISMATCH', 'conservation', String(i)],
      ['VERIFY_SUM_MISMATCH', 'deferred-balance', String(i)],
    ]);
  });

  it('catches a mutated resolved part by the deferred balance, naming expected and found', () => {
    const i = statements.findIndex((s) => total(s.predicate.devices[1]!.attribution.resolved) > 0n);
    const before = statements[i]!.predicate.devices[1]!.attribution.outstandingDeferredMicroJoules;
    const edited = resign(lines[i]!, (s) => {
      const r = s.predicate.devices[1]!.attribution.resolved;
      r.requestsMicroJoules = bump(r.requestsMicroJoules);
    });
    const findings = verifyLines([...lines.slice(0, i), edited]).findings;
    expect(findings).toEqual([
      expect.objectContaining({
        code: 'VERIFY_SUM_MISMATCH',
        check: 'deferred-balance',
        sequence: String(i),
        expected: (BigInt(before) - 1n).toString(),
        found: before,
      }),
    ]);
  });

  it('accepts the stated balance of the first batch when verifying a tail of the ledger', () => {
    const from = statements.findIndex(
      (s, k) => k > 0 && BigInt(s.predicate.devices[0]!.attribution.outstandingDeferredMicroJoules) > 0n,
    );
    const { signer } = testSigner(1);
    const verifier = new LedgerVerifier({
      keys: [{ keyId: signer.keyId, publicKey: signer.publicKey }],
      expectFirstSequence: BigInt(from),
    });
    for (const [k, line] of lines.slice(from).entries()) verifier.addLine(line, `line ${from + k + 1}`);
    expect(verifier.finish().findings).toEqual([]);
  });
});

describe('a ledger with a learned idle baseline', () => {
  it('records the configured fallback, then the learned value and its provenance, and verifies', async () => {
    // Requests only in the first second; then 7 s of idle, enough for settle 0.5 s + min 2 s.
    const requests = plans(3, 6, 10);
    const idleBaseline = new LearnedIdleBaseline({
      configured: new Map(),
      settleNanos: 500n * NANOS_PER_MILLI,
      windowNanos: 5_000n * NANOS_PER_MILLI,
      minIdleNanos: 2_000n * NANOS_PER_MILLI,
    });
    const { dir, cleanup } = await makeTmpDir();
    try {
      await writeLedger(dir, {
        ticks: TICKS,
        batchIntervalMs: 1000,
        attribution: attribution(requests, { idleBaseline }),
      });
      const lines = await ledgerLines(dir);
      expect(verifyLines(lines).findings).toEqual([]);
      const statements = lines.map(statementOf);
      expect(statements[0]!.predicate.requests.attributionMethod).toBe(
        'tokens-v1(a=1,b=4,idle=learned(median,settle=500ms,window=5000ms,min=2000ms))',
      );
      const baselines = statements.map((s) => s.predicate.devices[0]!.attribution.idleBaseline);
      // Batch 0's intervals were all still waiting for their requests at its seal: no split yet.
      expect(baselines[0]).toBeNull();
      // Then the configured fallback (none configured here: 0), until 2 s of idle were seen.
      expect(baselines[1]).toMatchObject({ source: 'configured', powerMilliWatts: 0, sampleCount: 0 });
      // The last batch: learned from the most recent 5 s of intervals without requests (50 of
      // 100 ms). The simulated GPU follows its own load model and reports no utilization, so what
      // it draws without our requests is what is learned: the probe cannot tell it from idle.
      const last = baselines.at(-1)!;
      expect(last).toMatchObject({ source: 'learned', sampleCount: 50, idleNanos: '5000000000' });
      expect(last.powerMilliWatts).toBeGreaterThan(0);
      expect(last.minPowerMilliWatts <= last.powerMilliWatts).toBe(true);
      expect(last.powerMilliWatts <= last.maxPowerMilliWatts).toBe(true);
      // Conservation is as exact as with a configured baseline.
      const allocated = sumOver(statements, (a) => total(a) + total(a.resolved));
      expect(allocated).toBe(sumOver(statements, (_, d) => BigInt(d.energyMicroJoules)));
    } finally {
      await cleanup();
    }
  });
});

describe('attribution wiring and restarts', () => {
  it('books the same allocations when the attributor hears each tick before the batcher', async () => {
    const requests = plans(11, 25, 55);
    const { dir, cleanup } = await makeTmpDir();
    try {
      const run = await writeLedger(dir, {
        ticks: 60,
        attribution: attribution(requests, { attributorFirst: true }),
      });
      expect(run.unmatchedAllocations).toBe(0);
      const lines = await ledgerLines(dir);
      expect(verifyLines(lines).findings).toEqual([]);
      const statements = lines.map(statementOf);
      const records = await recordEnergy(dir);
      expect(
        sumOver(statements, (a) => BigInt(a.requestsMicroJoules) + BigInt(a.resolved.requestsMicroJoules)),
      ).toBe(records.microJoules);
    } finally {
      await cleanup();
    }
  });

  it('carries the outstanding balance across a restart; downtime energy is unattributed', async () => {
    // Many of these end after tick 40, so they are still open when this run stops.
    const requests = plans(5, 30);
    const { dir, cleanup } = await makeTmpDir();
    try {
      // An unclean stop: requests still open, the attributor not flushed.
      const { clock } = await writeLedger(dir, {
        ticks: 40,
        attribution: attribution(requests, { flush: false }),
      });
      const before = await ledgerLines(dir);
      const last = statementOf(before.at(-1)!).predicate.devices;
      expect(last.some((d) => BigInt(d.attribution.outstandingDeferredMicroJoules) > 0n)).toBe(true);
      const state = await loadChainState(dir);
      for (const d of last)
        expect(state.outstandingDeferred.get(d.deviceId)).toBe(
          BigInt(d.attribution.outstandingDeferredMicroJoules),
        );
      clock.advanceMillis(3_000);
      await writeLedger(dir, { ticks: 25, clock, attribution: attribution(plans(9, 10)) });
      const lines = await ledgerLines(dir);
      expect(verifyLines(lines).findings).toEqual([]);
      const resumed = statementOf(lines[before.length]!).predicate.devices;
      for (const [k, d] of resumed.entries()) {
        const a = d.attribution;
        // The new run's attributor cannot resolve the old run's intervals: the balance stays.
        expect(total(a.resolved)).toBe(0n);
        expect(BigInt(a.outstandingDeferredMicroJoules)).toBe(
          BigInt(last[k]!.attribution.outstandingDeferredMicroJoules) + BigInt(a.deferredMicroJoules),
        );
        expect(BigInt(d.downtimeEnergyMicroJoules)).toBeGreaterThan(0n);
        expect(BigInt(a.unattributedMicroJoules)).toBeGreaterThanOrEqual(BigInt(d.downtimeEnergyMicroJoules));
      }
    } finally {
      await cleanup();
    }
  });

  it('without attribution, every batch is all unattributed with nothing deferred', async () => {
    const { dir, cleanup } = await makeTmpDir();
    try {
      await writeLedger(dir, { ticks: 25 });
      for (const s of (await ledgerLines(dir)).map(statementOf)) {
        expect(s.predicate.requests.attributionMethod).toBe('none');
        for (const d of s.predicate.devices) {
          const zero = {
            requestsMicroJoules: '0',
            idleMicroJoules: '0',
            unattributedMicroJoules: '0',
            idleSharedMicroJoules: '0',
            idleUnsharedMicroJoules: '0',
          };
          expect(d.attribution).toEqual({
            ...zero,
            unattributedMicroJoules: d.energyMicroJoules,
            deferredMicroJoules: '0',
            resolved: zero,
            outstandingDeferredMicroJoules: '0',
            idleBaseline: null,
          });
        }
      }
    } finally {
      await cleanup();
    }
  });
});
