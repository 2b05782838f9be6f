import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Child process of the `proxy` bench group: a loopback OpenAI-style inference server.
 * `POST /v1/chat/completions` with `stream: true` streams CHUNKS chat chunks INTERVAL_MS apart
 * (one write each), then, when the request set `stream_options.include_usage`, the usage chunk,
 * then `data: [DONE]`; without `stream` it answers one JSON completion after JSON_DELAY_MS.
 * Every content chunk carries `"t":<µs>`, its send time on CLOCK_MONOTONIC (system-wide on Linux),
 * so the load generator can time each chunk's delivery. Reports `{ type: 'ready', port }` over IPC.
 *
 * argv: CHUNKS INTERVAL_MS JSON_DELAY_MS
 */

const CHUNKS = Number(process.argv[2] ?? 64);
const INTERVAL_MS = Number(process.argv[3] ?? 5);
const JSON_DELAY_MS = Number(process.argv[4] ?? 20);
const HEAD =
  '{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model"';
const USAGE = `{"prompt_tokens":12,"completion_tokens":${CHUNKS},"total_tokens":${12 + CHUNKS}}`;

const nowMicros = (): number => Number(process.hrtime.bigint() / 1000n);

function contentChunk(index: number): string {
  const finish = index === CHUNKS - 1 ? '"stop"' : 'null';
  return `data: ${HEAD},"t":${nowMicros()},"choices":[{"index":0,"delta":{"content":"tok${index} "},"finish_reason":${finish}}]}\n\n`;
}

function stream(res: http.ServerResponse, includeUsage: boolean): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  let index = 0;
  const next = (): void => {
    if (res.destroyed) return;
    if (index < CHUNKS) {
      res.write(contentChunk(index));
      index += 1;
      setTimeout(next, INTERVAL_MS);
      return;
    }
    const usage = includeUsage ? `data: ${HEAD},"choices":[],"usage":${USAGE}}\n\n` : '';
    res.end(`${usage}data: [DONE]\n\n`);
  };
  next();
}

function complete(res: http.ServerResponse): void {
  setTimeout(() => {
    const body = `{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"${'tok '.repeat(CHUNKS)}"},"finish_reason":"stop"}],"usage":${USAGE}}`;
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }, JSON_DELAY_MS);
}

const server = http.createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (part: Buffer) => parts.push(part));
  req.on('end', () => {
    if (req.method !== 'POST' || req.url !== '/v1/chat/completions') {
      res.writeHead(404, { 'content-length': 0 }).end();
      return;
    }
    const request = JSON.parse(Buffer.concat(parts).toString('utf8')) as {
      stream?: boolean;
      stream_options?: { include_usage?: boolean };
    };
    if (request.stream === true) stream(res, request.stream_options?.include_usage === true);
    else complete(res);
  });
});
// Proxies keep idle upstream connections between scenarios: never close them under their feet.
server.keepAliveTimeout = 300_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
process.on('message', (message: { type?: string }) => {
  if (message.type === 'exit') process.exit(0);
});
