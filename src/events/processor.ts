import type { Clock } from '../clock.js';
import { describeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RequestEvent, RequestEventSink } from '../requests/types.js';
import type { RequestBook } from './book.js';
import { EventApiError } from './errors.js';
import type { EndInput, EventInput, ProgressInput, StartInput } from './schemas.js';
import { toDaemonTime, wallOf } from './time.js';

/** What became of a valid event: delivered to the sink, or recognised as a repeat. */
export type EventOutcome = 'accepted' | 'duplicate';

/** What {@link EventProcessor} works with. */
export interface EventProcessorOptions {
  readonly sink: RequestEventSink;
  readonly clock: Clock;
  readonly book: RequestBook;
  /** An open request not heard of for this long is ended as `cancelled` (see {@link expireIdle}). */
  readonly openTimeoutNanos: bigint;
  readonly logger?: Logger | undefined;
  /** Asked before each start: an error refuses it (the ledger cannot write, the daemon stops). */
  readonly admit?: () => EventApiError | null;
  /** Called after an end, with the number of requests still open. */
  readonly onEnded?: (openCount: number) => void;
}

/**
 * Turns validated API events into `RequestEvent`s: converts their times to the daemon's clock,
 * asks the {@link RequestBook} whether they are new, delivers new ones to the sink and only then
 * records them, so a sink failure leaves the book as it was and a retry is delivered again.
 * Synchronous: on Node's one thread, no two events interleave between check and record.
 */
export class EventProcessor {
  constructor(private readonly o: EventProcessorOptions) {}

  /** Applies one event. Throws `EventApiError` (409, 404, 429, 500) when it cannot. */
  apply(input: EventInput): EventOutcome {
    if (input.type === 'start') return this.start(input);
    if (input.type === 'progress') return this.progress(input);
    return this.end(input);
  }

  /**
   * Ends open requests silent for longer than the open timeout, as `cancelled` at their last known
   * time: a client that crashed mid-request must neither hold an in-flight slot forever nor keep
   * receiving a share of the engine's energy. Returns how many were ended.
   */
  expireIdle(): number {
    const { clock, book, logger } = this.o;
    const expired = book.expire(clock.monoNanos() - this.o.openTimeoutNanos);
    this.cancel(expired);
    if (expired.length > 0)
      logger?.warn(
        { code: 'EVENTS_EXPIRED', count: expired.length },
        `events: ended ${expired.length} request(s) silent past the open timeout as cancelled`,
      );
    return expired.length;
  }

  /**
   * Ends every open request as `cancelled` now, at its last known time (the daemon stops and
   * will take no more events): each is sealed with what was measured up to then, and logged.
   * Returns their ids.
   */
  endAllOpen(): string[] {
    const open = this.o.book.endAll();
    this.cancel(open);
    return open.map((r) => r.requestId);
  }

  private cancel(requests: readonly { requestId: string; lastMono: bigint }[]): void {
    const { clock, logger } = this.o;
    for (const { requestId, lastMono } of requests) {
      const unixNanos = wallOf(clock, lastMono);
      try {
        this.o.sink({ type: 'end', requestId, monoNanos: lastMono, unixNanos, outcome: 'cancelled' });
      } catch (error) {
        logger?.error(
          { code: 'EVENTS_SINK_FAILED', requestId, err: describeError(error) },
          'events: sink failed',
        );
      }
    }
  }

  private start(input: StartInput): EventOutcome {
    const fingerprint = JSON.stringify([
      input.engineId,
      input.model ?? null,
      input.operation ?? null,
      input.traceId ?? null,
      input.startedAt?.toString() ?? null,
    ]);
    // Only when full: expiry is a sweep over the oldest entries, not worth running on every start.
    if (this.o.book.full) this.expireIdle();
    if (this.o.book.checkStart(input.requestId, fingerprint) === 'duplicate') return 'duplicate';
    // A repeat of an acknowledged start stays a duplicate; only a new request is refused.
    const refused = this.o.admit?.() ?? null;
    if (refused !== null) throw refused;
    const { monoNanos, unixNanos } = toDaemonTime(this.o.clock, input.startedAt);
    this.deliver({
      type: 'start',
      requestId: input.requestId,
      source: 'event-api',
      engineId: input.engineId,
      ...(input.model === undefined ? {} : { model: input.model }),
      ...(input.operation === undefined ? {} : { operation: input.operation }),
      ...(input.traceId === undefined ? {} : { traceId: input.traceId }),
      monoNanos,
      unixNanos,
    });
    this.o.book.recordStart(input.requestId, fingerprint, monoNanos, this.o.clock.monoNanos());
    return 'accepted';
  }

  private progress(input: ProgressInput): EventOutcome {
    const fingerprint = JSON.stringify([input.outputTokens, input.at?.toString() ?? null]);
    const { monoNanos } = toDaemonTime(this.o.clock, input.at);
    const { requestId, outputTokens } = input;
    if (this.o.book.checkProgress(requestId, fingerprint, monoNanos, outputTokens) === 'duplicate')
      return 'duplicate';
    // Real token counts from the server, not chunk counts: never estimated.
    this.deliver({ type: 'progress', requestId, monoNanos, outputTokens, estimated: false });
    this.o.book.recordProgress(requestId, fingerprint, monoNanos, outputTokens, this.o.clock.monoNanos());
    return 'accepted';
  }

  private end(input: EndInput): EventOutcome {
    const usage = input.usage && {
      inputTokens: input.usage.inputTokens,
      cachedInputTokens: input.usage.cachedInputTokens ?? 0,
      outputTokens: input.usage.outputTokens,
    };
    const fingerprint = JSON.stringify([input.outcome, usage ?? null, input.endedAt?.toString() ?? null]);
    if (this.o.book.checkEnd(input.requestId, fingerprint) === 'duplicate') return 'duplicate';
    const { monoNanos, unixNanos } = toDaemonTime(this.o.clock, input.endedAt);
    this.deliver({
      type: 'end',
      requestId: input.requestId,
      monoNanos,
      unixNanos,
      outcome: input.outcome,
      ...(usage === undefined ? {} : { usage }),
    });
    this.o.book.recordEnd(input.requestId, fingerprint);
    this.o.onEnded?.(this.o.book.openCount);
    return 'accepted';
  }

  /** The sink must not throw; when it does, the client gets a 500 and may retry, and we go on. */
  private deliver(event: RequestEvent): void {
    try {
      this.o.sink(event);
    } catch (error) {
      this.o.logger?.error(
        { code: 'EVENTS_SINK_FAILED', requestId: event.requestId, err: describeError(error) },
        'events: the request event sink failed',
      );
      throw new EventApiError('EVENTS_SINK_FAILED', 'the daemon could not take the event; retry later', {
        cause: error,
      });
    }
  }
}
