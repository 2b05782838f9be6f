import { BATCH_PAYLOAD_TYPE, type WireAgent, type WireEvent } from '../attest/batch-format.js';
import { hexFromBytes, utf8FromString } from '../attest/bytes.js';
import { canonicalBytes, canonicalString } from '../attest/canonical.js';
import { signDsse } from '../attest/dsse.js';
import type { Signer } from '../attest/ed25519.js';
import { leafHash } from '../attest/merkle.js';
import type { NoteSigner } from '../attest/note.js';
import { sha256 } from '../attest/sha256.js';
import type { IntervalAllocation } from '../attribution/types.js';
import type { Clock } from '../clock.js';
import { describeError } from '../errors.js';
import type { MeterTick } from '../meter/types.js';
import type { DeviceInfo } from '../probes/types.js';
import { NANOS_PER_MILLI } from '../units.js';
import { buildBatchStatement, type WindowBounds } from './batch-builder.js';
import type { ChainState } from './chain-state.js';
import { writeCheckpoint } from './checkpoint-writer.js';
import { LedgerError } from './errors.js';
import { RecordBatch, type RecordLog, type RequestRecord } from './record-log.js';
import type { LedgerStore } from './store.js';
import { BatchWindow, type DeviceWindow } from './window.js';
import { type DeviceAttribution, startCarry } from './window-attribution.js';

export interface BatcherOptions {
  readonly store: LedgerStore;
  readonly records: RecordLog;
  readonly state: ChainState;
  readonly signer: Signer;
  readonly noteSigner: NoteSigner;
  readonly origin: string;
  readonly agent: WireAgent;
  readonly devices: readonly DeviceInfo[];
  readonly clock: Clock;
  readonly batchIntervalMs: number;
  readonly maxRecordsPerBatch: number;
  readonly checkpointEveryBatches: number;
  /** Events for the first batch of this run (agent start, key announcement). */
  readonly startEvents: readonly WireEvent[];
  /** The carbon/water factor snapshot every batch carries (`predicate.factors`); null when none is configured. */
  readonly factors?: Readonly<Record<string, unknown>> | null;
  /** Extra signers of the first batch of this run: the old key during a rotation. */
  readonly firstBatchCosigners?: readonly Signer[];
  /**
   * Devices whose energy the attributor splits (its engines' GPUs and host devices); their batches
   * carry the allocations given to `addAllocation`. Devices not listed, and `overlapping` ones, get
   * all of their energy as `unattributed`. Absent: nothing is attributed (method `none`).
   */
  readonly attributedDeviceIds?: ReadonlySet<string>;
  /** The attributor's `method`, named in every batch; required with `attributedDeviceIds`. */
  readonly attributionMethod?: string;
  readonly onSealed?: (sealed: SealedBatch) => void;
  /** A batch or checkpoint could not be written: once per outage for a batch (retries are silent). */
  readonly onError?: (error: unknown, sequence: bigint) => void;
  /** Back-off between write retries while the ledger cannot write; default {@link DEFAULT_RETRY}. */
  readonly retry?: RetryPolicy;
}

/** How the batcher retries a batch the file system refused (a full disk). */
export interface RetryPolicy {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** How long `stop()` keeps retrying before it gives up and rejects (`LEDGER_IO`). */
  readonly stopWaitMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { initialDelayMs: 250, maxDelayMs: 30_000, stopWaitMs: 10_000 };

/**
 * Whether the ledger takes writes. While it does not, the batcher holds what it has: the batch
 * that failed (retried with back-off) and the window that is open, which it does not seal until
 * writing works again, so nothing measured or acknowledged is lost and sequence numbers stay
 * contiguous. Intake should refuse new requests meanwhile (they would only be held too).
 */
export type WriteState =
  | { readonly writable: true; readonly outageMs?: number; readonly retries?: number }
  | {
      readonly writable: false;
      readonly error: unknown;
      readonly sinceUnixNanos: bigint;
      readonly heldBatches: number;
    };

/** What sealing one batch produced. */
export interface SealedBatch {
  readonly sequence: bigint;
  readonly line: string;
  readonly payloadSha256: string;
  readonly recordCount: number;
  readonly energyMicroJoules: bigint;
  readonly checkpoint: string | null;
}

/** A sealed window on its way to disk. */
interface PendingBatch {
  /** Set once the records are on disk, so that a retry does not write them twice. */
  recordsRootSha256?: string;
  readonly sequence: bigint;
  readonly bounds: WindowBounds;
  readonly windows: readonly DeviceWindow[];
  readonly attribution: ReadonlyMap<string, DeviceAttribution>;
  readonly records: RecordBatch;
  readonly events: readonly WireEvent[];
  readonly signers: readonly Signer[];
}

/**
 * Turns meter ticks (and request records) into signed, hash-chained batches: seals every
 * `batchIntervalMs` or `maxRecordsPerBatch` records, whichever comes first; appends each envelope
 * to the ledger (fsync'd) and publishes a checkpoint every `checkpointEveryBatches` batches and on
 * stop. Windows are swapped synchronously, so sequence numbers follow time; writing is serialised.
 *
 * With attribution, wire the attributor's `onAllocation` to `addAllocation` and `onRecord` to
 * `addRecord`, and on a clean stop call the attributor's `flush()` before `stop()`, so that the
 * last batch resolves everything still deferred.
 */
export class Batcher {
  private readonly o: BatcherOptions;
  private readonly attributionMethod: string;
  private window: BatchWindow;
  private unmatched = 0;
  private bounds: { startUnixNanos: bigint; startMonoNanos: bigint; downtimeNanos: bigint };
  private records: RecordBatch;
  private nextSequence: bigint;
  private previousSha256: string | null;
  private events: readonly WireEvent[];
  private cosigners: readonly Signer[];
  private writing: Promise<unknown> = Promise.resolve();
  private sinceCheckpoint = 0;
  private lastCheckpointSize: number;
  private readonly retry: RetryPolicy;
  private outage: { readonly error: unknown; readonly sinceUnixNanos: bigint; retries: number } | null = null;
  /** Batches sealed and not yet on disk. */
  private queued = 0;
  private stopDeadlineMono: bigint | null = null;
  private readonly abandoned: bigint[] = [];
  private readonly writeListeners = new Set<(state: WriteState) => void>();
  private wakeRetry: (() => void) | null = null;
  /** The probe whose ticks seal batches; null: any probe's. */
  private readonly pacingProbe: string | null;

  constructor(options: BatcherOptions) {
    this.o = options;
    const startUnix = options.clock.wallUnixNanos();
    const last = options.state.lastEndUnixNanos;
    const downtimeNanos = last !== null && startUnix > last ? startUnix - last : 0n;
    const startMonoNanos = options.clock.monoNanos();
    this.bounds = { startUnixNanos: startUnix, startMonoNanos, downtimeNanos };
    this.attributionMethod = methodOf(options);
    const carry = startCarry(attributedOf(options), options.state.outstandingDeferred);
    this.window = new BatchWindow(
      options.devices,
      options.state.counters,
      { startMonoNanos, downtimeNanos, firstOfRun: true, joinable: options.state.joinable },
      carry,
    );
    this.pacingProbe = options.devices.find((d) => d.powerLimitMilliWatts !== undefined)?.probe ?? null;
    this.nextSequence = options.state.nextSequence;
    this.records = new RecordBatch(this.nextSequence);
    this.previousSha256 = options.state.previousSha256;
    this.events = options.startEvents;
    this.cosigners = options.firstBatchCosigners ?? [];
    this.lastCheckpointSize = options.state.tree.size;
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  /** Whether the last write succeeded (true before the first). */
  get writable(): boolean {
    return this.outage === null;
  }

  /** Tells `listener` about each change between writable and not; returns an unsubscribe function. */
  onWriteState(listener: (state: WriteState) => void): () => void {
    this.writeListeners.add(listener);
    return () => this.writeListeners.delete(listener);
  }

  /**
   * Meter listener: adds the tick's intervals and seals when the window is old enough, at the
   * tick's own time, so that the window ends where the readings it holds end. It seals on a tick
   * of the pacing probe (the one whose devices have a power limit), so their intervals tile the
   * windows and none spans two; and the first window of a run waits until every counter it
   * carried has been read once, so the downtime is counted in the batch that declares it.
   * Returns the tick as the ledger counts it (see `BatchWindow.add`): feed that one to the
   * attributor, so requests are given only energy the ledger counts.
   */
  onTick(tick: MeterTick): MeterTick {
    const intervals = tick.intervals.map((interval) => this.window.add(interval));
    const counted = intervals.every((interval, i) => interval === tick.intervals[i])
      ? tick
      : { ...tick, intervals };
    this.sealIfDue(tick);
    return counted;
  }

  private sealIfDue(tick: MeterTick): void {
    const ageNanos = tick.unixNanos - this.bounds.startUnixNanos;
    const intervalNanos = BigInt(this.o.batchIntervalMs) * NANOS_PER_MILLI;
    // While the ledger cannot write, the window stays open (one longer batch later), not queued.
    if (ageNanos < intervalNanos || this.outage !== null) return;
    // Past the hold limit, seal anyway: a probe that never ticks must not stop the ledger.
    const overdue = ageNanos >= 2n * intervalNanos + MAX_SEAL_HOLD_NANOS;
    if (!overdue && this.pacingProbe !== null && tick.probe !== this.pacingProbe) return;
    if (!overdue && this.window.unjoinedDeviceIds.length > 0) return;
    this.seal({ monoNanos: tick.monoNanos, unixNanos: tick.unixNanos });
  }

  /** Adds a finished request's record; seals early when the batch is full. */
  addRecord(record: RequestRecord): void {
    this.records.add(record);
    if (this.records.count >= this.o.maxRecordsPerBatch && this.outage === null) this.seal();
  }

  /**
   * An interval split from the attributor (`onAllocation`). Fresh when its interval is in the
   * current window, resolved when it is a pending interval of an earlier one; see `window-attribution.ts`.
   */
  addAllocation(allocation: IntervalAllocation): void {
    this.window.attribution.allocate(allocation);
  }

  /** Allocations that matched no interval this batcher counted (should stay 0; for diagnostics). */
  get unmatchedAllocations(): number {
    return this.unmatched + this.window.attribution.unmatched;
  }

  /**
   * Seals the current window (even a short one) at `at`, by default now; resolves when it is on
   * disk.
   */
  seal(at?: { readonly monoNanos: bigint; readonly unixNanos: bigint }): Promise<unknown> {
    const endUnixNanos = at?.unixNanos ?? this.o.clock.wallUnixNanos();
    const endMonoNanos = at?.monoNanos ?? this.o.clock.monoNanos();
    const bounds: WindowBounds = { ...this.bounds, endUnixNanos, endMonoNanos };
    this.window.finish();
    const windows = [...this.window.devices.values()];
    const { accounts, next } = this.window.attribution.close(windows);
    this.unmatched += this.window.attribution.unmatched;
    const batch: PendingBatch = {
      sequence: this.nextSequence++,
      bounds,
      windows,
      attribution: accounts,
      records: this.records,
      events: this.events,
      signers: [this.o.signer, ...this.cosigners],
    };
    const carried = new Map(windows.map((w) => [w.device.id, w.counterEndMicroJoules] as const));
    this.window = new BatchWindow(
      this.o.devices,
      carried,
      { startMonoNanos: endMonoNanos, downtimeNanos: 0n, firstOfRun: false },
      next,
    );
    this.bounds = { startUnixNanos: endUnixNanos, startMonoNanos: bounds.endMonoNanos, downtimeNanos: 0n };
    this.records = new RecordBatch(this.nextSequence);
    this.events = [];
    this.cosigners = [];
    this.queued += 1;
    this.writing = this.writing.then(() => this.writeWithRetry(batch));
    return this.writing;
  }

  /**
   * Seals what is left, publishes a final checkpoint, and waits for every write. While the ledger
   * cannot write it keeps retrying for `retry.stopWaitMs` (cut short by {@link hurry}), then
   * rejects with `LEDGER_IO` naming the batches that are not on disk.
   */
  async stop(): Promise<void> {
    this.stopDeadlineMono = this.o.clock.monoNanos() + BigInt(this.retry.stopWaitMs) * NANOS_PER_MILLI;
    await this.seal();
    const tree = this.o.state.tree;
    if (tree.size > this.lastCheckpointSize && this.abandoned.length === 0) {
      let failed: unknown = null;
      this.writing = this.writing.then(() =>
        this.checkpoint().catch((error: unknown) => {
          failed = error;
        }),
      );
      await this.writing;
      // Every batch is on disk, but the stop's checkpoint is not: the run did not end cleanly.
      if (failed !== null)
        throw new LedgerError(
          'LEDGER_IO',
          `the final checkpoint of ledger ${this.o.store.dir} could not be written: ${describeError(failed)}`,
          {
            cause: failed,
            hint: 'every batch is in the ledger; free space or fix the disk, and the next run publishes a checkpoint covering them',
            details: { dir: this.o.store.dir },
          },
        );
    }
    if (this.abandoned.length > 0) {
      const list = this.abandoned.join(', ');
      throw new LedgerError(
        'LEDGER_IO',
        `the last batch could not be written: batch(es) ${list} are not in ledger ${this.o.store.dir}: ${describeError(this.outage?.error)}`,
        {
          hint: 'free space on the ledger volume; the energy of that time is missing from the ledger and the next run records the downtime',
          details: { dir: this.o.store.dir, batches: list },
        },
      );
    }
  }

  /** Stops waiting between retries during `stop()` (a second SIGTERM): one last try, then give up. */
  hurry(): void {
    if (this.stopDeadlineMono === null) return;
    this.stopDeadlineMono = this.o.clock.monoNanos();
    this.wakeRetry?.();
  }

  /** Writes `batch`, retrying file-system failures with back-off; see {@link WriteState}. */
  private async writeWithRetry(batch: PendingBatch): Promise<void> {
    if (this.abandoned.length > 0) {
      // Never a batch after one that is missing: the chain would skip a sequence number.
      this.queued -= 1;
      this.abandoned.push(batch.sequence);
      return;
    }
    for (let attempt = 0; ; attempt++) {
      try {
        await this.write(batch);
        this.queued -= 1;
        if (this.outage !== null) {
          const outageMs = Number(
            (this.o.clock.wallUnixNanos() - this.outage.sinceUnixNanos) / NANOS_PER_MILLI,
          );
          const retries = this.outage.retries;
          this.outage = null;
          this.tell({ writable: true, outageMs, retries });
        }
        return;
      } catch (error) {
        if (!isRetryable(error)) {
          this.queued -= 1;
          this.o.onError?.(error, batch.sequence);
          return;
        }
        if (this.outage === null) {
          this.outage = { error, sinceUnixNanos: this.o.clock.wallUnixNanos(), retries: 0 };
          this.o.onError?.(error, batch.sequence);
          this.tell({
            writable: false,
            error,
            sinceUnixNanos: this.outage.sinceUnixNanos,
            heldBatches: this.queued,
          });
        }
        this.outage.retries += 1;
        if (this.stopDeadlineMono !== null && this.o.clock.monoNanos() >= this.stopDeadlineMono) {
          this.queued -= 1;
          this.abandoned.push(batch.sequence);
          return;
        }
        await this.backOff(attempt);
        await Promise.allSettled([this.o.store.recover(), this.o.records.recover()]);
      }
    }
  }

  /** Waits before retry `attempt` (doubling, capped), no longer than a stop allows. */
  private backOff(attempt: number): Promise<void> {
    let delayMs = Math.min(this.retry.maxDelayMs, this.retry.initialDelayMs * 2 ** Math.min(attempt, 20));
    if (this.stopDeadlineMono !== null) {
      const leftMs = Number((this.stopDeadlineMono - this.o.clock.monoNanos()) / NANOS_PER_MILLI);
      delayMs = Math.max(0, Math.min(delayMs, leftMs));
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wakeRetry = null;
        resolve();
      };
      const timer = setTimeout(done, delayMs);
      this.wakeRetry = done;
    });
  }

  private tell(state: WriteState): void {
    for (const listener of this.writeListeners) {
      try {
        listener(state);
      } catch {
        // A listener's failure must not stop the ledger.
      }
    }
  }

  private async write(batch: PendingBatch): Promise<void> {
    const { sequence, records, signers } = batch;
    batch.recordsRootSha256 ??= (await this.o.records.appendBatch(sequence, records)).merkleRootSha256;
    const statement = buildBatchStatement(
      {
        origin: this.o.origin,
        sequence,
        previousSha256: this.previousSha256,
        agent: this.o.agent,
        bounds: batch.bounds,
        requests: {
          count: records.count,
          merkleRootSha256: batch.recordsRootSha256,
          attributionMethod: this.attributionMethod,
        },
        factors: this.o.factors ?? null,
        events: batch.events,
      },
      batch.windows,
      batch.attribution,
    );
    const payload = canonicalBytes(statement);
    const line = canonicalString(signDsse(BATCH_PAYLOAD_TYPE, payload, signers));
    await this.o.store.append(line);
    this.o.state.tree.appendLeafHash(leafHash(utf8FromString(line)));
    this.previousSha256 = hexFromBytes(sha256(payload));
    this.sinceCheckpoint += 1;
    // The batch is in the ledger now: a checkpoint that fails is reported and tried again after
    // the next batch, never a reason to write this batch a second time.
    let checkpoint: string | null = null;
    if (this.sinceCheckpoint >= this.o.checkpointEveryBatches) {
      try {
        checkpoint = await this.checkpoint();
      } catch (error) {
        this.o.onError?.(error, sequence);
      }
    }
    this.o.onSealed?.({
      sequence,
      line,
      payloadSha256: this.previousSha256,
      recordCount: records.count,
      energyMicroJoules: BigInt(statement.predicate.totals.energyMicroJoules),
      checkpoint,
    });
  }

  private async checkpoint(): Promise<string> {
    const tree = this.o.state.tree;
    const note = await writeCheckpoint(
      this.o.store.dir,
      this.o.origin,
      tree.size,
      tree.root(),
      this.o.noteSigner,
    );
    this.sinceCheckpoint = 0;
    this.lastCheckpointSize = tree.size;
    return note;
  }
}

/** File-system failures are retried (the disk may be freed); anything else is a bug, reported once. */
function isRetryable(error: unknown): boolean {
  return error instanceof LedgerError && error.code === 'LEDGER_IO';
}

/** How long past its due time a window may wait for the pacing probe or a first reading. */
const MAX_SEAL_HOLD_NANOS = 10_000_000_000n;

/** The attributed devices this batcher measures, `overlapping` ones left out (they double count). */
function attributedOf(options: BatcherOptions): ReadonlySet<string> {
  const listed = options.attributedDeviceIds ?? new Set<string>();
  return new Set(
    options.devices.filter((d) => listed.has(d.id) && d.accounting !== 'overlapping').map((d) => d.id),
  );
}

/** The method named in batches: the attributor's with attribution on, `none` without. */
function methodOf(options: BatcherOptions): string {
  if (options.attributedDeviceIds === undefined) return 'none';
  if (!options.attributionMethod) throw new TypeError('attributedDeviceIds needs an attributionMethod');
  return options.attributionMethod;
}
