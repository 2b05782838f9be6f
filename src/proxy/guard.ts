import type { RequestEvent, RequestEventSink } from '../requests/types.js';

/** Counters the proxy keeps about itself. */
export interface ProxyStats {
  /** Requests received (measured or not). */
  readonly requests: number;
  /** Requests for which a `start` event was emitted. */
  readonly measured: number;
  /** Exceptions caught inside measurement (a throwing sink, a parser failure); traffic went on. */
  readonly measurementErrors: number;
  /** Requests received whose response has not finished yet. */
  readonly inFlight: number;
}

/**
 * The fail-open boundary between proxying and measuring: every event goes to the sink through
 * {@link emit} and every observation step runs through {@link attempt}, so an exception there is
 * counted and swallowed and can never break or alter the traffic.
 */
export class MeasurementGuard {
  private readonly sink: RequestEventSink;
  private readonly onError: (error: unknown) => void;
  requests = 0;
  measured = 0;
  measurementErrors = 0;
  inFlight = 0;

  constructor(sink: RequestEventSink, onError: (error: unknown) => void = () => {}) {
    this.sink = sink;
    this.onError = onError;
  }

  /** Sends one event to the sink; a throwing sink is counted, not propagated. */
  emit(event: RequestEvent): void {
    try {
      this.sink(event); // once per streamed chunk: no closure, no attempt()
    } catch (error) {
      this.failed(error);
    }
  }

  /** Runs `step`; on an exception, counts it and returns `fallback`. */
  attempt<T>(step: () => T, fallback: T): T {
    try {
      return step();
    } catch (error) {
      this.failed(error);
      return fallback;
    }
  }

  /** Counts a measurement failure caught elsewhere. */
  failed(error: unknown): void {
    this.measurementErrors += 1;
    try {
      this.onError(error);
    } catch {
      // the error reporter itself must not break traffic either
    }
  }

  /** A snapshot of the counters. */
  stats(): ProxyStats {
    return {
      requests: this.requests,
      measured: this.measured,
      measurementErrors: this.measurementErrors,
      inFlight: this.inFlight,
    };
  }
}
