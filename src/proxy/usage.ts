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
  if (operation === 'responses') return usageFromResponsesUsage(body.usage);
  const usage = usageFromCompletionUsage(body.usage);
  const groq = body.x_groq;
  const reported = usage ?? (isObject(groq) ? usageFromCompletionUsage(groq.usage) : undefined);
  const timings = usageFromTimings(body.timings);
  if (reported === undefined) return timings;
  if (timings === undefined || reported.cachedInputTokens > 0) return reported;
  return { ...reported, cachedInputTokens: Math.min(reported.inputTokens, timings.cachedInputTokens) };
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
 * Keys that need the full parse unless their value is `null`: usage (and Groq's `x_groq`, llama.cpp's
 * `timings`) and errors change the measurement, and these other output fields are rare enough not to
 * be worth reading by hand.
 */
const NEEDS_PARSE =
  /"(?:usage|x_groq|timings|error|text|reasoning|reasoning_content|refusal|tool_calls|function_call)"\s*:\s*(?!null\b)/;
const CONTENT_KEY = '"content":';

/**
 * Whether a chat/completions chunk's data carries generated output, read without parsing it:
 * `true` for a delta whose `content` is a non-empty string, `false` for one with no content (null,
 * `""`, absent) and no other output field, `undefined` when unsure (then the caller parses).
 */
export function quickOutput(data: string): boolean | undefined {
  const chars = quickContentChars(data);
  return chars === undefined ? undefined : chars > 0;
}

/**
 * The characters of a chunk's `delta.content`, read without parsing it: 0 for a delta with no
 * content (null, `""`, absent) and no other output field, `undefined` when unsure (then the caller
 * parses). A key can only appear unescaped in JSON text as a key, so plain substring tests are
 * exact for servers that write keys literally (every one does; `"\u0063ontent"` would be read as
 * no content). An escape sequence counts as one character.
 */
export function quickContentChars(data: string): number | undefined {
  if (NEEDS_PARSE.test(data)) return undefined;
  const delta = data.indexOf('"delta":');
  if (delta < 0) return undefined;
  const key = data.indexOf(CONTENT_KEY, delta);
  if (key < 0) return data.indexOf(CONTENT_KEY) < 0 ? 0 : undefined;
  if (data.indexOf(CONTENT_KEY, key + CONTENT_KEY.length) >= 0) return undefined; // several choices
  let at = key + CONTENT_KEY.length;
  while (data.charCodeAt(at) === 0x20) at += 1;
  const first = data.charCodeAt(at);
  if (first === 0x22) return stringChars(data, at + 1);
  if (data.startsWith('null', at)) return 0;
  return undefined;
}

/** Characters of the JSON string whose text starts at `from`, up to its closing quote. */
function stringChars(data: string, from: number): number | undefined {
  let chars = 0;
  for (let i = from; i < data.length; i++) {
    const c = data.charCodeAt(i);
    if (c === 0x22) return chars;
    if (c === 0x5c) i += data.charCodeAt(i + 1) === 0x75 ? 5 : 1; // \uXXXX or \x
    chars += 1;
  }
  return undefined;
}

/** What one stream event meant for the measurement. */
export interface StreamStep {
  /** The event is the include_usage chunk (`choices: []` + usage): droppable if we asked for it. */
  readonly usageChunk: boolean;
  /** Set when generation advanced: cumulative output tokens, or an estimate when `estimated`. */
  readonly progress?: { readonly outputTokens: number; readonly estimated: boolean };
}

const NOTHING: StreamStep = { usageChunk: false };

/**
 * Streamed text per output token for the estimate without usage: about 4 characters per token for
 * English BPE vocabularies (OpenAI's rule of thumb). Never fewer tokens than content chunks are
 * counted: a chunk carries at least one token, and servers that pack several tokens into a chunk
 * (speculative decoding, stream intervals) would make a chunk count several times too low.
 */
export const CHARS_PER_TOKEN_ESTIMATE = 4;

/** Options of {@link StreamUsageTracker}. */
export interface StreamUsageOptions {
  /**
   * The request sent several prompts (`/v1/completions` with `prompt: [...]` of strings): the
   * per-choice usages a server such as TGI reports are of different prompts, so their prompt
   * tokens add up. Otherwise (`n` > 1 on one prompt) the prompt is shared and counted once.
   */
  readonly separatePrompts?: boolean;
}

/**
 * Follows one streamed response event by event, in every usage dialect a server sends (see
 * docs/PROXY.md): the include_usage chunk (`choices: []` + usage: the request's total), usage on
 * content chunks (cumulative per choice, the last one of each choice counts: vLLM continuous
 * usage; one per choice at its end: TGI `/v1/completions` with several prompts, summed), Groq's
 * `x_groq.usage`, llama.cpp's `timings`, and the Responses API's `response.usage`. Without usage,
 * output tokens are estimated from the streamed text. Notes in-stream errors.
 */
export class StreamUsageTracker {
  private readonly operation: UsageOperation;
  private readonly separatePrompts: boolean;
  /** The request's total: the include_usage chunk, or the Responses API's terminal usage. */
  private totalUsage: RequestUsage | undefined;
  /** The last usage reported on a chunk of each choice index. */
  private readonly perChoice = new Map<number, RequestUsage>();
  /** llama.cpp `timings`: evaluated and cached prompt tokens, predicted tokens. */
  private timingsUsage: RequestUsage | undefined;
  private contentChunks = 0;
  private contentChars = 0;
  private reportedTokens = 0;
  private errored = false;
  private firstChunk: ChunkIdentity | undefined;
  private sequence: number | undefined;

  constructor(operation: UsageOperation, options: StreamUsageOptions = {}) {
    this.operation = operation;
    this.separatePrompts = options.separatePrompts ?? false;
  }

  /** The usage the server reported, if any (see the class comment for how dialects combine). */
  get usage(): RequestUsage | undefined {
    const reported = this.totalUsage ?? this.choicesUsage();
    const timings = this.timingsUsage;
    if (reported === undefined) return timings;
    if (timings === undefined || reported.cachedInputTokens > 0) return reported;
    // llama.cpp: `usage` has no cached count; `timings.cache_n` has it.
    const cached = Math.min(reported.inputTokens, timings.cachedInputTokens);
    return { ...reported, cachedInputTokens: cached };
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
      const chars = quickContentChars(data);
      if (chars === 0) return NOTHING;
      if (chars !== undefined) return this.content(chars);
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
    const timings = usageFromTimings(chunk.timings);
    if (timings !== undefined) this.timingsUsage = timings;
    const usage = chunkUsage(chunk);
    if (isUsageChunk(chunk)) {
      if (usage !== undefined) this.totalUsage = usage;
      return { usageChunk: true };
    }
    const chars = outputChars(chunk);
    if (usage !== undefined) {
      this.perChoice.set(firstChoiceIndex(chunk), usage);
      const reported = this.choicesUsage()?.outputTokens ?? 0;
      if (reported > this.reportedTokens) {
        // Usage on content chunks (vLLM continuous_usage_stats, TGI per choice): the server's count.
        this.reportedTokens = reported;
        if (chars > 0) this.noteContent(chars);
        return { usageChunk: false, progress: { outputTokens: reported, estimated: false } };
      }
    }
    if (chars === 0) return NOTHING;
    return this.content(chars);
  }

  private observeResponses(eventName: string, payload: Json): StreamStep {
    const type = typeof payload.type === 'string' ? payload.type : eventName;
    if (typeof payload.sequence_number === 'number') this.sequence = payload.sequence_number;
    if (type === 'error' || type === 'response.failed') this.errored = true;
    if (type === 'response.completed' || type === 'response.incomplete' || type === 'response.failed') {
      const response = payload.response;
      const usage = isObject(response) ? usageFromResponsesUsage(response.usage) : undefined;
      if (usage !== undefined) this.totalUsage = usage;
      return NOTHING;
    }
    // Every `*.delta` event (output text, reasoning, tool-call arguments…) is generated output.
    if (!type.endsWith('.delta')) return NOTHING;
    return this.content(typeof payload.delta === 'string' ? Math.max(1, payload.delta.length) : 1);
  }

  private noteContent(chars: number): void {
    this.contentChunks += 1;
    this.contentChars += chars;
  }

  private content(chars: number): StreamStep {
    this.noteContent(chars);
    return { usageChunk: false, progress: this.estimate() };
  }

  /** The per-choice usages combined: output summed; prompts summed when they are separate. */
  private choicesUsage(): RequestUsage | undefined {
    if (this.perChoice.size === 0) return undefined;
    if (this.perChoice.size === 1) return this.perChoice.values().next().value as RequestUsage;
    let inputTokens = 0;
    let cachedInputTokens = 0;
    let outputTokens = 0;
    for (const usage of this.perChoice.values()) {
      outputTokens += usage.outputTokens;
      inputTokens = this.separatePrompts
        ? inputTokens + usage.inputTokens
        : Math.max(inputTokens, usage.inputTokens);
      cachedInputTokens = this.separatePrompts
        ? cachedInputTokens + usage.cachedInputTokens
        : Math.max(cachedInputTokens, usage.cachedInputTokens);
    }
    return { inputTokens, cachedInputTokens, outputTokens };
  }

  private estimate(): { outputTokens: number; estimated: boolean } {
    if (this.reportedTokens > 0) return { outputTokens: this.reportedTokens, estimated: false };
    const byText = Math.ceil(this.contentChars / CHARS_PER_TOKEN_ESTIMATE);
    return { outputTokens: Math.max(this.contentChunks, byText), estimated: true };
  }
}

/** A chunk's usage: its `usage`, else Groq's `x_groq.usage`. */
function chunkUsage(chunk: Json): RequestUsage | undefined {
  const usage = usageFromCompletionUsage(chunk.usage);
  if (usage !== undefined) return usage;
  const groq = chunk.x_groq;
  return isObject(groq) ? usageFromCompletionUsage(groq.usage) : undefined;
}

/**
 * llama.cpp's `timings` (llama-server, on the last chunk or the body): `prompt_n` prompt tokens
 * evaluated, `cache_n` prompt tokens reused from the KV cache (newer builds), `predicted_n` output
 * tokens.
 */
export function usageFromTimings(timings: unknown): RequestUsage | undefined {
  if (!isObject(timings)) return undefined;
  const evaluated = count(timings.prompt_n);
  const predicted = count(timings.predicted_n);
  if (evaluated === undefined || predicted === undefined) return undefined;
  const cached = count(timings.cache_n) ?? 0;
  return { inputTokens: evaluated + cached, cachedInputTokens: cached, outputTokens: predicted };
}

function firstChoiceIndex(chunk: Json): number {
  const choices = chunk.choices;
  if (!Array.isArray(choices) || choices.length === 0) return 0;
  const first: unknown = choices[0];
  return isObject(first) ? (count(first.index) ?? 0) : 0;
}

/** Characters of generated output in a chat or completions chunk (0: none). */
function outputChars(chunk: Json): number {
  if (!Array.isArray(chunk.choices)) return 0;
  let chars = 0;
  let output = false;
  for (const choice of chunk.choices as unknown[]) {
    if (!isObject(choice)) continue;
    if (typeof choice.text === 'string' && choice.text.length > 0) {
      chars += choice.text.length; // legacy completions
      output = true;
    }
    const delta = choice.delta;
    if (!isObject(delta)) continue;
    for (const key of ['content', 'reasoning_content', 'reasoning', 'refusal'] as const) {
      const text = delta[key];
      if (typeof text === 'string' && text.length > 0) {
        chars += text.length;
        output = true;
      }
    }
    if (Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0) {
      output = true;
      for (const call of delta.tool_calls as unknown[]) chars += argumentChars(call);
    }
    if (isObject(delta.function_call)) {
      output = true;
      chars += argumentChars(delta);
    }
  }
  return output ? Math.max(1, chars) : 0;
}

function argumentChars(holder: unknown): number {
  if (!isObject(holder)) return 0;
  const fn = isObject(holder.function) ? holder.function : holder.function_call;
  return isObject(fn) && typeof fn.arguments === 'string' ? fn.arguments.length : 0;
}
