import type { InlineEnergy } from './inline-energy.js';
import type { UsageOperation } from './usage.js';

/**
 * How the `wattledger` object travels in a response without breaking clients: as one more SSE
 * event before the stream's end, or as one more top-level member of a JSON body.
 */

/** The fields a streamed chat/completions chunk is identified by, taken from the stream's own. */
export interface ChunkIdentity {
  readonly id: unknown;
  readonly object: unknown;
  readonly created: unknown;
  readonly model: unknown;
}

/**
 * The Responses API event type (and SSE event name) the proxy sends: `keepalive`, which OpenAI's
 * own streams use and the clients' accumulators skip (openai-node's `ResponseStream` throws on any
 * type it does not know, so an event type of our own would break `responses.stream()`).
 */
export const RESPONSES_EVENT_TYPE = 'keepalive';

/**
 * One SSE event carrying `energy`. Chat and completions: a chunk shaped like the stream's own (same
 * id, object, created, model) whose one choice adds nothing — index 0, empty `delta.content` (chat)
 * or `text` (completions), no finish reason — plus `wattledger`. A client that reads
 * `chunk.choices[0].delta.content` on every chunk (the most common hand-written loop) gets `""`,
 * and SDK accumulators add nothing; empty `choices` would make that loop throw. Responses API: a
 * `keepalive` event numbered after the stream's last `sequence_number`, plus `wattledger`.
 */
export function energyEvent(
  operation: UsageOperation,
  identity: ChunkIdentity | undefined,
  energy: InlineEnergy,
  lastSequenceNumber?: number,
): Buffer {
  if (operation === 'responses') {
    const sequence = lastSequenceNumber === undefined ? {} : { sequence_number: lastSequenceNumber + 1 };
    const data = JSON.stringify({ type: RESPONSES_EVENT_TYPE, ...sequence, wattledger: energy });
    return Buffer.from(`event: ${RESPONSES_EVENT_TYPE}\ndata: ${data}\n\n`);
  }
  const chunk = {
    id: identity?.id ?? `wattledger-${energy.requestId}`,
    object: identity?.object ?? (operation === 'chat' ? 'chat.completion.chunk' : 'text_completion'),
    created: identity?.created ?? Math.floor(Date.now() / 1000),
    model: identity?.model ?? '',
    choices: [
      operation === 'chat'
        ? { index: 0, delta: { content: '' }, logprobs: null, finish_reason: null }
        : { index: 0, text: '', logprobs: null, finish_reason: null },
    ],
    wattledger: energy,
  };
  return Buffer.from(`data: ${JSON.stringify(chunk)}\n\n`);
}

const CLOSE_BRACE = 0x7d;

/**
 * `body` (a JSON object) with `"wattledger": energy` added as its last member; every other byte is
 * kept. Undefined when the body is not a JSON object, or already has a `wattledger` member.
 */
export function withEnergyMember(body: Buffer, energy: InlineEnergy): Buffer | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  if (Object.hasOwn(parsed, 'wattledger')) return undefined;
  const close = body.lastIndexOf(CLOSE_BRACE); // only whitespace follows the object's `}`
  const separator = Object.keys(parsed).length === 0 ? '' : ',';
  const member = Buffer.from(`${separator}"wattledger":${JSON.stringify(energy)}`);
  return Buffer.concat([body.subarray(0, close), member, body.subarray(close)]);
}
