import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { idleBaselineOf } from '../../../src/attribution/idle-config.js';
import { LearnedIdleBaseline } from '../../../src/attribution/idle-learner.js';
import { idleBaselineStatus } from '../../../src/attribution/idle-status.js';
import {
  IDLE_BASELINE_FILE,
  readIdleBaselines,
  writeIdleBaselines,
} from '../../../src/attribution/idle-store.js';
import type { AttributorOptions } from '../../../src/attribution/options.js';
import type { IntervalAllocation, RequestEnergyRecord } from '../../../src/attribution/types.js';
import { idleBaselineText } from '../../../src/cli/probe.js';
import { buildRequestPipeline } from '../../../src/cli/request-pipeline.js';
import { systemClock } from '../../../src/clock.js';
import { configSchema } from '../../../src/config/schema.js';
import { ConfigError } from '../../../src/errors.js';
import { buildFactorSnapshot } from '../../../src/factors/index.js';
import type { RequestRecord } from '../../../src/ledger/record-log.js';
import { createLogger } from '../../../src/log.js';
import type { DeviceInterval } from '../../../src/meter/types.js';
import {
  checkConservation,
  collecting,
  EPOCH_UNIX_NANOS,
  end,
  interval,
  MS,
  recordEnergy,
  recordIdleShare,
  S,
  start,
  usage,
} from './fixtures.js';

// Time is injected: the attributor's clock is the intervals' and events' monotonic times, so these
// tests drive minutes of synthetic idle and load in microseconds.

const J = 1_000_000n;
const CONFIGURED_W = 50_000;
const configured = new Map([['gpu0', CONFIGURED_W]]);
const single: Omit<AttributorOptions, 'onAllocation' | 'onRecord'> = {
  engines: [{ engineId: 'e1', deviceIds: ['gpu0'], models: [] }],
  hostDeviceIds: [],
  idlePowerMilliWatts: configured,
};

/** A 1-second interval of gpu0 at `watts` (energy = W × 1 s), with an optional utilization. */
function second(t: bigint, watts: bigint, utilizationGpuPercent?: number): DeviceInterval {
  const base = interval('gpu0', t * S, (t + 1n) * S, watts * J);
  return utilizationGpuPercent === undefined ? base : { ...base, utilizationGpuPercent };
}

function tickOf(iv: DeviceInterval) {
  return {
    probe: 'simulated' as const,
    seq: 0,
    monoNanos: iv.endMonoNanos,
    unixNanos: EPOCH_UNIX_NANOS + iv.endMonoNanos,
    intervals: [iv],
  };
}

/** An attributor with a learned baseline (settle 5 s, window 600 s, min 60 s: the defaults). */
function learning() {
  const baseline = new LearnedIdleBaseline({ configured });
  return { ...collecting({ ...single, idleBaseline: baseline }), baseline };
}

const sourceAt = (allocations: readonly IntervalAllocation[], second: bigint) =>
  allocations.find((a) => a.intervalEndMonoNanos === (second + 1n) * S)?.idleBaseline;

describe('idle shares (the comprehensive boundary)', () => {
  it('splits idle over the requests in flight with the active weights; idle of an empty interval stays unshared', () => {
    const { attributor, allocations, records } = collecting(single);
    attributor.onEvent(start('a', 'e1', 0n));
    attributor.onEvent(start('b', 'e1', 0n));
    attributor.onEvent(end('a', 900n * MS, usage(1_000, 0)));
    attributor.onEvent(end('b', 900n * MS, usage(0, 250)));
    // 0–1 s: 150 J = 50 J idle + 100 J active, weights 1000 : 1000.
    attributor.onTick(tickOf(interval('gpu0', 0n, S, 150n * J)));
    // 1–2 s: no request; 60 J = 50 J idle (unshared) + 10 J unattributed.
    attributor.onTick(tickOf(interval('gpu0', S, 2n * S, 60n * J)));
    const [busy, empty] = allocations as [IntervalAllocation, IntervalAllocation];
    expect(busy.idleShares).toEqual([
      { requestId: 'a', microJoules: 25n * J },
      { requestId: 'b', microJoules: 25n * J },
    ]);
    expect(busy).toMatchObject({
      idleMicroJoules: 50n * J,
      idleSharedMicroJoules: 50n * J,
      requestsMicroJoules: 100n * J,
    });
    expect(empty).toMatchObject({
      idleMicroJoules: 50n * J,
      idleSharedMicroJoules: 0n,
      idleShares: [],
      unattributedMicroJoules: 10n * J,
    });
    expect(records.map((r) => [r.requestId, r.activeEnergyMicroJoules, r.idleShareMicroJoules])).toEqual([
      ['a', String(50n * J), String(25n * J)],
      ['b', String(50n * J), String(25n * J)],
    ]);
    const totals = checkConservation(allocations);
    expect(recordIdleShare(records)).toBe(totals.idleShared);
    expect(recordEnergy(records) + recordIdleShare(records)).toBe(totals.requests + totals.idleShared);
  });

  it('gives odd idle microjoules by largest remainder, exactly', () => {
    const { attributor, allocations } = collecting({
      ...single,
      idlePowerMilliWatts: new Map([['gpu0', 1]]),
    });
    for (const id of ['x', 'y', 'z']) attributor.onEvent(start(id, 'e1', 0n));
    for (const id of ['x', 'y', 'z']) attributor.onEvent(end(id, S, usage(0, 1)));
    // 1 mW × 1 s = 1000 µJ of idle over three equal weights: 334 + 333 + 333.
    attributor.onTick(tickOf(interval('gpu0', 0n, S, 5_000n)));
    expect(allocations[0]?.idleShares.map((s) => s.microJoules)).toEqual([334n, 333n, 333n]);
    checkConservation(allocations);
  });
});

describe('learned idle baseline', () => {
  it('stays configured while the load never pauses', () => {
    const { attributor, allocations } = learning();
    // Back-to-back requests for 200 s, each 2 s long.
    for (let t = 0n; t < 200n; t += 2n) {
      attributor.onEvent(start(`r${t}`, 'e1', t * S));
      attributor.onEvent(end(`r${t}`, (t + 2n) * S, usage(10, 10)));
      attributor.onTick(tickOf(second(t, 30n)));
      attributor.onTick(tickOf(second(t + 1n, 30n)));
    }
    expect(allocations).toHaveLength(200);
    expect(allocations.every((a) => a.idleBaseline.source === 'configured')).toBe(true);
    expect(allocations.every((a) => a.idleBaseline.powerMilliWatts === CONFIGURED_W)).toBe(true);
    checkConservation(allocations);
  });

  it('learns nothing from a pause shorter than the settle time, nor from one too short to reach the minimum', () => {
    const { attributor, allocations, baseline } = learning();
    let t = 0n;
    const busy = (seconds: bigint) => {
      attributor.onEvent(start(`r${t}`, 'e1', t * S));
      attributor.onEvent(end(`r${t}`, (t + seconds) * S, usage(10, 10)));
      for (const stop = t + seconds; t < stop; t++) attributor.onTick(tickOf(second(t, 200n)));
    };
    const idle = (seconds: bigint) => {
      for (const stop = t + seconds; t < stop; t++) attributor.onTick(tickOf(second(t, 30n)));
    };
    busy(10n);
    idle(4n); // shorter than the 5 s settle: no idle sample at all
    busy(10n);
    expect(baseline.idleFor('gpu0', second(t, 0n))).toEqual({
      source: 'configured',
      powerMilliWatts: CONFIGURED_W,
      sampleCount: 0,
      idleNanos: 0n,
    });
    idle(50n); // 45 s of idle after settling: below the 60 s minimum
    busy(10n);
    expect(allocations.every((a) => a.idleBaseline.source === 'configured')).toBe(true);
    checkConservation(allocations);
  });

  it('learns the median power of a long idle period, excluding the settle time, and records its provenance', () => {
    const { attributor, allocations, records } = learning();
    attributor.onEvent(start('warm', 'e1', 0n));
    attributor.onEvent(end('warm', 10n * S, usage(100, 100)));
    for (let t = 0n; t < 10n; t++) attributor.onTick(tickOf(second(t, 300n)));
    // Settling down after the load: 5 s at 120 W, not genuinely idle, so not counted.
    for (let t = 10n; t < 15n; t++) attributor.onTick(tickOf(second(t, 120n)));
    // 70 s idle, alternating 31 W and 33 W with one 500 W outlier: the median is robust to it.
    for (let t = 15n; t < 85n; t++)
      attributor.onTick(tickOf(second(t, t === 40n ? 500n : t % 2n === 0n ? 31n : 33n)));
    // Not learned before 60 s of idle time: the split of 15–75 s uses the configured value…
    expect(sourceAt(allocations, 73n)).toMatchObject({ source: 'configured', powerMilliWatts: CONFIGURED_W });
    // …and from then on the learned median, with the samples and idle time behind it.
    expect(sourceAt(allocations, 84n)).toMatchObject({ source: 'learned', powerMilliWatts: 33_000 });
    const learned = sourceAt(allocations, 84n);
    // The intervals of 15–83 s: the 10–15 s settle is not among them.
    expect(learned?.sampleCount).toBe(69);
    expect(learned?.idleNanos).toBe(BigInt(learned?.sampleCount ?? 0) * S);
    // A request after the idle period: its interval's idle is the learned 33 W, its share too.
    attributor.onEvent(start('after', 'e1', 85n * S));
    attributor.onEvent(end('after', 86n * S, usage(10, 10)));
    attributor.onTick(tickOf(second(85n, 200n)));
    const after = records.find((r) => r.requestId === 'after');
    expect(after).toMatchObject({
      idleShareMicroJoules: String(33n * J),
      activeEnergyMicroJoules: String(167n * J),
    });
    expect(attributor.method).toBe(
      'tokens-v1(a=1,b=4,idle=learned(median,settle=5000ms,window=600000ms,min=60000ms))',
    );
    checkConservation(allocations);
  });

  it('does not learn from intervals without requests whose utilization is above 0', () => {
    const { attributor, allocations } = learning();
    // 120 s with no request, but the GPU reports work (another process): not idle.
    for (let t = 0n; t < 120n; t++) attributor.onTick(tickOf(second(t, 90n, 35)));
    expect(allocations.every((a) => a.idleBaseline.source === 'configured')).toBe(true);
    // The same with utilization 0 is learned (after settling from the last busy interval).
    for (let t = 120n; t < 200n; t++) attributor.onTick(tickOf(second(t, 40n, 0)));
    expect(sourceAt(allocations, 199n)).toMatchObject({ source: 'learned', powerMilliWatts: 40_000 });
    checkConservation(allocations);
  });

  it('keeps only the most recent window of idle time', () => {
    const baseline = new LearnedIdleBaseline({
      configured,
      settleNanos: 0n,
      windowNanos: 100n * S,
      minIdleNanos: 10n * S,
    });
    for (let t = 1n; t <= 100n; t++) baseline.observe('gpu0', second(t, 30n), []);
    expect(baseline.idleFor('gpu0', second(0n, 0n))).toMatchObject({
      source: 'learned',
      powerMilliWatts: 30_000,
    });
    for (let t = 101n; t <= 200n; t++) baseline.observe('gpu0', second(t, 45n), []);
    expect(baseline.idleFor('gpu0', second(0n, 0n))).toEqual({
      source: 'learned',
      powerMilliWatts: 45_000,
      sampleCount: 100,
      idleNanos: 100n * S,
    });
    // Other devices keep their configured value.
    expect(baseline.idleFor('gpu9', second(0n, 0n)).source).toBe('configured');
  });

  it('tells the operator when a value is first learned and when it moves by 5 % or more, not on every recompute', () => {
    const told: Array<[string, number, number | null]> = [];
    const baseline = new LearnedIdleBaseline({
      configured,
      settleNanos: 0n,
      windowNanos: 20n * S,
      minIdleNanos: 10n * S,
      onLearned: (deviceId, use, previous) => told.push([deviceId, use.powerMilliWatts, previous]),
    });
    // 9 s of idle: not yet learned, nothing told.
    for (let t = 1n; t <= 9n; t++) baseline.observe('gpu0', second(t, 40n), []);
    expect(told).toEqual([]);
    // The 10th second reaches the minimum: learned 40 W, told once; more 40 W seconds tell nothing.
    for (let t = 10n; t <= 30n; t++) baseline.observe('gpu0', second(t, 40n), []);
    expect(told).toEqual([['gpu0', 40_000, null]]);
    // 41 W is within 5 % of the value told: the median moves but nobody is told.
    for (let t = 31n; t <= 60n; t++) baseline.observe('gpu0', second(t, 41n), []);
    expect(baseline.idleFor('gpu0', second(0n, 0n)).powerMilliWatts).toBe(41_000);
    expect(told).toHaveLength(1);
    // 50 W is 5 % or more away from 40 W: told, with the previous value.
    for (let t = 61n; t <= 90n; t++) baseline.observe('gpu0', second(t, 50n), []);
    expect(told).toEqual([
      ['gpu0', 40_000, null],
      ['gpu0', 50_000, 40_000],
    ]);
  });

  it('is chosen by attribution.idleBaseline, and refuses a minimum longer than the window', () => {
    const defaults = configSchema.parse({}).attribution;
    expect(defaults).toMatchObject({
      idleBaseline: 'learned',
      idlePowerMilliWatts: null,
      idleSettleMs: 5_000,
      idleLearnWindowMs: 600_000,
      idleLearnMinMs: 60_000,
    });
    expect(idleBaselineOf(defaults, configured)).toBeInstanceOf(LearnedIdleBaseline);
    expect(idleBaselineOf({ ...defaults, idleBaseline: 'configured' }, configured).description).toBe(
      'configured',
    );
    expect(() =>
      idleBaselineOf({ ...defaults, idleBaseline: 'learned', idleLearnMinMs: 700_000 }, configured),
    ).toThrow(ConfigError);
  });
});

describe('the daemon pipeline with attribution.idleBaseline: learned', () => {
  it('subtracts the learned idle power and signs both boundaries on the record', () => {
    const config = configSchema.parse({
      attribution: {
        idleBaseline: 'learned',
        idlePowerMilliWatts: 60_000,
        idleSettleMs: 0,
        idleLearnMinMs: 1_000,
        idleLearnWindowMs: 2_000,
      },
      factors: { pueMilli: 1_500 },
      ledger: { enabled: false }, // nothing persisted from this test
    });
    const records: RequestRecord[] = [];
    const added: RequestEnergyRecord[] = [];
    const batcher = { addRecord: (r: RequestRecord) => records.push(r), addAllocation: () => {} };
    const pipeline = buildRequestPipeline({
      config,
      clock: systemClock,
      logger: createLogger('silent'),
      devices: [
        {
          id: 'gpu-0',
          probe: 'nvml',
          hwType: 'gpu',
          name: 'GPU',
          vendor: 'nvidia',
          index: 0,
          hasEnergyCounter: true,
          details: {},
          simulated: false,
        },
      ],
      factors: buildFactorSnapshot(config.factors),
      batcher: () => batcher as never,
      onRecord: () => (record) => added.push(record),
    });
    const gpu = (t: bigint, watts: bigint) => ({ ...second(t, watts), deviceId: 'gpu-0' });
    expect(pipeline.attributor.method).toBe(
      'tokens-v1(a=1,b=4,idle=learned(median,settle=0ms,window=2000ms,min=1000ms))',
    );
    // Three idle seconds at 45 W, then a request during a second at 245 W.
    for (let t = 0n; t < 3n; t++) pipeline.onTick(tickOf(gpu(t, 45n)));
    pipeline.attributor.onEvent(start('r', 'default', 3n * S));
    pipeline.attributor.onEvent(end('r', 4n * S, usage(10, 10)));
    pipeline.onTick(tickOf(gpu(3n, 245n)));
    pipeline.finish();
    expect(records).toHaveLength(1);
    const record = records[0] as unknown as RequestEnergyRecord;
    // Learned 45 W (not the configured 60 W): 45 J idle share, 200 J active.
    expect(record).toMatchObject({
      idleShareMicroJoules: String(45n * J),
      activeEnergyMicroJoules: String(200n * J),
    });
    expect(record.comprehensive).toMatchObject({
      boundary: 'comprehensive',
      itEnergyMicroJoules: String(245n * J),
      pueMilli: 1_500,
      facilityEnergyMicroJoules: String((245n * J * 3n) / 2n),
    });
    expect(added[0]?.comprehensive).toEqual(record.comprehensive);
  });
});

describe('the learned baseline by default: a measured prior, persisted across restarts', () => {
  it('without a configured value, takes the lowest power measured on the GPU so far, never 0', () => {
    const baseline = new LearnedIdleBaseline({
      configured: new Map(),
      measuredPriorDeviceIds: new Set(['gpu0']),
    });
    const { attributor, allocations } = collecting({
      ...single,
      idlePowerMilliWatts: new Map(),
      idleBaseline: baseline,
    });
    attributor.onTick(tickOf(second(0n, 80n)));
    attributor.onTick(tickOf(second(1n, 60n)));
    attributor.onEvent(start('r', 'e1', 2n * S));
    attributor.onEvent(end('r', 3n * S, usage(10, 10)));
    attributor.onTick(tickOf(second(2n, 260n)));
    expect(allocations.map((a) => [a.idleBaseline.powerMilliWatts, a.idleBaseline.source])).toEqual([
      [80_000, 'learned'], // the first interval's own power: nothing lower is known
      [60_000, 'learned'],
      [60_000, 'learned'], // the busy second's 260 W does not raise it
    ]);
    expect(allocations[2]).toMatchObject({ idleMicroJoules: 60n * J, requestsMicroJoules: 200n * J });
    expect(allocations[2]?.idleBaseline).toMatchObject({ sampleCount: 1, idleNanos: S });
    checkConservation(allocations);
  });

  it('keeps a configured value as the prior, and 0 only where it is configured so', () => {
    const baseline = new LearnedIdleBaseline({
      configured: new Map([['gpu0', 0]]),
      measuredPriorDeviceIds: new Set(['gpu0']),
    });
    expect(baseline.idleFor('gpu0', second(0n, 80n))).toEqual({
      source: 'configured',
      powerMilliWatts: 0,
      sampleCount: 0,
      idleNanos: 0n,
    });
  });

  it('persists what it learned, and a restarted baseline starts from it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wattledger-idle-'));
    try {
      const path = join(dir, IDLE_BASELINE_FILE);
      const first = new LearnedIdleBaseline({
        configured,
        settleNanos: 0n,
        minIdleNanos: 2n * S,
        windowNanos: 10n * S,
      });
      for (let t = 0n; t < 3n; t++) {
        first.idleFor('gpu0', second(t, 42n));
        first.observe('gpu0', second(t, 42n), []);
      }
      const learned = first.snapshot();
      expect(learned.get('gpu0')).toMatchObject({ source: 'learned', powerMilliWatts: 42_000 });
      writeIdleBaselines(path, learned);
      const read = readIdleBaselines(path);
      expect(read.problem).toBeNull();
      expect(read.baselines).toEqual(learned);
      const restarted = new LearnedIdleBaseline({ configured, restored: read.baselines });
      expect(restarted.idleFor('gpu0', second(10n, 300n))).toEqual(learned.get('gpu0'));
      expect(restarted.snapshot()).toEqual(learned);
      // A damaged file is reported and not used; a missing one is simply empty.
      writeFileSync(path, '{"version": 1, "devices": {"gpu0": {"powerMilliWatts": -1}}}');
      expect(readIdleBaselines(path)).toMatchObject({ baselines: new Map(), problem: /bad power/ });
      expect(readIdleBaselines(join(dir, 'absent.json'))).toEqual({ baselines: new Map(), problem: null });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the daemon pipeline restores <ledger.dir>/idle-baseline.json and saves it at the end', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wattledger-idle-'));
    try {
      const path = join(dir, IDLE_BASELINE_FILE);
      writeIdleBaselines(
        path,
        new Map([
          ['gpu-0', { source: 'learned', powerMilliWatts: 45_000, sampleCount: 7, idleNanos: 70n * S }],
        ]),
      );
      const config = configSchema.parse({ ledger: { dir } });
      const records: RequestRecord[] = [];
      const batcher = { addRecord: (r: RequestRecord) => records.push(r), addAllocation: () => {} };
      const pipeline = buildRequestPipeline({
        config,
        clock: systemClock,
        logger: createLogger('silent'),
        devices: [
          {
            id: 'gpu-0',
            probe: 'nvml',
            hwType: 'gpu',
            name: 'GPU',
            vendor: 'nvidia',
            index: 0,
            hasEnergyCounter: true,
            details: {},
            simulated: false,
          },
        ],
        factors: buildFactorSnapshot(config.factors),
        batcher: () => batcher as never,
      });
      const gpu = (t: bigint, watts: bigint) => ({ ...second(t, watts), deviceId: 'gpu-0' });
      pipeline.attributor.onEvent(start('r', 'default', 0n));
      pipeline.attributor.onEvent(end('r', S, usage(10, 10)));
      pipeline.onTick(tickOf(gpu(0n, 145n)));
      pipeline.finish();
      // The restored 45 W is subtracted from the first second, before anything is learned anew.
      expect(records[0]).toMatchObject({ activeEnergyMicroJoules: String(100n * J) });
      expect(readIdleBaselines(path).baselines.get('gpu-0')).toMatchObject({ powerMilliWatts: 45_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the idle baseline as probe and watch show it', () => {
  it('names, per GPU, the persisted, configured or measured value the daemon would start from', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wattledger-idle-'));
    try {
      writeIdleBaselines(
        join(dir, IDLE_BASELINE_FILE),
        new Map([
          ['gpu-a', { source: 'learned', powerMilliWatts: 61_500, sampleCount: 600, idleNanos: 600n * S }],
        ]),
      );
      const status = idleBaselineStatus(configSchema.parse({ ledger: { dir } }), ['gpu-a', 'gpu-b']);
      expect(status.devices).toEqual([
        {
          deviceId: 'gpu-a',
          mode: 'learned',
          from: 'persisted',
          powerMilliWatts: 61_500,
          sampleCount: 600,
          idleSeconds: 600,
        },
        {
          deviceId: 'gpu-b',
          mode: 'learned',
          from: 'lowest-measured',
          powerMilliWatts: null,
          sampleCount: 0,
          idleSeconds: 0,
        },
      ]);
      const text = idleBaselineText(status).join('\n');
      expect(text).toContain('Idle baseline (attribution.idleBaseline: learned)');
      expect(text).toContain('61.50 W');
      expect(text).toContain('learned by an earlier run (600 idle intervals, 600 s)');
      expect(text).toContain('the lowest power measured, until learned');
      const configured = idleBaselineStatus(
        configSchema.parse({
          ledger: { dir },
          attribution: { idleBaseline: 'configured', idlePowerMilliWatts: 70_000 },
        }),
        ['gpu-a'],
      );
      expect(configured.devices[0]).toMatchObject({
        mode: 'configured',
        from: 'configured',
        powerMilliWatts: 70_000,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
