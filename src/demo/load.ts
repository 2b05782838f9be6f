import type { DemoEngine } from './models.js';

/** The kinds of request in the demo's traffic, with their share and size ranges (tokens). */
export const REQUEST_MIX = [
  { kind: 'short-chat', percent: 70, prompt: [20, 300], output: [30, 250] },
  { kind: 'long-prompt', percent: 20, prompt: [1500, 6000], output: [80, 400] },
  { kind: 'reasoning', percent: 10, prompt: [50, 400], output: [800, 2000] },
] as const;

/** What the load generator has done so far. */
export interface LoadProgress {
  readonly sent: number;
  /** Ended with HTTP 200 and a complete stream. */
  readonly completed: number;
  readonly failed: number;
  /** Arrivals dropped because their model's queue was full. */
  readonly shed: number;
  readonly inFlight: number;
  readonly firstFailure: string | null;
}

/** Options of {@link DemoLoad}. */
export interface DemoLoadOptions {
  /** The measuring proxy's base URL: all traffic goes through it. */
  readonly proxyUrl: string;
  readonly engines: readonly DemoEngine[];
  /** Mean arrivals per second (Poisson). */
  readonly requestsPerSecond: number;
  readonly seed: number;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same traffic. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The entry whose cumulative `percent` range holds `roll` (0–100); the last one past the end. */
function pick<T extends { readonly percent: number }>(entries: readonly T[], roll: number): T {
  let below = 0;
  for (const entry of entries) {
    below += entry.percent;
    if (roll < below) return entry;
  }
  return entries.at(-1) as T;
}

const WORDS = 'the a energy token model answer question how why what measure watt joule grid light'.split(
  ' ',
);

/**
 * The demo's clients: Poisson arrivals of a realistic mix (short chats, long prompts,
 * reasoning-length answers) over the models by their traffic share, each a streamed chat
 * completion sent through the measuring proxy and read to the end. Each model takes at most its
 * engine's `maxInFlight` requests at once; the rest wait in a queue of 4× that, beyond which an
 * arrival is shed (counted), as a router in front of a busy engine would.
 */
export class DemoLoad {
  private readonly options: DemoLoadOptions;
  private readonly random: () => number;
  private readonly controller = new AbortController();
  private readonly queues = new Map<string, { running: number; waiting: (() => void)[] }>();
  private readonly pending = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private counts = { sent: 0, completed: 0, failed: 0, shed: 0 };
  private firstFailure: string | null = null;

  constructor(options: DemoLoadOptions) {
    this.options = options;
    this.random = prng(options.seed);
    for (const engine of options.engines) this.queues.set(engine.model, { running: 0, waiting: [] });
  }

  /** Starts sending. */
  start(): void {
    const next = (): void => {
      this.arrive();
      // Exponential inter-arrival time of a Poisson process.
      const gapMs = (-Math.log(1 - this.random()) * 1000) / this.options.requestsPerSecond;
      this.timer = setTimeout(next, Math.min(gapMs, 10_000));
    };
    next();
  }

  progress(): LoadProgress {
    let inFlight = 0;
    for (const queue of this.queues.values()) inFlight += queue.running;
    return { ...this.counts, inFlight, firstFailure: this.firstFailure };
  }

  /** Stops arrivals, cancels what is queued or streaming, and waits for every client to finish. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.controller.abort();
    for (const queue of this.queues.values()) for (const wake of queue.waiting.splice(0)) wake();
    await Promise.all(this.pending);
  }

  private arrive(): void {
    const engine = this.pickEngine();
    const queue = this.queues.get(engine.model);
    if (queue === undefined) return;
    if (queue.waiting.length >= engine.maxInFlight * 4) {
      this.counts.shed += 1;
      return;
    }
    const body = this.body(engine.model);
    const done = this.send(queue, engine.maxInFlight, body).finally(() => this.pending.delete(done));
    this.pending.add(done);
  }

  private pickEngine(): DemoEngine {
    const weighted = this.options.engines.map((engine) => ({ engine, percent: engine.trafficPercent }));
    return pick(weighted, this.random() * 100).engine;
  }

  private body(model: string): string {
    const kind = pick(REQUEST_MIX, this.random() * 100);
    const between = ([low, high]: readonly [number, number]) =>
      low + Math.floor(this.random() * (high - low));
    const words = Array.from(
      { length: between(kind.prompt) },
      () => WORDS[Math.floor(this.random() * WORDS.length)],
    );
    return JSON.stringify({
      model,
      messages: [{ role: 'user', content: words.join(' ') }],
      max_tokens: between(kind.output),
      stream: true,
    });
  }

  private async send(queue: { running: number; waiting: (() => void)[] }, max: number, body: string) {
    if (queue.running >= max) await new Promise<void>((resolve) => queue.waiting.push(resolve));
    if (this.controller.signal.aborted) return;
    queue.running += 1;
    this.counts.sent += 1;
    try {
      const response = await fetch(`${this.options.proxyUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: this.controller.signal,
      });
      const text = await response.text();
      if (response.status === 200 && text.includes('data: [DONE]')) this.counts.completed += 1;
      else this.fail(`HTTP ${response.status}: ${text.slice(0, 200)}`);
    } catch (error) {
      if (!this.controller.signal.aborted) this.fail(error instanceof Error ? error.message : String(error));
    } finally {
      queue.running -= 1;
      queue.waiting.shift()?.();
    }
  }

  private fail(reason: string): void {
    this.counts.failed += 1;
    this.firstFailure ??= reason;
  }
}
