import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';

/**
 * A loopback OTLP/HTTP collector for tests: `POST /v1/metrics` and `/v1/logs` in JSON or protobuf
 * (gzip too), everything recorded, and outages on demand (an error status with `Retry-After`, or
 * no listener at all, which gives connection refused).
 *
 * Protobuf is decoded with protobufjs from the part of opentelemetry-proto v1 written out below
 * (`collector/{metrics,logs}/v1`, `metrics/v1`, `logs/v1`, `common/v1`, `resource/v1`): the
 * published field numbers and wire types, because no package of our OpenTelemetry line ships the
 * `.proto` files. It is independent of the SDK's hand-written serializer, which is the point.
 * Fields left out (exemplars, exponential histograms, summaries) are skipped by the decoder;
 * `severity_number` and temporality are enums upstream, and an int32 has the same encoding.
 */
const OTLP_PROTO = `
syntax = "proto3";
package otlp;
message ExportMetricsServiceRequest { repeated ResourceMetrics resource_metrics = 1; }
message ExportLogsServiceRequest { repeated ResourceLogs resource_logs = 1; }
message AnyValue {
  oneof value {
    string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4;
    ArrayValue array_value = 5; KeyValueList kvlist_value = 6; bytes bytes_value = 7;
  }
}
message ArrayValue { repeated AnyValue values = 1; }
message KeyValueList { repeated KeyValue values = 1; }
message KeyValue { string key = 1; AnyValue value = 2; }
message InstrumentationScope { string name = 1; string version = 2; repeated KeyValue attributes = 3; }
message Resource { repeated KeyValue attributes = 1; uint32 dropped_attributes_count = 2; }
message ResourceMetrics { Resource resource = 1; repeated ScopeMetrics scope_metrics = 2; string schema_url = 3; }
message ScopeMetrics { InstrumentationScope scope = 1; repeated Metric metrics = 2; string schema_url = 3; }
message Metric {
  string name = 1; string description = 2; string unit = 3;
  oneof data { Gauge gauge = 5; Sum sum = 7; Histogram histogram = 9; }
}
message Gauge { repeated NumberDataPoint data_points = 1; }
message Sum { repeated NumberDataPoint data_points = 1; int32 aggregation_temporality = 2; bool is_monotonic = 3; }
message Histogram { repeated HistogramDataPoint data_points = 1; int32 aggregation_temporality = 2; }
message NumberDataPoint {
  repeated KeyValue attributes = 7; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  oneof value { double as_double = 4; sfixed64 as_int = 6; }
  uint32 flags = 8;
}
message HistogramDataPoint {
  repeated KeyValue attributes = 9; fixed64 start_time_unix_nano = 2; fixed64 time_unix_nano = 3;
  fixed64 count = 4; optional double sum = 5; repeated fixed64 bucket_counts = 6;
  repeated double explicit_bounds = 7; uint32 flags = 10; optional double min = 11; optional double max = 12;
}
message ResourceLogs { Resource resource = 1; repeated ScopeLogs scope_logs = 2; string schema_url = 3; }
message ScopeLogs { InstrumentationScope scope = 1; repeated LogRecord log_records = 2; string schema_url = 3; }
message LogRecord {
  fixed64 time_unix_nano = 1; fixed64 observed_time_unix_nano = 11; int32 severity_number = 2;
  string severity_text = 3; AnyValue body = 5; repeated KeyValue attributes = 6;
  uint32 dropped_attributes_count = 7; fixed32 flags = 8; bytes trace_id = 9; bytes span_id = 10;
  string event_name = 12;
}`;

const root = protobuf.parse(OTLP_PROTO).root;
const REQUEST_TYPE = {
  metrics: root.lookupType('otlp.ExportMetricsServiceRequest'),
  logs: root.lookupType('otlp.ExportLogsServiceRequest'),
};

export type OtlpSignal = 'metrics' | 'logs';
/** The OTLP/JSON shape both encodings are turned into (loosely typed: it is test input). */
// biome-ignore lint/suspicious/noExplicitAny: decoded wire data, checked by the assertions
export type OtlpRequest = Record<string, any>;

/** One request as it arrived, with the status the receiver answered. */
export interface ReceivedRequest {
  readonly signal: OtlpSignal;
  readonly encoding: 'json' | 'protobuf';
  readonly status: number;
  readonly atMs: number;
  readonly body: OtlpRequest;
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
    const signal = request.url === '/v1/metrics' ? 'metrics' : request.url === '/v1/logs' ? 'logs' : null;
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (request.method !== 'POST' || signal === null) return void response.writeHead(404).end();
    let bytes = Buffer.concat(chunks);
    if (request.headers['content-encoding'] === 'gzip') bytes = gunzipSync(bytes);
    const protobufBody = request.headers['content-type'] === 'application/x-protobuf';
    const body = protobufBody
      ? decodeProtobuf(signal, bytes)
      : (JSON.parse(bytes.toString('utf8')) as OtlpRequest);
    const reply = this.reply(signal);
    const encoding = protobufBody ? 'protobuf' : 'json';
    this.requests.push({ signal, encoding, status: reply.status, atMs: Date.now(), body });
    const headers: Record<string, string> = {
      'content-type': protobufBody ? 'application/x-protobuf' : 'application/json',
      ...(reply.retryAfterSeconds === undefined ? {} : { 'retry-after': String(reply.retryAfterSeconds) }),
    };
    // An empty Export*ServiceResponse: zero bytes in protobuf, `{}` in JSON.
    response.writeHead(reply.status, headers).end(protobufBody ? '' : '{}');
  }
}

/** Decodes a protobuf request into the OTLP/JSON shape (camelCase, 64-bit integers as strings). */
function decodeProtobuf(signal: OtlpSignal, bytes: Uint8Array): OtlpRequest {
  const type = REQUEST_TYPE[signal];
  return type.toObject(type.decode(bytes), { longs: String, enums: Number, bytes: String });
}
