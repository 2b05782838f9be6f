import type { RequestProgressEvent } from '../requests/types.js';
import type { MonoNanos } from '../units.js';
import type { SpanRequest } from './map.js';

/** Most progress events placed over a decode window (plus the first token). */
export const DECODE_POINTS = 16;

/**
 * The first token (1 token at the first-token time), then up to {@link DECODE_POINTS} evenly spaced
 * cumulative counts reaching the output count at the end: the attributor places decode tokens at
 * progress events, so this spreads them over the decode window. None without a first-token time or
 * an output count above 0. Counts are the server's own, so not estimated.
 */
export function progressEvents(
  requestId: string,
  request: SpanRequest,
  mono: (t: bigint) => MonoNanos,
): RequestProgressEvent[] {
  const first = request.firstTokenUnixNanos;
  const total = request.usage?.outputTokens ?? 0;
  if (first === null || total < 1) return [];
  const from = mono(first);
  const to = mono(request.endUnixNanos);
  const events = [
    { type: 'progress' as const, requestId, monoNanos: from, outputTokens: 1, estimated: false },
  ];
  const steps = Math.min(total - 1, DECODE_POINTS);
  for (let k = 1; k <= steps; k += 1) {
    events.push({
      type: 'progress',
      requestId,
      monoNanos: from + ((to - from) * BigInt(k)) / BigInt(steps),
      outputTokens: 1 + Math.floor(((total - 1) * k) / steps),
      estimated: false,
    });
  }
  return events;
}
