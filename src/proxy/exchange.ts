import type http from 'node:http';
import type { Clock } from '../clock.js';
import type { RequestEndEvent, RequestUsage } from '../requests/types.js';
import { BodyTap } from './body-tap.js';
import type { MeasurementGuard } from './guard.js';
import {
  CUT_RESPONSE_DROP,
  forwardHeaders,
  isEventStream,
  isJson,
  MEASURED_REQUEST_DROP,
  NO_DROP,
} from './headers.js';
import { type BodyPlan, rejectsInjection } from './inject.js';
import { type InlineEnergy, pendingEnergy } from './inline-energy.js';
import { energyEvent, withEnergyMember } from './inline-frame.js';
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
  /** The client's own `x-request-id`, relayed unchanged; undefined when it sent none. */
  readonly clientRequestId?: string | undefined;
}

/** What a measured exchange needs from the proxy. */
export interface ExchangeDeps {
  readonly guard: MeasurementGuard;
  readonly clock: Clock;
  readonly upstreamTimeoutMs: number;
  readonly maxBodyBytes: number;
  /** Inline energy (`proxy.inlineEnergy`); absent: responses are relayed as sent. */
  readonly inline?: InlineEnergyOption | undefined;
}

/** Putting each request's energy into its response. */
export interface InlineEnergyOption {
  /** Longest wait for the record after the upstream's end; then `status: "pending"` is sent. */
  readonly maxWaitMs: number;
  /**
   * Starts waiting for a request's energy; called before its `end` event is emitted. Resolves with
   * the `wattledger` object, or undefined when none came within `maxWaitMs`. Must not reject.
   */
  readonly waitFor: (requestId: string, maxWaitMs: number) => Promise<InlineEnergy | undefined>;
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
  /** Inline energy into a JSON body: the body, held (headers too) until the energy is known. */
  private heldBody: { chunks: Buffer[]; size: number } | undefined;
  /** Inline energy into this SSE stream. */
  private inlineStream = false;
  private response: http.IncomingMessage | undefined;
  private status: number | undefined;
  private ended = false;
  private waitingForDrain = false;
  /** The connection to the server was made: the request may have reached it. */
  private connected = false;

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
      ...(this.m.clientRequestId === undefined ? { 'x-request-id': this.m.id } : {}),
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
    request.on('socket', (socket) => {
      // A reused keep-alive socket is connected already; a new one once it connects.
      if (!socket.connecting) this.connected = true;
      else socket.once('connect', () => (this.connected = true));
    });
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
    const status = response.statusCode ?? 502;
    this.status = status;
    this.response = response;
    if (status < 400) this.deps.guard.attempt(() => this.prepareObservers(response, injected), undefined);
    if (this.heldBody === undefined) this.writeHead(response, injected);
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
    // Cutting the usage chunk or adding the energy event makes the upstream's length false.
    const cut = (injected || this.inlineStream) && status < 400 && isEventStream(response);
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
    const inline =
      this.deps.inline !== undefined && response.statusCode! >= 200 && response.statusCode! < 300;
    if (!isEventStream(response)) {
      this.bodyTap = new BodyTap(this.deps.maxBodyBytes);
      if (inline && isJson(response)) this.heldBody = { chunks: [], size: 0 };
      return;
    }
    this.inlineStream = inline;
    const onProgress = (outputTokens: number, estimated: boolean): void => {
      const monoNanos = this.deps.clock.monoNanos();
      this.deps.guard.emit({ type: 'progress', requestId: this.m.id, monoNanos, outputTokens, estimated });
    };
    this.sseTap = new SseTap(
      this.m.operation,
      injected,
      onProgress,
      (error) => this.deps.guard.failed(error),
      inline,
      { separatePrompts: this.m.plan.separatePrompts },
    );
  }

  /** Writes one chunk to the client (after the tap, which may hold back or cut bytes). */
  private forward(chunk: Buffer, response: http.IncomingMessage): void {
    const out = this.sseTap === undefined ? chunk : this.sseTap.push(chunk);
    if (this.bodyTap !== undefined) this.bodyTap.push(chunk);
    if (this.heldBody !== undefined && !this.holdBody(chunk)) return;
    if (out.length === 0 || this.res.write(out) || this.waitingForDrain) return;
    // The client reads slower than the server writes: pause the upstream instead of buffering.
    this.waitingForDrain = true;
    response.pause();
    this.res.once('drain', () => {
      this.waitingForDrain = false;
      response.resume();
    });
  }

  /**
   * Holds one chunk of a JSON body for inline energy; returns whether it must be forwarded after
   * all: a body larger than `maxBodyBytes` is relayed as it is, from here on as it comes.
   */
  private holdBody(chunk: Buffer): boolean {
    const held = this.heldBody!;
    held.chunks.push(chunk);
    held.size += chunk.length;
    if (held.size <= this.deps.maxBodyBytes) return false;
    this.heldBody = undefined;
    this.writeHead(this.response!, false);
    for (const part of held.chunks.slice(0, -1)) this.res.write(part);
    return true;
  }

  private onUpstreamEnd(): void {
    if (this.ended) return;
    const tap = this.sseTap;
    const rest = tap?.finish();
    if (rest !== undefined && rest.length > 0) this.res.write(rest);
    const failed = (this.status ?? 502) >= 400 || tap?.failed === true;
    if (tap !== undefined && !failed) this.learnUsageUnasked(tap);
    const held = this.heldBody;
    const inline = this.deps.inline;
    const inlineHere =
      inline !== undefined &&
      !failed &&
      (held !== undefined || (this.inlineStream && tap?.endedCleanly === true));
    if (!inlineHere) {
      if (held !== undefined) this.relayHeld(Buffer.concat(held.chunks), undefined);
      const tail = tap?.takeTail();
      if (tail !== undefined && tail.length > 0) this.res.write(tail);
      this.res.end();
      this.finish(failed ? 'error' : 'ok', this.finalUsage());
      return;
    }
    // Wait for the record only after the upstream ended; register before `end` is emitted.
    const id = this.m.id;
    let energy: Promise<InlineEnergy | undefined>;
    try {
      energy = inline.waitFor(id, inline.maxWaitMs).catch(() => undefined);
    } catch (error) {
      this.deps.guard.failed(error);
      energy = Promise.resolve(undefined);
    }
    this.finish('ok', this.finalUsage());
    energy
      .then((value) => this.endWithEnergy(value ?? pendingEnergy(id)))
      .catch((error: unknown) => {
        // Never leave the client hanging: a response that cannot be finished is cut.
        this.deps.guard.failed(error);
        this.res.destroy();
      });
  }

  /**
   * A stream relayed without injection to a client that did not set `include_usage`: whether usage
   * came anyway tells whether the server sends it unasked (then the proxy never cuts it there).
   */
  private learnUsageUnasked(tap: SseTap): void {
    const upstream = this.m.upstream;
    const { plan, operation } = this.m;
    if (upstream.sendsUsageUnasked !== undefined || plan.injected || plan.clientSetUsage) return;
    if (!plan.stream || (operation !== 'chat' && operation !== 'completion') || !tap.endedCleanly) return;
    upstream.sendsUsageUnasked = tap.usage !== undefined;
  }

  /** Sends the held end of the response with the request's energy in it. */
  private endWithEnergy(energy: InlineEnergy): void {
    if (this.res.destroyed) return; // the client left while we waited
    const held = this.heldBody;
    if (held !== undefined) {
      this.relayHeld(Buffer.concat(held.chunks), energy);
      return;
    }
    const tap = this.sseTap!;
    const event = this.deps.guard.attempt(
      () => energyEvent(this.m.operation, tap.identity, energy, tap.lastSequenceNumber),
      undefined,
    );
    if (event !== undefined) this.res.write(event);
    const tail = tap.takeTail(); // a requested usage chunk and `data: [DONE]`, when sent
    if (tail.length > 0) this.res.write(tail);
    this.res.end();
  }

  /** Sends a held JSON body, with `energy` added when given and the body is a JSON object. */
  private relayHeld(body: Buffer, energy: InlineEnergy | undefined): void {
    this.heldBody = undefined;
    let out = body;
    if (energy !== undefined) {
      const withEnergy = this.deps.guard.attempt(() => withEnergyMember(body, energy), undefined);
      if (withEnergy !== undefined) out = withEnergy;
    }
    const response = this.response!;
    const headers = forwardHeaders(response.rawHeaders, CUT_RESPONSE_DROP, {
      ...this.ourHeaders(),
      'content-length': String(out.length),
    });
    this.res.writeHead(response.statusCode ?? 502, response.statusMessage, headers);
    this.res.end(out);
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
    if (this.heldBody !== undefined && !this.res.headersSent) {
      // A JSON body held for inline energy: nothing was sent yet, so the client gets a clean 502.
      this.heldBody = undefined;
      sendProxyError(this.res, new Error('the connection closed mid-response'), this.ourHeaders());
      this.finish('error', undefined);
      return;
    }
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
    // Never connected (refused, unresolvable, unreachable): the request never reached an engine.
    this.finish(this.connected ? 'error' : 'unreached', undefined);
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
