import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Limits of one HTTP listener: how many connections it holds, and how long a client may take to
 * send its headers and its whole request, or sit idle between requests. Node's defaults (no
 * connection limit, 60 s for headers, 300 s for a request) let 20,000 idle or slow sockets use up
 * the process's file descriptors, after which no listener accepts and the ledger cannot open a
 * file.
 */
export interface ListenerLimits {
  readonly maxConnections: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly keepAliveTimeoutMs: number;
}

/**
 * Applies `limits` to a Node HTTP server (before or after it listens). Node enforces its own
 * header time-out only on its connection-checking interval, which is fixed when the server is
 * created (30 s by default) and missed idle sockets in practice, so a connection that has not
 * sent a complete request head within `headersTimeoutMs` of connecting is also closed here.
 */
export function applyListenerLimits(server: Server, limits: ListenerLimits): void {
  server.maxConnections = limits.maxConnections;
  // Node requires headersTimeout ≤ requestTimeout (when the latter is not 0).
  server.requestTimeout = limits.requestTimeoutMs;
  server.headersTimeout = Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs);
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  const waiting = new WeakMap<Socket, NodeJS.Timeout>();
  server.on('connection', (socket: Socket) => {
    const timer = setTimeout(() => socket.destroy(), limits.headersTimeoutMs);
    timer.unref();
    waiting.set(socket, timer);
    socket.once('close', () => clearTimeout(timer));
  });
  server.on('request', (request: IncomingMessage) => {
    const timer = waiting.get(request.socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    waiting.delete(request.socket);
  });
}

/**
 * `http.createServer` options (Fastify's `http`) for `limits`: Node checks header and request
 * time-outs every `connectionsCheckingInterval` (30 s by default, fixed at creation), so a
 * connection that never sends its headers would stay up to 30 s past its time.
 */
export function httpServerOptions(limits: ListenerLimits | undefined): {
  http?: { connectionsCheckingInterval: number };
} {
  if (limits === undefined) return {};
  const interval = Math.max(
    50,
    Math.min(1000, Math.floor(Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs) / 4)),
  );
  return { http: { connectionsCheckingInterval: interval } };
}

/** The process's soft limit of open files (`/proc/self/limits`), or null where it cannot be read. */
export function openFileLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const match = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (match === null) return null;
  return match[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(match[1]);
}

/**
 * Connections per listener so that all of them together, with `reserve` descriptors left for the
 * ledger, probes and exporters, fit in `fileLimit`. `weights` counts descriptors per connection of
 * each listener (2 for the proxy: its upstream socket). Returns `wanted` when it fits, else the
 * largest value that does (at least 1), and whether it was lowered.
 */
export function connectionBudget(
  wanted: number,
  weights: readonly number[],
  reserve: number,
  fileLimit: number | null,
): { perListener: number; lowered: boolean } {
  const weight = weights.reduce((sum, w) => sum + w, 0);
  if (fileLimit === null || weight === 0) return { perListener: wanted, lowered: false };
  const fits = Math.floor((fileLimit - reserve) / weight);
  if (wanted <= fits) return { perListener: wanted, lowered: false };
  return { perListener: Math.max(1, fits), lowered: true };
}
