import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { frameworkErrorOptions } from '../api/framework-errors.js';
import { applyListenerLimits, httpServerOptions, type ListenerLimits } from '../api/http-limits.js';
import { httpUrl } from '../api/listen.js';
import type { Clock } from '../clock.js';
import { type Logger, loggableUrl } from '../log.js';
import type { RequestEventSink } from '../requests/types.js';
import { NANOS_PER_MILLI } from '../units.js';
import { createBearerCheck } from './auth.js';
import { RequestBook } from './book.js';
import { EventApiError } from './errors.js';
import { eventOpenApiDocument } from './openapi.js';
import { EventProcessor } from './processor.js';
import { registerEventRoutes } from './routes.js';
import { createEventSchemas } from './schemas.js';

/** Default of {@link EventApiServerOptions.openTimeoutMs}: one hour without news of a request. */
export const DEFAULT_OPEN_TIMEOUT_MS = 3_600_000;

/** Options of {@link createEventApiServer}. */
export interface EventApiServerOptions {
  /** Where valid, new events go (the attributor's `onEvent`). Never receives an invalid event. */
  readonly sink: RequestEventSink;
  readonly clock: Clock;
  /** Accepted bearer tokens (at least one; see `loadEventTokens`). */
  readonly tokens: readonly string[];
  /** Known engine ids (at least one); a start naming another is refused with the list. */
  readonly engines: readonly string[];
  /** Where to listen; port 0 picks a free port (see {@link EventApiServer.port}). */
  readonly listen: { readonly host: string; readonly port: number };
  /** Most open requests; a start beyond it answers 429. Also how many ended ids are remembered. */
  readonly maxInFlight: number;
  /** Largest body accepted; larger ones answer 413 before they are read. */
  readonly maxBodyBytes: number;
  /** An open request silent this long is ended as `cancelled` (default {@link DEFAULT_OPEN_TIMEOUT_MS}). */
  readonly openTimeoutMs?: number;
  readonly logger?: Logger;
  /** Connection and time limits of this listener (`http.*`); Node's defaults without. */
  readonly limits?: ListenerLimits;
  /**
   * Asked before each new request: a refusal (the ledger cannot write) answers 503
   * `EVENTS_UNAVAILABLE` with `Retry-After`; ends and progress of open requests are still taken.
   */
  readonly admission?: () => { readonly reason: string; readonly retryAfterSeconds: number } | null;
}

/** How {@link EventApiServer.close} lets open requests finish. */
export interface EventDrainOptions {
  /** Longest wait for open requests to end (default 0: none). */
  readonly drainMs?: number;
  /** Aborting it ends the wait at once (a second SIGTERM). */
  readonly hurry?: AbortSignal;
}

/** A listening event API server. */
export interface EventApiServer {
  /** Base URL, e.g. `http://127.0.0.1:9465`. */
  readonly url: string;
  /** The port actually bound. */
  readonly port: number;
  /** Every route registered, as OpenAPI path templates and lower-case methods. */
  readonly routes: readonly { readonly method: string; readonly path: string }[];
  /** Requests open now (started, not ended). */
  openCount(): number;
  /**
   * Stops: refuses new requests (503 `EVENTS_UNAVAILABLE`), waits up to `drainMs` for the open ones
   * to end (cut short by `hurry`), ends those still open as `cancelled` and logs them
   * (`EVENTS_OPEN_AT_STOP`), then closes the server. Resolves with the ids it ended.
   */
  close(options?: EventDrainOptions): Promise<string[]>;
}

/** Longest request id accepted is 128; longer ones must reach the validator, not a bare 404. */
const MAX_PARAM_LENGTH = 1024;
/** The expiry sweep runs at least this often (it is also run when the in-flight bound is hit). */
const MAX_SWEEP_INTERVAL_MS = 60_000;

function checkOptions(options: EventApiServerOptions): void {
  const positive = (name: string, value: number | undefined) => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1))
      throw new RangeError(`event API ${name} must be a positive integer, got ${value}`);
  };
  positive('maxInFlight', options.maxInFlight);
  positive('maxBodyBytes', options.maxBodyBytes);
  positive('openTimeoutMs', options.openTimeoutMs);
  if (options.engines.length === 0) throw new RangeError('the event API needs at least one engine id');
}

/**
 * Creates the request event API (docs/EVENTS.md) and starts listening. Every route but
 * `/openapi.json` needs `Authorization: Bearer <token>`; errors are `{ "error": { code, message } }`
 * (plus `problems` on validation failures). Throws a `RangeError` for invalid options; rejects when
 * the address cannot be bound.
 */
export async function createEventApiServer(options: EventApiServerOptions): Promise<EventApiServer> {
  checkOptions(options);
  const openTimeoutMs = options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS;
  let stopping = false;
  let onDrained: (() => void) | null = null;
  const book = new RequestBook({ maxInFlight: options.maxInFlight, endedMemory: options.maxInFlight });
  const processor = new EventProcessor({
    sink: options.sink,
    clock: options.clock,
    book,
    openTimeoutNanos: BigInt(openTimeoutMs) * NANOS_PER_MILLI,
    logger: options.logger,
    admit: () => {
      if (stopping)
        return new EventApiError(
          'EVENTS_UNAVAILABLE',
          'the daemon is stopping; send new requests to another one',
          {
            retryAfterSeconds: 5,
          },
        );
      const refusal = options.admission?.() ?? null;
      return refusal === null
        ? null
        : new EventApiError('EVENTS_UNAVAILABLE', `${refusal.reason}; retry later`, {
            retryAfterSeconds: refusal.retryAfterSeconds,
          });
    },
    onEnded: (open) => {
      if (open === 0) onDrained?.();
    },
  });
  const { app, routes } = createApp(options, createBearerCheck(options.tokens));
  installHandlers(app, options.logger);
  registerEventRoutes(app, {
    schemas: createEventSchemas({ clock: options.clock, engines: options.engines }),
    processor,
    openapi: eventOpenApiDocument({ engines: options.engines }),
    logger: options.logger,
  });
  await app.listen({ host: options.listen.host, port: options.listen.port });
  const sweep = setInterval(() => processor.expireIdle(), Math.min(openTimeoutMs, MAX_SWEEP_INTERVAL_MS));
  sweep.unref();
  const { port } = app.server.address() as AddressInfo;
  const close = async (drain: EventDrainOptions = {}): Promise<string[]> => {
    stopping = true;
    clearInterval(sweep);
    await waitForDrain(
      () => book.openCount,
      drain,
      (resolve) => {
        onDrained = resolve;
      },
    );
    const cancelled = processor.endAllOpen();
    if (cancelled.length > 0)
      options.logger?.warn(
        { code: 'EVENTS_OPEN_AT_STOP', count: cancelled.length, requestIds: cancelled.slice(0, 50) },
        `events: ${cancelled.length} request(s) still open at stop were ended as cancelled and sealed with what was measured`,
      );
    await app.close();
    return cancelled;
  };
  return { url: httpUrl(options.listen.host, port), port, routes, openCount: () => book.openCount, close };
}

/** Resolves when nothing is open, after `drainMs`, or when `hurry` aborts, whichever is first. */
function waitForDrain(
  openCount: () => number,
  drain: EventDrainOptions,
  onEmpty: (resolve: () => void) => void,
): Promise<void> {
  const drainMs = drain.drainMs ?? 0;
  if (openCount() === 0 || drainMs <= 0 || drain.hurry?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, drainMs);
    function done(): void {
      clearTimeout(timer);
      drain.hurry?.removeEventListener('abort', done);
      resolve();
    }
    drain.hurry?.addEventListener('abort', done, { once: true });
    onEmpty(done);
  });
}

/** The Fastify instance with its limits, the route list and the authentication hook. */
function createApp(options: EventApiServerOptions, authorized: (header: string | undefined) => boolean) {
  const app = Fastify({
    logger: false,
    bodyLimit: options.maxBodyBytes,
    exposeHeadRoutes: false,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    ...httpServerOptions(options.limits),
    ...frameworkErrorOptions({
      malformed: 'EVENTS_MALFORMED',
      headersTooLarge: 'EVENTS_HEADERS_TOO_LARGE',
      timeout: 'EVENTS_REQUEST_TIMEOUT',
    }),
  });
  if (options.limits) applyListenerLimits(app.server, options.limits);
  // JSON only: Fastify's default text/plain parser would turn a text body into a string to validate.
  app.removeContentTypeParser('text/plain');
  const routes: { method: string; path: string }[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods)
      routes.push({ method: method.toLowerCase(), path: route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}') });
  });
  // onRequest runs before the body is read: an unauthenticated client cannot make us parse anything.
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url === '/openapi.json') return;
    if (!authorized(request.headers.authorization))
      throw new EventApiError(
        'EVENTS_UNAUTHORIZED',
        'send Authorization: Bearer <token> with a configured token',
      );
  });
  return { app, routes };
}

/** Maps Fastify's own body errors to stable codes. */
function fastifyError(error: FastifyError): EventApiError | null {
  const status = error.statusCode ?? 500;
  if (status === 413)
    return new EventApiError('EVENTS_TOO_LARGE', 'the body is larger than the configured limit');
  if (status === 415)
    return new EventApiError('EVENTS_UNSUPPORTED_MEDIA_TYPE', 'send Content-Type: application/json');
  if (status >= 400 && status < 500)
    return new EventApiError('EVENTS_MALFORMED', 'the body is not valid JSON');
  return null;
}

/** One JSON error shape for every failure; internal details go to the log only, never a token. */
function installHandlers(app: FastifyInstance, logger: Logger | undefined): void {
  app.setNotFoundHandler((_request, reply) =>
    sendError(reply, new EventApiError('EVENTS_NOT_FOUND', 'no such route; see /openapi.json')),
  );
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error instanceof EventApiError) return sendError(reply, error);
    const mapped = fastifyError(error);
    if (mapped !== null) return sendError(reply, mapped);
    logger?.error(
      { code: 'EVENTS_INTERNAL', url: loggableUrl(request.url), err: String(error) },
      `events: ${String(error)}`,
    );
    return sendError(reply, new EventApiError('EVENTS_INTERNAL', 'internal error; see the server log'));
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('cache-control', 'no-store');
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    // Method, path and status only: headers (the token) are never logged.
    logger?.debug(
      {
        code: 'EVENTS_REQUEST',
        method: request.method,
        url: loggableUrl(request.url),
        status: reply.statusCode,
      },
      `events: ${request.method} ${loggableUrl(request.url)} ${reply.statusCode}`,
    );
  });
}

function sendError(reply: FastifyReply, error: EventApiError): FastifyReply {
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  if (error.code === 'EVENTS_UNAUTHORIZED')
    reply.header('www-authenticate', 'Bearer realm="wattledger-events"');
  return reply.code(error.status).type('application/json').send(error.body());
}
