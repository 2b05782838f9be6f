/**
 * Percentiles of a distribution: exact (values that occurred) up to the limit, then bucketed
 * logarithmically within 0.5 %; checked against nearest-rank percentiles computed here by sorting.
 */
import { describe, expect, it } from 'vitest';
import { ReportAggregator } from '../../../src/report/aggregate.js';
import { Distribution } from '../../../src/report/distribution.js';
import { reportRecordOf } from '../../../src/report/record-fields.js';

/** Deterministic values spread over six orders of magnitude (a 32-bit LCG). */
function values(count: number): number[] {
  let state = 12345;
  const out: number[] = [];
  for (let i = 0; i < count; i++) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    out.push(Math.floor(10 ** (1 + (state / 2 ** 32) * 6)));
  }
  return out;
}

function nearestRankPercentile(sorted: readonly number[], p: number): number {
  return sorted[Math.ceil((p / 100) * sorted.length) - 1]!;
}

describe('Distribution', () => {
  it('is exact up to its limit: each percentile is the value of rank ⌈p·n/100⌉', () => {
    const input = values(1000);
    const d = new Distribution(1000);
    for (const v of input) d.add(v);
    const sorted = [...input].sort((a, b) => a - b);
    expect(d.exact).toBe(true);
    expect(d.percentiles([1, 50, 90, 99, 100])).toEqual(
      [1, 50, 90, 99, 100].map((p) => nearestRankPercentile(sorted, p)),
    );
  });

  it('buckets past its limit, within 0.5 % of the exact percentile', () => {
    const input = values(20_000);
    const d = new Distribution(100);
    for (const v of input) d.add(v);
    expect(d.exact).toBe(false);
    expect(d.size).toBe(20_000);
    const sorted = [...input].sort((a, b) => a - b);
    const got = d.percentiles([1, 50, 90, 99, 100])!;
    for (const [i, p] of [1, 50, 90, 99, 100].entries()) {
      const want = nearestRankPercentile(sorted, p);
      expect(Math.abs(got[i]! - want) / want, `p${p}: ${got[i]} vs ${want}`).toBeLessThan(0.005);
    }
  });

  it('keeps zeros apart when bucketed', () => {
    const d = new Distribution(3);
    for (const v of [0, 0, 0, 0, 0, 0, 5, 7]) d.add(v);
    expect(d.exact).toBe(false);
    const [p50, p99] = d.percentiles([50, 99])!;
    expect(p50).toBe(0);
    expect(Math.abs(p99! - 7) / 7).toBeLessThan(0.005);
  });

  it('has no percentiles without values', () => {
    expect(new Distribution().percentiles([50])).toBeNull();
  });
});

describe('the report says when its percentiles are approximate', () => {
  it('marks a boundary approximate once a distribution was bucketed, and rounds µJ to integers', () => {
    const aggregator = new ReportAggregator({ exactLimit: 2 });
    for (const energy of ['1000', '2000', '3001']) {
      const record = reportRecordOf({
        model: 'm',
        engineId: 'e',
        outcome: 'ok',
        endedAt: '2025-11-24T16:00:00Z',
        estimated: false,
        inputTokens: null,
        cachedInputTokens: null,
        outputTokens: null,
        activeEnergyMicroJoules: energy,
        comprehensive: null,
      });
      aggregator.add(record!);
    }
    const active = aggregator.result().totals.active;
    expect(active.percentiles).toBe('approximate');
    expect(active.perRequest!.meanMicroJoules).toBe('2000'); // sums stay exact
    const p50 = Number(active.perRequest!.p50MicroJoules);
    expect(Math.abs(p50 - 2000) / 2000).toBeLessThan(0.005);
    expect(new ReportAggregator().result().totals.active.percentiles).toBe('exact');
  });
});
