import type { Socket } from 'node:net';
import type { FastifyReply, FastifyServerOptions } from 'fastify';

/**
 * Every HTTP listener answers errors in one shape, `{"error":{"code","message"}}` with a stable
 * code, also for what never reaches a route: a URL Fastify cannot decode (`FST_ERR_BAD_URL`),
 * headers over Node's limit (431), a request that took too long (408), bytes that are not HTTP.
 * Fastify's and Node's own bodies (`"code":"FST_ERR_…"`, `"statusCode"`) never go out.
 */
export interface FrameworkErrorCodes {
  /** 400: a request that is not HTTP, or a URL that cannot be decoded. */
  readonly malformed: string;
  /** 431: request headers larger than Node's limit (16 KiB). */
  readonly headersTooLarge: string;
  /** 408: headers or body not received within the listener's time. */
  readonly timeout: string;
}

/** Fastify options that route framework and socket-level errors through `codes`. */
export function frameworkErrorOptions(
  codes: FrameworkErrorCodes,
): Pick<FastifyServerOptions, 'frameworkErrors' | 'clientErrorHandler'> {
  return {
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      const message =
        error.code === 'FST_ERR_BAD_URL'
          ? 'the URL is not valid (a bad percent-encoding?)'
          : 'malformed request';
      reply
        .code(400)
        .header('cache-control', 'no-store')
        .type('application/json')
        .send({ error: { code: codes.malformed, message } });
    },
    clientErrorHandler: (error: NodeJS.ErrnoException, socket: Socket) =>
      answerClientError(error, socket, codes),
  };
}

/** Writes a JSON error on a socket whose request Node's parser refused, then closes it. */
export function answerClientError(
  error: NodeJS.ErrnoException,
  socket: Socket,
  codes: FrameworkErrorCodes,
): void {
  if (!socket.writable || (error.code === 'ECONNRESET' && socket.destroyed)) {
    socket.destroy();
    return;
  }
  const [status, reason, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [
          431,
          'Request Header Fields Too Large',
          codes.headersTooLarge,
          'the request headers are larger than 16 KiB',
        ]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', codes.timeout, 'the request did not arrive in time']
        : [400, 'Bad Request', codes.malformed, 'the request is not valid HTTP/1.1'];
  const body = JSON.stringify({ error: { code, message } });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
  );
}
