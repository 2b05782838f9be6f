import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { type Logger, loggableUrl } from '../log.js';
import type { DeviceStatus } from '../meter/meter.js';
import { ApiError } from './errors.js';
import { frameworkErrorOptions } from './framework-errors.js';
import { applyListenerLimits, httpServerOptions, type ListenerLimits } from './http-limits.js';
import type { ApiKeys } from './keys.js';
import type { LedgerIndex } from './ledger-index.js';
import { ScanLimiter } from './ledger-scans.js';
import { httpUrl } from './listen.js';
import { openApiDocument } from './openapi.js';
import { dashboardPaths } from './openapi-dashboard.js';
import { MAX_REQUEST_ID_LENGTH } from './params.js';
import { registerDashboardRoutes } from './routes-dashboard.js';
import { type ApiHealth, registerInfoRoutes } from './routes-info.js';
import { registerLedgerRoutes } from './routes-ledger.js';
import { registerStatsRoutes } from './routes-stats.js';

/** Options of {@link createApiServer}. */
export interface ApiServerOptions {
  /** The index over `ledgerDir`; the server waits for nothing: routes answer 503 until it is built. */
  readonly index: LedgerIndex;
  readonly ledgerDir: string;
  /** Public keys only: the server never holds a signer. */
  readonly keys: ApiKeys;
  /** The daemon's readiness (the meter runs) and public detail for `/readyz`. */
  readonly health: () => ApiHealth;
  /** Where to listen; port 0 picks a free port (see {@link ApiServer.port}). */
  readonly listen: { readonly host: string; readonly port: number };
  /** Largest `limit` of `/v1/batches` (config `api.maxPageSize`, default 1000). */
  readonly maxPageSize?: number;
  /** Receipt, record and stats requests scan the ledger; at most this many run at once (default 2). */
  readonly maxConcurrentScans?: number;
  readonly logger?: Logger;
  /** The meter's devices now; given, the dashboard is served too (docs/DASHBOARD.md). */
  readonly live?: () => readonly DeviceStatus[];
  /** Connection and time limits of this listener (`http.*`); Node's defaults without. */
  readonly limits?: ListenerLimits;
}

/** A listening API server. */
export interface ApiServer {
  /** Base URL, e.g. `http://127.0.0.1:9464`. */
  readonly url: string;
  /** The port actually bound. */
  readonly port: number;
  /** Every route registered, as OpenAPI path templates (`/v1/batches/{seq}`) and methods. */
  readonly routes: readonly { readonly method: string; readonly path: string }[];
  /** Stops accepting connections and closes idle ones; resolves when the server is closed. */
  close(): Promise<void>;
}

/** The API takes no bodies; anything larger than this is refused before it is read. */
const BODY_LIMIT_BYTES = 1024;

/**
 * Creates the read-only HTTP API over a ledger directory and starts listening. Every route and
 * its parameters are described by `/openapi.json`; errors are `{ "error": { code, message } }`.
 * Rejects when the address cannot be bound.
 */
export async function createApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const maxPageSize = options.maxPageSize ?? 1000;
  const app = Fastify({
    logger: false,
    bodyLimit: BODY_LIMIT_BYTES,
    // HEAD routes would double every route in the OpenAPI document for little use.
    exposeHeadRoutes: false,
    // Longer ids reach the validator (and get a 400 naming the limit) instead of a bare 404.
    routerOptions: { maxParamLength: MAX_REQUEST_ID_LENGTH * 4 },
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    ...httpServerOptions(options.limits),
    ...frameworkErrorOptions({
      malformed: 'API_BAD_REQUEST',
      headersTooLarge: 'API_HEADERS_TOO_LARGE',
      timeout: 'API_REQUEST_TIMEOUT',
    }),
  });
  if (options.limits) applyListenerLimits(app.server, options.limits);
  const routes: { method: string; path: string }[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) routes.push({ method: method.toLowerCase(), path: openApiPath(route.url) });
  });
  installHandlers(app, options.logger);
  const { index, ledgerDir } = options;
  registerLedgerRoutes(app, { index, ledgerDir, maxPageSize });
  // Receipts, records and stats each read the ledger from the start: one limit for all of them.
  const scans = new ScanLimiter(options.maxConcurrentScans ?? 2);
  registerInfoRoutes(app, {
    index,
    ledgerDir,
    keys: options.keys,
    health: options.health,
    scans,
    openapi: openApiDocument({ maxPageSize, ...(options.live ? { extraPaths: dashboardPaths() } : {}) }),
  });
  registerStatsRoutes(app, { ledgerDir, scans });
  if (options.live) registerDashboardRoutes(app, { index, ledgerDir, scans, live: options.live });
  await app.listen({ host: options.listen.host, port: options.listen.port });
  const { port } = app.server.address() as AddressInfo;
  return { url: httpUrl(options.listen.host, port), port, routes, close: () => app.close() };
}

/** `/v1/batches/:seq` → `/v1/batches/{seq}`. */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** Error and not-found handlers (one JSON error shape) and the headers every response gets. */
function installHandlers(app: FastifyInstance, logger: Logger | undefined): void {
  app.setNotFoundHandler((_request, reply) =>
    sendError(reply, new ApiError('API_NOT_FOUND', 'no such route; see /openapi.json')),
  );
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof ApiError) {
      if (error.status >= 500 && error.code !== 'API_NOT_READY' && error.code !== 'API_BUSY')
        logger?.error(
          { code: error.code, url: loggableUrl(request.url), err: String(error.cause ?? error) },
          `api: ${error.message}`,
        );
      return sendError(reply, error);
    }
    const status = error.statusCode ?? 500;
    if (status === 413)
      return sendError(reply, new ApiError('API_REQUEST_TOO_LARGE', 'the API takes no body'));
    // Fastify's own 4xx (a malformed URL, say): one stable code and status for all of them.
    if (status >= 400 && status < 500)
      return sendError(reply, new ApiError('API_BAD_PARAMETER', 'malformed request'));
    // Internal details (paths, errno) go to the log, never to the client.
    logger?.error(
      { code: 'API_INTERNAL', url: loggableUrl(request.url), err: String(error) },
      `api: ${String(error)}`,
    );
    return sendError(reply, new ApiError('API_INTERNAL', 'internal error; see the server log'));
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-cache');
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    logger?.debug(
      {
        code: 'API_REQUEST',
        method: request.method,
        url: loggableUrl(request.url),
        status: reply.statusCode,
      },
      `api: ${request.method} ${loggableUrl(request.url)} ${reply.statusCode}`,
    );
  });
}

function sendError(reply: FastifyReply, error: ApiError): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  // A cached 304/immutable header set before the failure must not stick to the error.
  reply.removeHeader('etag');
  reply.header('cache-control', 'no-store');
  return reply.code(error.status).type('application/json').send(error.body());
}
