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
import type { MeterTick } from '../meter/types.js';
import type { DeviceInfo } from '../probes/types.js';
import { NANOS_PER_MILLI } from '../units.js';
import { buildBatchStatement, type WindowBounds } from './batch-builder.js';
import type { ChainState } from './chain-state.js';
import { writeCheckpoint } from './checkpoint-writer.js';
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
  readonly onError?: (error: unknown, sequence: bigint) => void;
}

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

  constructor(options: BatcherOptions) {
    this.o = options;
    const startUnix = options.clock.wallUnixNanos();
    const last = options.state.lastEndUnixNanos;
    const downtimeNanos = last !== null && startUnix > last ? startUnix - last : 0n;
    this.bounds = { startUnixNanos: startUnix, startMonoNanos: options.clock.monoNanos(), downtimeNanos };
    this.attributionMethod = methodOf(options);
    const carry = startCarry(attributedOf(options), options.state.outstandingDeferred);
    this.window = new BatchWindow(options.devices, options.state.counters, downtimeNanos, carry);
    this.nextSequence = options.state.nextSequence;
    this.records = new RecordBatch(this.nextSequence);
    this.previousSha256 = options.state.previousSha256;
    this.events = options.startEvents;
    this.cosigners = options.firstBatchCosigners ?? [];
    this.lastCheckpointSize = options.state.tree.size;
  }

  /** Meter listener: adds the tick's intervals and seals when the window is old enough. */
  onTick(tick: MeterTick): void {
    for (const interval of tick.intervals) this.window.add(interval);
    const ageNanos = tick.unixNanos - this.bounds.startUnixNanos;
    if (ageNanos >= BigInt(this.o.batchIntervalMs) * NANOS_PER_MILLI) this.seal();
  }

  /** Adds a finished request's record; seals early when the batch is full. */
  addRecord(record: RequestRecord): void {
    this.records.add(record);
    if (this.records.count >= this.o.maxRecordsPerBatch) this.seal();
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

  /** Seals the current window now (even a short one); resolves when it is on disk. */
  seal(): Promise<unknown> {
    const endUnixNanos = this.o.clock.wallUnixNanos();
    const bounds: WindowBounds = { ...this.bounds, endUnixNanos, endMonoNanos: this.o.clock.monoNanos() };
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
    this.window = new BatchWindow(this.o.devices, carried, 0n, next);
    this.bounds = { startUnixNanos: endUnixNanos, startMonoNanos: bounds.endMonoNanos, downtimeNanos: 0n };
    this.records = new RecordBatch(this.nextSequence);
    this.events = [];
    this.cosigners = [];
    const write = async (): Promise<void> => {
      try {
        await this.write(batch);
      } catch (error) {
        this.o.onError?.(error, batch.sequence);
      }
    };
    this.writing = this.writing.then(write);
    return this.writing;
  }

  /** Seals what is left, publishes a final checkpoint, and waits for every write. */
  async stop(): Promise<void> {
    await this.seal();
    const tree = this.o.state.tree;
    if (tree.size > this.lastCheckpointSize) {
      this.writing = this.writing.then(() => this.checkpoint());
      await this.writing;
    }
  }

  private async write(batch: PendingBatch): Promise<void> {
    const { sequence, records, signers } = batch;
    const recordSummary = await this.o.records.appendBatch(sequence, records);
    const statement = buildBatchStatement(
      {
        origin: this.o.origin,
        sequence,
        previousSha256: this.previousSha256,
        agent: this.o.agent,
        bounds: batch.bounds,
        requests: {
          count: records.count,
          merkleRootSha256: recordSummary.merkleRootSha256,
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
    const checkpoint = this.sinceCheckpoint >= this.o.checkpointEveryBatches ? await this.checkpoint() : null;
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
