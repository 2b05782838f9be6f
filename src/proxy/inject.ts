import type { UsageOperation } from './usage.js';

/** What the proxy learned from a measured request's JSON body, and the body to send upstream. */
export interface BodyPlan {
  readonly model: string | undefined;
  readonly stream: boolean;
  /** Whether `stream_options.include_usage: true` was added (then its usage chunk is ours to drop). */
  readonly injected: boolean;
  /** The client set `stream_options.include_usage` itself (true or false). */
  readonly clientSetUsage: boolean;
  /** A completions request with several prompts: per-choice usages are of different prompts. */
  readonly separatePrompts: boolean;
  /** Exactly the client's bytes unless `injected`. */
  readonly body: Buffer;
}

/** A parsed JSON object. */
export type Json = Record<string, unknown>;

/** The body as a JSON object, or undefined (not JSON, or JSON but not an object). */
export function parseJsonObject(raw: Buffer): Json | undefined {
  try {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Json)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Plans the body to send for a parsed request. Adds `include_usage` only to streamed
 * chat/completions requests whose client did not set it: servers reject `stream_options` without
 * `stream: true` (vLLM: HTTP 400), and a client that set it, either way, gets what it asked for.
 */
export function planBody(
  raw: Buffer,
  json: Json,
  operation: UsageOperation,
  allowInjection: boolean,
): BodyPlan {
  const model = typeof json.model === 'string' ? json.model : undefined;
  const stream = json.stream === true;
  const injectable = operation === 'chat' || operation === 'completion';
  const clientSetUsage = clientSetIncludeUsage(json);
  const separatePrompts = operation === 'completion' && severalPrompts(json.prompt);
  const common = { model, stream, clientSetUsage, separatePrompts };
  if (!allowInjection || !injectable || !stream || clientSetUsage) {
    return { ...common, injected: false, body: raw };
  }
  return { ...common, injected: true, body: withIncludeUsage(raw, json) };
}

/** `prompt` is a list of prompts (strings, or token-id lists), not one prompt (a string or ids). */
function severalPrompts(prompt: unknown): boolean {
  return (
    Array.isArray(prompt) &&
    prompt.length > 1 &&
    prompt.every((one) => typeof one === 'string' || Array.isArray(one))
  );
}

function clientSetIncludeUsage(json: Json): boolean {
  const options = json.stream_options;
  return typeof options === 'object' && options !== null && 'include_usage' in options;
}

/**
 * The body with `stream_options.include_usage: true`. When the client sent no `stream_options`,
 * the member is spliced in after the opening brace so every other byte (number formatting, key
 * order, large integers such as seeds) is kept; otherwise the object is merged and re-serialised.
 */
export function withIncludeUsage(raw: Buffer, json: Json): Buffer {
  if (!('stream_options' in json)) {
    const open = raw.indexOf(0x7b); // the first `{`: the body parsed as an object
    const member = Buffer.from('"stream_options":{"include_usage":true},');
    return Buffer.concat([raw.subarray(0, open + 1), member, raw.subarray(open + 1)]);
  }
  const options =
    typeof json.stream_options === 'object' && json.stream_options !== null ? json.stream_options : {};
  return Buffer.from(JSON.stringify({ ...json, stream_options: { ...options, include_usage: true } }));
}

/**
 * Whether an upstream error response is a refusal of the injected `stream_options` (servers that
 * forbid unknown fields, or predate it): then the proxy resends the client's own body.
 */
export function rejectsInjection(status: number, body: Buffer): boolean {
  return (status === 400 || status === 422) && /stream_options|include_usage/.test(body.toString('utf8'));
}
