import type { Arrival } from './scenarios.js';

/** What the load generator saw of its requests. */
export interface LoadOutcome {
  readonly sent: number;
  /** Requests that did not end with HTTP 200 and a complete stream. */
  readonly failed: number;
  readonly firstFailure: string | null;
}

/**
 * The clients of a scenario: each arrival becomes a streamed chat completion sent through the
 * proxy, its body read to the end. Clients do not ask for usage: the proxy injects
 * `stream_options.include_usage`, as it does in production.
 */
export class LoadClient {
  private readonly baseUrl: string;
  private readonly pending: Array<Promise<string | null>> = [];

  constructor(baseUrl: string) {
    this.baseUrl = baseUrl;
  }

  /** Requests sent so far. */
  get sent(): number {
    return this.pending.length;
  }

  /** Sends one request now (it completes in the background). */
  send(arrival: Arrival): void {
    this.pending.push(sendOne(this.baseUrl, arrival));
  }

  /** Waits for every request sent and says how they went. */
  async outcome(): Promise<LoadOutcome> {
    const failures = (await Promise.all(this.pending)).filter((failure) => failure !== null);
    return { sent: this.pending.length, failed: failures.length, firstFailure: failures[0] ?? null };
  }
}

/** One request; resolves to null on success, else a description of the failure. */
async function sendOne(baseUrl: string, arrival: Arrival): Promise<string | null> {
  try {
    const response = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: arrival.model,
        messages: [{ role: 'user', content: 'w '.repeat(arrival.promptTokens).trimEnd() }],
        max_tokens: arrival.outputTokens,
        stream: true,
      }),
    });
    const text = await response.text();
    if (response.status !== 200) return `HTTP ${response.status}: ${text.slice(0, 200)}`;
    return text.includes('data: [DONE]') ? null : 'stream ended without [DONE]';
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
