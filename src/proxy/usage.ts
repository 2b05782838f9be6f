import type { RequestUsage } from '../requests/types.js';
import type { ChunkIdentity } from './inline-frame.js';
import type { SseEvent } from './sse.js';

/**
 * Token usage as OpenAI-compatible servers report it, from every shape they use (research §1.1,
 * §1.3, §1.5): chat/completions `usage` (final chunk, cumulative on every chunk, or the body),
 * embeddings `usage` (prompt tokens only) and the Responses API's `response.usage`.
 */

/** The measured OpenAI operations whose bodies carry usage. */
export type UsageOperation = 'chat' | 'completion' | 'embedding' | 'responses';

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}

/**
 * Usage from a chat/completions/embeddings `usage` object. Embeddings carry no `completion_tokens`
 * (output 0); cached prompt tokens come from `prompt_tokens_details.cached_tokens` when reported.
 */
export function usageFromCompletionUsage(usage: unknown): RequestUsage | undefined {
  if (!isObject(usage)) return undefined;
  const inputTokens = count(usage.prompt_tokens);
  if (inputTokens === undefined) return undefined;
  const details = usage.prompt_tokens_details;
  return {
    inputTokens,
    cachedInputTokens: (isObject(details) ? count(details.cached_tokens) : undefined) ?? 0,
    outputTokens: count(usage.completion_tokens) ?? 0,
  };
}

/** Usage from a Responses API `usage` object (`input_tokens`, `output_tokens`, cached details). */
export function usageFromResponsesUsage(usage: unknown): RequestUsage | undefined {
  if (!isObject(usage)) return undefined;
  const inputTokens = count(usage.input_tokens);
  if (inputTokens === undefined) return undefined;
  const details = usage.input_tokens_details;
  return {
    inputTokens,
    cachedInputTokens: (isObject(details) ? count(details.cached_tokens) : undefined) ?? 0,
    outputTokens: count(usage.output_tokens) ?? 0,
  };
}

/** Usage from a complete non-streamed response body (already parsed JSON). */
export function usageFromBody(operation: UsageOperation, body: unknown): RequestUsage | undefined {
  if (!isObject(body)) return undefined;
  return operation === 'responses'
    ? usageFromResponsesUsage(body.usage)
    : usageFromCompletionUsage(body.usage);
}

/**
 * The `stream_options.include_usage` chunk: `choices` is an empty array AND `usage` is not null.
 * Azure's first chunk also has `choices: []` but no usage, so the empty array alone proves nothing.
 */
export function isUsageChunk(chunk: unknown): boolean {
  return (
    isObject(chunk) && Array.isArray(chunk.choices) && chunk.choices.length === 0 && isObject(chunk.usage)
  );
}

/** Whether a chat or completions chunk carries generated output (text, reasoning, tool calls). */
export function hasGeneratedOutput(chunk: Json): boolean {
  if (!Array.isArray(chunk.choices)) return false;
  return chunk.choices.some((choice: unknown) => {
    if (!isObject(choice)) return false;
    if (nonEmptyText(choice.text)) return true; // legacy completions
    const delta = choice.delta;
    if (!isObject(delta)) return false;
    return (
      nonEmptyText(delta.content) ||
      nonEmptyText(delta.reasoning_content) ||
      nonEmptyText(delta.reasoning) ||
      nonEmptyText(delta.refusal) ||
      (Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0) ||
      isObject(delta.function_call)
    );
  });
}

function nonEmptyText(value: unknown): boolean {
  return typeof value === 'string' && value.length > 0;
}

/**
 * Keys that need the full parse unless their value is `null`: usage and errors change the
 * measurement, and these other output fields are rare enough not to be worth reading by hand.
 */
const NEEDS_PARSE =
  /"(?:usage|error|text|reasoning|reasoning_content|refusal|tool_calls|function_call)"\s*:\s*(?!null\b)/;
const CONTENT_KEY = '"content":';

/**
 * Whether a chat/completions chunk's data carries generated output, read without parsing it:
 * `true` for a delta whose `content` is a non-empty string, `false` for one with no content (null,
 * `""`, absent) and no other output field, `undefined` when unsure (then the caller parses). A key
 * can only appear unescaped in JSON text as a key, so plain substring tests are exact for servers
 * that write keys literally (every one does; `"\u0063ontent"` would be read as no content).
 */
export function quickOutput(data: string): boolean | undefined {
  if (NEEDS_PARSE.test(data)) return undefined;
  const delta = data.indexOf('"delta":');
  if (delta < 0) return undefined;
  const key = data.indexOf(CONTENT_KEY, delta);
  if (key < 0) return data.indexOf(CONTENT_KEY) < 0 ? false : undefined;
  if (data.indexOf(CONTENT_KEY, key + CONTENT_KEY.length) >= 0) return undefined; // several choices
  let at = key + CONTENT_KEY.length;
  while (data.charCodeAt(at) === 0x20) at += 1;
  const first = data.charCodeAt(at);
  if (first === 0x22) return data.charCodeAt(at + 1) !== 0x22; // `"x…"` or `""`
  if (data.startsWith('null', at)) return false;
  return undefined;
}

/** What one stream event meant for the measurement. */
export interface StreamStep {
  /** The event is the include_usage chunk (`choices: []` + usage): droppable if we asked for it. */
  readonly usageChunk: boolean;
  /** Set when generation advanced: cumulative output tokens, or content chunks when `estimated`. */
  readonly progress?: { readonly outputTokens: number; readonly estimated: boolean };
}

const NOTHING: StreamStep = { usageChunk: false };

/**
 * Follows one streamed response event by event: keeps the LAST usage seen (usage can be
 * cumulative on every chunk, so summing would overcount), counts content chunks as an estimate of
 * output tokens, and notes in-stream errors.
 */
export class StreamUsageTracker {
  private readonly operation: UsageOperation;
  private lastUsage: RequestUsage | undefined;
  private contentChunks = 0;
  private reportedTokens = 0;
  private errored = false;
  private firstChunk: ChunkIdentity | undefined;
  private sequence: number | undefined;

  constructor(operation: UsageOperation) {
    this.operation = operation;
  }

  /** The usage the server reported last, if any. */
  get usage(): RequestUsage | undefined {
    return this.lastUsage;
  }

  /** Whether the stream carried an error (`{"error": …}` data, `response.failed`, `error` event). */
  get failed(): boolean {
    return this.errored;
  }

  /** id, object, created and model of the first chat/completions chunk (to shape one like it). */
  get identity(): ChunkIdentity | undefined {
    return this.firstChunk;
  }

  /** The last Responses API event's `sequence_number`. */
  get lastSequenceNumber(): number | undefined {
    return this.sequence;
  }

  /** Observes one dispatched event. Non-JSON data (`[DONE]`, garbage) is ignored. */
  observe(event: SseEvent): StreamStep {
    const data = event.data;
    if (data.length === 0 || data.charCodeAt(0) !== 0x7b) return NOTHING; // `{`
    if (this.operation !== 'responses' && this.firstChunk !== undefined) {
      // Most chunks carry one delta and nothing else: read them without parsing (see quickOutput).
      const output = quickOutput(data);
      if (output === false) return NOTHING;
      if (output === true) {
        this.contentChunks += 1;
        return { usageChunk: false, progress: this.estimate() };
      }
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return NOTHING; // malformed data is the client's business; we just learn nothing from it
    }
    if (!isObject(parsed)) return NOTHING;
    return this.operation === 'responses'
      ? this.observeResponses(event.event, parsed)
      : this.observeChunk(parsed);
  }

  private observeChunk(chunk: Json): StreamStep {
    // openai-python raises on any data object with a truthy "error"; so do we count it failed.
    if (chunk.error) this.errored = true;
    if (this.firstChunk === undefined) {
      const { id, object, created, model } = chunk;
      this.firstChunk = { id, object, created, model };
    }
    const usage = usageFromCompletionUsage(chunk.usage);
    if (usage !== undefined) this.lastUsage = usage;
    if (isUsageChunk(chunk)) return { usageChunk: true };
    if (usage !== undefined && usage.outputTokens > this.reportedTokens) {
      // Cumulative usage on every chunk (vLLM continuous_usage_stats): the server's own count.
      this.reportedTokens = usage.outputTokens;
      if (hasGeneratedOutput(chunk)) this.contentChunks += 1;
      return { usageChunk: false, progress: { outputTokens: usage.outputTokens, estimated: false } };
    }
    if (!hasGeneratedOutput(chunk)) return NOTHING;
    this.contentChunks += 1;
    return { usageChunk: false, progress: this.estimate() };
  }

  private observeResponses(eventName: string, payload: Json): StreamStep {
    const type = typeof payload.type === 'string' ? payload.type : eventName;
    if (typeof payload.sequence_number === 'number') this.sequence = payload.sequence_number;
    if (type === 'error' || type === 'response.failed') this.errored = true;
    if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') {
      const response = payload.response;
      const usage = isObject(response) ? usageFromResponsesUsage(response.usage) : undefined;
      if (usage !== undefined) this.lastUsage = usage;
      return NOTHING;
    }
    // Every `*.delta` event (output text, reasoning, tool-call arguments…) is generated output.
    if (!type.endsWith('.delta')) return NOTHING;
    this.contentChunks += 1;
    return { usageChunk: false, progress: this.estimate() };
  }

  private estimate(): { outputTokens: number; estimated: boolean } {
    if (this.reportedTokens > 0) return { outputTokens: this.reportedTokens, estimated: false };
    return { outputTokens: this.contentChunks, estimated: true };
  }
}
