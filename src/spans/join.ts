import type { RequestEvent, RequestSourceKind } from '../requests/types.js';

/**
 * What span intake knows of requests reported another way (the proxy, the event API) and of the
 * ones it made itself, to join a span to the request it describes instead of counting it twice.
 * Fed every start event (`observe`); bounded: the oldest ids are forgotten past `capacity`.
 *
 * Keys: the request id (the proxy sends it upstream as `X-Request-Id`, which vLLM reports as
 * `gen_ai.request.id`, prefixed `chatcmpl-` / `cmpl-` / `embd-`), and the W3C trace id (the proxy
 * sends a `traceparent`, and the server's span is a child in that trace).
 */

/** Default {@link SpanJoinIndex} capacity: request ids remembered. */
export const DEFAULT_JOIN_CAPACITY = 50_000;

/** How a span matched. */
export type JoinMatch =
  /** Nothing: the span's request is new. */
  | { readonly kind: 'none' }
  /** One request reported another way, by its id or as the only one of the span's trace. */
  | { readonly kind: 'request'; readonly requestId: string; readonly by: 'request-id' | 'trace-id' }
  /** Several requests of the span's trace were reported another way; which one is unknown. */
  | { readonly kind: 'trace'; readonly requestIds: readonly string[] }
  /** A request span intake made already from another span with this request id. */
  | { readonly kind: 'duplicate'; readonly requestId: string };

interface Entry {
  readonly source: RequestSourceKind;
  readonly traceId: string | null;
}

/** Prefixes vLLM puts before the request id it was given (`chatcmpl-<X-Request-Id>`). */
const SERVER_ID_PREFIX = /^(?:chatcmpl|cmpl|chat|embd)-(?=.)/;

/** See the module comment. */
export class SpanJoinIndex {
  /** Oldest first. */
  private readonly ids = new Map<string, Entry>();
  /** Trace id → ids of requests not made from spans. */
  private readonly traces = new Map<string, string[]>();
  /** The id a server knows a request by (the client's `x-request-id`) → the request's id. */
  private readonly aliases = new Map<string, string>();

  constructor(private readonly capacity = DEFAULT_JOIN_CAPACITY) {}

  /** A request event from any sink; only starts matter. */
  observe(event: RequestEvent): void {
    if (event.type !== 'start') return;
    this.remember(event.requestId, event.source, event.traceId ?? null);
    if (event.upstreamRequestId !== undefined && event.upstreamRequestId !== event.requestId) {
      this.aliases.set(event.upstreamRequestId, event.requestId);
      if (this.aliases.size > this.capacity) this.aliases.delete(this.aliases.keys().next().value as string);
    }
  }

  /** Remembers a request (span intake calls this for the requests it makes). */
  remember(requestId: string, source: RequestSourceKind, traceId: string | null): void {
    if (this.ids.has(requestId)) return;
    this.ids.set(requestId, { source, traceId });
    if (traceId !== null && source !== 'otlp') {
      const list = this.traces.get(traceId);
      if (list) list.push(requestId);
      else this.traces.set(traceId, [requestId]);
    }
    if (this.ids.size > this.capacity) this.forgetOldest();
  }

  /** The match of a span with this server request id and trace id (`''`: none). */
  lookup(serverRequestId: string | null, traceId: string): JoinMatch {
    if (serverRequestId !== null) {
      for (const candidate of new Set([serverRequestId, serverRequestId.replace(SERVER_ID_PREFIX, '')])) {
        const id = this.ids.has(candidate) ? candidate : (this.aliases.get(candidate) ?? candidate);
        const entry = this.ids.get(id);
        if (entry === undefined) continue;
        if (entry.source === 'otlp') return { kind: 'duplicate', requestId: id };
        return { kind: 'request', requestId: id, by: 'request-id' };
      }
    }
    const list = traceId === '' ? undefined : this.traces.get(traceId);
    if (list === undefined) return { kind: 'none' };
    if (list.length === 1) return { kind: 'request', requestId: list[0] as string, by: 'trace-id' };
    return { kind: 'trace', requestIds: [...list] };
  }

  /** Ids remembered. */
  get size(): number {
    return this.ids.size;
  }

  private forgetOldest(): void {
    const [id, entry] = this.ids.entries().next().value as [string, Entry];
    this.ids.delete(id);
    if (entry.traceId === null) return;
    const list = this.traces.get(entry.traceId);
    if (list === undefined) return;
    const rest = list.filter((other) => other !== id);
    if (rest.length === 0) this.traces.delete(entry.traceId);
    else this.traces.set(entry.traceId, rest);
  }
}
