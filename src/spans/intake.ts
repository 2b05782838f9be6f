import type { TrackedRequest } from '../attribution/types.js';
import type { Clock } from '../clock.js';
import { EVENT_ID_PATTERN } from '../events/schemas.js';
import type { RequestEvent, RequestEventSink } from '../requests/types.js';
import type { SpanJoinIndex } from './join.js';
import { type EngineResolver, mapSpan, type SpanRequest } from './map.js';
import type { OtlpSpan } from './model.js';
import { type Anchor, clampWall, toMono, windowProblem } from './span-time.js';
import { progressEvents } from './timeline.js';

/**
 * Applies decoded spans: each gen_ai server span becomes a request (start, first token, decode
 * progress, end) delivered to the same sink as the event API's, unless it joins a request
 * reported another way. See docs/SPANS.md for the rules; in short:
 *
 * - **New** (no join): start when scheduled (after queueing), a progress event at the first token and
 *   evenly spaced progress events up to the output count over the decode window, end with the
 *   usage. Source `otlp`, id = `gen_ai.request.id` (or `otlp-<trace>-<span>`).
 * - **Joined, request open**: when it has no progress yet, the span's first token and decode
 *   progress are added to it (the proxy's end brings usage later); counted `enriched`.
 * - **Joined, request ended but not recorded / already recorded / ambiguous trace**: nothing
 *   changes (the attributor takes no new timings after an end); counted, never a second request.
 */

/** Spans remembered by trace and span id, so that a re-sent export changes nothing. */
const SEEN_CAPACITY = 50_000;
const REQUEST_ID = new RegExp(EVENT_ID_PATTERN);

/** Counters since start. */
export interface SpanIntakeStats {
  /** Spans received in decodable exports. */
  spans: number;
  /** Not gen_ai server spans (and not TGI handler spans). */
  ignored: number;
  /** gen_ai spans that could not be used (reported in `partial_success`). */
  rejected: number;
  /** Re-sent spans (same trace and span id) and second spans of one request id. */
  duplicate: number;
  /** New requests made from spans. */
  requests: number;
  /** Joined to an open request and gave it first-token and decode timings. */
  joinedEnriched: number;
  /** Joined to an open request that already had timings (or they did not fit): unchanged. */
  joinedOpen: number;
  /** Joined to a request that ended and awaits its record: unchanged. */
  joinedAfterEnd: number;
  /** Joined to a request already recorded (or forgotten by the tracker): unchanged. */
  joinedAfterRecord: number;
  /** Their trace holds several requests reported another way: counted there, unchanged. */
  joinedTrace: number;
  /** Rejected because reading them threw (a bug; each is logged as `SPANS_SPAN_FAILED`). Also in `rejected`. */
  failed: number;
}

/** The result of one export. */
export interface ExportResult {
  readonly rejected: number;
  /** Why, for `partial_success.error_message` (empty when nothing was rejected). */
  readonly message: string;
}

/** What {@link SpanIntake} works with. */
export interface SpanIntakeOptions {
  /** The attributor's `onEvent` (the same sink as the event API's). */
  readonly sink: RequestEventSink;
  /** The attributor's tracker, to see whether a joined request is open, ended or gone. */
  readonly tracker: { get(requestId: string): TrackedRequest | undefined };
  readonly clock: Clock;
  readonly resolveEngine: EngineResolver;
  readonly join: SpanJoinIndex;
  /** Told about a span whose reading threw; it is rejected alone. */
  readonly onSpanFailure?: (span: OtlpSpan, error: unknown) => void;
}

/** See the module comment. Synchronous, never throws on span content. */
export class SpanIntake {
  private readonly counts: SpanIntakeStats = {
    spans: 0,
    ignored: 0,
    rejected: 0,
    duplicate: 0,
    requests: 0,
    joinedEnriched: 0,
    joinedOpen: 0,
    joinedAfterEnd: 0,
    joinedAfterRecord: 0,
    joinedTrace: 0,
    failed: 0,
  };
  private readonly seen = new Set<string>();

  constructor(private readonly o: SpanIntakeOptions) {}

  stats(): Readonly<SpanIntakeStats> {
    return { ...this.counts };
  }

  /** Applies the spans of one export, in order. */
  apply(spans: readonly OtlpSpan[]): ExportResult {
    // One anchor for the whole export, as the event API converts one event: mono = m − (w − t).
    const anchor = { mono: this.o.clock.monoNanos(), wall: this.o.clock.wallUnixNanos() };
    const problems: string[] = [];
    for (const span of spans) {
      this.counts.spans += 1;
      const problem = this.applyGuarded(span, anchor);
      if (problem !== null) {
        this.counts.rejected += 1;
        problems.push(`span ${span.spanId || '(no id)'}: ${problem}`);
      }
    }
    if (problems.length === 0) return { rejected: 0, message: '' };
    const shown = problems.slice(0, 3).join('; ');
    const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
    return { rejected: problems.length, message: `${problems.length} span(s) not used: ${shown}${more}` };
  }

  /**
   * {@link applyOne}, with a span whose content still makes it throw rejected alone (and counted in
   * `failed`): a bug must cost that span, not the whole export, which an exporter would retry.
   */
  private applyGuarded(span: OtlpSpan, anchor: Anchor): string | null {
    try {
      return this.applyOne(span, anchor);
    } catch (error) {
      this.counts.failed += 1;
      this.o.onSpanFailure?.(span, error);
      return 'could not be read (an internal error; the daemon log has it)';
    }
  }

  /** `null` when used, ignored or a duplicate; else why it was rejected. */
  private applyOne(span: OtlpSpan, anchor: Anchor): string | null {
    const key = span.traceId !== '' && span.spanId !== '' ? `${span.traceId}:${span.spanId}` : null;
    const mapped = mapSpan(span, this.o.resolveEngine);
    if (mapped.kind === 'ignored') {
      this.counts.ignored += 1;
      return null;
    }
    if (mapped.kind === 'rejected') return mapped.reason;
    if (key !== null && this.seen.has(key)) {
      this.counts.duplicate += 1;
      return null;
    }
    const request = mapped.request;
    const window = windowProblem(request, anchor.wall);
    if (window !== null) return window;
    const match = this.o.join.lookup(request.serverRequestId, request.traceId);
    if (match.kind === 'duplicate') this.counts.duplicate += 1;
    else if (match.kind === 'trace') this.counts.joinedTrace += 1;
    else if (match.kind === 'request') this.joinExisting(match.requestId, request, anchor);
    else this.create(request, anchor);
    if (key !== null) this.markSeen(key);
    return null;
  }

  private create(request: SpanRequest, anchor: Anchor): void {
    const requestId = recordId(request);
    if (this.o.tracker.get(requestId) !== undefined) {
      // Tracked but not in the join index (forgotten there): never a second request.
      this.counts.joinedOpen += 1;
      return;
    }
    const mono = (t: bigint) => toMono(anchor, t);
    const start = request.scheduledUnixNanos;
    const events: RequestEvent[] = [
      {
        type: 'start',
        requestId,
        source: 'otlp',
        engineId: request.engineId,
        ...(request.model === null ? {} : { model: request.model }),
        ...(request.operation === null ? {} : { operation: request.operation }),
        ...(request.traceId === '' ? {} : { traceId: request.traceId }),
        monoNanos: mono(start),
        unixNanos: clampWall(anchor, start),
      },
      ...progressEvents(requestId, request, mono),
      {
        type: 'end',
        requestId,
        monoNanos: mono(request.endUnixNanos),
        unixNanos: clampWall(anchor, request.endUnixNanos),
        outcome: request.outcome,
        ...(request.usage === null ? {} : { usage: request.usage }),
      },
    ];
    for (const event of events) this.o.sink(event);
    this.o.join.remember(requestId, 'otlp', request.traceId === '' ? null : request.traceId);
    this.counts.requests += 1;
  }

  private joinExisting(requestId: string, request: SpanRequest, anchor: Anchor): void {
    const tracked = this.o.tracker.get(requestId);
    if (tracked === undefined) {
      this.counts.joinedAfterRecord += 1;
      return;
    }
    if (tracked.endMonoNanos !== null) {
      this.counts.joinedAfterEnd += 1;
      return;
    }
    const mono = (t: bigint) => toMono(anchor, t);
    const events = progressEvents(requestId, request, mono);
    const first = events[0];
    if (tracked.timeline.length > 0 || first === undefined || first.monoNanos < tracked.startMonoNanos) {
      this.counts.joinedOpen += 1;
      return;
    }
    for (const event of events) this.o.sink(event);
    const after = this.o.tracker.get(requestId);
    if (after?.firstTokenMonoNanos === first.monoNanos) this.counts.joinedEnriched += 1;
    else this.counts.joinedOpen += 1;
  }

  private markSeen(key: string): void {
    this.seen.add(key);
    if (this.seen.size > SEEN_CAPACITY) this.seen.delete(this.seen.values().next().value as string);
  }
}

/** `gen_ai.request.id` when it is a valid record id, else `otlp-<trace id>-<span id>`. */
function recordId(request: SpanRequest): string {
  const id = request.serverRequestId;
  if (id !== null && REQUEST_ID.test(id)) return id;
  return `otlp-${request.traceId || '0'.repeat(32)}-${request.spanId || '0'.repeat(16)}`;
}
