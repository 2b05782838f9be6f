import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { constantTimeEqual, utf8FromString } from '../attest/bytes.js';
import { parseCheckpoint } from '../attest/checkpoint.js';
import { leafHash } from '../attest/merkle.js';
import { parseNote } from '../attest/note.js';
import { CHECKPOINT_DIR, checkpointFileName, LATEST_CHECKPOINT_FILE } from '../ledger/checkpoint-writer.js';
import { type ReadProgress, readLedgerLines } from '../ledger/reader.js';
import { parseSegmentFileName, segmentFileName } from '../ledger/segments.js';
import { NumberColumn } from './growable.js';
import { HashTree } from './hash-tree.js';
import { readNewLines, type TailLine, type TailPosition } from './ledger-tail.js';

/** Where batch `seq` lies on disk: one positioned read of `length` bytes (no newline) at `offset`. */
export interface BatchLocation {
  readonly segment: string;
  readonly path: string;
  readonly offset: number;
  readonly length: number;
}

/** What the batcher's `onSealed` hands over (a `SealedBatch` fits). */
export interface SealedBatchNotice {
  readonly sequence: bigint;
  readonly line: string;
  readonly checkpoint: string | null;
}

/**
 * The index's state for `/readyz`. `error` is the stable code of the last failure to follow the
 * ledger (`LEDGER_CORRUPT`, `INDEX_MISMATCH`, …), if any: codes only, the messages name paths.
 */
export interface LedgerIndexStatus {
  readonly state: 'new' | 'building' | 'ready' | 'failed';
  readonly batches: number;
  readonly checkpoints: number;
  readonly latestCheckpointSize: number | null;
  readonly error: string | null;
}

/** One line of a start-up pass over the ledger made elsewhere (the store's open), for {@link LedgerIndex.seed}. */
export interface ScannedLine {
  /** Segment file name (`ledger-000001.jsonl`). */
  readonly segment: string;
  /** Byte offset of the line in its segment. */
  readonly offset: number;
  /** Its length in bytes, without the newline. */
  readonly length: number;
  /** Its RFC 9162 leaf hash (kept, not copied: do not modify it). */
  readonly leafHash: Uint8Array;
}

const CHECKPOINT_NAME = /^checkpoint-\d{12,}\.note$/;

/**
 * An in-memory index of a ledger directory for the API. Per batch (line index = sequence): its
 * segment, byte offset and length, and its leaf hash in the log's Merkle tree; and the tree sizes
 * that have a checkpoint file. Lines themselves are never kept. {@link build} scans the ledger
 * once, or, when the lines were handed over by {@link seed} from a pass made anyway (the store's
 * open), only reads what came after them; after that the index follows the files from where it stopped ({@link refresh}), which
 * {@link append} (wire it to the batcher's `onSealed`) triggers and checks, so it is right even
 * when a notice is missed or arrives during the build. Work is serialised on one queue.
 */
export class LedgerIndex {
  /** The ledger directory. */
  readonly dir: string;
  readonly #tree = new HashTree();
  readonly #segments = new NumberColumn('u32');
  readonly #offsets = new NumberColumn('f64');
  readonly #lengths = new NumberColumn('u32');
  readonly #checkpoints = new Set<number>();
  readonly #onError: (error: unknown) => void;
  #latestCheckpoint: number | null = null;
  #position: TailPosition = { segmentNumber: 1, offset: 0 };
  #state: LedgerIndexStatus['state'] = 'new';
  #error: string | null = null;
  #queue: Promise<void> = Promise.resolve();
  #queuedRefresh: Promise<void> | null = null;
  #seeded = false;

  /** `onError` hears failures of the background work {@link append} starts (it never throws). */
  constructor(dir: string, options: { onError?: (error: unknown) => void } = {}) {
    this.dir = dir;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** True once {@link build} finished. */
  get ready(): boolean {
    return this.#state === 'ready';
  }

  /** Number of batches indexed (the log's tree size as far as the index knows). */
  get size(): number {
    return this.#tree.size;
  }

  /** For health reporting. */
  status(): LedgerIndexStatus {
    const checkpoints = this.#checkpoints.size;
    const latestCheckpointSize = this.#latestCheckpoint;
    return { state: this.#state, batches: this.size, checkpoints, latestCheckpointSize, error: this.#error };
  }

  /**
   * Scans the ledger once (progress per chunk read), then catches up with what was appended
   * meanwhile; after {@link seed}, only the catch-up reads the ledger, from where the seeded lines
   * end. Call it once, after the store opened (which repairs a torn tail). Rejects with a
   * `LedgerError` for a damaged ledger; the index then stays unusable (`state` `failed`).
   */
  build(options: { onProgress?: (progress: ReadProgress) => void } = {}): Promise<void> {
    if (this.#state !== 'new') return Promise.reject(new Error('LedgerIndex.build called twice'));
    this.#state = 'building';
    const run = this.#queue.then(async () => {
      try {
        if (!this.#seeded) await this.#scan(options.onProgress);
        await this.#scanCheckpoints();
        await this.#catchUp();
        this.#state = 'ready';
      } catch (error) {
        this.#fail(error);
        throw error;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Indexes the next line of a pass over the ledger made elsewhere, so that {@link build} does not
   * read those bytes again: call it for every complete line in order from the first, before
   * `build`. The leaf hashes still cover every byte; the first refresh after the build reads on
   * from the end of the last line seeded, and {@link append} checks each new batch against the disk.
   */
  seed(line: ScannedLine): void {
    if (this.#state !== 'new') throw new Error('LedgerIndex.seed called after build');
    const segmentNumber = parseSegmentFileName(line.segment);
    if (segmentNumber === null) throw new Error(`LedgerIndex.seed: ${line.segment} is not a segment name`);
    this.#seeded = true;
    this.#add(segmentNumber, line.offset, line.length, line.leafHash);
  }

  /**
   * Reads whatever was appended since the last look (batches and the latest checkpoint).
   * Concurrent calls share one pass. A no-op before {@link build}; rejects after a failed one.
   */
  refresh(): Promise<void> {
    if (this.#state === 'new') return Promise.resolve();
    if (this.#queuedRefresh) return this.#queuedRefresh;
    const run = this.#queue.then(() => {
      this.#queuedRefresh = null;
      if (this.#state === 'failed') throw new Error(`the ledger index failed (${this.#error})`);
      return this.#catchUp();
    });
    this.#queuedRefresh = run;
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * The batcher sealed a batch: catch up with the disk and check that the batch there is this
   * one. Never throws; failures go to `onError` and {@link status}.
   */
  append(sealed: SealedBatchNotice): void {
    if (sealed.checkpoint !== null) this.addCheckpoint(sealed.checkpoint);
    void this.refresh()
      .then(() => {
        if (this.#state !== 'ready') return;
        const expected = leafHash(utf8FromString(sealed.line));
        const found = this.leafHash(Number(sealed.sequence));
        if (found === undefined || !constantTimeEqual(found, expected))
          throw Object.assign(
            new Error(`batch ${sealed.sequence} on disk is not the batch the batcher sealed`),
            {
              code: 'INDEX_MISMATCH',
            },
          );
      })
      .catch((error: unknown) => this.#report(error));
  }

  /** A new checkpoint note (its tree size is read from the text; the file is what gets served). */
  addCheckpoint(note: string): void {
    try {
      this.#addCheckpointSize(parseCheckpoint(parseNote(utf8FromString(note)).text).treeSize);
    } catch (error) {
      this.#report(error);
    }
  }

  /** Location of batch `seq`, or undefined when it is not indexed. */
  location(seq: number): BatchLocation | undefined {
    if (!Number.isSafeInteger(seq) || seq < 0 || seq >= this.size) return undefined;
    const segment = segmentFileName(this.#segments.get(seq));
    const [offset, length] = [this.#offsets.get(seq), this.#lengths.get(seq)];
    return { segment, path: join(this.dir, segment), offset, length };
  }

  /** Leaf hash of batch `seq` (a view; do not modify), or undefined. */
  leafHash(seq: number): Uint8Array | undefined {
    return this.#tree.leaf(seq);
  }

  /** True when `checkpoints/` holds the checkpoint of this tree size. */
  hasCheckpoint(treeSize: number): boolean {
    return this.#checkpoints.has(treeSize);
  }

  /** Path of the checkpoint note of `treeSize` (whether or not it exists). */
  checkpointPath(treeSize: number): string {
    return join(this.dir, CHECKPOINT_DIR, checkpointFileName(treeSize));
  }

  /** RFC 9162 inclusion proof of batch `seq` in the tree of `treeSize`; seq < treeSize ≤ size. */
  inclusionProof(seq: number, treeSize: number): Uint8Array[] {
    return this.#tree.inclusionProof(seq, treeSize);
  }

  /** RFC 9162 consistency proof from `size1` to `size2` (size1 ≤ size2 ≤ size; empty for 0). */
  consistencyProof(size1: number, size2: number): Uint8Array[] {
    return this.#tree.consistencyProof(size1, size2);
  }

  /** MTH of the first `treeSize` batches. */
  root(treeSize: number): Uint8Array {
    return this.#tree.root(treeSize);
  }

  #addLine(line: TailLine): void {
    this.#add(line.segmentNumber, line.offset, line.bytes.length, leafHash(line.bytes));
  }

  #add(segmentNumber: number, offset: number, length: number, leaf: Uint8Array): void {
    this.#tree.append(leaf);
    this.#segments.push(segmentNumber);
    this.#offsets.push(offset);
    this.#lengths.push(length);
    this.#position = { segmentNumber, offset: offset + length + 1 };
  }

  async #scan(onProgress: ((progress: ReadProgress) => void) | undefined): Promise<void> {
    for await (const item of readLedgerLines(this.dir, onProgress ? { onProgress } : {})) {
      const segmentNumber = parseSegmentFileName(item.segment) ?? 0;
      // A partial last line is a writer mid-append (the store repaired any older one at open):
      // stop before it and let the catch-up read it once it is complete.
      if (item.kind === 'error' && item.error.code === 'LEDGER_TORN_TAIL') {
        this.#position = { segmentNumber, offset: item.offset };
        return;
      }
      if (item.kind === 'error') throw item.error;
      this.#addLine({ segmentNumber, offset: item.offset, bytes: utf8FromString(item.line) });
    }
  }

  async #scanCheckpoints(): Promise<void> {
    const names = await readdir(join(this.dir, CHECKPOINT_DIR)).catch((error: unknown) => {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[];
      throw error;
    });
    for (const name of names) {
      const size = CHECKPOINT_NAME.test(name) ? Number(name.slice(11, -5)) : Number.NaN;
      // Round-trip the name so that only the writer's own spelling counts (no `.tmp`, no copies).
      if (Number.isSafeInteger(size) && checkpointFileName(size) === name) this.#addCheckpointSize(size);
    }
  }

  async #catchUp(): Promise<void> {
    this.#position = await readNewLines(this.dir, this.#position, (line) => this.#addLine(line));
    // The latest checkpoint too, so the index is right without notices from the batcher.
    const note = await readFile(join(this.dir, LATEST_CHECKPOINT_FILE), 'utf8').catch(() => null);
    if (note !== null) this.addCheckpoint(note);
  }

  #addCheckpointSize(size: number): void {
    this.#checkpoints.add(size);
    if (this.#latestCheckpoint === null || size > this.#latestCheckpoint) this.#latestCheckpoint = size;
  }

  #fail(error: unknown): void {
    this.#state = 'failed';
    this.#report(error);
  }

  #report(error: unknown): void {
    const code = (error as { code?: unknown } | null)?.code;
    this.#error = typeof code === 'string' ? code : 'INDEX_FAILED';
    this.#onError(error);
  }
}
