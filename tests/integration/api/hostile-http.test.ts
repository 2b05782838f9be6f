/**
 * Every HTTP listener (ledger API, event API, span intake) against clients that misbehave at the
 * HTTP level, over real loopback sockets: errors that never reach a route still answer
 * `{"error":{"code","message"}}` with the listener's stable code, and the connection and time
 * limits close idle, slow and excess connections. The token a client puts in a query string
 * never reaches the log.
 */
import { once } from 'node:events';
import net from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { ListenerLimits } from '../../../src/api/http-limits.js';
import { connectionBudget, openFileLimit } from '../../../src/api/http-limits.js';
import { LedgerIndex } from '../../../src/api/ledger-index.js';
import { createApiServer } from '../../../src/api/server.js';
import { createLogger, loggableUrl } from '../../../src/log.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { startEvents } from '../events/fixture.js';
import { startSpanHarness } from '../spans/spans-harness.js';
import { apiKeys } from './api-fixture.js';

interface Listener {
  readonly port: number;
  close(): Promise<unknown>;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const LIMITS: ListenerLimits = {
  maxConnections: 4,
  headersTimeoutMs: 400,
  requestTimeoutMs: 700,
  keepAliveTimeoutMs: 300,
};

async function apiListener(limits?: ListenerLimits, logLines?: string[]): Promise<Listener> {
  const { dir, cleanup } = await makeTmpDir();
  cleanups.push(cleanup);
  const index = new LedgerIndex(dir);
  await index.build();
  const logger = logLines ? createLogger('debug', 1) : undefined;
  const server = await createApiServer({
    index,
    ledgerDir: dir,
    keys: apiKeys(),
    health: () => ({ ready: true, detail: {} }),
    listen: { host: '127.0.0.1', port: 0 },
    ...(limits ? { limits } : {}),
    ...(logger ? { logger } : {}),
  });
  cleanups.push(() => server.close());
  return server;
}

async function eventsListener(limits?: ListenerLimits): Promise<Listener> {
  const f = await startEvents(limits ? { limits } : {});
  cleanups.push(() => f.server.close());
  return f.server;
}

async function spansListener(limits?: ListenerLimits): Promise<Listener> {
  const h = await startSpanHarness(limits ? { limits } : {});
  cleanups.push(() => h.close());
  return h.server;
}

const LISTENERS = [
  ['ledger API', apiListener, 'API_BAD_REQUEST', 'API_HEADERS_TOO_LARGE', 'API_REQUEST_TIMEOUT'],
  ['event API', eventsListener, 'EVENTS_MALFORMED', 'EVENTS_HEADERS_TOO_LARGE', 'EVENTS_REQUEST_TIMEOUT'],
  ['span intake', spansListener, 'SPANS_MALFORMED', 'SPANS_HEADERS_TOO_LARGE', 'SPANS_REQUEST_TIMEOUT'],
] as const;

/** Sends raw bytes and collects everything until the server closes (or `waitMs` passes). */
function raw(port: number, bytes: string, waitMs = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, waitMs);
    socket.on('data', (chunk) => (text += chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    });
    if (bytes !== '') socket.write(bytes);
  });
}

function parse(text: string): { status: number; body: unknown } {
  const [head = '', body = ''] = text.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), body: body === '' ? null : JSON.parse(body) };
}

describe.each(LISTENERS)('%s under hostile HTTP', (_name, start, malformed, tooLarge, timeout) => {
  it('answers a URL it cannot decode with its own code, not FST_ERR_BAD_URL', async () => {
    const server = await start();
    const { text } = await raw(server.port, 'GET /v1/%zz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(text).not.toContain('FST_ERR');
    expect(text).not.toContain('statusCode');
    expect(parse(text)).toMatchObject({ status: 400, body: { error: { code: malformed } } });
  });

  it('answers headers over 16 KiB with 431 and a JSON error', async () => {
    const server = await start();
    const { text } = await raw(
      server.port,
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    );
    expect(parse(text)).toEqual({
      status: 431,
      body: { error: { code: tooLarge, message: 'the request headers are larger than 16 KiB' } },
    });
  });

  it('answers bytes that are not HTTP with 400 and a JSON error', async () => {
    const server = await start();
    const { text } = await raw(server.port, 'HELLO\r\n\r\n');
    expect(parse(text)).toMatchObject({ status: 400, body: { error: { code: malformed } } });
  });

  it('closes a connection that never sends its headers, and answers a slow body with 408', async () => {
    const server = await start(LIMITS);
    const began = Date.now();
    const idle = await raw(server.port, '', 5000);
    expect(idle.closed).toBe(true);
    expect(Date.now() - began).toBeLessThan(4000);
    const slow = await raw(
      server.port,
      'POST /v1/requests/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
      5000,
    );
    expect(slow.closed).toBe(true);
    // An early answer (401 before the body is read) may come first; the last one is the 408.
    const last = slow.text.slice(slow.text.lastIndexOf('HTTP/1.1 '));
    expect(parse(last)).toMatchObject({ status: 408, body: { error: { code: timeout } } });
  });

  it('holds at most maxConnections connections; the others are closed at once', async () => {
    const server = await start({ ...LIMITS, headersTimeoutMs: 5000, requestTimeoutMs: 5000 });
    const sockets: net.Socket[] = [];
    for (let i = 0; i < LIMITS.maxConnections; i++) {
      const socket = net.connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      sockets.push(socket);
      await once(socket, 'connect');
    }
    await new Promise((resolve) => setImmediate(resolve));
    const extra = await raw(server.port, '', 3000);
    expect(extra).toEqual({ text: '', closed: true });
    for (const socket of sockets) socket.destroy();
  });
});

describe('a plain Node server (the proxy) with the listener limits', () => {
  it('closes a connection that sent no complete request head within headersTimeoutMs, and serves one that did', async () => {
    const { createServer } = await import('node:http');
    const { applyListenerLimits } = await import('../../../src/api/http-limits.js');
    const server = createServer((_request, response) => response.end('ok'));
    applyListenerLimits(server, { ...LIMITS, headersTimeoutMs: 300 });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => new Promise((resolve) => server.close(resolve)));
    const port = (server.address() as net.AddressInfo).port;
    const began = Date.now();
    const [idle, partial] = await Promise.all([
      raw(port, '', 5000),
      raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n', 5000),
    ]);
    expect([idle.closed, partial.closed]).toEqual([true, true]);
    // Node's own check runs every 30 s on a server created without options: this is ours.
    expect(Date.now() - began).toBeLessThan(3000);
    const served = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 5000);
    expect(served.text).toContain('\r\n\r\nok');
  });
});

describe('secrets in URLs', () => {
  it('never logs a query parameter value, whatever its name', async () => {
    expect(loggableUrl('/v1/batches?token=s3cret&access_token=abc&from=1')).toBe(
      '/v1/batches?token=[redacted]&access_token=[redacted]&from=[redacted]',
    );
  });

  it('leaves a token sent as a query parameter out of the API request log', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = (await import('pino')).pino({ level: 'debug' }, sink);
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const index = new LedgerIndex(dir);
    await index.build();
    const server = await createApiServer({
      index,
      ledgerDir: dir,
      keys: apiKeys(),
      health: () => ({ ready: true, detail: {} }),
      listen: { host: '127.0.0.1', port: 0 },
      logger,
    });
    cleanups.push(() => server.close());
    await (await fetch(`${server.url}/v1/batches?token=s3cret-value`)).arrayBuffer();
    await expect.poll(() => lines.join('')).toContain('API_REQUEST');
    expect(lines.join('')).not.toContain('s3cret-value');
  });
});

describe('file descriptor budget', () => {
  it('lowers connections per listener so the listeners leave the reserve free', () => {
    expect(connectionBudget(1024, [1, 1, 2], 256, 1024)).toEqual({ perListener: 192, lowered: true });
    expect(connectionBudget(100, [1, 2], 256, 65_536)).toEqual({ perListener: 100, lowered: false });
    expect(connectionBudget(100, [1], 256, null)).toEqual({ perListener: 100, lowered: false });
  });

  it('reads the open-file limit from /proc/self/limits', () => {
    const text =
      'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n';
    expect(openFileLimit(text)).toBe(1024);
    expect(openFileLimit('Max open files            unlimited            unlimited            files\n')).toBe(
      Number.MAX_SAFE_INTEGER,
    );
  });
});
