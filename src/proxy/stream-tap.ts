import type { RequestUsage } from '../requests/types.js';
import type { ChunkIdentity } from './inline-frame.js';
import { type SseEvent, SseParser } from './sse.js';
import {
  type StreamStep,
  type StreamUsageOptions,
  StreamUsageTracker,
  type UsageOperation,
} from './usage.js';

const EMPTY = Buffer.alloc(0);

/** Progress as the tap reports it: cumulative output tokens, estimated or reported. */
export type ProgressListener = (outputTokens: number, estimated: boolean) => void;

/**
 * Watches a streamed (SSE) response on its way to the client. Without `dropUsageChunk` every
 * chunk is returned as is, at once. With it (we injected `include_usage`), the usage chunk the
 * client did not ask for is cut out; to know whether an event is that chunk the tap holds back
 * the bytes of at most one incomplete event, and forwards everything else as it arrives.
 *
 * With `holdDone` (inline energy), the `data: [DONE]` event and everything after it are held too,
 * until {@link takeTail}: the proxy sends its own event before them. So is a usage chunk the client
 * asked for (it comes after the last content chunk), so that it stays the stream's last chunk.
 *
 * Fail open: if observation throws (a parser limit, a bug), the error goes to `onError`, the held
 * bytes are returned unaltered and every later chunk is passed straight through.
 */
export class SseTap {
  private readonly parser = new SseParser();
  private readonly tracker: StreamUsageTracker;
  private readonly dropUsageChunk: boolean;
  private readonly holdDone: boolean;
  /** Whether bytes are held at all (cutting, or holding [DONE]); else each chunk goes on at once. */
  private readonly holding: boolean;
  private readonly onProgress: ProgressListener;
  private readonly onError: (error: unknown) => void;
  private isBroken = false;
  /** Bytes received but not yet forwarded (drop mode only), starting at offset `base`. */
  private held: Buffer[] = [];
  private base = 0;
  private drops: Array<readonly [number, number]> = [];
  /** Absolute offset of the `[DONE]` event once seen (holdDone), else -1. */
  private doneAt = -1;
  private total = 0;
  private readonly onEvent = (event: SseEvent): void => this.observe(event);

  constructor(
    operation: UsageOperation,
    dropUsageChunk: boolean,
    onProgress: ProgressListener,
    onError: (error: unknown) => void,
    holdDone = false,
    usageOptions: StreamUsageOptions = {},
  ) {
    this.tracker = new StreamUsageTracker(operation, usageOptions);
    this.dropUsageChunk = dropUsageChunk;
    this.holdDone = holdDone;
    this.holding = dropUsageChunk || holdDone;
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

  /** Whether observation stopped (an error): the stream was passed on unobserved from there. */
  get broken(): boolean {
    return this.isBroken;
  }

  /** The first chat/completions chunk's id, object, created and model. */
  get identity(): ChunkIdentity | undefined {
    return this.tracker.identity;
  }

  /** The last Responses API event's `sequence_number`. */
  get lastSequenceNumber(): number | undefined {
    return this.tracker.lastSequenceNumber;
  }

  /** After {@link finish}: whether the stream ended on an event boundary (no partial line or event). */
  get endedCleanly(): boolean {
    return !this.isBroken && this.parser.settledOffset === this.total;
  }

  /** Takes one upstream chunk; returns what to forward now (possibly empty). */
  push(chunk: Buffer): Buffer {
    if (this.isBroken) return chunk;
    this.total += chunk.length;
    if (this.holding) this.held.push(chunk);
    try {
      this.parser.push(chunk, this.onEvent);
      return this.holding ? this.forwardUpTo(this.capped(this.parser.settledOffset)) : chunk;
    } catch (error) {
      return this.fail(error, chunk);
    }
  }

  /**
   * The upstream body ended: returns the bytes still held (an unterminated last event), except, with
   * `holdDone`, the `[DONE]` event and what follows it ({@link takeTail}).
   */
  finish(): Buffer {
    if (this.isBroken) return EMPTY;
    try {
      this.parser.finish(this.onEvent);
      return this.holding ? this.forwardUpTo(this.capped(this.base + this.heldBytes())) : EMPTY;
    } catch (error) {
      return this.fail(error, EMPTY);
    }
  }

  /** After {@link finish}: the held `[DONE]` event and anything after it (empty without one). */
  takeTail(): Buffer {
    const tail = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    this.held = [];
    return tail;
  }

  /** The upstream failed mid-stream: everything held, unaltered; the tap is spent. */
  release(): Buffer {
    this.isBroken = true;
    const rest = Buffer.concat(this.held);
    this.held = [];
    this.drops = [];
    return rest;
  }

  private fail(error: unknown, chunk: Buffer): Buffer {
    this.onError(error);
    // In drop mode `chunk` is already among the held bytes; otherwise nothing is held.
    const held = this.release();
    return this.holding ? held : chunk;
  }

  /** Never forward past the held `[DONE]`. */
  private capped(offset: number): number {
    return this.doneAt >= 0 && offset > this.doneAt ? this.doneAt : offset;
  }

  private observe(event: SseEvent): void {
    if (this.doneAt < 0 && this.holdDone && event.data.startsWith('[DONE]')) {
      this.doneAt = event.start;
      return;
    }
    const step: StreamStep = this.tracker.observe(event);
    if (step.usageChunk && this.doneAt < 0) {
      if (this.dropUsageChunk) this.drops.push([event.start, event.end]);
      else if (this.holdDone) this.doneAt = event.start; // the client's own: keep it last
    }
    // After the held point nothing is cut: it all waits in the tail.
    if (step.progress !== undefined) this.onProgress(step.progress.outputTokens, step.progress.estimated);
  }

  private heldBytes(): number {
    let total = 0;
    for (const part of this.held) total += part.length;
    return total;
  }

  /** Returns the held bytes before absolute offset `until`, minus dropped events; keeps the rest. */
  private forwardUpTo(until: number): Buffer {
    if (until <= this.base) return EMPTY;
    const all = this.held.length === 1 ? this.held[0]! : Buffer.concat(this.held);
    const cut = until - this.base;
    if (this.drops.length === 0 && cut === all.length) {
      // The common case: the chunk ended on an event boundary and nothing is cut.
      this.held = [];
      this.base = until;
      return all;
    }
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
