import type { RequestUsage } from '../requests/types.js';
import { type SseEvent, SseParser } from './sse.js';
import { type StreamStep, StreamUsageTracker, type UsageOperation } from './usage.js';

/** Progress as the tap reports it: cumulative output tokens, estimated or reported. */
export type ProgressListener = (outputTokens: number, estimated: boolean) => void;

/**
 * Watches a streamed (SSE) response on its way to the client. Without `dropUsageChunk` every
 * chunk is returned as is, at once. With it (we injected `include_usage`), the usage chunk the
 * client did not ask for is cut out; to know whether an event is that chunk the tap holds back
 * the bytes of at most one incomplete event, and forwards everything else as it arrives.
 *
 * Fail open: if observation throws (a parser limit, a bug), the error goes to `onError`, the held
 * bytes are returned unaltered and every later chunk is passed straight through.
 */
export class SseTap {
  private readonly parser = new SseParser();
  private readonly tracker: StreamUsageTracker;
  private readonly dropUsageChunk: boolean;
  private readonly onProgress: ProgressListener;
  private readonly onError: (error: unknown) => void;
  private broken = false;
  /** Bytes received but not yet forwarded (drop mode only), starting at offset `base`. */
  private held: Buffer[] = [];
  private base = 0;
  private drops: Array<readonly [number, number]> = [];
  private readonly onEvent = (event: SseEvent): void => this.observe(event);

  constructor(
    operation: UsageOperation,
    dropUsageChunk: boolean,
    onProgress: ProgressListener,
    onError: (error: unknown) => void,
  ) {
    this.tracker = new StreamUsageTracker(operation);
    this.dropUsageChunk = dropUsageChunk;
    this.onProgress = onProgress;
    this.onError = onError;
  }

  /** The last usage the stream reported. */
  get usage(): RequestUsage | undefined {
    return this.tracker.usage;
  }

  /** Whether the stream carried an error event. */
  get failed(): boolean {
    return this.tracker.failed;
  }

  /** Takes one upstream chunk; returns what to forward now (possibly empty). */
  push(chunk: Buffer): Buffer {
    if (this.broken) return chunk;
    if (this.dropUsageChunk) this.held.push(chunk);
    try {
      this.parser.push(chunk, this.onEvent);
      return this.dropUsageChunk ? this.forwardUpTo(this.parser.settledOffset) : chunk;
    } catch (error) {
      return this.fail(error, chunk);
    }
  }

  /** The upstream body ended: returns the bytes still held (an unterminated last event). */
  finish(): Buffer {
    if (this.broken) return Buffer.alloc(0);
    try {
      this.parser.finish(this.onEvent);
      return this.dropUsageChunk ? this.forwardUpTo(this.base + this.heldBytes()) : Buffer.alloc(0);
    } catch (error) {
      return this.fail(error, Buffer.alloc(0));
    }
  }

  /** The upstream failed mid-stream: everything held, unaltered; the tap is spent. */
  release(): Buffer {
    this.broken = true;
    const rest = Buffer.concat(this.held);
    this.held = [];
    this.drops = [];
    return rest;
  }

  private fail(error: unknown, chunk: Buffer): Buffer {
    this.onError(error);
    // In drop mode `chunk` is already among the held bytes; otherwise nothing is held.
    const held = this.release();
    return this.dropUsageChunk ? held : chunk;
  }

  private observe(event: SseEvent): void {
    const step: StreamStep = this.tracker.observe(event);
    if (step.usageChunk && this.dropUsageChunk) this.drops.push([event.start, event.end]);
    if (step.progress !== undefined) this.onProgress(step.progress.outputTokens, step.progress.estimated);
  }

  private heldBytes(): number {
    let total = 0;
    for (const part of this.held) total += part.length;
    return total;
  }

  /** Returns the held bytes before absolute offset `until`, minus dropped events; keeps the rest. */
  private forwardUpTo(until: number): Buffer {
    if (until <= this.base) return Buffer.alloc(0);
    const all = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    const cut = until - this.base;
    const out: Buffer[] = [];
    let from = 0;
    for (const [start, end] of this.drops) {
      out.push(all.subarray(from, start - this.base));
      from = end - this.base;
    }
    out.push(all.subarray(from, cut));
    this.drops = [];
    this.held = cut < all.length ? [all.subarray(cut)] : [];
    this.base = until;
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}
