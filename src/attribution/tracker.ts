import type {
  RequestEndEvent,
  RequestEvent,
  RequestProgressEvent,
  RequestStartEvent,
  RequestUsage,
} from '../requests/types.js';
import type { MonoNanos } from '../units.js';
import type { IntervalWork, ProgressPoint, TrackedRequest } from './types.js';
import { intervalWork, overlaps } from './work.js';

/** Most requests in flight by default; beyond it the oldest is evicted. */
export const DEFAULT_MAX_IN_FLIGHT = 100_000;

/** Options of {@link RequestTracker}. */
export interface TrackerOptions {
  /** Most open requests kept; a new start beyond it evicts the oldest open one. */
  readonly maxInFlight?: number;
}

/**
 * What became of one event. `clamped`: an end stamped before the request's last known time was
 * accepted at that time instead (dropping it would leave the request open until evicted).
 */
export type EventStatus =
  | 'accepted'
  | 'clamped'
  | 'duplicate'
  | 'unknown'
  | 'late'
  | 'out-of-order'
  | 'invalid';

/** The result of {@link RequestTracker.handle}: the status and the requests that ended by it. */
export interface HandleResult {
  readonly status: EventStatus;
  /** Ids that ended through this event: the request itself on `end`, evicted ones on `start`. */
  readonly ended: readonly string[];
}

/** Event counters since construction. */
export interface TrackerStats {
  readonly accepted: number;
  readonly clamped: number;
  readonly duplicate: number;
  readonly unknown: number;
  readonly late: number;
  readonly outOfOrder: number;
  readonly invalid: number;
  readonly evicted: number;
  readonly inFlight: number;
  readonly tracked: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
type Entry = Mutable<TrackedRequest> & { timeline: ProgressPoint[] };
type Counter = Exclude<keyof TrackerStats, 'inFlight' | 'tracked'>;

const COUNTER_OF: Record<Exclude<EventStatus, 'accepted' | 'clamped'>, Counter> = {
  duplicate: 'duplicate',
  unknown: 'unknown',
  late: 'late',
  'out-of-order': 'outOfOrder',
  invalid: 'invalid',
};

/**
 * Follows requests from their lifecycle events and answers, for an interval and an engine, which
 * requests overlapped it and the work each did there. Pure and synchronous; never throws on an
 * event (measurement must not break traffic): bad events are counted and dropped. Ended requests
 * stay until {@link release}d, because their intervals may be attributed later.
 */
export class RequestTracker {
  private readonly maxInFlight: number;
  /** All tracked requests, in start-event order (the order allocation ties are broken in). */
  private readonly requests = new Map<string, Entry>();
  /** Open requests, oldest start event first: the eviction order. */
  private readonly open = new Map<string, Entry>();
  private readonly counts: Record<Counter, number> = {
    accepted: 0,
    clamped: 0,
    duplicate: 0,
    unknown: 0,
    late: 0,
    outOfOrder: 0,
    invalid: 0,
    evicted: 0,
  };

  constructor(options: TrackerOptions = {}) {
    const max = options.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`maxInFlight must be ≥ 1, got ${max}`);
    this.maxInFlight = max;
  }

  /** Applies one event; see {@link EventStatus}. */
  handle(event: RequestEvent): HandleResult {
    const result =
      event.type === 'start'
        ? this.start(event)
        : event.type === 'progress'
          ? this.progress(event)
          : this.end(event);
    if (result.status === 'accepted' || result.status === 'clamped') this.counts.accepted += 1;
    if (result.status === 'clamped') this.counts.clamped += 1;
    else if (result.status !== 'accepted') this.counts[COUNTER_OF[result.status]] += 1;
    return result;
  }

  /** The request, while tracked. */
  get(requestId: string): TrackedRequest | undefined {
    return this.requests.get(requestId);
  }

  /** Open requests (of one engine, or all with `null`) that started at or before `t`. */
  hasOpenStartedBy(t: MonoNanos, engineId: string | null): boolean {
    for (const entry of this.open.values()) {
      if ((engineId === null || entry.engineId === engineId) && entry.startMonoNanos <= t) return true;
    }
    return false;
  }

  /** Requests of one engine (or all, with `null`) overlapping `(t0, t1]`, in start-event order. */
  overlapping(t0: MonoNanos, t1: MonoNanos, engineId: string | null): TrackedRequest[] {
    const found: TrackedRequest[] = [];
    for (const entry of this.requests.values()) {
      if ((engineId === null || entry.engineId === engineId) && overlaps(entry, t0, t1)) found.push(entry);
    }
    return found;
  }

  /** The work of each overlapping request in `(t0, t1]` (see `work.ts` for the rules). */
  work(t0: MonoNanos, t1: MonoNanos, engineId: string | null): IntervalWork[] {
    return this.overlapping(t0, t1, engineId).map((request) => intervalWork(request, t0, t1));
  }

  /**
   * Sets where an ended request's prefill began (between its start and its first token), before
   * any interval of it is split; ignored otherwise.
   */
  setPrefillFrom(requestId: string, t: MonoNanos): void {
    const entry = this.requests.get(requestId);
    const first = entry?.firstTokenMonoNanos ?? null;
    if (entry === undefined || entry.endMonoNanos === null || first === null) return;
    entry.prefillFromMonoNanos = t < entry.startMonoNanos ? entry.startMonoNanos : t > first ? first : t;
  }

  /** Forgets an ended request (its record is out). Open requests are kept. */
  release(requestId: string): void {
    const entry = this.requests.get(requestId);
    if (entry && entry.endMonoNanos !== null) this.requests.delete(requestId);
  }

  /** Counters and sizes. */
  stats(): TrackerStats {
    return { ...this.counts, inFlight: this.open.size, tracked: this.requests.size };
  }

  private start(event: RequestStartEvent): HandleResult {
    // Idempotent: a retried start (proxy and event API both reporting) changes nothing.
    if (this.requests.has(event.requestId)) return { status: 'duplicate', ended: [] };
    const ended: string[] = [];
    while (this.open.size >= this.maxInFlight) ended.push(this.evictOldest(event.monoNanos));
    const entry: Entry = {
      requestId: event.requestId,
      engineId: event.engineId,
      source: event.source,
      model: event.model ?? null,
      operation: event.operation ?? null,
      traceId: event.traceId ?? null,
      startMonoNanos: event.monoNanos,
      startUnixNanos: event.unixNanos,
      firstTokenMonoNanos: null,
      prefillFromMonoNanos: null,
      timeline: [],
      progressEstimated: false,
      endMonoNanos: null,
      endUnixNanos: null,
      outcome: null,
      usage: null,
      httpStatus: null,
    };
    this.requests.set(event.requestId, entry);
    this.open.set(event.requestId, entry);
    return { status: 'accepted', ended };
  }

  /** Closes the oldest open request at `now` (no earlier than what is known of it). */
  private evictOldest(now: MonoNanos): string {
    const [id, entry] = this.open.entries().next().value as [string, Entry];
    const end = maxMono(now, lastKnownTime(entry));
    entry.endMonoNanos = end;
    entry.endUnixNanos = entry.startUnixNanos + (end - entry.startMonoNanos);
    entry.outcome = 'evicted';
    this.open.delete(id);
    this.counts.evicted += 1;
    return id;
  }

  private progress(event: RequestProgressEvent): HandleResult {
    const entry = this.requests.get(event.requestId);
    if (!entry) return { status: 'unknown', ended: [] };
    if (entry.endMonoNanos !== null) return { status: 'late', ended: [] };
    if (!Number.isSafeInteger(event.outputTokens) || event.outputTokens < 0)
      return { status: 'invalid', ended: [] };
    const last = entry.timeline.at(-1);
    // Time and the cumulative count only move forward; anything else is a reordered event.
    if (event.monoNanos < lastKnownTime(entry) || event.outputTokens < (last?.outputTokens ?? 0)) {
      return { status: 'out-of-order', ended: [] };
    }
    entry.timeline.push({ monoNanos: event.monoNanos, outputTokens: event.outputTokens });
    entry.firstTokenMonoNanos ??= event.monoNanos;
    entry.progressEstimated ||= event.estimated;
    return { status: 'accepted', ended: [] };
  }

  private end(event: RequestEndEvent): HandleResult {
    const entry = this.requests.get(event.requestId);
    if (!entry) return { status: 'unknown', ended: [] };
    // A second end repeats the first; an end after eviction came too late to count.
    if (entry.endMonoNanos !== null)
      return { status: entry.outcome === 'evicted' ? 'late' : 'duplicate', ended: [] };
    if (event.usage !== undefined && !validUsage(event.usage)) return { status: 'invalid', ended: [] };
    const floor = lastKnownTime(entry);
    const clamped = event.monoNanos < floor;
    entry.endMonoNanos = clamped ? floor : event.monoNanos;
    entry.endUnixNanos = clamped ? event.unixNanos + (floor - event.monoNanos) : event.unixNanos;
    entry.outcome = event.outcome;
    entry.usage = event.usage ?? null;
    entry.httpStatus = event.httpStatus ?? null;
    this.open.delete(event.requestId);
    return { status: clamped ? 'clamped' : 'accepted', ended: [event.requestId] };
  }
}

function validUsage(usage: RequestUsage): boolean {
  return [usage.inputTokens, usage.cachedInputTokens, usage.outputTokens].every(
    (n) => Number.isSafeInteger(n) && n >= 0,
  );
}

function lastKnownTime(entry: TrackedRequest): MonoNanos {
  return entry.timeline.at(-1)?.monoNanos ?? entry.startMonoNanos;
}

function maxMono(a: MonoNanos, b: MonoNanos): MonoNanos {
  return a > b ? a : b;
}
