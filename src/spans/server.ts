import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { frameworkErrorOptions } from '../api/framework-errors.js';
import { applyListenerLimits, httpServerOptions, type ListenerLimits } from '../api/http-limits.js';
import { httpUrl } from '../api/listen.js';
import { createBearerCheck } from '../events/auth.js';
import type { Logger } from '../log.js';
import { decodeJsonExport } from './decode-json.js';
import { decodeProtobufExport } from './decode-protobuf.js';
import { SpanIntakeError } from './errors.js';
import type { ExportResult, SpanIntake } from './intake.js';
import { EXPORT_RESPONSE, RPC_STATUS } from './proto.js';

/** Options of {@link createSpanServer}. */
export interface SpanServerOptions {
  readonly intake: SpanIntake;
  /** Where to listen; port 0 picks a free port. */
  readonly listen: { readonly host: string; readonly port: number };
  /** Largest body, as received and after gzip decompression. */
  readonly maxBodyBytes: number;
  /** Most spans in one export. */
  readonly maxSpansPerExport: number;
  /** Accepted bearer tokens; empty: no authentication. */
  readonly tokens: readonly string[];
  readonly logger?: Logger | undefined;
  /** Connection and time limits of this listener (`http.*`); Node's defaults without. */
  readonly limits?: ListenerLimits;
  /** Asked before each export: a refusal answers 503 `SPANS_UNAVAILABLE` with `Retry-After`. */
  readonly admission?: () => { readonly reason: string; readonly retryAfterSeconds: number } | null;
}

/** A listening span receiver. */
export interface SpanServer {
  /** Base URL, e.g. `http://127.0.0.1:4319`; exporters post to `${url}/v1/traces`. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

type Encoding = 'protobuf' | 'json';
const MEDIA_TYPE: Record<Encoding, string> = { protobuf: 'application/x-protobuf', json: 'application/json' };

/**
 * The OTLP/HTTP trace receiver (docs/SPANS.md): `POST /v1/traces` with `application/x-protobuf`
 * or `application/json`, optionally `Content-Encoding: gzip`. Answers per the OTLP/HTTP
 * specification, in the request's encoding: 200 with an `ExportTraceServiceResponse` (with
 * `partial_success` when spans were rejected), or 4xx/5xx with a `google.rpc.Status` whose message
 * starts with a stable `SPANS_*` code. Throws a `RangeError` for invalid options.
 */
export async function createSpanServer(options: SpanServerOptions): Promise<SpanServer> {
  for (const [name, value] of [
    ['maxBodyBytes', options.maxBodyBytes],
    ['maxSpansPerExport', options.maxSpansPerExport],
  ] as const)
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`span intake ${name} must be a positive integer, got ${value}`);
  const authorized = options.tokens.length === 0 ? null : createBearerCheck(options.tokens);
  const app = Fastify({
    logger: false,
    bodyLimit: options.maxBodyBytes,
    exposeHeadRoutes: false,
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    ...httpServerOptions(options.limits),
    ...frameworkErrorOptions({
      malformed: 'SPANS_MALFORMED',
      headersTooLarge: 'SPANS_HEADERS_TOO_LARGE',
      timeout: 'SPANS_REQUEST_TIMEOUT',
    }),
  });
  if (options.limits) applyListenerLimits(app.server, options.limits);
  app.removeAllContentTypeParsers();
  for (const type of Object.values(MEDIA_TYPE))
    app.addContentTypeParser(type, { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.addHook('onRequest', async (request) => {
    if (authorized !== null && !authorized(request.headers.authorization))
      throw new SpanIntakeError(
        'SPANS_UNAUTHORIZED',
        'send Authorization: Bearer <token> with a configured token',
      );
  });
  app.post('/v1/traces', async (request, reply) => {
    const encoding = encodingOf(request);
    const refusal = options.admission?.() ?? null;
    if (refusal !== null) {
      const error = new SpanIntakeError('SPANS_UNAVAILABLE', `${refusal.reason}; retry later`);
      error.retryAfterSeconds = refusal.retryAfterSeconds;
      throw error;
    }
    const body = decompress(request, options.maxBodyBytes);
    const spans =
      encoding === 'protobuf'
        ? decodeProtobufExport(body, options.maxSpansPerExport)
        : decodeJsonExport(body, options.maxSpansPerExport);
    const result = options.intake.apply(spans);
    options.logger?.debug(
      { code: 'SPANS_EXPORT', spans: spans.length, rejected: result.rejected },
      `spans: export of ${spans.length} span(s)`,
    );
    if (result.rejected > 0)
      options.logger?.warn(
        { code: 'SPANS_REJECTED', rejected: result.rejected, spans: spans.length },
        `spans: ${result.message}`,
      );
    return sendResult(reply, encoding, result);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(
      reply,
      encodingOf(request, false),
      new SpanIntakeError('SPANS_NOT_FOUND', 'post spans to /v1/traces'),
    ),
  );
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const encoding = encodingOf(request, false);
    if (error instanceof SpanIntakeError) return sendError(reply, encoding, error);
    const mapped = fastifyError(error);
    if (mapped !== null) return sendError(reply, encoding, mapped);
    options.logger?.error({ code: 'SPANS_INTERNAL', err: String(error) }, `spans: ${String(error)}`);
    return sendError(
      reply,
      encoding,
      new SpanIntakeError('SPANS_INTERNAL', 'internal error; see the daemon log'),
    );
  });
  await app.listen({ host: options.listen.host, port: options.listen.port });
  const { port } = app.server.address() as AddressInfo;
  return { url: httpUrl(options.listen.host, port), port, close: () => app.close() };
}

/** The request's encoding; with `strict`, anything else is a 415. */
function encodingOf(request: FastifyRequest, strict = true): Encoding {
  const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type === MEDIA_TYPE.protobuf) return 'protobuf';
  if (type === MEDIA_TYPE.json || !strict) return 'json';
  throw new SpanIntakeError(
    'SPANS_UNSUPPORTED_MEDIA_TYPE',
    'send application/x-protobuf or application/json',
  );
}

/** The body, gunzipped when `Content-Encoding: gzip`, at most `limit` bytes either way. */
function decompress(request: FastifyRequest, limit: number): Buffer {
  const body = request.body;
  if (!Buffer.isBuffer(body)) throw new SpanIntakeError('SPANS_MALFORMED', 'the body is empty');
  const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return body;
  if (encoding !== 'gzip')
    throw new SpanIntakeError(
      'SPANS_UNSUPPORTED_MEDIA_TYPE',
      `content encoding ${encoding} is not supported; use gzip`,
    );
  try {
    return gunzipSync(body, { maxOutputLength: limit });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE')
      throw new SpanIntakeError('SPANS_TOO_LARGE', `the decompressed body is larger than ${limit} bytes`);
    throw new SpanIntakeError('SPANS_MALFORMED', 'the body is not valid gzip');
  }
}

function fastifyError(error: FastifyError): SpanIntakeError | null {
  const status = error.statusCode ?? 500;
  if (status === 413)
    return new SpanIntakeError('SPANS_TOO_LARGE', 'the body is larger than the configured limit');
  if (status === 415)
    return new SpanIntakeError(
      'SPANS_UNSUPPORTED_MEDIA_TYPE',
      'send application/x-protobuf or application/json',
    );
  if (status >= 400 && status < 500) return new SpanIntakeError('SPANS_MALFORMED', error.message);
  return null;
}

function sendResult(reply: FastifyReply, encoding: Encoding, result: ExportResult): FastifyReply {
  const partial =
    result.rejected === 0 ? undefined : { rejectedSpans: result.rejected, errorMessage: result.message };
  reply.code(200).type(MEDIA_TYPE[encoding]);
  if (encoding === 'json')
    // proto3 JSON: int64 as a decimal string; an empty message is `{}`.
    return reply.send(
      JSON.stringify(
        partial === undefined
          ? {}
          : {
              partialSuccess: {
                rejectedSpans: String(partial.rejectedSpans),
                errorMessage: partial.errorMessage,
              },
            },
      ),
    );
  const message = EXPORT_RESPONSE.fromObject(partial === undefined ? {} : { partialSuccess: partial });
  return reply.send(Buffer.from(EXPORT_RESPONSE.encode(message).finish()));
}

function sendError(reply: FastifyReply, encoding: Encoding, error: SpanIntakeError): FastifyReply {
  if (error.code === 'SPANS_UNAUTHORIZED')
    reply.header('www-authenticate', 'Bearer realm="wattledger-spans"');
  if (error.retryAfterSeconds !== undefined) reply.header('retry-after', String(error.retryAfterSeconds));
  reply.code(error.status).type(MEDIA_TYPE[encoding]);
  const status = error.rpcStatus();
  if (encoding === 'json')
    return reply.send(JSON.stringify({ ...status, error: { code: error.code, message: error.message } }));
  return reply.send(Buffer.from(RPC_STATUS.encode(RPC_STATUS.fromObject(status)).finish()));
}
