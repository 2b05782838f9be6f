/** Most waits pending at once by default: far above any realistic number of requests in flight. */
export const DEFAULT_MAX_PENDING_WAITS = 65_536;

interface Waiter<T> {
  readonly resolve: (value: T | undefined) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * Where the proxy waits for a request's record (inline energy): a wait is registered before the
 * request's `end` event is emitted, and the pipeline's `onRecord` delivers to it. Bounded: at most
 * `maxPending` waits at once (beyond that a wait resolves `undefined` at once), each removed when
 * its record arrives or its time runs out, so nothing is kept for records no one waits for.
 */
export class RecordWaiters<T> {
  private readonly maxPending: number;
  private readonly waiters = new Map<string, Waiter<T>>();

  constructor(maxPending: number = DEFAULT_MAX_PENDING_WAITS) {
    this.maxPending = maxPending;
  }

  /** Waits currently pending. */
  get pending(): number {
    return this.waiters.size;
  }

  /**
   * Resolves with what {@link deliver} makes for `requestId`, or `undefined` after `maxWaitMs`
   * (also at once when the registry is full or someone already waits for that id). Never rejects.
   */
  wait(requestId: string, maxWaitMs: number): Promise<T | undefined> {
    if (this.waiters.size >= this.maxPending || this.waiters.has(requestId))
      return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters.delete(requestId);
        resolve(undefined);
      }, maxWaitMs);
      this.waiters.set(requestId, { resolve, timer });
    });
  }

  /**
   * Hands a record to whoever waits for `requestId`; `make` runs only then, so records no one waits
   * for cost one map lookup. A throwing `make` resolves the wait with `undefined` (the client then
   * gets `status: "pending"`); the error never reaches the record's producer.
   */
  deliver(requestId: string, make: () => T): void {
    const waiter = this.waiters.get(requestId);
    if (waiter === undefined) return;
    this.waiters.delete(requestId);
    clearTimeout(waiter.timer);
    let value: T | undefined;
    try {
      value = make();
    } catch {
      value = undefined;
    }
    waiter.resolve(value);
  }

  /** Resolves every pending wait with `undefined` (shutdown). */
  clear(): void {
    for (const waiter of this.waiters.values()) {
      clearTimeout(waiter.timer);
      waiter.resolve(undefined);
    }
    this.waiters.clear();
  }
}
