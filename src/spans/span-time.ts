import { FUTURE_TOLERANCE_NANOS, MAX_EVENT_AGE_NANOS } from '../events/time.js';
import type { MonoNanos } from '../units.js';
import type { SpanRequest } from './map.js';

/**
 * Span times on the daemon's clocks, converted as the event API converts event times, with one
 * anchor (monotonic and wall "now") per export.
 */

/** "Now" on both clocks. */
export interface Anchor {
  readonly mono: MonoNanos;
  readonly wall: bigint;
}

/** The event API's conversion: `mono = m − (w − t)`, a time ahead of now taken as now. */
export function toMono(anchor: Anchor, unixNanos: bigint): MonoNanos {
  return anchor.mono - (anchor.wall - clampWall(anchor, unixNanos));
}

/** A wall time, no later than now. */
export function clampWall(anchor: Anchor, unixNanos: bigint): bigint {
  return unixNanos > anchor.wall ? anchor.wall : unixNanos;
}

/** The event API's window: the end at most 1 s ahead and at most 10 minutes old. */
export function windowProblem(request: SpanRequest, wall: bigint): string | null {
  if (request.endUnixNanos > wall + FUTURE_TOLERANCE_NANOS)
    return 'ends in the future (more than 1 s ahead of the daemon clock)';
  if (request.endUnixNanos < wall - MAX_EVENT_AGE_NANOS)
    return 'ended more than 10 minutes ago; too late to attribute';
  return null;
}
