import { describe, expect, it } from 'vitest';
import { CostFitter, featuresOf } from '../../../src/attribution/cost-fit.js';
import type { IntervalWork, TrackedRequest } from '../../../src/attribution/types.js';
import { collecting, end, MS, progress, seeded, start, usage } from './fixtures.js';

/** A request as the tracker holds it once ended, with or without usage. */
function request(id: string, model: string, withUsage: boolean, outcome: TrackedRequest['outcome'] = 'ok') {
  return {
    requestId: id,
    engineId: 'e1',
    source: 'proxy',
    model,
    operation: 'chat',
    traceId: null,
    startMonoNanos: 0n,
    startUnixNanos: 0n,
    firstTokenMonoNanos: null,
    prefillFromMonoNanos: null,
    timeline: [],
    progressEstimated: false,
    endMonoNanos: 1n,
    endUnixNanos: 1n,
    outcome,
    usage: withUsage ? { inputTokens: 1, cachedInputTokens: 0, outputTokens: 1 } : null,
    httpStatus: 200,
  } satisfies TrackedRequest;
}

function work(r: TrackedRequest, prefillTokens: number, decodeTokens: number, prefillMs = 0): IntervalWork {
  return {
    request: r,
    prefillMilliTokens: BigInt(prefillTokens) * 1000n,
    decodeMilliTokens: BigInt(decodeTokens) * 1000n,
    overlapNanos: 100_000_000n,
    prefillNanos: BigInt(prefillMs) * 1_000_000n,
    tokens: r.usage === null ? 'partial' : 'known',
  };
}

// True costs of two models (µJ per token) and of a prefill of unknown size (mW).
const SMALL = { prefill: 20_000, decode: 80_000 };
const LARGE = { prefill: 50_000, decode: 300_000 };
const UNKNOWN_PREFILL_MW = 400_000;

describe('CostFitter', () => {
  it('recovers per-model costs from interval energies, within 1 %, and weights by them', () => {
    const rand = seeded(3);
    const fitter = new CostFitter({ priorStrength: 0 });
    const small = request('s', 'small', true);
    const large = request('l', 'large', true);
    const noUsage = request('n', 'small', false);
    expect(fitter.weights([work(small, 10, 1)])).toBeNull(); // nothing confident yet
    for (let i = 0; i < 400; i++) {
      const works = [
        work(small, rand.int(3000), rand.int(40)),
        work(large, rand.int(2000), rand.int(20)),
        work(noUsage, 0, rand.int(30), rand.int(100)),
      ];
      const truth =
        Number(works[0]!.prefillMilliTokens / 1000n) * SMALL.prefill +
        Number(works[0]!.decodeMilliTokens / 1000n) * SMALL.decode +
        Number(works[1]!.prefillMilliTokens / 1000n) * LARGE.prefill +
        Number(works[1]!.decodeMilliTokens / 1000n) * LARGE.decode +
        Number(works[2]!.decodeMilliTokens / 1000n) * SMALL.decode +
        (Number(works[2]!.prefillNanos) / 1e9) * UNKNOWN_PREFILL_MW * 1000;
      fitter.observe(BigInt(Math.round(truth)), works);
    }
    const costs = fitter.snapshot();
    const near = (found: bigint | undefined, expected: number) =>
      expect(Math.abs(Number(found) - expected) / expected).toBeLessThan(0.01);
    near(costs.prefillNanoJoulesPerToken.get('small'), SMALL.prefill * 1000);
    near(costs.decodeNanoJoulesPerToken.get('small'), SMALL.decode * 1000);
    near(costs.prefillNanoJoulesPerToken.get('large'), LARGE.prefill * 1000);
    near(costs.decodeNanoJoulesPerToken.get('large'), LARGE.decode * 1000);
    near(costs.prefillMilliWatts.get('small'), UNKNOWN_PREFILL_MW);
    // Weights in pJ: nJ per token × milli-tokens, mW × ns.
    const [w] = fitter.weights([work(large, 0, 1)])!;
    near(w, LARGE.decode * 1_000_000);
  });

  it('never goes negative, and learns nothing from intervals with failed or unknown requests', () => {
    const fitter = new CostFitter({ minIntervals: 1, solveEvery: 1 });
    const ok = request('a', 'm', true);
    const failed = request('f', 'm', false, 'error');
    expect(featuresOf([work(ok, 10, 1), work(failed, 0, 0)])).toBeNull();
    fitter.observe(1_000_000n, [work(ok, 10, 1), work(failed, 0, 0)]);
    expect(fitter.snapshot().observations).toBe(0);
    // Energy that only decode explains: prefill's cost is 0, not negative.
    for (let i = 1; i <= 20; i++) fitter.observe(BigInt(i * 80_000), [work(ok, 20 - i, i)]);
    const costs = fitter.snapshot();
    expect(costs.prefillNanoJoulesPerToken.get('m')! >= 0n).toBe(true);
    expect(Number(costs.decodeNanoJoulesPerToken.get('m'))).toBeGreaterThan(70_000_000);
  });
});

describe('prefill placement with fitted costs', () => {
  it('places a queued prompt’s prefill just before its first token, at the fastest rate seen', () => {
    const { attributor } = collecting({
      engines: [{ engineId: 'e1', deviceIds: ['gpu0'], models: [] }],
      hostDeviceIds: [],
      idlePowerMilliWatts: new Map(),
      costModel: 'fitted',
    });
    // A: 1000 prompt tokens, first token after 100 ms (10 000 tokens/s). B: the same prompt, queued
    // behind A: its first token 200 ms after its start. Decode steps 20 ms.
    for (const [id, first] of [
      ['A', 100n * MS],
      ['B', 200n * MS],
    ] as const) {
      attributor.onEvent(start(id, 'e1', 0n));
      attributor.onEvent(progress(id, first, 1));
      attributor.onEvent(progress(id, first + 20n * MS, 2));
      attributor.onEvent(end(id, first + 20n * MS, usage(1000, 2)));
    }
    expect(attributor.tracker.get('A')?.prefillFromMonoNanos).toBe(0n); // clamped to its start
    // 1000 tokens × 100 µs + one 20 ms step before its first token.
    expect(attributor.tracker.get('B')?.prefillFromMonoNanos).toBe(80n * MS);
  });
});
