import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.js';
import { type ApiKeys, fullKeysDocument, trustedKeysDocument } from './keys.js';
import type { LedgerIndex } from './ledger-index.js';
import { findRecordLine, receiptFor, type ScanLimiter } from './ledger-scans.js';
import { enumParam, requestIdParam, singleQuery } from './params.js';

/** The daemon's own view of its health, given to `/readyz`. */
export interface ApiHealth {
  /** True while the meter runs (the index's readiness is added by the server). */
  readonly ready: boolean;
  /** Shown as `detail`; public, so it must hold nothing secret. */
  readonly detail: Record<string, unknown>;
}

/** What the info routes need. */
export interface InfoRouteContext {
  readonly index: LedgerIndex;
  readonly ledgerDir: string;
  readonly keys: ApiKeys;
  readonly health: () => ApiHealth;
  readonly scans: ScanLimiter;
  readonly openapi: unknown;
}

type Params = Record<string, string | undefined>;

/** Registers health, keys, receipts, records and the OpenAPI document. */
export function registerInfoRoutes(app: FastifyInstance, context: InfoRouteContext): void {
  app.get('/healthz', async (request) => {
    singleQuery(request.query, []);
    return { status: 'ok' };
  });
  app.get('/readyz', async (request, reply) => {
    singleQuery(request.query, []);
    const health = context.health();
    const index = context.index.status();
    const ready = health.ready && index.state === 'ready';
    // Serialised here: a bigint in `detail` (energy, nanoseconds) becomes its decimal string.
    const body = JSON.stringify({ ready, index, detail: health.detail }, (_key, value: unknown) =>
      typeof value === 'bigint' ? value.toString() : value,
    );
    return reply
      .code(ready ? 200 : 503)
      .type('application/json')
      .header('cache-control', 'no-store')
      .send(body);
  });
  app.get('/v1/keys', async (request) => {
    const query = singleQuery(request.query, ['format']);
    const format = enumParam('format', query.format, ['trusted-keys', 'full'], 'trusted-keys');
    return format === 'full' ? fullKeysDocument(context.keys) : trustedKeysDocument(context.keys);
  });
  app.get('/v1/receipts/:requestId', async (request) => {
    singleQuery(request.query, []);
    const requestId = requestIdParam((request.params as Params).requestId);
    return context.scans.run(() => receiptFor(context.ledgerDir, requestId));
  });
  app.get('/v1/records/:requestId', async (request, reply) => {
    singleQuery(request.query, []);
    const requestId = requestIdParam((request.params as Params).requestId);
    const line = await context.scans.run(() => findRecordLine(context.ledgerDir, requestId));
    if (line === null)
      throw new ApiError('API_RECORD_NOT_FOUND', `no request record with id ${JSON.stringify(requestId)}`);
    return reply.type('application/json').send(line);
  });
  app.get('/openapi.json', async (request) => {
    singleQuery(request.query, []);
    return context.openapi;
  });
}
