import type http from 'node:http';
import { forwardHeaders, NO_DROP, PASS_THROUGH_REQUEST_DROP } from './headers.js';
import { openUpstreamRequest, sendProxyError, type Upstream } from './upstream.js';

/**
 * Forwards a request the proxy does not measure (other paths and methods, bodies that are not
 * JSON or too large) to `upstream` and streams the response back as sent. `prefix` holds body
 * bytes already read from the client while deciding; the rest of the body is piped after them.
 */
export function passThrough(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  upstream: Upstream,
  prefix: readonly Buffer[],
  timeoutMs: number,
): void {
  const headers = forwardHeaders(req.rawHeaders, PASS_THROUGH_REQUEST_DROP);
  const request = openUpstreamRequest(upstream, req.method ?? 'GET', req.url ?? '/', headers, timeoutMs);
  res.on('close', () => {
    if (!res.writableEnded) request.destroy(); // the client left: let the server stop working
  });
  request.on('error', (error) => {
    if (!res.headersSent) sendProxyError(res, error);
    else res.destroy();
  });
  request.on('response', (response) => {
    res.writeHead(
      response.statusCode ?? 502,
      response.statusMessage,
      forwardHeaders(response.rawHeaders, NO_DROP),
    );
    res.flushHeaders();
    response.pipe(res);
    response.on('error', () => res.destroy());
    response.on('close', () => {
      if (!response.complete) res.destroy(); // a broken upstream body must look broken downstream
    });
  });
  for (const chunk of prefix) request.write(chunk);
  if (req.readableEnded) request.end();
  else req.pipe(request);
}
