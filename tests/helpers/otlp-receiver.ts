/**
 * A loopback OTLP/HTTP collector for tests: `POST /v1/metrics`, `/v1/logs` and `/v1/traces` in
 * JSON or protobuf (gzip too), everything recorded, and outages on demand (an error status with
 * `Retry-After`, or no listener at all, which gives connection refused).
 *
 * Bodies are decoded with the official opentelemetry-proto definitions (the protobufjs module
 * generated from them that `@opentelemetry/otlp-transformer@0.203.0` ships, installed as the
 * devDependency `otlp-official-proto`; see otlp-decode.ts) into the OTLP/JSON shape. A body that is
 * not a valid export request is answered 400 and recorded with its `problem`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { decodeOtlpRequest, type OtlpRequest, type OtlpSignal } from './otlp-decode.js';

export {
  decodeOtlpRequest,
  decodeTraceRequest,
  OtlpDecodeError,
  type OtlpEncoding,
  type OtlpRequest,
  type OtlpSignal,
} from './otlp-decode.js';

/** One request as it arrived, with the status the receiver answered. */
export interface ReceivedRequest {
  readonly signal: OtlpSignal;
  readonly encoding: 'json' | 'protobuf';
  readonly status: number;
  readonly atMs: number;
  /** The decoded request; `{}` when it could not be decoded. */
  readonly body: OtlpRequest;
  /** Why the body was refused with 400; absent for a valid request. */
  readonly problem?: string;
}

/** What to answer: 200, or an error status with an optional `Retry-After` in seconds. */
export interface Reply {
  readonly status: number;
  readonly retryAfterSeconds?: number;
}

/** The loopback receiver; see the module comment. */
export class OtlpReceiver {
  /** Every request that arrived, answered or refused, in order. */
  readonly requests: ReceivedRequest[] = [];
  private reply: (signal: OtlpSignal) => Reply = () => ({ status: 200 });
  private port = 0;

  private constructor(private server: Server) {}

  /** Listens on 127.0.0.1 on a free port. */
  static async start(): Promise<OtlpReceiver> {
    const receiver = new OtlpReceiver(createServer());
    await receiver.listen(0);
    return receiver;
  }

  /** The base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it. */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Bodies of the requests answered 2xx, for one signal. */
  accepted(signal: OtlpSignal): OtlpRequest[] {
    return this.requests.filter((r) => r.signal === signal && r.status < 300).map((r) => r.body);
  }

  /** Answers every request with `status` (and `Retry-After`) until {@link recover}. */
  failWith(status: number, retryAfterSeconds?: number): void {
    this.reply = () => ({ status, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) });
  }

  /** Accepts the next `count` requests, then answers like {@link failWith}. */
  acceptThenFail(count: number, status: number, retryAfterSeconds?: number): void {
    let left = count;
    this.reply = () =>
      left-- > 0
        ? { status: 200 }
        : { status, ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }) };
  }

  recover(): void {
    this.reply = () => ({ status: 200 });
  }

  /** Stops listening and cuts open connections: clients now get connection refused. */
  async goAway(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async comeBack(): Promise<void> {
    this.server = createServer();
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.goAway();
  }

  /** Polls `condition` every 20 ms until it holds; throws after `timeoutMs`. */
  async waitFor(condition: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`receiver: condition not met within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  private async listen(port: number): Promise<void> {
    this.server.on('request', (request, response) => void this.handle(request, response));
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const signal = SIGNAL_OF_PATH[request.url ?? ''];
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (request.method !== 'POST' || signal === undefined) return void response.writeHead(404).end();
    const protobufBody = request.headers['content-type'] === 'application/x-protobuf';
    const encoding = protobufBody ? 'protobuf' : 'json';
    const atMs = Date.now();
    let body: OtlpRequest;
    try {
      const bytes = Buffer.concat(chunks);
      body = decodeOtlpRequest(
        signal,
        request.headers['content-encoding'] === 'gzip' ? gunzipSync(bytes) : bytes,
        encoding,
      );
    } catch (error) {
      const problem = (error as Error).message;
      this.requests.push({ signal, encoding, status: 400, atMs, body: {}, problem });
      return void response.writeHead(400, { 'content-type': 'text/plain' }).end(problem);
    }
    const reply = this.reply(signal);
    this.requests.push({ signal, encoding, status: reply.status, atMs, body });
    const headers: Record<string, string> = {
      'content-type': protobufBody ? 'application/x-protobuf' : 'application/json',
      ...(reply.retryAfterSeconds === undefined ? {} : { 'retry-after': String(reply.retryAfterSeconds) }),
    };
    // An empty Export*ServiceResponse: zero bytes in protobuf, `{}` in JSON.
    response.writeHead(reply.status, headers).end(protobufBody ? '' : '{}');
  }
}

const SIGNAL_OF_PATH: Readonly<Record<string, OtlpSignal>> = {
  '/v1/metrics': 'metrics',
  '/v1/logs': 'logs',
  '/v1/traces': 'traces',
};
