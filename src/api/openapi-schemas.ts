import { API_ERROR_STATUS } from './errors.js';

/**
 * JSON Schemas (2020-12, as OpenAPI 3.1 uses) of every response body. A test validates real
 * responses against them, so keep them exact: `additionalProperties: false` wherever the server
 * controls the shape.
 */

const HASH = { type: 'string', pattern: '^[0-9a-f]{64}$', description: 'SHA-256, lowercase hex' };
const SIZE = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER };
const RFC3339 = { type: 'string', description: 'RFC 3339 date-time' };
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const envelope = {
  type: 'object',
  description:
    'A DSSE envelope, exactly as the ledger stores it (canonical JSON, RFC 8785). Its leaf hash is SHA-256(0x00 ‖ the served bytes).',
  required: ['payloadType', 'payload', 'signatures'],
  additionalProperties: false,
  properties: {
    payloadType: { type: 'string' },
    payload: { type: 'string', description: 'base64 of the in-toto statement' },
    signatures: {
      type: 'array',
      minItems: 1,
      items: {
        type: 'object',
        required: ['sig'],
        additionalProperties: false,
        properties: { keyid: { type: 'string' }, sig: { type: 'string' } },
      },
    },
  },
};

const record = {
  type: 'object',
  description: 'A request record; fields beyond requestId are defined by attribution',
  required: ['requestId'],
  properties: { requestId: { type: 'string' } },
};

const keyWindow = { validFrom: RFC3339, validUntil: RFC3339 };

/** `components.schemas` of the OpenAPI document. */
export const SCHEMAS = {
  Error: {
    type: 'object',
    required: ['error'],
    additionalProperties: false,
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        additionalProperties: false,
        properties: {
          code: { type: 'string', enum: Object.keys(API_ERROR_STATUS) },
          message: { type: 'string' },
        },
      },
    },
  },
  Health: {
    type: 'object',
    required: ['status'],
    additionalProperties: false,
    properties: { status: { const: 'ok' } },
  },
  Readiness: {
    type: 'object',
    required: ['ready', 'index', 'detail'],
    additionalProperties: false,
    properties: {
      ready: { type: 'boolean' },
      index: {
        type: 'object',
        required: ['state', 'batches', 'checkpoints', 'latestCheckpointSize', 'error'],
        additionalProperties: false,
        properties: {
          state: { enum: ['new', 'building', 'ready', 'failed'] },
          batches: SIZE,
          checkpoints: SIZE,
          latestCheckpointSize: { type: ['integer', 'null'], minimum: 0 },
          error: { type: ['string', 'null'], description: 'stable code of the last failure' },
        },
      },
      detail: { type: 'object', description: "the daemon's own health detail" },
    },
  },
  TrustedKeys: {
    type: 'object',
    description: 'A trusted-keys document, as `wattledger verify --trusted-keys` reads it',
    required: ['keys'],
    additionalProperties: false,
    properties: {
      keys: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          required: ['publicKey', 'note'],
          additionalProperties: false,
          properties: { publicKey: { type: 'string' }, ...keyWindow, note: { type: 'string' } },
        },
      },
    },
  },
  FullKeys: {
    type: 'object',
    required: ['keys'],
    additionalProperties: false,
    properties: {
      keys: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          required: ['keyId', 'role', 'publicKeyBase64', 'publicKeyPem', 'verifierKey'],
          additionalProperties: false,
          properties: {
            keyId: HASH,
            role: { enum: ['current', 'announced'] },
            publicKeyBase64: { type: 'string', pattern: '^[A-Za-z0-9+/]{43}=$' },
            publicKeyPem: { type: 'string', pattern: '^-----BEGIN PUBLIC KEY-----\n' },
            verifierKey: { type: 'string', description: 'C2SP signed-note verifier key' },
            ...keyWindow,
          },
        },
      },
    },
  },
  Envelope: envelope,
  BatchPage: {
    type: 'object',
    required: ['from', 'next', 'treeSize', 'batches'],
    additionalProperties: false,
    properties: {
      from: SIZE,
      next: { type: ['integer', 'null'], minimum: 0, description: 'the next page’s from; null at the end' },
      treeSize: SIZE,
      batches: { type: 'array', items: ref('Envelope') },
    },
  },
  ConsistencyProof: {
    type: 'object',
    required: ['from', 'to', 'proof'],
    additionalProperties: false,
    properties: { from: SIZE, to: SIZE, proof: { type: 'array', items: HASH } },
  },
  InclusionProof: {
    type: 'object',
    required: ['seq', 'treeSize', 'leafHash', 'proof'],
    additionalProperties: false,
    properties: { seq: SIZE, treeSize: SIZE, leafHash: HASH, proof: { type: 'array', items: HASH } },
  },
  Receipt: {
    type: 'object',
    description: 'Receipt format v1; verify it with `wattledger verify-receipt`',
    required: [
      'receiptVersion',
      'requestId',
      'record',
      'recordIndex',
      'recordProof',
      'batch',
      'batchIndex',
      'batchProof',
      'checkpoint',
    ],
    additionalProperties: false,
    properties: {
      receiptVersion: { const: 1 },
      requestId: { type: 'string' },
      record,
      recordIndex: SIZE,
      recordProof: { type: 'array', items: HASH },
      batch: ref('Envelope'),
      batchIndex: SIZE,
      batchProof: { type: 'array', items: HASH },
      checkpoint: { type: 'string', description: 'C2SP signed checkpoint note' },
    },
  },
  RecordLine: {
    type: 'object',
    description: 'The record-log line as stored: the batch sequence, the position in it, the record',
    required: ['sequence', 'index', 'record'],
    additionalProperties: false,
    properties: { sequence: { type: 'string', pattern: '^(0|[1-9][0-9]*)$' }, index: SIZE, record },
  },
  OpenApi: { type: 'object', required: ['openapi', 'paths'], properties: { openapi: { type: 'string' } } },
} as const;
