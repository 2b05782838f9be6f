import { hexFromBytes, utf8FromString } from '../attest/bytes.js';
import { canonicalString } from '../attest/canonical.js';
import { leafHash } from '../attest/merkle.js';
import { MerkleTreeBuilder } from '../attest/merkle-builder.js';
import type { LedgerStore } from './store.js';

/** The record log's folder inside a ledger directory (FORMAT.md §5.4). */
export const RECORDS_DIR = 'records';

/**
 * A request record as it enters a batch: any canonical-JSON object with a `requestId`. The
 * attribution step defines the fields; the ledger only needs the id (for receipts) and the bytes.
 */
export interface RequestRecord {
  readonly requestId: string;
  readonly [field: string]: unknown;
}

/**
 * The records of one batch while it fills, kept as the record log will store them. Each record
 * is canonicalised, encoded once (UTF-8), leaf-hashed into the batch's RFC 9162 tree (amortised
 * one node hash) and laid out as its record log line as it arrives, so sealing a batch of 10,000
 * records only folds the tree's O(log n) subtree roots and writes bytes that are ready, instead of
 * hashing 10,000 leaves and 9,999 nodes and encoding megabytes of lines at the seal.
 */
export class RecordBatch {
  /** The batch these records go into; it is in every line. */
  readonly sequence: bigint;
  readonly #tree = new MerkleTreeBuilder();
  readonly #tail: Uint8Array;
  #lines = new Uint8Array(INITIAL_LINE_BYTES);
  #lineBytes = 0;
  #count = 0;

  constructor(sequence: bigint) {
    this.sequence = sequence;
    // Members in RFC 8785 order ("index" < "record" < "sequence") keep each line canonical.
    this.#tail = UTF8.encode(`,"sequence":${JSON.stringify(sequence.toString())}}\n`);
  }

  /**
   * Adds one record. Throws `ATTEST_CANONICAL_UNSUPPORTED_VALUE` (see canonical.ts), and adds
   * nothing, for a record that cannot be signed.
   */
  add(record: RequestRecord): void {
    const bytes = utf8FromString(canonicalString(record));
    this.#tree.appendLeafHash(leafHash(bytes));
    const index = String(this.#count);
    const tail = this.#tail;
    let at = this.#reserve(
      INDEX_OPEN.length + index.length + RECORD_OPEN.length + bytes.length + tail.length,
    );
    const out = this.#lines;
    at = copySmall(out, at, INDEX_OPEN);
    for (let i = 0; i < index.length; i++) out[at++] = index.charCodeAt(i);
    at = copySmall(out, at, RECORD_OPEN);
    out.set(bytes, at);
    copySmall(out, at + bytes.length, tail);
    this.#count += 1;
  }

  /** Number of records added. */
  get count(): number {
    return this.#count;
  }

  /** RFC 9162 root of the records' tree (hex); the empty-tree root for none. */
  merkleRootHex(): string {
    return hexFromBytes(this.#tree.root());
  }

  /** The record log lines of every record added, UTF-8, each ended by `\n` (a view, not a copy). */
  lines(): Uint8Array {
    return this.#lines.subarray(0, this.#lineBytes);
  }

  /** Makes room for `bytes` more (doubling, so amortised O(1) per byte); returns where they go. */
  #reserve(bytes: number): number {
    const at = this.#lineBytes;
    if (at + bytes > this.#lines.length) {
      const grown = new Uint8Array(Math.max(2 * this.#lines.length, at + bytes));
      grown.set(this.#lines.subarray(0, at));
      this.#lines = grown;
    }
    this.#lineBytes = at + bytes;
    return at;
  }
}

const UTF8 = new TextEncoder();
const INDEX_OPEN = UTF8.encode('{"index":');
const RECORD_OPEN = UTF8.encode(',"record":');
/** Room for ~30 records before the first doubling. */
const INITIAL_LINE_BYTES = 16 * 1024;

/** Copies a few bytes; a plain loop beats `TypedArray.set`'s per-call cost for a dozen. */
function copySmall(out: Uint8Array, at: number, bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length; i++) out[at + i] = bytes[i]!;
  return at + bytes.length;
}

/** One stored line of the record log. */
export interface RecordLine {
  readonly sequence: string;
  readonly index: number;
  readonly record: RequestRecord;
}

/**
 * The request records of every batch, kept beside the batches (the batch holds only their
 * Merkle root and count) so that receipts can be cut later. Each line is canonical JSON of
 * `{sequence, index, record}`; a record's leaf in its batch's tree is the canonical JSON of the
 * record alone. Records are written before their batch, so a crash can leave records of a batch
 * that was never sealed, never a batch without its records.
 */
export class RecordLog {
  private readonly store: LedgerStore;

  constructor(store: LedgerStore) {
    this.store = store;
  }

  /**
   * Appends a batch's records (one write, one fdatasync) and returns their RFC 9162 root (hex; the
   * empty-tree root for none). `batch` must have been made for `sequence`.
   */
  async appendBatch(sequence: bigint, batch: RecordBatch): Promise<{ merkleRootSha256: string }> {
    if (batch.sequence !== sequence)
      throw new RangeError(`records of batch ${batch.sequence} cannot be appended as batch ${sequence}`);
    if (batch.count > 0) await this.store.appendEncodedLines(batch.lines());
    return { merkleRootSha256: batch.merkleRootHex() };
  }

  /** After a failed append: see {@link LedgerStore.recover}. */
  recover(): Promise<void> {
    return this.store.recover();
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
