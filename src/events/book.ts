import type { MonoNanos } from '../units.js';
import { EventApiError } from './errors.js';

/**
 * What the event API remembers of the requests it was told about, so that it can answer retries
 * (idempotency), refuse conflicting repeats and bound the open requests. It is separate from the
 * attribution tracker on purpose: the sink is fire-and-forget (`void`), and the API must know
 * before calling it whether an event is new, a repeat or a conflict.
 *
 * Memory is bounded: at most `maxInFlight` open requests, and the last `endedMemory` ended ones
 * (older ended ids are forgotten; a repeat of those answers "unknown request").
 */

/** Content of a start, progress or end as sent (times as given, defaults left out). */
export type Fingerprint = string;

interface OpenEntry {
  readonly start: Fingerprint;
  /** Latest event time of the request (start or progress), on the monotonic clock. */
  lastMono: MonoNanos;
  lastTokens: number;
  lastProgress: Fingerprint | null;
  /** When the server last heard of the request (receive time), for idle expiry. */
  touchedMono: MonoNanos;
}

interface EndedEntry {
  readonly start: Fingerprint;
  readonly end: Fingerprint;
}

/** The end fingerprint of a request the server ended itself after `openTimeoutMs` of silence. */
const EXPIRED: Fingerprint = '(expired)';

/** Whether an event is new (to be delivered) or a repeat (answered, not delivered). */
export type Novelty = 'new' | 'duplicate';

/** An open request ended by {@link RequestBook.expire}: where its timeline stopped. */
export interface ExpiredRequest {
  readonly requestId: string;
  readonly lastMono: MonoNanos;
}

/** See the module comment. `check*` decide (and throw `EventApiError`); `record*` commit. */
export class RequestBook {
  /** Open requests, least recently heard of first (so expiry stops at the first fresh one). */
  private readonly open = new Map<string, OpenEntry>();
  /** Ended requests, oldest first (so the oldest is forgotten first). */
  private readonly ended = new Map<string, EndedEntry>();

  constructor(private readonly limits: { readonly maxInFlight: number; readonly endedMemory: number }) {}

  /** Number of open requests. */
  get openCount(): number {
    return this.open.size;
  }

  /** True when a new start would exceed `maxInFlight`. */
  get full(): boolean {
    return this.open.size >= this.limits.maxInFlight;
  }

  /** A start: new, a repeat of the same start, or a conflict (409) / over the bound (429). */
  checkStart(requestId: string, start: Fingerprint): Novelty {
    const known = this.open.get(requestId) ?? this.ended.get(requestId);
    if (known !== undefined) {
      if (known.start === start) return 'duplicate';
      throw new EventApiError(
        'EVENTS_CONFLICT',
        `request ${requestId} was already started with other content`,
      );
    }
    if (this.full)
      throw new EventApiError(
        'EVENTS_TOO_MANY_IN_FLIGHT',
        `${this.limits.maxInFlight} requests are open already; end some, then retry`,
        { retryAfterSeconds: 1 },
      );
    return 'new';
  }

  recordStart(requestId: string, start: Fingerprint, mono: MonoNanos, now: MonoNanos): void {
    this.open.set(requestId, { start, lastMono: mono, lastTokens: 0, lastProgress: null, touchedMono: now });
  }

  /** Progress: new, a repeat of the last progress, or 404 / 409 (ended, or going backwards). */
  checkProgress(requestId: string, progress: Fingerprint, mono: MonoNanos, tokens: number): Novelty {
    const entry = this.openEntry(requestId, 'EVENTS_REQUEST_ENDED');
    if (entry.lastProgress === progress) return 'duplicate';
    // Counts are cumulative and time moves forward: anything else is an old event arriving late.
    if (tokens < entry.lastTokens)
      throw new EventApiError(
        'EVENTS_OUT_OF_ORDER',
        `outputTokens ${tokens} is below the ${entry.lastTokens} already reported; counts are cumulative`,
      );
    if (mono < entry.lastMono)
      throw new EventApiError('EVENTS_OUT_OF_ORDER', 'the time is before the latest event of this request');
    return 'new';
  }

  recordProgress(
    requestId: string,
    progress: Fingerprint,
    mono: MonoNanos,
    tokens: number,
    now: MonoNanos,
  ): void {
    const entry = this.open.get(requestId);
    if (entry === undefined) return;
    Object.assign(entry, { lastMono: mono, lastTokens: tokens, lastProgress: progress, touchedMono: now });
    // Re-insert: the map stays ordered by last contact.
    this.open.delete(requestId);
    this.open.set(requestId, entry);
  }

  /** An end: new, a repeat of the same end, or 404 / 409 (a different end, or expired). */
  checkEnd(requestId: string, end: Fingerprint): Novelty {
    const ended = this.ended.get(requestId);
    if (ended?.end === end) return 'duplicate';
    if (ended?.end === EXPIRED)
      throw new EventApiError(
        'EVENTS_CONFLICT',
        `request ${requestId} was ended by the server after a silence`,
      );
    if (ended !== undefined)
      throw new EventApiError('EVENTS_CONFLICT', `request ${requestId} already ended with other content`);
    this.openEntry(requestId, 'EVENTS_CONFLICT');
    return 'new';
  }

  recordEnd(requestId: string, end: Fingerprint): void {
    const entry = this.open.get(requestId);
    if (entry === undefined) return;
    this.open.delete(requestId);
    this.remember(requestId, { start: entry.start, end });
  }

  /** Ends every open request now (the daemon stops); the caller reports them. */
  endAll(): ExpiredRequest[] {
    return this.expire(null);
  }

  /** Ends every open request not heard of since `before` (receive time); the caller reports them. */
  expire(before: MonoNanos | null): ExpiredRequest[] {
    const expired: ExpiredRequest[] = [];
    for (const [requestId, entry] of this.open) {
      if (before !== null && entry.touchedMono >= before) break;
      this.open.delete(requestId);
      this.remember(requestId, { start: entry.start, end: EXPIRED });
      expired.push({ requestId, lastMono: entry.lastMono });
    }
    return expired;
  }

  private openEntry(requestId: string, endedCode: 'EVENTS_REQUEST_ENDED' | 'EVENTS_CONFLICT'): OpenEntry {
    const entry = this.open.get(requestId);
    if (entry !== undefined) return entry;
    if (this.ended.has(requestId)) throw new EventApiError(endedCode, `request ${requestId} has ended`);
    throw new EventApiError(
      'EVENTS_UNKNOWN_REQUEST',
      `no open request ${requestId}; send its start first (POST /v1/requests/start)`,
    );
  }

  private remember(requestId: string, entry: EndedEntry): void {
    this.ended.set(requestId, entry);
    if (this.ended.size > this.limits.endedMemory) {
      const oldest = this.ended.keys().next().value as string;
      this.ended.delete(oldest);
    }
  }
}
