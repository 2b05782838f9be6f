/**
 * Span exports as real exporters send them: `ReadableSpan`s made by the OpenTelemetry SDK
 * (`@opentelemetry/sdk-trace-base`) and serialized by the official OTLP serializers
 * (`ProtobufTraceSerializer`, `JsonTraceSerializer` of `@opentelemetry/otlp-transformer`), with the
 * attributes vLLM's `llm_request` span carries (research inference.md §3.1: `gen_ai.request.id`,
 * `gen_ai.usage.prompt_tokens` / `completion_tokens`, `gen_ai.latency.*` in seconds,
 * `gen_ai.response.model`, kind SERVER, child of the request's `traceparent`).
 */
import { gzipSync } from 'node:zlib';
import { type Attributes, context, type HrTime, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

/** One span to make. */
export interface SpanSpec {
  readonly name?: string;
  readonly kind?: SpanKind;
  readonly startUnixNanos: bigint;
  readonly endUnixNanos: bigint;
  readonly attributes: Attributes;
  /** Parent context: the trace id (and the parent span id) the span is made in. */
  readonly traceId?: string;
  readonly parentSpanId?: string;
  readonly service?: string;
  readonly error?: boolean;
}

function hrTime(unixNanos: bigint): HrTime {
  return [Number(unixNanos / 1_000_000_000n), Number(unixNanos % 1_000_000_000n)];
}

/** Makes finished spans with the SDK (one tracer provider per service). */
export function makeSpans(specs: readonly SpanSpec[]): ReadableSpan[] {
  const out: ReadableSpan[] = [];
  for (const spec of specs) {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': spec.service ?? 'vllm' }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    const parent =
      spec.traceId === undefined
        ? context.active()
        : trace.setSpanContext(context.active(), {
            traceId: spec.traceId,
            spanId: spec.parentSpanId ?? 'b7ad6b7169203331',
            traceFlags: 1,
          });
    const span = provider.getTracer('vllm.llm_engine').startSpan(
      spec.name ?? 'llm_request',
      {
        kind: spec.kind ?? SpanKind.SERVER,
        startTime: hrTime(spec.startUnixNanos),
        attributes: spec.attributes,
      },
      parent,
    );
    if (spec.error) span.setStatus({ code: SpanStatusCode.ERROR, message: 'failed' });
    span.end(hrTime(spec.endUnixNanos));
    out.push(...exporter.getFinishedSpans());
  }
  return out;
}

/** vLLM `llm_request` attributes (seconds, as vLLM writes them). */
export function vllmAttributes(o: {
  id: string;
  model?: string;
  prompt: number;
  completion: number;
  queueS: number;
  ttftS: number;
  e2eS: number;
  prefillS?: number;
  decodeS?: number;
}): Attributes {
  return {
    'gen_ai.request.id': o.id,
    'gen_ai.response.model': o.model ?? 'meta-llama/Llama-3.1-8B-Instruct',
    'gen_ai.request.max_tokens': 512,
    'gen_ai.request.temperature': 0.7,
    'gen_ai.request.top_p': 1,
    'gen_ai.request.n': 1,
    'gen_ai.usage.num_sequences': 1,
    'gen_ai.usage.prompt_tokens': o.prompt,
    'gen_ai.usage.completion_tokens': o.completion,
    'gen_ai.latency.time_in_queue': o.queueS,
    'gen_ai.latency.time_to_first_token': o.ttftS,
    'gen_ai.latency.e2e': o.e2eS,
    ...(o.prefillS === undefined ? {} : { 'gen_ai.latency.time_in_model_prefill': o.prefillS }),
    ...(o.decodeS === undefined ? {} : { 'gen_ai.latency.time_in_model_decode': o.decodeS }),
  };
}

/** The protobuf body of an export of these spans. */
export function protobufBody(spans: ReadableSpan[]): Buffer {
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array);
}

/** The OTLP/JSON body of an export of these spans. */
export function jsonBody(spans: ReadableSpan[]): Buffer {
  return Buffer.from(JsonTraceSerializer.serializeRequest(spans) as Uint8Array);
}

/** POSTs an export body. */
export function postSpans(
  url: string,
  body: Uint8Array | string,
  o: { type?: string; gzip?: boolean; token?: string } = {},
): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': o.type ?? 'application/x-protobuf' };
  if (o.gzip) headers['content-encoding'] = 'gzip';
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  const payload = o.gzip ? gzipSync(body) : body;
  return fetch(`${url}/v1/traces`, { method: 'POST', headers, body: payload });
}
