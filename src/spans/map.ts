import type { RequestOperation, RequestUsage } from '../requests/types.js';
import { isRustDuration, latencyNanos, rustDurationNanos } from './durations.js';
import type { EngineChoice } from './engines.js';
import { type AttributeValue, type OtlpSpan, SPAN_KIND, STATUS_ERROR } from './model.js';

/**
 * From one span to the request it reports, or why it is not one. Two kinds of span are read:
 *
 * - **gen_ai server spans** (vLLM `llm_request`, and any server following the GenAI semantic
 *   conventions): a span with `gen_ai.request.id`, a `gen_ai.usage.*` or a `gen_ai.latency.*`
 *   attribute, whose kind is not client, producer or consumer (an instrumented client's own
 *   `gen_ai` span reports the same call from the other side and would count it twice).
 * - **TGI handler spans**: `queue_time` and `inference_time` as Rust durations (`12.3ms`).
 *
 * Every other span is ignored. Times stay Unix nanoseconds here; intake places them on the
 * daemon's clock.
 */

/** The request one span reports. */
export interface SpanRequest {
  readonly traceId: string;
  readonly spanId: string;
  /** `gen_ai.request.id` as sent, when it is a string. */
  readonly serverRequestId: string | null;
  readonly engineId: string;
  readonly model: string | null;
  readonly operation: RequestOperation | null;
  /** Span start: the request arrived at the server. */
  readonly arrivalUnixNanos: bigint;
  /** Arrival plus the queue time (and TGI's validation): from here on the request is GPU work. */
  readonly scheduledUnixNanos: bigint;
  /** When the first output token was ready, when the span tells. */
  readonly firstTokenUnixNanos: bigint | null;
  readonly endUnixNanos: bigint;
  /** Both token counts, or `null` when the span lacks one. */
  readonly usage: RequestUsage | null;
  readonly outcome: 'ok' | 'error';
}

export type SpanMapping =
  | { readonly kind: 'request'; readonly request: SpanRequest }
  | { readonly kind: 'ignored' }
  | { readonly kind: 'rejected'; readonly reason: string };

/** Resolves the engine of a model / service (see `engines.ts`). */
export type EngineResolver = (model: string | null, service: string | null) => EngineChoice;

const MAX_TOKENS = 1_000_000_000;
const NOT_SERVER: ReadonlySet<number> = new Set([SPAN_KIND.client, SPAN_KIND.producer, SPAN_KIND.consumer]);

/** Maps one span; never throws. */
export function mapSpan(span: OtlpSpan, resolveEngine: EngineResolver): SpanMapping {
  if (NOT_SERVER.has(span.kind)) return { kind: 'ignored' };
  const genAi = isGenAi(span.attributes);
  const tgi = !genAi && isTgi(span.attributes);
  if (!genAi && !tgi) return { kind: 'ignored' };
  if (span.startUnixNanos <= 0n || span.endUnixNanos < span.startUnixNanos)
    return { kind: 'rejected', reason: 'start and end times missing or end before start' };
  const serverRequestId = text(span.attributes.get('gen_ai.request.id'));
  if (span.traceId === '' && span.spanId === '' && serverRequestId === null)
    return { kind: 'rejected', reason: 'no trace id, span id or gen_ai.request.id' };
  const model =
    text(span.attributes.get('gen_ai.response.model')) ?? text(span.attributes.get('gen_ai.request.model'));
  const choice = resolveEngine(model, text(span.resource.get('service.name')));
  if ('problem' in choice) return { kind: 'rejected', reason: choice.problem };
  const timing = genAi ? genAiTiming(span) : tgiTiming(span);
  if ('problem' in timing) return { kind: 'rejected', reason: timing.problem };
  return {
    kind: 'request',
    request: {
      traceId: span.traceId,
      spanId: span.spanId,
      serverRequestId,
      engineId: choice.engineId,
      model,
      operation: operationOf(span, serverRequestId),
      arrivalUnixNanos: span.startUnixNanos,
      ...timing,
      endUnixNanos: span.endUnixNanos,
      usage: genAi ? usageOf(span.attributes) : null,
      outcome: span.statusCode === STATUS_ERROR ? 'error' : 'ok',
    },
  };
}

function isGenAi(attributes: ReadonlyMap<string, AttributeValue>): boolean {
  for (const key of attributes.keys())
    if (key === 'gen_ai.request.id' || key.startsWith('gen_ai.usage.') || key.startsWith('gen_ai.latency.'))
      return true;
  return false;
}

function isTgi(attributes: ReadonlyMap<string, AttributeValue>): boolean {
  const duration = (key: string) => {
    const value = text(attributes.get(key));
    return value !== null && isRustDuration(value);
  };
  return duration('queue_time') && duration('inference_time');
}

type Timing = Pick<SpanRequest, 'scheduledUnixNanos' | 'firstTokenUnixNanos'>;

/** Why an attribute's value is not a usable duration: its path, what was expected, what was found. */
function durationProblem(
  key: string,
  expected: string,
  value: AttributeValue | undefined,
): { problem: string } {
  const found = typeof value === 'string' ? JSON.stringify(value.slice(0, 40)) : String(value);
  return { problem: `attributes["${key}"]: expected ${expected}, found ${found}` };
}

const LATENCY_KEYS = {
  queue: 'gen_ai.latency.time_in_queue',
  ttft: 'gen_ai.latency.time_to_first_token',
  prefill: 'gen_ai.latency.time_in_model_prefill',
  decode: 'gen_ai.latency.time_in_model_decode',
} as const;

/**
 * vLLM measures `time_to_first_token` from arrival, `time_in_queue` from when the request was
 * queued (after input processing) to when it was scheduled, and `time_in_model_prefill` from then
 * to the first token. So: first token = arrival + time to first token; scheduled = first token −
 * prefill when both are known (exact), else arrival + queue. Without a time to first token: first
 * token = scheduled + prefill, else end − `time_in_model_decode`. Each is clamped into the span:
 * arrival ≤ scheduled ≤ first token ≤ end.
 */
function genAiTiming(span: OtlpSpan): Timing | { problem: string } {
  const a = span.attributes;
  const duration = span.endUnixNanos - span.startUnixNanos;
  const values = Object.fromEntries(
    Object.entries(LATENCY_KEYS).map(([name, key]) => [name, num(a.get(key))]),
  ) as Record<keyof typeof LATENCY_KEYS, number | null>;
  const lat = latencyNanos(values, duration) as Record<keyof typeof LATENCY_KEYS, bigint | null>;
  // A value that was sent but is no duration (negative, not finite, over ~104 days) rejects the span.
  for (const name of Object.keys(LATENCY_KEYS) as (keyof typeof LATENCY_KEYS)[])
    if (values[name] !== null && lat[name] === null)
      return durationProblem(
        LATENCY_KEYS[name],
        'seconds, a finite number from 0 to about 104 days',
        a.get(LATENCY_KEYS[name]),
      );
  const arrival = span.startUnixNanos;
  const end = span.endUnixNanos;
  if (lat.ttft != null) {
    const firstToken = between(arrival + lat.ttft, arrival, end);
    const scheduled = lat.prefill == null ? arrival + (lat.queue ?? 0n) : firstToken - lat.prefill;
    return { scheduledUnixNanos: between(scheduled, arrival, firstToken), firstTokenUnixNanos: firstToken };
  }
  const scheduled = between(arrival + (lat.queue ?? 0n), arrival, end);
  let firstToken: bigint | null = null;
  if (lat.prefill != null) firstToken = between(scheduled + lat.prefill, scheduled, end);
  else if (lat.decode != null) firstToken = between(end - lat.decode, scheduled, end);
  return { scheduledUnixNanos: scheduled, firstTokenUnixNanos: firstToken };
}

/** TGI: validation (tokenizing, on the CPU) and queue come before any GPU work. */
function tgiTiming(span: OtlpSpan): Timing | { problem: string } {
  let scheduled = span.startUnixNanos;
  for (const key of ['validation_time', 'queue_time']) {
    const value = span.attributes.get(key);
    if (value === undefined) continue;
    const nanos = typeof value === 'string' ? rustDurationNanos(value) : null;
    if (nanos === null)
      return durationProblem(key, 'a Rust duration such as "12.5ms", at most about 104 days', value);
    scheduled += nanos;
  }
  if (scheduled > span.endUnixNanos) scheduled = span.endUnixNanos;
  return { scheduledUnixNanos: scheduled, firstTokenUnixNanos: null };
}

/**
 * Input and output tokens (`gen_ai.usage.input_tokens` / `output_tokens`, or vLLM's
 * `prompt_tokens` / `completion_tokens`), cached input from `gen_ai.usage.cache_read.input_tokens`
 * (part of the input total, per the conventions) or the common `gen_ai.usage.cached_tokens`. `null`
 * unless both counts are valid.
 */
function usageOf(a: ReadonlyMap<string, AttributeValue>): RequestUsage | null {
  const input = tokens(a.get('gen_ai.usage.input_tokens')) ?? tokens(a.get('gen_ai.usage.prompt_tokens'));
  const output =
    tokens(a.get('gen_ai.usage.output_tokens')) ?? tokens(a.get('gen_ai.usage.completion_tokens'));
  if (input === null || output === null) return null;
  const cached =
    tokens(a.get('gen_ai.usage.cache_read.input_tokens')) ?? tokens(a.get('gen_ai.usage.cached_tokens')) ?? 0;
  return { inputTokens: input, cachedInputTokens: Math.min(cached, input), outputTokens: output };
}

const OPERATION_NAMES: Readonly<Record<string, RequestOperation>> = {
  chat: 'chat',
  text_completion: 'completion',
  embeddings: 'embedding',
};
const ID_PREFIXES: readonly [string, RequestOperation][] = [
  ['chatcmpl-', 'chat'],
  ['cmpl-', 'completion'],
  ['embd-', 'embedding'],
  ['resp_', 'responses'],
];
const TGI_HANDLERS: Readonly<Record<string, RequestOperation>> = {
  chat_completions: 'chat',
  completions: 'completion',
};

function operationOf(span: OtlpSpan, requestId: string | null): RequestOperation | null {
  const named = text(span.attributes.get('gen_ai.operation.name'));
  if (named !== null) return OPERATION_NAMES[named] ?? 'other';
  for (const [prefix, operation] of ID_PREFIXES) if (requestId?.startsWith(prefix)) return operation;
  return TGI_HANDLERS[span.name] ?? null;
}

/** `t` clamped into `[low, high]` (`low ≤ high`). */
function between(t: bigint, low: bigint, high: bigint): bigint {
  if (t < low) return low;
  return t > high ? high : t;
}

function text(value: AttributeValue | undefined): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function num(value: AttributeValue | undefined): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return null;
}

function tokens(value: AttributeValue | undefined): number | null {
  const n = typeof value === 'bigint' ? Number(value) : value;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= MAX_TOKENS ? n : null;
}
