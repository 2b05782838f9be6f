import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Clock } from '../clock.js';
import type { RequestEventSink } from '../requests/types.js';
import {
  type ExchangeDeps,
  type InlineEnergyOption,
  MeasuredExchange,
  type MeasuredRequest,
} from './exchange.js';
import { MeasurementGuard, type ProxyStats } from './guard.js';
import { parseJsonObject, planBody } from './inject.js';
import { passThrough } from './passthrough.js';
import { childTraceContext } from './trace.js';
import { pickUpstream, resolveUpstreams, type Upstream, type UpstreamSpec } from './upstream.js';
import type { UsageOperation } from './usage.js';

export type { InlineEnergyOption } from './exchange.js';
export type { ProxyStats } from './guard.js';
export type { UpstreamSpec } from './upstream.js';

/** Configuration of {@link createMeasuringProxy}. */
export interface MeasuringProxyOptions {
  /** The inference servers behind the proxy; a request's `model` picks one. */
  readonly upstreams: readonly UpstreamSpec[];
  /** Name of the upstream for unknown models, missing `model`, and unmeasured traffic. */
  readonly defaultUpstream: string;
  /** Receives `start`, `progress` and `end`; a throwing sink is counted, never propagated. */
  readonly sink: RequestEventSink;
  readonly clock: Clock;
  /**
   * Request ids (default: random UUIDs). They also go upstream as `x-request-id` when the client
   * sent none; a client's own `x-request-id` goes upstream unchanged.
   */
  readonly idGenerator?: () => string;
  /**
   * Puts each successful measured request's energy into its response (a last SSE event before
   * `[DONE]`, or a top-level `wattledger` member of a JSON body), waiting at most `maxWaitMs` after
   * the upstream's end for the record. Absent: responses are relayed as sent.
   */
  readonly inlineEnergy?: InlineEnergyOption | undefined;
  /** Largest request body read to measure it; larger bodies pass through unmeasured. */
  readonly maxBodyBytes: number;
  /** Upstream silence (no headers, no body bytes) after which the request fails: 504 or a cut stream. */
  readonly upstreamTimeoutMs: number;
  /** Told about each caught measurement failure (for logs); must not throw. */
  readonly onMeasurementError?: (error: unknown) => void;
}

/** A running (once `server.listen` is called) measuring proxy. */
export interface MeasuringProxy {
  /** A plain `node:http` server: the caller chooses where it listens. */
  readonly server: http.Server;
  /** Counters: requests, measured, measurement errors, in flight. */
  stats(): ProxyStats;
  /** Stops accepting connections, drops idle ones and resolves when in-flight requests are done. */
  close(): Promise<void>;
}

const MEASURED_ROUTES: ReadonlyMap<string, UsageOperation> = new Map([
  ['/v1/chat/completions', 'chat'],
  ['/v1/completions', 'completion'],
  ['/v1/embeddings', 'embedding'],
  ['/v1/responses', 'responses'],
]);

/**
 * A reverse proxy for OpenAI-compatible inference servers that attributes each measured request
 * (`POST` to chat/completions, completions, embeddings, responses) to an engine and reports its
 * lifecycle to `sink`, relaying responses chunk by chunk as they arrive. Everything else, and
 * any request it cannot measure, passes through untouched. Measurement fails open.
 */
export function createMeasuringProxy(options: MeasuringProxyOptions): MeasuringProxy {
  const router = new Router(options);
  const server = http.createServer((req, res) => router.handle(req, res));
  return {
    server,
    stats: () => router.guard.stats(),
    close: () => closeServer(server, router.upstreams),
  };
}

/** Decides, per request, whether to measure it and where it goes. */
class Router {
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly guard: MeasurementGuard;
  private readonly options: MeasuringProxyOptions;
  private readonly defaultUpstream: Upstream;
  private readonly nextId: () => string;
  private readonly deps: ExchangeDeps;

  constructor(options: MeasuringProxyOptions) {
    this.options = options;
    this.upstreams = resolveUpstreams(options.upstreams, options.defaultUpstream);
    this.defaultUpstream = this.upstreams.get(options.defaultUpstream)!;
    this.guard = new MeasurementGuard(options.sink, options.onMeasurementError);
    this.nextId = options.idGenerator ?? randomUUID;
    const { clock, upstreamTimeoutMs, maxBodyBytes, inlineEnergy } = options;
    this.deps = { guard: this.guard, clock, upstreamTimeoutMs, maxBodyBytes, inline: inlineEnergy };
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const guard = this.guard;
    guard.requests += 1;
    guard.inFlight += 1;
    res.on('close', () => {
      guard.inFlight -= 1;
    });
    res.on('error', () => {}); // a client that vanished mid-write is handled by 'close'
    req.on('error', () => {});
    const operation = req.method === 'POST' ? MEASURED_ROUTES.get(pathOf(req.url)) : undefined;
    if (operation === undefined) {
      passThrough(req, res, this.defaultUpstream, [], this.options.upstreamTimeoutMs);
      return;
    }
    readBody(req, this.options.maxBodyBytes, (chunks, complete) => {
      if (res.destroyed) return; // the client left while sending its body
      const measured = complete
        ? guard.attempt(() => this.plan(req, Buffer.concat(chunks), operation), undefined)
        : undefined;
      if (measured === undefined) {
        passThrough(req, res, this.defaultUpstream, chunks, this.options.upstreamTimeoutMs);
        return;
      }
      this.emitStart(measured);
      new MeasuredExchange(this.deps, req, res, measured).run();
    });
  }

  /** Everything about a measured request; undefined when its body is not a JSON object. */
  private plan(
    req: http.IncomingMessage,
    body: Buffer,
    operation: UsageOperation,
  ): MeasuredRequest | undefined {
    const json = parseJsonObject(body);
    if (json === undefined) return undefined; // not ours to measure
    const model = typeof json.model === 'string' ? json.model : undefined;
    const upstream = pickUpstream(this.upstreams, this.options.defaultUpstream, model);
    // Inject include_usage only where the server is known not to send usage unasked.
    const allowInjection = !upstream.injectionRefused && upstream.sendsUsageUnasked === false;
    const plan = planBody(body, json, operation, allowInjection);
    const trace = childTraceContext(req.headers.traceparent);
    const clientId = req.headers['x-request-id'];
    const clientRequestId = typeof clientId === 'string' && clientId.length > 0 ? clientId : undefined;
    return { id: this.nextId(), upstream, operation, trace, plan, original: body, clientRequestId };
  }

  private emitStart(measured: MeasuredRequest): void {
    const { clock } = this.options;
    this.guard.measured += 1;
    this.guard.emit({
      type: 'start',
      requestId: measured.id,
      source: 'proxy',
      engineId: measured.upstream.spec.engineId,
      ...(measured.plan.model === undefined ? {} : { model: measured.plan.model }),
      operation: measured.operation,
      traceId: measured.trace.traceId,
      ...(measured.clientRequestId === undefined ? {} : { upstreamRequestId: measured.clientRequestId }),
      monoNanos: clock.monoNanos(),
      unixNanos: clock.wallUnixNanos(),
    });
  }
}

function pathOf(url: string | undefined): string {
  const path = url ?? '/';
  const query = path.indexOf('?');
  return query < 0 ? path : path.slice(0, query);
}

/**
 * Reads a request body up to `maxBytes`. Calls `done(chunks, true)` with the whole body, or
 * `done(chunksSoFar, false)` as soon as it is too large, leaving the rest unread (paused) for the
 * pass-through to pipe: an oversized body is forwarded, never rejected.
 */
function readBody(
  req: http.IncomingMessage,
  maxBytes: number,
  done: (chunks: Buffer[], complete: boolean) => void,
): void {
  const chunks: Buffer[] = [];
  let size = 0;
  const onData = (chunk: Buffer): void => {
    chunks.push(chunk);
    size += chunk.length;
    if (size <= maxBytes) return;
    req.pause();
    req.off('data', onData).off('end', onEnd);
    done(chunks, false);
  };
  const onEnd = (): void => done(chunks, true);
  req.on('data', onData).on('end', onEnd);
}

async function closeServer(server: http.Server, upstreams: ReadonlyMap<string, Upstream>): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
  for (const upstream of upstreams.values()) upstream.agent.destroy();
}
