import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { SimulatedEngine } from './engine.js';

/** Options of {@link createChatServer}. */
export interface ChatServerOptions {
  readonly engine: SimulatedEngine;
  /**
   * Whether the server reports usage: the `stream_options.include_usage` chunk when asked, and
   * `usage` in non-streamed bodies. `false` imitates servers that never report it.
   */
  readonly reportUsage: boolean;
  /** Counters the harness reads to know when the proxy has seen everything the server sent. */
  readonly activity: ChatServerActivity;
}

/** What the server has done so far. */
export interface ChatServerActivity {
  /** Requests received whole (any route) and handled. */
  received: number;
  /** Token chunks written to streams. */
  chunks: number;
  /** Responses closed (streams and plain bodies, errors and aborts included). */
  ended: number;
}

type Json = Record<string, unknown>;

/** A parsed chat request: what the engine needs. */
interface ChatRequest {
  readonly model: string;
  readonly promptTokens: number;
  readonly outputTokens: number;
  readonly stream: boolean;
  readonly includeUsage: boolean;
}

/**
 * An OpenAI-compatible `POST /v1/chat/completions` server in front of a {@link SimulatedEngine}.
 * Prompt tokens are whitespace-separated words of the messages' text; the reply is exactly
 * `max_tokens` (or `max_completion_tokens`, default 16) tokens, one SSE chunk per token at the
 * moment the engine emits it (on the engine's clock). The request id is the proxy's
 * `x-request-id`, so the simulator's truth and the attributor's records share keys.
 */
export function createChatServer(options: ChatServerOptions): http.Server {
  return http.createServer((req, res) => {
    res.on('close', () => {
      options.activity.ended += 1;
    });
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      options.activity.received += 1;
      sendJson(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'not_found' } });
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      options.activity.received += 1;
      handleChat(options, req, res, Buffer.concat(chunks));
    });
    req.on('error', () => res.destroy());
  });
}

function handleChat(
  options: ChatServerOptions,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  body: Buffer,
): void {
  const chat = parseChat(body);
  if (typeof chat === 'string') {
    sendJson(res, 400, { error: { message: chat, type: 'invalid_request_error' } });
    return;
  }
  if (!options.engine.serves(chat.model)) {
    sendJson(res, 404, { error: { message: `model ${chat.model} does not exist`, type: 'not_found' } });
    return;
  }
  const header = req.headers['x-request-id'];
  const requestId = typeof header === 'string' && header.length > 0 ? header : randomUUID();
  const reply = chat.stream
    ? streamReply(res, requestId, chat, options)
    : bodyReply(res, requestId, chat, options.reportUsage);
  const cancel = options.engine.generate({ requestId, ...chat, onToken: reply });
  res.on('close', cancel);
}

/** Reads the fields the simulation needs; a string is the reason the body is refused. */
function parseChat(body: Buffer): ChatRequest | string {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return 'body is not JSON';
  }
  if (!isObject(json) || typeof json.model !== 'string') return 'model is required';
  if (!Array.isArray(json.messages)) return 'messages is required';
  const max = json.max_tokens ?? json.max_completion_tokens ?? 16;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 1) return 'max_tokens must be ≥ 1';
  const options = json.stream_options;
  return {
    model: json.model,
    promptTokens: countWords(json.messages),
    outputTokens: max,
    stream: json.stream === true,
    includeUsage: isObject(options) && options.include_usage === true,
  };
}

/** The simulation's tokenizer: one token per whitespace-separated word of every text content. */
function countWords(messages: unknown[]): number {
  let words = 0;
  for (const message of messages) {
    const content = isObject(message) ? message.content : undefined;
    if (typeof content === 'string') words += content.split(/\s+/).filter((w) => w.length > 0).length;
  }
  return words;
}

/** SSE: one chunk per token, then the usage chunk when asked for and reported, then `[DONE]`. */
function streamReply(res: http.ServerResponse, id: string, chat: ChatRequest, options: ChatServerOptions) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const base = { id: `chatcmpl-${id}`, object: 'chat.completion.chunk', created: nowSeconds() };
  return (index: number, last: boolean): void => {
    const delta = index === 1 ? { role: 'assistant', content: ' tok' } : { content: ' tok' };
    const choice = { index: 0, delta, finish_reason: last ? 'length' : null };
    let frames = `data: ${JSON.stringify({ ...base, model: chat.model, choices: [choice] })}\n\n`;
    if (last && chat.includeUsage && options.reportUsage) {
      const usage = usageOf(chat);
      frames += `data: ${JSON.stringify({ ...base, model: chat.model, choices: [], usage })}\n\n`;
    }
    if (last) frames += 'data: [DONE]\n\n';
    options.activity.chunks += 1;
    res.write(frames);
    if (last) res.end();
  };
}

/** A non-streamed reply: the whole completion once the last token is out. */
function bodyReply(res: http.ServerResponse, id: string, chat: ChatRequest, reportUsage: boolean) {
  return (_index: number, last: boolean): void => {
    if (!last) return;
    const message = { role: 'assistant', content: ' tok'.repeat(chat.outputTokens) };
    sendJson(res, 200, {
      id: `chatcmpl-${id}`,
      object: 'chat.completion',
      created: nowSeconds(),
      model: chat.model,
      choices: [{ index: 0, message, finish_reason: 'length' }],
      ...(reportUsage ? { usage: usageOf(chat) } : {}),
    });
  };
}

function usageOf(chat: ChatRequest) {
  return {
    prompt_tokens: chat.promptTokens,
    completion_tokens: chat.outputTokens,
    total_tokens: chat.promptTokens + chat.outputTokens,
  };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const bytes = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length });
  res.end(bytes);
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
