import { describe, expect, it } from 'vitest';
import { RequestTracker } from '../../../src/attribution/tracker.js';
import type { IntervalWork } from '../../../src/attribution/types.js';
import { end, MS, progress, S, seeded, start, usage } from './fixtures.js';

const byId = (works: readonly IntervalWork[]) =>
  Object.fromEntries(
    works.map((w) => [
      w.request.requestId,
      {
        prefill: w.prefillMilliTokens,
        decode: w.decodeMilliTokens,
        overlap: w.overlapNanos,
        tokens: w.tokens,
      },
    ]),
  );

describe('RequestTracker lifecycle', () => {
  it('keeps engine, start, first token, timeline, end and usage', () => {
    const tracker = new RequestTracker();
    expect(tracker.handle(start('r1', 'e1', 10n * MS))).toEqual({ status: 'accepted', ended: [] });
    tracker.handle(progress('r1', 30n * MS, 1));
    tracker.handle(progress('r1', 40n * MS, 5, true));
    expect(tracker.handle(end('r1', 50n * MS, usage(100, 6, 20)))).toEqual({
      status: 'accepted',
      ended: ['r1'],
    });
    const r = tracker.get('r1');
    expect(r).toMatchObject({
      engineId: 'e1',
      startMonoNanos: 10n * MS,
      firstTokenMonoNanos: 30n * MS,
      timeline: [
        { monoNanos: 30n * MS, outputTokens: 1 },
        { monoNanos: 40n * MS, outputTokens: 5 },
      ],
      progressEstimated: true,
      endMonoNanos: 50n * MS,
      outcome: 'ok',
      usage: { inputTokens: 100, cachedInputTokens: 20, outputTokens: 6 },
    });
    expect(tracker.stats()).toMatchObject({ accepted: 4, inFlight: 0, tracked: 1 });
  });

  it('ignores a duplicate start (idempotent) and counts it', () => {
    const tracker = new RequestTracker();
    tracker.handle(start('r1', 'e1', 10n));
    expect(tracker.handle(start('r1', 'e2', 99n)).status).toBe('duplicate');
    expect(tracker.get('r1')).toMatchObject({ engineId: 'e1', startMonoNanos: 10n });
    expect(tracker.stats()).toMatchObject({ accepted: 1, duplicate: 1, inFlight: 1 });
  });

  it('counts and drops progress and end for unknown ids', () => {
    const tracker = new RequestTracker();
    expect(tracker.handle(progress('nope', 5n, 1)).status).toBe('unknown');
    expect(tracker.handle(end('nope', 6n, usage(1, 1)))).toEqual({ status: 'unknown', ended: [] });
    expect(tracker.get('nope')).toBeUndefined();
    expect(tracker.stats()).toMatchObject({ unknown: 2, accepted: 0, tracked: 0 });
  });

  it('drops out-of-order progress: earlier than known, or a falling count', () => {
    const tracker = new RequestTracker();
    tracker.handle(start('r1', 'e1', 100n));
    expect(tracker.handle(progress('r1', 50n, 1)).status).toBe('out-of-order');
    tracker.handle(progress('r1', 200n, 4));
    expect(tracker.handle(progress('r1', 150n, 5)).status).toBe('out-of-order');
    expect(tracker.handle(progress('r1', 250n, 3)).status).toBe('out-of-order');
    expect(tracker.handle(progress('r1', -1n, 1.5)).status).toBe('invalid');
    expect(tracker.get('r1')?.timeline).toEqual([{ monoNanos: 200n, outputTokens: 4 }]);
    expect(tracker.stats()).toMatchObject({ outOfOrder: 3, invalid: 1 });
  });

  it('counts events after the end as late or duplicate, and clamps an end before the last token', () => {
    const tracker = new RequestTracker();
    tracker.handle(start('r1', 'e1', 100n));
    tracker.handle(progress('r1', 300n, 2));
    expect(tracker.handle(end('r1', 250n, usage(1, 2))).status).toBe('clamped');
    expect(tracker.get('r1')?.endMonoNanos).toBe(300n);
    expect(tracker.handle(progress('r1', 400n, 3)).status).toBe('late');
    expect(tracker.handle(end('r1', 500n)).status).toBe('duplicate');
    expect(tracker.get('r1')?.endMonoNanos).toBe(300n);
    expect(tracker.stats()).toMatchObject({ clamped: 1, late: 1, duplicate: 1 });
  });

  it('rejects an end whose usage is not made of non-negative integers', () => {
    const tracker = new RequestTracker();
    tracker.handle(start('r1', 'e1', 0n));
    expect(tracker.handle(end('r1', 5n, usage(-1, 2))).status).toBe('invalid');
    expect(tracker.get('r1')?.endMonoNanos).toBeNull();
  });

  it('evicts the oldest open request beyond the bound, as ended with outcome evicted', () => {
    const tracker = new RequestTracker({ maxInFlight: 2 });
    tracker.handle(start('a', 'e1', 10n));
    tracker.handle(start('b', 'e1', 20n));
    tracker.handle(end('b', 25n, usage(1, 1)));
    tracker.handle(start('c', 'e1', 30n));
    expect(tracker.handle(start('d', 'e1', 40n))).toEqual({ status: 'accepted', ended: ['a'] });
    expect(tracker.get('a')).toMatchObject({ outcome: 'evicted', endMonoNanos: 40n, usage: null });
    expect(tracker.handle(end('a', 50n, usage(1, 1))).status).toBe('late');
    expect(tracker.stats()).toMatchObject({ evicted: 1, inFlight: 2, tracked: 4 });
    expect(() => new RequestTracker({ maxInFlight: 0 })).toThrow(RangeError);
  });

  it('releases ended requests only', () => {
    const tracker = new RequestTracker();
    tracker.handle(start('open', 'e1', 0n));
    tracker.handle(start('done', 'e1', 0n));
    tracker.handle(end('done', 5n));
    tracker.release('open');
    tracker.release('done');
    expect(tracker.get('open')).toBeDefined();
    expect(tracker.get('done')).toBeUndefined();
  });
});

describe('RequestTracker work per interval', () => {
  it('spreads uncached prefill over [start, first token] and places decode at its progress events', () => {
    const tracker = new RequestTracker();
    tracker.handle(start('r', 'e1', 0n));
    tracker.handle(progress('r', 100n * MS, 1));
    tracker.handle(progress('r', 150n * MS, 3));
    tracker.handle(progress('r', 250n * MS, 4));
    tracker.handle(end('r', 260n * MS, usage(1_200, 4, 200)));
    expect(byId(tracker.work(0n, 50n * MS, 'e1')).r).toEqual({
      prefill: 500_000n,
      decode: 0n,
      overlap: 50n * MS,
      tokens: 'known',
    });
    // (50, 150] ms: the second half of prefill, and the tokens at 100 ms and 150 ms.
    expect(byId(tracker.work(50n * MS, 150n * MS, 'e1')).r).toMatchObject({
      prefill: 500_000n,
      decode: 3_000n,
    });
    expect(byId(tracker.work(150n * MS, 300n * MS, 'e1')).r).toMatchObject({
      prefill: 0n,
      decode: 1_000n,
      overlap: 110n * MS,
    });
  });

  it('rescales stream chunk counts to the usage output count', () => {
    const tracker = new RequestTracker();
    tracker.handle(start('r', 'e1', 0n));
    tracker.handle(progress('r', 10n, 1, true));
    tracker.handle(progress('r', 20n, 2, true));
    tracker.handle(progress('r', 30n, 3, true));
    tracker.handle(end('r', 40n, usage(0, 10)));
    const parts = [0n, 10n, 20n, 30n, 40n]
      .slice(1)
      .map((t) => byId(tracker.work(t - 10n, t, 'e1')).r?.decode);
    expect(parts).toEqual([3_333n, 3_333n, 3_334n, 0n]);
  });

  it('spreads a non-streaming request (embeddings) uniformly over [start, end]', () => {
    const tracker = new RequestTracker();
    tracker.handle(start('r', 'e1', 0n));
    tracker.handle(end('r', 300n, usage(3, 6)));
    expect(byId(tracker.work(0n, 100n, 'e1')).r).toMatchObject({ prefill: 1_000n, decode: 2_000n });
    expect(byId(tracker.work(200n, 1_000n, 'e1')).r).toMatchObject({
      prefill: 1_000n,
      decode: 2_000n,
      overlap: 100n,
    });
  });

  it('reports open requests with unknown tokens and time overlap up to the interval end', () => {
    const tracker = new RequestTracker();
    tracker.handle(start('r', 'e1', 40n));
    expect(byId(tracker.work(0n, 100n, 'e1')).r).toEqual({
      prefill: 0n,
      decode: 0n,
      overlap: 60n,
      tokens: 'unknown',
    });
    tracker.handle(progress('r', 50n, 2));
    tracker.handle(end('r', 60n));
    expect(byId(tracker.work(0n, 100n, 'e1')).r).toMatchObject({
      decode: 2_000n,
      overlap: 20n,
      tokens: 'partial',
    });
  });

  it('selects requests by engine and by (t0, t1]: an end at t0 is out, a start at t1 is in', () => {
    const tracker = new RequestTracker();
    tracker.handle(start('before', 'e1', 0n));
    tracker.handle(end('before', 100n, usage(1, 1)));
    tracker.handle(start('at-end', 'e1', 200n));
    tracker.handle(start('other', 'e2', 150n));
    tracker.handle(start('inside', 'e1', 120n));
    expect(tracker.overlapping(100n, 200n, 'e1').map((r) => r.requestId)).toEqual(['at-end', 'inside']);
    expect(tracker.overlapping(100n, 200n, null).map((r) => r.requestId)).toEqual([
      'at-end',
      'other',
      'inside',
    ]);
    expect(tracker.hasOpenStartedBy(199n, 'e1')).toBe(true);
    expect(tracker.hasOpenStartedBy(100n, 'e1')).toBe(false);
  });

  it('sums per-interval work to the exact token totals over any tiling (seeded)', () => {
    const rand = seeded(7);
    for (let c = 0; c < 200; c++) {
      const tracker = new RequestTracker();
      const t0 = BigInt(rand.int(1_000_000));
      tracker.handle(start('r', 'e1', t0));
      let t = t0;
      let count = 0;
      const streams = rand.int(3) > 0;
      for (let k = 0; streams && k < 1 + rand.int(30); k++) {
        t += BigInt(rand.int(5_000_000));
        count += rand.int(4);
        tracker.handle(progress('r', t, count, true));
      }
      const u = usage(rand.int(5_000), rand.int(2_000), 0);
      tracker.handle(
        end('r', t + BigInt(rand.int(3_000_000)), { ...u, cachedInputTokens: rand.int(u.inputTokens + 1) }),
      );
      let prefill = 0n;
      let decode = 0n;
      for (let a = t0 - BigInt(rand.int(10)) * S; a < t + 5n * S; ) {
        const b = a + 1n + BigInt(rand.int(20_000_000));
        for (const w of tracker.work(a, b, 'e1')) {
          prefill += w.prefillMilliTokens;
          decode += w.decodeMilliTokens;
        }
        a = b;
      }
      const r = tracker.get('r');
      expect(prefill).toBe(BigInt((r?.usage?.inputTokens ?? 0) - (r?.usage?.cachedInputTokens ?? 0)) * 1000n);
      expect(decode).toBe(BigInt(r?.usage?.outputTokens ?? 0) * 1000n);
    }
  });
});
