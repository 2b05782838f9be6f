import type http from 'node:http';
import type { Clock } from '../clock.js';
import type { RequestEndEvent, RequestUsage } from '../requests/types.js';
import { BodyTap } from './body-tap.js';
import type { MeasurementGuard } from './guard.js';
import {
  CUT_RESPONSE_DROP,
  forwardHeaders,
  isEventStream,
  MEASURED_REQUEST_DROP,
  NO_DROP,
} from './headers.js';
import { type BodyPlan, rejectsInjection } from './inject.js';
import { SseTap } from './stream-tap.js';
import type { TraceContext } from './trace.js';
import { openUpstreamRequest, sendProxyError, type Upstream } from './upstream.js';
import type { UsageOperation } from './usage.js';

/** Everything decided about a measured request before it goes upstream. */
export interface MeasuredRequest {
  readonly id: string;
  readonly upstream: Upstream;
  readonly operation: UsageOperation;
  readonly trace: TraceContext;
  readonly plan: BodyPlan;
  /** The client's body as received (resent if the upstream refuses the injected one). */
  readonly original: Buffer;
}

/** What a measured exchange needs from the proxy. */
export interface ExchangeDeps {
  readonly guard: MeasurementGuard;
  readonly clock: Clock;
  readonly upstreamTimeoutMs: number;
  readonly maxBodyBytes: number;
}

/** Error bodies read whole to look for a refusal of `stream_options` (they are small). */
const REFUSAL_SCAN_BYTES = 64 * 1024;

/**
 * One measured request/response: forwards the body upstream, relays the response chunk by chunk
 * while observing it, and emits `progress` and exactly one `end`. Forwarding never depends on
 * measurement: observers run behind the {@link MeasurementGuard} and fail open.
 */
export class MeasuredExchange {
  private readonly deps: ExchangeDeps;
  private readonly req: http.IncomingMessage;
  private readonly res: http.ServerResponse;
  private readonly m: MeasuredRequest;
  private upstreamRequest: http.ClientRequest | undefined;
  private sseTap: SseTap | undefined;
  private bodyTap: BodyTap | undefined;
  private status: number | undefined;
  private ended = false;
  private waitingForDrain = false;

  constructor(deps: ExchangeDeps, req: http.IncomingMessage, res: http.ServerResponse, m: MeasuredRequest) {
    this.deps = deps;
    this.req = req;
    this.res = res;
    this.m = m;
  }

  /** Sends the request upstream; from here on the exchange drives itself. */
  run(): void {
    // The client went away before the response was complete: stop the generation upstream.
    this.res.on('close', () => {
      if (!this.res.writableEnded) this.cancel();
    });
    this.send(this.m.plan.body, this.m.plan.injected);
  }

  private send(body: Buffer, injected: boolean): void {
    const headers = forwardHeaders(this.req.rawHeaders, MEASURED_REQUEST_DROP, {
      'content-length': String(body.length),
      'x-request-id': this.m.id,
      traceparent: this.m.trace.traceparent,
      // The proxy reads the body to find usage; local inference servers do not compress anyway.
      'accept-encoding': 'identity',
    });
    const { upstream } = this.m;
    const request = openUpstreamRequest(
      upstream,
      this.req.method!,
      this.req.url!,
      headers,
      this.deps.upstreamTimeoutMs,
    );
    this.upstreamRequest = request;
    request.on('response', (response) => this.onResponse(response, injected));
    request.on('error', (error) => this.onUpstreamError(error));
    request.end(body);
  }

  private onResponse(response: http.IncomingMessage, injected: boolean): void {
    const status = response.statusCode ?? 502;
    if (!injected || (status !== 400 && status !== 422)) {
      this.relay(response, injected, []);
      return;
    }
    // Did the server refuse our stream_options? Read the (small) error body to find out.
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size > REFUSAL_SCAN_BYTES) {
        response.off('data', onData).off('end', onEnd).off('close', onClose);
        this.relay(response, injected, chunks);
      }
    };
    const onClose = (): void => {
      if (!response.complete) this.onUpstreamError(new Error('upstream closed the connection mid-response'));
    };
    const onEnd = (): void => {
      const body = Buffer.concat(chunks);
      if (this.ended) return; // the client left meanwhile
      if (rejectsInjection(status, body)) {
        this.m.upstream.injectionRefused = true;
        this.send(this.m.original, false);
      } else {
        this.relayWhole(response, body);
      }
    };
    response
      .on('data', onData)
      .on('end', onEnd)
      .on('close', onClose)
      .on('error', () => {});
  }

  /** Relays a response whose body was already read in full. */
  private relayWhole(response: http.IncomingMessage, body: Buffer): void {
    this.writeHead(response, false);
    this.res.end(body);
    this.finish('error', undefined);
  }

  private relay(response: http.IncomingMessage, injected: boolean, prefix: readonly Buffer[]): void {
    const status = this.writeHead(response, injected);
    if (status < 400) this.deps.guard.attempt(() => this.prepareObservers(response, injected), undefined);
    for (const chunk of prefix) this.forward(chunk, response);
    response.on('data', (chunk: Buffer) => this.forward(chunk, response));
    response.on('end', () => this.onUpstreamEnd());
    response.on('close', () => {
      if (!response.complete) this.failMidStream();
    });
    response.on('error', () => this.failMidStream());
  }

  /** Sends the upstream's status and headers (plus ours) to the client at once. */
  private writeHead(response: http.IncomingMessage, injected: boolean): number {
    const status = response.statusCode ?? 502;
    this.status = status;
    const cut = injected && status < 400 && isEventStream(response);
    const headers = forwardHeaders(response.rawHeaders, cut ? CUT_RESPONSE_DROP : NO_DROP, this.ourHeaders());
    this.res.writeHead(status, response.statusMessage, headers);
    this.res.flushHeaders();
    return status;
  }

  /** Where the client finds this request's record and receipt. */
  private ourHeaders(): Record<string, string> {
    return { 'x-wattledger-request-id': this.m.id, 'x-wattledger-receipt': `/v1/receipts/${this.m.id}` };
  }

  private prepareObservers(response: http.IncomingMessage, injected: boolean): void {
    const encoding = response.headers['content-encoding'];
    if (encoding !== undefined && encoding !== 'identity') return; // compressed: not observable
    if (!isEventStream(response)) {
      this.bodyTap = new BodyTap(this.deps.maxBodyBytes);
      return;
    }
    const onProgress = (outputTokens: number, estimated: boolean): void => {
      const monoNanos = this.deps.clock.monoNanos();
      this.deps.guard.emit({ type: 'progress', requestId: this.m.id, monoNanos, outputTokens, estimated });
    };
    this.sseTap = new SseTap(this.m.operation, injected, onProgress, (error) =>
      this.deps.guard.failed(error),
    );
  }

  /** Writes one chunk to the client (after the tap, which may hold back or cut bytes). */
  private forward(chunk: Buffer, response: http.IncomingMessage): void {
    const out = this.sseTap === undefined ? chunk : this.sseTap.push(chunk);
    if (this.bodyTap !== undefined) this.bodyTap.push(chunk);
    if (out.length === 0 || this.res.write(out) || this.waitingForDrain) return;
    // The client reads slower than the server writes: pause the upstream instead of buffering.
    this.waitingForDrain = true;
    response.pause();
    this.res.once('drain', () => {
      this.waitingForDrain = false;
      response.resume();
    });
  }

  private onUpstreamEnd(): void {
    if (this.ended) return;
    const rest = this.sseTap?.finish();
    if (rest !== undefined && rest.length > 0) this.res.write(rest);
    this.res.end();
    const failed = (this.status ?? 502) >= 400 || this.sseTap?.failed === true;
    this.finish(failed ? 'error' : 'ok', this.finalUsage());
  }

  private finalUsage(): RequestUsage | undefined {
    if (this.sseTap !== undefined) return this.sseTap.usage;
    const tap = this.bodyTap;
    return tap === undefined
      ? undefined
      : this.deps.guard.attempt(() => tap.usage(this.m.operation), undefined);
  }

  /** The upstream connection broke after the headers: the client must see a broken response too. */
  private failMidStream(): void {
    if (this.ended) return;
    const held = this.sseTap?.release();
    this.finish('error', this.sseTap?.usage);
    if (held !== undefined && held.length > 0) this.res.write(held, () => this.res.destroy());
    else this.res.destroy();
  }

  private onUpstreamError(error: Error): void {
    if (this.ended) return;
    if (this.res.headersSent) {
      this.failMidStream();
      return;
    }
    sendProxyError(this.res, error, this.ourHeaders()); // no upstream status to report: the 502/504 is ours
    this.finish('error', undefined);
  }

  private cancel(): void {
    if (this.ended) return;
    this.finish('cancelled', this.sseTap?.usage);
    this.upstreamRequest?.destroy();
  }

  private finish(outcome: RequestEndEvent['outcome'], usage: RequestUsage | undefined): void {
    if (this.ended) return;
    this.ended = true;
    const { clock, guard } = this.deps;
    guard.emit({
      type: 'end',
      requestId: this.m.id,
      monoNanos: clock.monoNanos(),
      unixNanos: clock.wallUnixNanos(),
      outcome,
      ...(usage === undefined ? {} : { usage }),
      ...(this.status === undefined ? {} : { httpStatus: this.status }),
    });
  }
}
