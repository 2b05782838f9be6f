import { hexFromBytes, utf8FromString } from '../attest/bytes.js';
import { canonicalString } from '../attest/canonical.js';
import { leafHash, rootFromLeafHashes } from '../attest/merkle.js';
import type { LedgerStore } from './store.js';

/**
 * A request record as it enters a batch: any canonical-JSON object with a `requestId`. The
 * attribution step defines the fields; the ledger only needs the id (for receipts) and the bytes.
 */
export interface RequestRecord {
  readonly requestId: string;
  readonly [field: string]: unknown;
}

/** A record made canonical once, when it arrives: its text (embedded in its line) and its leaf hash. */
export interface PreparedRecord {
  readonly requestId: string;
  readonly text: string;
  readonly leafHash: Uint8Array;
}

/**
 * Canonicalises a record and hashes its leaf. Done as each request ends rather than when the
 * batch is sealed, so sealing a batch of 10,000 records only builds the root and writes.
 */
export function prepareRecord(record: RequestRecord): PreparedRecord {
  const text = canonicalString(record);
  return { requestId: record.requestId, text, leafHash: leafHash(utf8FromString(text)) };
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

  /** Appends a batch's records and returns their RFC 9162 root (hex; the empty-tree root for none). */
  async appendBatch(
    sequence: bigint,
    records: readonly PreparedRecord[],
  ): Promise<{ merkleRootSha256: string }> {
    const sequenceText = JSON.stringify(sequence.toString());
    // Members in RFC 8785 order ("index" < "record" < "sequence") keep each line canonical.
    const lines = records.map(
      (record, index) => `{"index":${index},"record":${record.text},"sequence":${sequenceText}}`,
    );
    await this.store.appendMany(lines);
    return { merkleRootSha256: hexFromBytes(rootFromLeafHashes(records.map((r) => r.leafHash))) };
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
