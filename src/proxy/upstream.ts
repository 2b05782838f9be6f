import http from 'node:http';
import https from 'node:https';
import { ConfigError, type ConfigProblem } from '../errors.js';

/** One inference server behind the proxy. */
export interface UpstreamSpec {
  /** A name for logs and for `defaultUpstream`. */
  readonly name: string;
  /** Base URL, `http:` or `https:` (`http://127.0.0.1:8000`, or with a path prefix). */
  readonly url: string;
  /** The engine (set of GPUs) this server runs on: requests routed here are attributed to it. */
  readonly engineId: string;
  /** The `model` values this server serves (a request's `model` picks its upstream). */
  readonly models: readonly string[];
  /**
   * Whether the server sends stream usage nobody asked for (vLLM `--enable-force-include-usage`).
   * Absent: learned from the first streamed response whose client did not set
   * `stream_options.include_usage`, which is relayed without injection.
   */
  readonly sendsUsageUnasked?: boolean;
}

/** An upstream ready to receive requests. */
export interface Upstream {
  readonly spec: UpstreamSpec;
  readonly url: URL;
  /** The URL's path without a trailing slash, prefixed to every request path. */
  readonly basePath: string;
  readonly agent: http.Agent;
  readonly transport: typeof http | typeof https;
  /** Set once the server refused an injected `stream_options`: never inject there again. */
  injectionRefused: boolean;
  /**
   * Whether the server streams usage unasked; `undefined` until known. The proxy injects
   * `include_usage` (and cuts the usage chunk it asked for) only where this is `false`: where the
   * server sends usage anyway, the client would have received it, so it must not be cut.
   */
  sendsUsageUnasked: boolean | undefined;
}

/**
 * Validates the upstream list and gives each a keep-alive agent: reusing warm connections saves a
 * TCP (and TLS) handshake per request, which is latency the client would otherwise see.
 */
export function resolveUpstreams(specs: readonly UpstreamSpec[], defaultName: string): Map<string, Upstream> {
  const problems: ConfigProblem[] = [];
  const byName = new Map<string, Upstream>();
  specs.forEach((spec, index) => {
    let url: URL | undefined;
    try {
      url = new URL(spec.url);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      problems.push({ path: `upstreams[${index}].url`, expected: 'an http: or https: URL', found: spec.url });
      return;
    }
    const transport = url.protocol === 'https:' ? https : http;
    const agent = new transport.Agent({ keepAlive: true, scheduling: 'lifo' });
    const basePath = url.pathname.replace(/\/+$/, '');
    byName.set(spec.name, {
      spec,
      url,
      basePath,
      agent,
      transport,
      injectionRefused: false,
      sendsUsageUnasked: spec.sendsUsageUnasked,
    });
  });
  if (!byName.has(defaultName)) {
    problems.push({ path: 'defaultUpstream', expected: 'the name of one upstream', found: defaultName });
  }
  if (problems.length > 0) {
    throw new ConfigError('CONFIG_INVALID', `invalid proxy configuration: ${problems[0]!.path}`, problems);
  }
  return byName;
}

/** The upstream serving `model`, else the default one. */
export function pickUpstream(
  upstreams: ReadonlyMap<string, Upstream>,
  defaultName: string,
  model: string | undefined,
): Upstream {
  if (model !== undefined) {
    for (const upstream of upstreams.values()) if (upstream.spec.models.includes(model)) return upstream;
  }
  return upstreams.get(defaultName)!;
}

/** Opens a request to `upstream` for the client's method and path (query included). */
export function openUpstreamRequest(
  upstream: Upstream,
  method: string,
  path: string,
  headers: readonly string[],
  timeoutMs: number,
): http.ClientRequest {
  const request = upstream.transport.request({
    protocol: upstream.url.protocol,
    hostname: upstream.url.hostname.replace(/^\[(.*)\]$/, '$1'), // IPv6 literals lose their brackets
    port: upstream.url.port,
    method,
    path: `${upstream.basePath}${path}`,
    // Node adds no Host header when headers come as a raw list; HTTP/1.1 requires one.
    headers: ['host', upstream.url.host, ...headers],
    agent: upstream.agent,
  });
  request.setNoDelay(true); // tokens are small writes: Nagle would delay each by up to 40 ms
  request.setTimeout(timeoutMs, () => request.destroy(new UpstreamTimeoutError(timeoutMs)));
  return request;
}

/** The upstream was silent (no headers, no body bytes) for longer than the timeout. */
export class UpstreamTimeoutError extends Error {
  constructor(timeoutMs: number) {
    super(`upstream sent nothing for ${timeoutMs} ms`);
    this.name = 'UpstreamTimeoutError';
  }
}

/**
 * An OpenAI-shaped error response for failures of the proxy hop itself (the upstream's own errors
 * are relayed as sent): 502 when the upstream cannot be reached, 504 when it timed out.
 */
export function sendProxyError(
  response: http.ServerResponse,
  error: unknown,
  extraHeaders: Readonly<Record<string, string>> = {},
): number {
  const timedOut = error instanceof UpstreamTimeoutError;
  const status = timedOut ? 504 : 502;
  const body = JSON.stringify({
    error: {
      message: timedOut
        ? `the inference server did not answer in time (${(error as Error).message})`
        : `the inference server could not be reached: ${error instanceof Error ? error.message : String(error)}`,
      type: timedOut ? 'upstream_timeout' : 'upstream_unavailable',
      param: null,
      code: timedOut ? 'upstream_timeout' : 'upstream_connection_failed',
    },
  });
  response.writeHead(status, {
    ...extraHeaders,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  response.end(body);
  return status;
}
