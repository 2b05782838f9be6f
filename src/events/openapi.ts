import { VERSION } from '../version.js';
import { EVENT_ERROR_STATUS } from './errors.js';
import {
  EVENT_ID_PATTERN,
  MAX_BATCH_EVENTS,
  MAX_TOKENS,
  MODEL_PATTERN,
  OPERATIONS,
  OUTCOMES,
  TRACE_ID_PATTERN,
} from './schemas.js';
import { RFC3339_PATTERN } from './time.js';

/**
 * The OpenAPI 3.1 document of the event API, served at `/openapi.json`. A test compares its paths
 * with the routes the server registers, validates request samples against its request schemas and
 * real responses against its response schemas. Only the JSON Schema keywords that test's checker
 * knows are used (lengths are in patterns, the batch bound in a description).
 */

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ 'application/json': { schema } });
const header = (description: string) => ({ description, schema: { type: 'string' } });
const id = { type: 'string', pattern: EVENT_ID_PATTERN };
const tokens = { type: 'integer', minimum: 0, maximum: MAX_TOKENS };
const time = (what: string) => ({
  type: 'string',
  format: 'date-time',
  pattern: RFC3339_PATTERN,
  description: `RFC 3339 ${what}; default: when the daemon receives the event. Not in the future, at most 10 minutes old.`,
});

const ERROR_TEXT: Record<number, string> = {
  400: 'invalid body, path or query; `problems` lists every issue (EVENTS_INVALID, EVENTS_UNKNOWN_ENGINE, EVENTS_MALFORMED)',
  401: 'no or a wrong bearer token (EVENTS_UNAUTHORIZED)',
  404: 'the request was never started here, or is forgotten (EVENTS_UNKNOWN_REQUEST)',
  409: 'a conflicting repeat, an ended request, or progress going backwards (EVENTS_CONFLICT, EVENTS_REQUEST_ENDED, EVENTS_OUT_OF_ORDER)',
  413: 'the body is larger than maxBodyBytes (EVENTS_TOO_LARGE)',
  415: 'the body is not application/json (EVENTS_UNSUPPORTED_MEDIA_TYPE)',
  429: 'maxInFlight requests are open (EVENTS_TOO_MANY_IN_FLIGHT); see Retry-After',
  500: 'the daemon failed to take the event (EVENTS_SINK_FAILED, EVENTS_INTERNAL); retry',
};

function errors(statuses: number[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const status of statuses)
    out[String(status)] = {
      description: ERROR_TEXT[status],
      ...(status === 429 ? { headers: { 'Retry-After': header('seconds') } } : {}),
      content: json(ref('Error')),
    };
  return out;
}

const STATUS_RESPONSES = {
  202: { description: 'new: delivered to attribution', content: json(ref('Accepted')) },
  200: {
    description: 'a repeat of an event already taken (nothing changed)',
    content: json(ref('Duplicate')),
  },
};

function post(operationId: string, summary: string, body: string, responses: object, more: number[]) {
  const parameters = body === 'StartEvent' || body === 'Batch' ? [] : [REQUEST_ID_PARAM];
  return {
    post: {
      operationId,
      summary,
      parameters,
      requestBody: { required: true, content: json(ref(body)) },
      responses: { ...responses, ...errors([400, 401, ...more, 413, 415, 500]) },
    },
  };
}

const REQUEST_ID_PARAM = {
  name: 'requestId',
  in: 'path',
  required: true,
  schema: id,
  description: 'the id of the start',
};

const object = (required: string[], properties: object) => ({
  type: 'object',
  required,
  additionalProperties: false,
  properties,
});

const PROGRESS = {
  outputTokens: { ...tokens, description: 'cumulative output tokens so far' },
  at: time('time of the count'),
};

const USAGE = object(['inputTokens', 'outputTokens'], {
  inputTokens: tokens,
  cachedInputTokens: {
    ...tokens,
    description: 'prompt tokens served from the prefix cache (≤ inputTokens); default 0',
  },
  outputTokens: tokens,
});

const END = { outcome: { enum: [...OUTCOMES] }, usage: USAGE, endedAt: time('end time') };

/** Request body schemas; the engine enum is this server's engines. */
function eventSchemas(engines: readonly string[]) {
  const start = {
    requestId: {
      ...id,
      description: 'unique per request; the same id in a retry makes the retry idempotent',
    },
    engineId: { enum: [...engines], description: 'the engine (GPUs) serving the request' },
    model: { type: 'string', pattern: MODEL_PATTERN },
    operation: { enum: [...OPERATIONS] },
    traceId: { type: 'string', pattern: TRACE_ID_PATTERN, description: 'W3C trace id' },
    startedAt: time('start time'),
  };
  const typed = (type: string, required: string[], properties: object) =>
    object(['type', ...required], { type: { const: type }, requestId: id, ...properties });
  return {
    StartEvent: object(['requestId', 'engineId'], start),
    ProgressEvent: object(['outputTokens'], PROGRESS),
    EndEvent: object(['outcome'], END),
    Batch: object(['events'], {
      events: {
        type: 'array',
        minItems: 1,
        description: `1 to ${MAX_BATCH_EVENTS} events, applied in order`,
        items: {
          oneOf: [
            typed('start', ['requestId', 'engineId'], start),
            typed('progress', ['requestId', 'outputTokens'], PROGRESS),
            typed('end', ['requestId', 'outcome'], END),
          ],
        },
      },
    }),
  };
}

const ERROR = object(['code', 'message'], {
  code: { enum: Object.keys(EVENT_ERROR_STATUS) },
  message: { type: 'string' },
  problems: {
    type: 'array',
    description: 'every validation problem (EVENTS_INVALID, EVENTS_UNKNOWN_ENGINE)',
    items: object(['path', 'message'], { path: { type: 'string' }, message: { type: 'string' } }),
  },
});

const status = (value: string) => object(['status'], { status: { const: value } });

const RESPONSE_SCHEMAS = {
  Accepted: status('accepted'),
  Duplicate: status('duplicate'),
  Error: object(['error'], { error: ERROR }),
  BatchResult: object(['accepted', 'duplicate', 'rejected', 'results'], {
    accepted: { type: 'integer', minimum: 0 },
    duplicate: { type: 'integer', minimum: 0 },
    rejected: { type: 'integer', minimum: 0 },
    results: {
      type: 'array',
      description: 'one per event, in order',
      items: {
        oneOf: [
          status('accepted'),
          status('duplicate'),
          object(['status', 'error'], { status: { const: 'rejected' }, error: ERROR }),
        ],
      },
    },
  }),
  OpenApi: { type: 'object', required: ['openapi', 'paths'], properties: { openapi: { type: 'string' } } },
};

const BATCH_RESPONSE = {
  description: 'each event’s result',
  headers: { 'Retry-After': header('seconds, when a start was refused by the in-flight bound') },
  content: json(ref('BatchResult')),
};

const PATHS = {
  '/v1/requests/start': post('startRequest', 'A request began', 'StartEvent', STATUS_RESPONSES, [409, 429]),
  '/v1/requests/{requestId}/progress': post(
    'requestProgress',
    'Cumulative output tokens of a streaming request',
    'ProgressEvent',
    STATUS_RESPONSES,
    [404, 409],
  ),
  '/v1/requests/{requestId}/end': post(
    'endRequest',
    'A request ended',
    'EndEvent',
    STATUS_RESPONSES,
    [404, 409],
  ),
  '/v1/requests/batch': post(
    'postBatch',
    'Up to 1000 events at once: validated as a whole, then applied in order, each answered in `results`',
    'Batch',
    { 200: BATCH_RESPONSE },
    [],
  ),
  '/openapi.json': {
    get: {
      operationId: 'getOpenApi',
      summary: 'This document (no token needed)',
      security: [],
      parameters: [],
      responses: {
        200: { description: 'OpenAPI 3.1', content: json(ref('OpenApi')) },
        ...errors([400, 500]),
      },
    },
  },
};

/** The document of a server that knows `engines`. */
export function eventOpenApiDocument(options: { engines: readonly string[] }): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'wattledger request event API',
      version: VERSION,
      description:
        'Request lifecycle events for energy attribution, from servers the proxy does not front. See docs/EVENTS.md.',
    },
    security: [{ bearer: [] }],
    paths: PATHS,
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { ...eventSchemas(options.engines), ...RESPONSE_SCHEMAS },
    },
  };
}
