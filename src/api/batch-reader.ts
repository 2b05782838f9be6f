import { open } from 'node:fs/promises';
import { constantTimeEqual } from '../attest/bytes.js';
import { leafHash } from '../attest/merkle.js';
import { ApiError } from './errors.js';
import type { BatchLocation, LedgerIndex } from './ledger-index.js';

/**
 * Serving batches from disk by the index: one positioned read per batch, or per run of batches
 * in one segment for a page. Every line read is hashed and compared with the index's leaf hash,
 * so what is served is always what the ETag and the proofs describe, even if a file was edited.
 */

/** One page of batches: the lines as stored and the cursor to continue from. */
export interface BatchPage {
  readonly lines: readonly Buffer[];
  /** Sequence of the first batch after this page, or null when the page reached the log's end. */
  readonly next: number | null;
}

/** Reads `length` bytes at `offset` of `path`; throws when the file is shorter. */
async function readSpan(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    for (let got = 0; got < length; ) {
      const { bytesRead } = await handle.read(buffer, got, length - got, offset + got);
      if (bytesRead === 0) throw inconsistent(`a segment ends before byte ${offset + length}`);
      got += bytesRead;
    }
    return buffer;
  } finally {
    await handle.close();
  }
}

function inconsistent(message: string): ApiError {
  return new ApiError('API_LEDGER_INCONSISTENT', `the ledger changed under the index: ${message}`);
}

function checked(index: LedgerIndex, seq: number, bytes: Buffer): Buffer {
  const expected = index.leafHash(seq);
  if (expected === undefined || !constantTimeEqual(leafHash(bytes), expected))
    throw inconsistent(`batch ${seq} no longer has its indexed leaf hash`);
  return bytes;
}

/** The stored bytes of batch `seq` (without the newline), or undefined when not indexed. */
export async function readBatch(index: LedgerIndex, seq: number): Promise<Buffer | undefined> {
  const at = index.location(seq);
  if (at === undefined) return undefined;
  return checked(index, seq, await readSpan(at.path, at.offset, at.length));
}

/**
 * Up to `limit` batches from `from`, stopping early (after at least one) once `maxBytes` is
 * reached so that a page stays bounded however large the batches are.
 */
export async function readBatchPage(
  index: LedgerIndex,
  from: number,
  limit: number,
  maxBytes: number,
): Promise<BatchPage> {
  const end = Math.min(index.size, from + limit);
  const lines: Buffer[] = [];
  let bytes = 0;
  let seq = from;
  while (seq < end && (lines.length === 0 || bytes < maxBytes)) {
    const run = runInSegment(index, seq, end, maxBytes - bytes);
    const first = run[0]!;
    const last = run.at(-1)!;
    const span = await readSpan(first.path, first.offset, last.offset + last.length - first.offset);
    for (const at of run) {
      lines.push(
        checked(index, seq, span.subarray(at.offset - first.offset, at.offset - first.offset + at.length)),
      );
      bytes += at.length;
      seq += 1;
    }
  }
  return { lines, next: seq < index.size ? seq : null };
}

/** Consecutive batches from `seq` in the same segment, at least one, within `budget` bytes. */
function runInSegment(index: LedgerIndex, seq: number, end: number, budget: number): BatchLocation[] {
  const first = index.location(seq)!;
  const run = [first];
  let bytes = first.length;
  for (let next = seq + 1; next < end; next++) {
    const at = index.location(next)!;
    if (at.segment !== first.segment || bytes + at.length > budget) break;
    run.push(at);
    bytes += at.length;
  }
  return run;
}
