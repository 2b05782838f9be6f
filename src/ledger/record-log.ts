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
    records: readonly RequestRecord[],
  ): Promise<{ merkleRootSha256: string }> {
    const leaves: Uint8Array[] = new Array(records.length);
    const lines: string[] = new Array(records.length);
    const sequenceText = JSON.stringify(sequence.toString());
    for (const [index, record] of records.entries()) {
      // Each record is made canonical once: its bytes are its leaf, and the line embeds the same
      // text. Members in RFC 8785 order ("index" < "record" < "sequence") keep the line canonical.
      const recordText = canonicalString(record);
      leaves[index] = leafHash(utf8FromString(recordText));
      lines[index] = `{"index":${index},"record":${recordText},"sequence":${sequenceText}}`;
    }
    await this.store.appendMany(lines);
    return { merkleRootSha256: hexFromBytes(rootFromLeafHashes(leaves)) };
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
