import type { MonoNanos, UnixNanos } from '../units.js';

/**
 * Request lifecycle events, from any source: the proxy, the request event API, or OTLP spans.
 * Times are on the daemon's clock (monotonic for arithmetic, wall for people). Token counts are
 * cumulative where they say so; a source reports what it knows and leaves the rest out.
 */

export type RequestSourceKind = 'proxy' | 'event-api' | 'otlp';
export type RequestOperation = 'chat' | 'completion' | 'embedding' | 'responses' | 'other';

/** A request began: it occupies its engine's GPUs from now on. */
export interface RequestStartEvent {
  readonly type: 'start';
  readonly requestId: string;
  readonly source: RequestSourceKind;
  /** The engine (a set of GPUs serving one model endpoint) the request runs on. */
  readonly engineId: string;
  readonly model?: string;
  readonly operation?: RequestOperation;
  /** W3C trace id (32 hex), to join server spans. */
  readonly traceId?: string;
  /**
   * The id the server knows the request by, when it is not `requestId`: the client's own
   * `x-request-id`, which the proxy relays unchanged (vLLM reports it as `gen_ai.request.id`).
   */
  readonly upstreamRequestId?: string;
  readonly monoNanos: MonoNanos;
  readonly unixNanos: UnixNanos;
}

/**
 * Progress of a streaming request. `outputTokens` is the cumulative count so far when the source
 * knows it (usage on every chunk), else the number of content chunks seen so far (an estimate,
 * flagged by `estimated`). The first progress event marks the first token.
 */
export interface RequestProgressEvent {
  readonly type: 'progress';
  readonly requestId: string;
  readonly monoNanos: MonoNanos;
  readonly outputTokens: number;
  readonly estimated: boolean;
}

/** Token usage as the server reported it at the end. */
export interface RequestUsage {
  readonly inputTokens: number;
  /** Prompt tokens served from the KV/prefix cache (not recomputed). */
  readonly cachedInputTokens: number;
  readonly outputTokens: number;
}

/** A request ended. Energy is attributed up to `monoNanos`; then a record is produced. */
export interface RequestEndEvent {
  readonly type: 'end';
  readonly requestId: string;
  readonly monoNanos: MonoNanos;
  readonly unixNanos: UnixNanos;
  /**
   * `unreached`: the request never reached an engine (the proxy could not connect to the server,
   * or it was refused before the server answered): it takes no energy at all.
   */
  readonly outcome: 'ok' | 'error' | 'cancelled' | 'unreached';
  /** Absent when the server reported none (client disconnect, old server). */
  readonly usage?: RequestUsage;
  /** HTTP status from the upstream, when there was one. */
  readonly httpStatus?: number;
}

export type RequestEvent = RequestStartEvent | RequestProgressEvent | RequestEndEvent;

/** Where request events go (the request tracker). Never throws: measurement must not break traffic. */
export type RequestEventSink = (event: RequestEvent) => void;

/** An engine: the GPUs (device ids) that serve one model endpoint. */
export interface EngineSpec {
  readonly engineId: string;
  readonly deviceIds: readonly string[];
  /** Models served by this engine (for routing proxy requests and reporting). */
  readonly models: readonly string[];
}
