import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import type { RequestUsage } from '../../src/requests/types.js';
import { FIXTURES } from './fixtures.js';

/**
 * A loopback inference server that replays the recorded responses in
 * `tests/fixtures/openai-sse/` (provenance: SOURCES.md, section "openai-sse/") exactly as
 * the real servers sent them, cut into chunks where a test says, and that can misbehave on
 * demand. It records every request it receives so tests can check what the proxy sent.
 */

export const OPENAI_SSE_DIR = `${FIXTURES}openai-sse/`;

/** One recorded response: status, headers (as recorded) and the exact body bytes. */
export interface RecordedResponse {
  readonly status: number;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
}

/**
 * Loads a fixture. `.sse`: raw body bytes. `.cassette.yaml`: the last interaction (hyperbolic's
 * first one is an unrelated HF Hub GET), body from `response.body.string`. `.chunks.json`: a
 * parsed client snapshot, re-framed as `data: <json>\n\n` events plus `data: [DONE]\n\n`, the
 * framing TGI uses (research §1.2) — not wire bytes, so tests never claim byte fidelity for it.
 * `.chunks.txt`: one chunk's `data` per line, as the client received it (vercel/ai's recordings),
 * re-framed the same way, each line's bytes kept.
 */
export function loadFixture(file: string): RecordedResponse {
  const bytes = readFileSync(OPENAI_SSE_DIR + file);
  const text = bytes.toString('utf8');
  if (file.endsWith('.sse'))
    return { status: 200, headers: [['content-type', 'text/event-stream']], body: bytes };
  if (file.endsWith('.chunks.txt')) {
    const lines = text.split('\n').filter((line) => line.length > 0);
    return {
      status: 200,
      headers: [['content-type', 'text/event-stream']],
      body: Buffer.from(`${lines.map((line) => `data: ${line}\n\n`).join('')}data: [DONE]\n\n`),
    };
  }
  if (file.endsWith('.chunks.json')) {
    const chunks = JSON.parse(text) as unknown[];
    const events = chunks.map((chunk) => `data: ${JSON.stringify(chunk)}\n\n`).join('');
    return {
      status: 200,
      headers: [['content-type', 'text/event-stream']],
      body: Buffer.from(`${events}data: [DONE]\n\n`),
    };
  }
  const interaction = (parse(text) as { interactions: Cassette[] }).interactions.at(-1)!;
  const headers: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(interaction.response.headers)) {
    // Framing belongs to the recorded connection; Node frames the replay (Content-Length is kept).
    if (/^(transfer-encoding|connection|keep-alive)$/i.test(name)) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.push([name, String(one)]);
  }
  const body = Buffer.from(interaction.response.body.string, 'utf8');
  return { status: interaction.response.status.code, headers, body };
}

interface Cassette {
  response: {
    status: { code: number };
    headers: Record<string, string | string[]>;
    body: { string: string };
  };
}

/** How to send a reply. */
export interface Reply {
  readonly status?: number;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  readonly body: Buffer;
  /** Chunk boundaries: `whole` (one write), a fixed size, or explicit cut offsets. */
  readonly split?: 'whole' | number | readonly number[];
  /** Pause before each chunk after the first. */
  readonly delayMs?: number;
  /** Pause before sending the status line. */
  readonly headersDelayMs?: number;
  /** Sent the first chunk, wait for this before the rest (to hold many streams open at once). */
  readonly holdAfterFirst?: Promise<void>;
  /** `reset`: destroy the socket after `failAfterBytes`; `truncate`: end the body cleanly there. */
  readonly fail?: 'reset' | 'truncate';
  readonly failAfterBytes?: number;
}

/** A request as the fake server received it. */
export interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** Whether the client (the proxy) closed the connection before the reply was finished. */
  aborted: boolean;
  /** Resolves when the reply finished or the client went away. */
  readonly done: Promise<void>;
}

/** Splits `body` into the chunks a reply writes. */
export function chunksOf(body: Buffer, split: Reply['split'] = 'whole'): Buffer[] {
  if (split === 'whole') return [body];
  const cuts =
    typeof split === 'number'
      ? Array.from({ length: body.length / split }, (_, i) => (i + 1) * split)
      : split;
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, body.length]) {
    if (cut > from) chunks.push(body.subarray(from, Math.min(cut, body.length)));
    from = Math.max(from, cut);
  }
  return chunks;
}

/** Splits an SSE body after every blank line: one write per event, as servers usually flush. */
export function eventSplits(body: Buffer): number[] {
  const cuts: number[] = [];
  for (let at = body.indexOf('\n\n'); at >= 0; at = body.indexOf('\n\n', at + 2)) cuts.push(at + 2);
  return cuts;
}

/** TGI's error shape (research §1.6): not OpenAI-shaped. */
const TGI_ERROR =
  '{"error":"Request failed during generation: CUDA out of memory","error_type":"generation"}';

/** A 500 as TGI sends it. */
export function tgiErrorReply(): Reply {
  return { status: 500, headers: [['content-type', 'application/json']], body: Buffer.from(TGI_ERROR) };
}

/** The fake server. `reply` decides each answer; it may be replaced between tests. */
export class FakeUpstream {
  readonly requests: ReceivedRequest[] = [];
  reply: (request: ReceivedRequest) => Reply | Promise<Reply>;
  private readonly server: http.Server;

  private constructor(reply: FakeUpstream['reply']) {
    this.reply = reply;
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  /** Starts a fake upstream on 127.0.0.1 with an ephemeral port. */
  static async start(reply: FakeUpstream['reply']): Promise<FakeUpstream> {
    const fake = new FakeUpstream(reply);
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The most recent request received. */
  get last(): ReceivedRequest {
    return this.requests.at(-1)!;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const parts: Buffer[] = [];
    for await (const part of req) parts.push(part as Buffer);
    let settle = (): void => {};
    const done = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const received: ReceivedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(parts),
      aborted: false,
      done,
    };
    this.requests.push(received);
    res.on('close', () => {
      if (!res.writableFinished) received.aborted = true;
      settle();
    });
    await send(res, await this.reply(received));
  }
}

async function send(res: http.ServerResponse, reply: Reply): Promise<void> {
  if (reply.headersDelayMs !== undefined) await sleep(reply.headersDelayMs);
  // A cut-short body cannot keep its recorded Content-Length (Node refuses the mismatch).
  const keep = ([name]: readonly [string, string]): boolean =>
    reply.failAfterBytes === undefined || name.toLowerCase() !== 'content-length';
  const headers = (reply.headers ?? []).filter(keep).flat();
  const chunks = chunksOf(reply.body.subarray(0, reply.failAfterBytes ?? reply.body.length), reply.split);
  if (res.destroyed) return;
  res.writeHead(reply.status ?? 200, headers);
  res.flushHeaders();
  for (const [index, chunk] of chunks.entries()) {
    if (index === 1 && reply.holdAfterFirst !== undefined) await reply.holdAfterFirst;
    if (index > 0 && reply.delayMs !== undefined) await sleep(reply.delayMs);
    if (res.destroyed) return;
    res.write(chunk);
  }
  if (reply.fail === 'reset') {
    await sleep(reply.delayMs ?? 5); // let the written bytes leave before the connection dies
    res.socket?.destroy();
    return;
  }
  res.end();
}

/** What each recorded fixture shows (SOURCES.md "openai-sse/"; counts read off the files). */
export interface FixtureCase {
  readonly file: string;
  readonly path: '/v1/chat/completions' | '/v1/embeddings' | '/v1/responses';
  readonly operation: 'chat' | 'embedding' | 'responses';
  readonly stream: boolean;
  /** Usage the server reported (none of these servers reported cached tokens). */
  readonly usage?: RequestUsage;
  /** Chunks (or `*.delta` events) that carry generated output. */
  readonly contentChunks: number;
  /** Whether the body holds an include_usage chunk (`choices: []` + usage). */
  readonly usageChunk: boolean;
  /** Usage on every chunk, cumulative (progress then counts the server's tokens). */
  readonly cumulative: boolean;
}

type Usage = readonly [input: number, output: number] | null;

function chatCase(
  file: string,
  contentChunks: number,
  usage: Usage,
  more: Partial<FixtureCase> = {},
): FixtureCase {
  const reported =
    usage === null ? {} : { usage: { inputTokens: usage[0], cachedInputTokens: 0, outputTokens: usage[1] } };
  const base = {
    path: '/v1/chat/completions',
    operation: 'chat',
    stream: true,
    usageChunk: false,
    cumulative: false,
  } as const;
  return { ...base, file, contentChunks, ...reported, ...more };
}

const WITH_USAGE_CHUNK = { usageChunk: true } as const;

export const FIXTURE_CASES: readonly FixtureCase[] = [
  chatCase('openai-gpt4o-chat-stream-include-usage.sse', 30, [14, 30], WITH_USAGE_CHUNK),
  chatCase('openai-gpt4o-chat-stream-n3-include-usage.sse', 42, [79, 42], WITH_USAGE_CHUNK),
  chatCase(
    'azure-openai-gpt4-32k-chat-stream-include-usage-prompt-filter.cassette.yaml',
    2,
    [24, 2],
    WITH_USAGE_CHUNK,
  ),
  chatCase('ollama-qwen2.5-0.5b-chat-stream-no-usage.cassette.yaml', 3, null),
  chatCase('ollama-all-minilm-embeddings.cassette.yaml', 0, [4, 0], {
    path: '/v1/embeddings',
    operation: 'embedding',
    stream: false,
  }),
  chatCase('tgi-1.4.3-chat-stream-nospace-nodone.cassette.yaml', 20, null),
  chatCase('tgi-3.0.1-chat-stream-usage-null-done.cassette.yaml', 20, null),
  chatCase('tgi-3.1.2-chat-stream-include-usage.chunks.json', 2, [39, 3], WITH_USAGE_CHUNK),
  chatCase('hyperbolic-chat-stream-per-chunk-cumulative-usage.cassette.yaml', 20, [46, 21], {
    cumulative: true,
  }),
  chatCase('openai-responses-api-stream-usage.cassette.yaml', 6, [53, 469], {
    path: '/v1/responses',
    operation: 'responses',
  }),
];
