/**
 * The aggregation of request records, on five records whose every figure is worked out by hand
 * below (the expected values are literals, not outputs of the code under test).
 */
import { describe, expect, it } from 'vitest';
import { ReportAggregator } from '../../../src/report/aggregate.js';
import { compareModels } from '../../../src/report/comparison.js';
import { nearestRank } from '../../../src/report/distribution.js';
import { reportRecordOf } from '../../../src/report/record-fields.js';

function stored(fields: Record<string, unknown>): Record<string, unknown> {
  return {
    recordVersion: 1,
    requestId: `req-${String(fields.activeEnergyMicroJoules)}`,
    engineId: 'e',
    model: 'a',
    endedAt: '2025-11-24T16:00:01.000Z',
    inputTokens: null,
    cachedInputTokens: null,
    outputTokens: null,
    outcome: 'ok',
    estimated: false,
    comprehensive: null,
    ...fields,
  };
}

// Model a: energies 3, 1, 6, 2 J; model b: 1 J.
const RECORDS = [
  stored({
    activeEnergyMicroJoules: '3000000',
    inputTokens: 10,
    cachedInputTokens: 2,
    outputTokens: 5,
    activeImpact: { co2eLocationMicrograms: '10', co2eMarketMicrograms: null, waterMicroliters: '7' },
    comprehensive: {
      facilityEnergyMicroJoules: '5000000',
      co2eLocationMicrograms: '15',
      waterMicroliters: null,
    },
  }),
  stored({
    activeEnergyMicroJoules: '1000000',
    inputTokens: 20,
    cachedInputTokens: 0,
    outputTokens: 0,
    outcome: 'error',
    estimated: true,
  }),
  stored({
    activeEnergyMicroJoules: '6000000',
    outputTokens: 10,
    activeImpact: { co2eLocationMicrograms: '20', co2eMarketMicrograms: null, waterMicroliters: null },
  }),
  stored({ activeEnergyMicroJoules: '2000000', inputTokens: 5, cachedInputTokens: 5, outputTokens: 4 }),
  stored({
    model: 'b',
    activeEnergyMicroJoules: '1000000',
    inputTokens: 10,
    cachedInputTokens: 0,
    outputTokens: 20,
  }),
];

function aggregate() {
  const aggregator = new ReportAggregator();
  for (const value of RECORDS) {
    const record = reportRecordOf(value);
    if (record === null) throw new Error('fixture record unreadable');
    aggregator.add(record);
  }
  return aggregator.result();
}

describe('report aggregation', () => {
  it('counts requests, outcomes, estimates and tokens per model', () => {
    const a = aggregate().models[0]!;
    expect(a).toMatchObject({
      model: 'a',
      engineId: 'e',
      requests: 4,
      outcomes: { error: 1, ok: 3 },
      estimatedRequests: 1,
      estimatedShare: 0.25,
      tokens: {
        inputTokens: '35',
        cachedInputTokens: '7',
        outputTokens: '19',
        requestsWithInputTokens: 3,
        requestsWithCachedInputTokens: 3,
        requestsWithOutputTokens: 4,
      },
    });
  });

  it('gives exact energy sums, the floor mean and nearest-rank percentiles per request', () => {
    const active = aggregate().models[0]!.active;
    expect(active.requests).toBe(4);
    expect(active.energyMicroJoules).toBe('12000000');
    // Sorted 1, 2, 3, 6 J: p50 is rank ⌈0.5 × 4⌉ = 2, p90 rank ⌈3.6⌉ = 4, p99 rank 4.
    expect(active.perRequest).toEqual({
      meanMicroJoules: '3000000',
      p50MicroJoules: '2000000',
      p90MicroJoules: '6000000',
      p99MicroJoules: '6000000',
    });
  });

  it('divides total energy by total tokens over the requests that had such tokens', () => {
    const active = aggregate().models[0]!.active;
    // Input: records 1, 2, 4 (3 + 1 + 2 J over 10 + 20 + 5 tokens); record 3 has no input count.
    expect(active.perInputToken).toMatchObject({ requests: 3, energyMicroJoules: '6000000', tokens: '35' });
    expect(active.perInputToken.joulesPerToken).toBeCloseTo(6 / 35, 12);
    // Per request 0.3, 0.05, 0.4 J/token → sorted 0.05, 0.3, 0.4: p50 rank 2, p90 and p99 rank 3.
    expect(active.perInputToken.perRequestJoulesPerToken).toEqual({ p50: 0.3, p90: 0.4, p99: 0.4 });
    // Output: records 1, 3, 4 (record 2 produced 0 output tokens): 11 J over 19 tokens.
    expect(active.perOutputToken).toMatchObject({ requests: 3, energyMicroJoules: '11000000', tokens: '19' });
    expect(active.perOutputToken.joulesPerToken).toBeCloseTo(11 / 19, 12);
    // 0.6, 0.6, 0.5 J/token.
    expect(active.perOutputToken.perRequestJoulesPerToken).toEqual({ p50: 0.6, p90: 0.6, p99: 0.6 });
  });

  it('sums CO2e and water only over the records that carry them, and says how many', () => {
    const active = aggregate().models[0]!.active;
    expect(active.co2eLocationMicrograms).toEqual({ total: '30', requests: 2 });
    expect(active.waterMicroliters).toEqual({ total: '7', requests: 1 });
    expect(active.co2eMarketMicrograms).toBeNull();
  });

  it('keeps the comprehensive boundary apart, over the records that carry it', () => {
    const { models } = aggregate();
    const comprehensive = models[0]!.comprehensive!;
    expect(comprehensive).toMatchObject({
      boundary: 'comprehensive',
      requests: 1,
      energyMicroJoules: '5000000',
      perRequest: { meanMicroJoules: '5000000', p50MicroJoules: '5000000' },
      co2eLocationMicrograms: { total: '15', requests: 1 },
      waterMicroliters: null,
    });
    expect(comprehensive.perInputToken.joulesPerToken).toBe(0.5);
    expect(comprehensive.perOutputToken.joulesPerToken).toBe(1);
    // Model b's records carry no comprehensive boundary at all.
    expect(models[1]!.comprehensive).toBeNull();
  });

  it('totals every model', () => {
    const { totals } = aggregate();
    expect(totals.requests).toBe(5);
    expect(totals.outcomes).toEqual({ error: 1, ok: 4 });
    expect(totals.active.energyMicroJoules).toBe('13000000');
    // Sorted 1, 1, 2, 3, 6 J: p50 rank 3 = 2 J; p90 rank ⌈4.5⌉ = 5 = 6 J.
    expect(totals.active.perRequest).toMatchObject({
      meanMicroJoules: '2600000',
      p50MicroJoules: '2000000',
      p90MicroJoules: '6000000',
    });
    expect(totals.active.perOutputToken).toMatchObject({
      requests: 4,
      energyMicroJoules: '12000000',
      tokens: '39',
    });
  });

  it('compares models per output token against the most frugal, rounded half up to hundredths', () => {
    const comparison = compareModels(aggregate().models);
    // a: 11 J / 19 tokens; b: 1 J / 20 tokens. a ÷ b = (11 × 20) / (19 × 1) = 11.5789…
    expect(comparison).toEqual({
      boundary: 'active',
      metric: 'energy-per-output-token',
      baseline: { model: 'b', engineId: 'e' },
      entries: [
        { model: 'a', engineId: 'e', ratio: 11.58 },
        { model: 'b', engineId: 'e', ratio: 1 },
      ],
    });
  });

  it('compares nothing with a single model', () => {
    const { models } = aggregate();
    expect(compareModels(models.slice(0, 1))).toBeNull();
  });

  it('sorts models by name with unnamed models last, then by engine', () => {
    const aggregator = new ReportAggregator();
    for (const [model, engineId] of [
      [null, 'a'],
      ['z', 'b'],
      ['z', 'a'],
      ['m', 'c'],
    ] as const)
      aggregator.add(reportRecordOf(stored({ model, engineId, activeEnergyMicroJoules: '1' }))!);
    expect(aggregator.result().models.map((m) => [m.model, m.engineId])).toEqual([
      ['m', 'c'],
      ['z', 'a'],
      ['z', 'b'],
      [null, 'a'],
    ]);
  });
});

describe('reading a stored record', () => {
  it('refuses records without what a report needs, instead of guessing', () => {
    expect(reportRecordOf({ requestId: 'req-0001' })).toBeNull();
    expect(reportRecordOf(stored({ activeEnergyMicroJoules: 12 }))).toBeNull();
    expect(reportRecordOf(stored({ activeEnergyMicroJoules: '1', endedAt: 'yesterday' }))).toBeNull();
    expect(reportRecordOf(stored({ activeEnergyMicroJoules: '1', outputTokens: -1 }))).toBeNull();
    expect(reportRecordOf(stored({ activeEnergyMicroJoules: '1', outputTokens: 1.5 }))).toBeNull();
    expect(reportRecordOf(null)).toBeNull();
  });

  it('reads the end time to the nanosecond and a null comprehensive boundary as absent', () => {
    const record = reportRecordOf(
      stored({ activeEnergyMicroJoules: '1', endedAt: '2025-11-24T16:00:00.123Z' }),
    )!;
    expect(record.endedAtUnixNanos).toBe(1_764_000_000_123_000_000n);
    expect(record.comprehensive).toBeNull();
    expect(record.active).toEqual({
      energyMicroJoules: 1n,
      co2eLocationMicrograms: null,
      co2eMarketMicrograms: null,
      waterMicroliters: null,
    });
  });
});

describe('nearest rank', () => {
  it('is ⌈p × n / 100⌉, at least 1', () => {
    expect(nearestRank(50, 4)).toBe(2);
    expect(nearestRank(90, 4)).toBe(4);
    expect(nearestRank(99, 100)).toBe(99);
    expect(nearestRank(99, 101)).toBe(100);
    expect(nearestRank(50, 1)).toBe(1);
    expect(() => nearestRank(0, 1)).toThrow(RangeError);
  });
});
