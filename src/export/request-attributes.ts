/**
 * GenAI semantic-convention attributes of a finished request, for the `gen_ai.server.*`
 * histograms and our per-request energy. Only low-cardinality values: never the request id, the
 * trace id or anything per user.
 */
import type { Attributes } from '@opentelemetry/api';
import type { RequestEnergyRecord } from '../attribution/types.js';
import type { RequestOperation } from '../requests/types.js';
import * as n from './names.js';

/**
 * Our operations as `gen_ai.operation.name` values. semconv lists `chat`, `text_completion` and
 * `embeddings`; the OpenAI Responses API generates a chat-style response, so it is `chat`.
 * Anything else keeps a custom value, which the convention allows.
 */
const OPERATION_NAME: Record<RequestOperation, string> = {
  chat: 'chat',
  completion: 'text_completion',
  embedding: 'embeddings',
  responses: 'chat',
  other: 'other',
};

/**
 * `gen_ai.operation.name` and `gen_ai.provider.name` (both Required), `gen_ai.request.model`
 * (Conditionally Required: when known) and `error.type` (when the request failed: the upstream's
 * HTTP status, else our outcome: `error`, `cancelled`, `evicted`).
 */
export function genAiAttributes(record: RequestEnergyRecord, providerName: string): Attributes {
  return {
    [n.ATTR_GEN_AI_OPERATION_NAME]: OPERATION_NAME[record.operation ?? 'other'],
    [n.ATTR_GEN_AI_PROVIDER_NAME]: providerName,
    ...(record.model !== null ? { [n.ATTR_GEN_AI_REQUEST_MODEL]: record.model } : {}),
    ...(record.outcome !== 'ok' ? { [n.ATTR_ERROR_TYPE]: errorType(record) } : {}),
  };
}

function errorType(record: RequestEnergyRecord): string {
  return record.httpStatus !== null && record.httpStatus >= 400 ? String(record.httpStatus) : record.outcome;
}
