import { VERSION } from '../version.js';
import { REPORT_SCHEMAS } from './openapi-report-schemas.js';
import { SCHEMAS } from './openapi-schemas.js';
import { REQUEST_ID_PATTERN } from './params.js';
import { DEFAULT_PAGE_SIZE } from './routes-ledger.js';
import { MAX_FILTER_LENGTH } from './routes-stats.js';

/**
 * The OpenAPI 3.1 document served at `/openapi.json`. It lists exactly the routes the server
 * registers (a test compares both ways) and the schemas real responses validate against.
 */

const SIZE = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: string) => ({ 'application/json': { schema: ref(schema) } });
const text = { 'text/plain': { schema: { type: 'string' } } };
const header = (description: string) => ({ description, schema: { type: 'string' } });
const IMMUTABLE = { 'Cache-Control': header('public, max-age=31536000, immutable') };

const ERROR_TEXT: Record<number, string> = {
  400: 'a parameter is missing, malformed, out of range or unknown (API_BAD_PARAMETER)',
  404: 'not found (API_NOT_FOUND and the code of what is missing)',
  409: 'not covered by a checkpoint yet (API_NOT_YET_CHECKPOINTED); see Retry-After',
  500: 'the ledger is inconsistent or the server failed (API_LEDGER_INCONSISTENT, API_INTERNAL)',
  503: 'the index is being built or too many scans run (API_NOT_READY, API_BUSY); see Retry-After',
};

function errors(...statuses: number[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const status of statuses)
    out[String(status)] = {
      description: ERROR_TEXT[status],
      headers: { 'Retry-After': header('seconds, on 409 and 503') },
      content: json('Error'),
    };
  return out;
}

function param(name: string, where: 'path' | 'query', schema: object, description: string, required = true) {
  return { name, in: where, required: where === 'path' || required, description, schema };
}

/** Every route can answer 400 (an unknown query parameter) and 500; `more` lists the rest. */
function get(
  operationId: string,
  summary: string,
  parameters: object[],
  responses: object,
  more: number[] = [],
) {
  const all = { ...responses, ...errors(400, ...more, 500) };
  return { get: { operationId, summary, parameters, responses: all } };
}

const requestId = param(
  'requestId',
  'path',
  { type: 'string', pattern: REQUEST_ID_PATTERN },
  'the request id the proxy recorded',
);

function ledgerPaths(maxPageSize: number): Record<string, unknown> {
  const limit = {
    type: 'integer',
    minimum: 1,
    maximum: maxPageSize,
    default: Math.min(DEFAULT_PAGE_SIZE, maxPageSize),
  };
  return {
    '/v1/batches': get(
      'listBatches',
      'A page of batches from `from`, envelopes verbatim',
      [
        param('from', 'query', { ...SIZE, default: 0 }, 'first sequence', false),
        param('limit', 'query', limit, 'most batches (a page also stops past 8 MiB)', false),
      ],
      {
        200: {
          description: 'the page',
          headers: { Link: header('rel="next" URL') },
          content: json('BatchPage'),
        },
      },
      [503],
    ),
    '/v1/batches/{seq}': get(
      'getBatch',
      'One batch: the stored line, byte for byte',
      [param('seq', 'path', SIZE, 'batch sequence (= leaf index)')],
      {
        200: {
          description: 'the envelope',
          headers: { ETag: header('"<leaf hash hex>"'), ...IMMUTABLE },
          content: json('Envelope'),
        },
        304: { description: 'If-None-Match matched the ETag' },
      },
      [404, 503],
    ),
    '/v1/checkpoint': get(
      'getLatestCheckpoint',
      'The latest signed checkpoint (C2SP note)',
      [],
      { 200: { description: 'the note', content: text } },
      [404],
    ),
    '/v1/checkpoints/{size}': get(
      'getCheckpoint',
      'The checkpoint of one tree size',
      [param('size', 'path', SIZE, 'tree size')],
      { 200: { description: 'the note', headers: IMMUTABLE, content: text } },
      [404],
    ),
    '/v1/proofs/consistency': get(
      'getConsistencyProof',
      'RFC 9162 consistency proof between two tree sizes',
      [param('from', 'query', SIZE, 'older tree size (≤ to)'), param('to', 'query', SIZE, 'newer tree size')],
      { 200: { description: 'the proof', headers: IMMUTABLE, content: json('ConsistencyProof') } },
      [404, 503],
    ),
    '/v1/proofs/inclusion': get(
      'getInclusionProof',
      'RFC 9162 inclusion proof of a batch in a tree',
      [
        param('seq', 'query', SIZE, 'batch sequence (< size)'),
        param('size', 'query', { ...SIZE, minimum: 1 }, 'tree size'),
      ],
      { 200: { description: 'the proof', headers: IMMUTABLE, content: json('InclusionProof') } },
      [404, 503],
    ),
  };
}

function infoPaths(): Record<string, unknown> {
  return {
    '/healthz': get('getHealth', 'Liveness', [], { 200: { description: 'alive', content: json('Health') } }),
    '/readyz': get('getReadiness', 'Readiness: the index is built and the meter runs', [], {
      200: { description: 'ready', content: json('Readiness') },
      503: { description: 'not ready', content: json('Readiness') },
    }),
    '/v1/keys': get(
      'getKeys',
      'Public keys of this log with their validity windows',
      [
        param(
          'format',
          'query',
          { enum: ['trusted-keys', 'full'], default: 'trusted-keys' },
          'document shape',
          false,
        ),
      ],
      {
        200: {
          description: '`trusted-keys`: a verifier trusted-keys document; `full`: every form of every key',
          content: { 'application/json': { schema: { oneOf: [ref('TrustedKeys'), ref('FullKeys')] } } },
        },
      },
    ),
    '/v1/receipts/{requestId}': get(
      'getReceipt',
      'A receipt (format v1) for one request',
      [requestId],
      { 200: { description: 'the receipt', content: json('Receipt') } },
      [404, 409, 503],
    ),
    '/v1/records/{requestId}': get(
      'getRecord',
      'The stored record-log line of one request',
      [requestId],
      { 200: { description: 'the record line', content: json('RecordLine') } },
      [404, 503],
    ),
    '/openapi.json': get('getOpenApi', 'This document', [], {
      200: { description: 'OpenAPI 3.1', content: json('OpenApi') },
    }),
  };
}

function statsPaths(): Record<string, unknown> {
  const time = {
    type: 'string',
    description:
      'RFC 3339 (Z or offset), a date (midnight UTC), `now`, or a duration before now: 30m, 24h, 7d, 2w',
  };
  const name = { type: 'string', description: `1 to ${MAX_FILTER_LENGTH} characters` };
  return {
    '/v1/stats/models': get(
      'getModelStats',
      'Per-model energy per request and per token, with totals, over the request records that ended in [from, to) (not verified by the server; see docs/REPORT.md)',
      [
        param('from', 'query', time, 'first end time, inclusive (default: the start of the ledger)', false),
        param('to', 'query', time, 'end of the window, exclusive (default: the end of the ledger)', false),
        param('model', 'query', name, 'only requests of this model', false),
        param('engine', 'query', name, 'only requests of this engine id', false),
      ],
      { 200: { description: 'the report', content: json('Report') } },
      [503],
    ),
  };
}

/** The document for a server whose `/v1/batches` limit is capped at `maxPageSize`. */
export function openApiDocument(options: {
  maxPageSize: number;
  /** Paths of routes registered beside the ledger API's (the dashboard's). */
  extraPaths?: Record<string, unknown>;
}): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'wattledger ledger API',
      version: VERSION,
      description:
        'Read-only access to signed energy batches, checkpoints, proofs and receipts. See docs/API.md.',
    },
    paths: { ...infoPaths(), ...ledgerPaths(options.maxPageSize), ...statsPaths(), ...options.extraPaths },
    components: { schemas: { ...SCHEMAS, ...REPORT_SCHEMAS } },
  };
}
