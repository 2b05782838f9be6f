import type { MonoNanos } from '../units.js';
import {
  type IntervalWork,
  MILLI_TOKENS_PER_TOKEN,
  type ProgressPoint,
  type TokenKnowledge,
  type TrackedRequest,
} from './types.js';

/**
 * The work a request did inside an interval. Intervals are half-open `(t0, t1]` and tile a
 * device's time, so every quantity is a difference of a cumulative function C(t) (work done up to
 * and including t): C(t1) − C(t0). Rounding happens inside C, so the per-interval amounts of a
 * request telescope to its exact total, whatever the interval boundaries.
 *
 * - Prefill: uncached input tokens spread uniformly over [start, first token], or over
 *   [start, end] when nothing streamed (embeddings, non-stream calls).
 * - Decode: with a stream, output tokens arrive at their progress events (rescaled to the usage
 *   count when the server reported one, since chunk counts can differ from tokens); without one,
 *   spread uniformly over [first token or start, end].
 * - Open requests have no usage yet, so their token work is unknown (0 here, `tokens: 'unknown'`).
 */

/** Does the request occupy an instant of `(t0, t1]`? Open requests extend forever. */
export function overlaps(request: TrackedRequest, t0: MonoNanos, t1: MonoNanos): boolean {
  return request.startMonoNanos <= t1 && (request.endMonoNanos === null || request.endMonoNanos > t0);
}

/** Nanoseconds of `[t0, t1]` during which the request was in flight (open: until t1). */
export function overlapNanos(request: TrackedRequest, t0: MonoNanos, t1: MonoNanos): bigint {
  const from = request.startMonoNanos > t0 ? request.startMonoNanos : t0;
  const end = request.endMonoNanos;
  const to = end !== null && end < t1 ? end : t1;
  return to > from ? to - from : 0n;
}

/** How well the request's token counts are known (see {@link TokenKnowledge}). */
export function tokenKnowledge(request: TrackedRequest): TokenKnowledge {
  if (request.endMonoNanos === null) return 'unknown';
  if (request.usage !== null) return 'known';
  return request.timeline.length > 0 ? 'partial' : 'unknown';
}

/** The request's work in `(t0, t1]`. */
export function intervalWork(request: TrackedRequest, t0: MonoNanos, t1: MonoNanos): IntervalWork {
  return {
    request,
    prefillMilliTokens: prefillUpTo(request, t1) - prefillUpTo(request, t0),
    decodeMilliTokens: decodeUpTo(request, t1) - decodeUpTo(request, t0),
    overlapNanos: overlapNanos(request, t0, t1),
    prefillNanos: prefillNanosIn(request, t0, t1),
    tokens: tokenKnowledge(request),
  };
}

/** Nanoseconds of `[t0, t1]` inside the prefill window [start, first token or end] (open: to t1). */
function prefillNanosIn(request: TrackedRequest, t0: MonoNanos, t1: MonoNanos): bigint {
  const start = request.prefillFromMonoNanos ?? request.startMonoNanos;
  const from = start > t0 ? start : t0;
  const until = request.firstTokenMonoNanos ?? request.endMonoNanos;
  const to = until !== null && until < t1 ? until : t1;
  return to > from ? to - from : 0n;
}

/** `total` spread uniformly over [from, to], cumulated at t; a zero-length span is a step at `from`. */
function uniformUpTo(total: bigint, from: MonoNanos, to: MonoNanos, t: MonoNanos): bigint {
  if (t < from) return 0n;
  if (t >= to) return total;
  return (total * (t - from)) / (to - from);
}

function prefillUpTo(request: TrackedRequest, t: MonoNanos): bigint {
  const until = request.firstTokenMonoNanos ?? request.endMonoNanos;
  const usage = request.usage;
  if (usage === null || until === null) return 0n;
  // Cached prompt tokens are not recomputed, so they carry no prefill work (research §4.2).
  const uncached = Math.max(0, usage.inputTokens - usage.cachedInputTokens);
  const from = request.prefillFromMonoNanos ?? request.startMonoNanos;
  return uniformUpTo(BigInt(uncached) * MILLI_TOKENS_PER_TOKEN, from, until, t);
}

function decodeUpTo(request: TrackedRequest, t: MonoNanos): bigint {
  const last = request.timeline.at(-1);
  const total = BigInt(request.usage?.outputTokens ?? last?.outputTokens ?? 0) * MILLI_TOKENS_PER_TOKEN;
  if (last !== undefined && last.outputTokens > 0) {
    // Rescale the stream's counts to the final total; floor of a cumulative keeps it telescoping.
    return (BigInt(countAt(request.timeline, t)) * total) / BigInt(last.outputTokens);
  }
  if (request.endMonoNanos === null) return 0n;
  const from = request.firstTokenMonoNanos ?? request.startMonoNanos;
  return uniformUpTo(total, from, request.endMonoNanos, t);
}

/** Cumulative output tokens at time t: the last point at or before t (binary search). */
function countAt(timeline: readonly ProgressPoint[], t: MonoNanos): number {
  let low = 0;
  let high = timeline.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((timeline[mid] as ProgressPoint).monoNanos <= t) low = mid + 1;
    else high = mid;
  }
  return low === 0 ? 0 : (timeline[low - 1] as ProgressPoint).outputTokens;
}
