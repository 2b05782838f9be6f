import { join } from 'node:path';
import { LedgerError } from '../ledger/errors.js';
import { readLedgerLines } from '../ledger/reader.js';
import { buildReceipt, ReceiptError } from '../ledger/receipt-builder.js';
import type { Receipt } from '../verify/receipt.js';
import { ApiError } from './errors.js';

/**
 * The routes that scan the ledger from the start (receipts, records): a request id has no index,
 * so each costs a read of the record log. A limiter bounds how many run at once, so a client
 * cannot queue unbounded disk work; the rest get `API_BUSY` with `Retry-After`.
 */

/** Runs at most `max` scans at once; refuses more with `API_BUSY`. */
export class ScanLimiter {
  #active = 0;
  constructor(private readonly max: number) {}

  async run<T>(scan: () => Promise<T>): Promise<T> {
    if (this.#active >= this.max)
      throw new ApiError('API_BUSY', `${this.max} ledger scans are running; retry shortly`, {
        retryAfterSeconds: 1,
      });
    this.#active += 1;
    try {
      return await scan();
    } finally {
      this.#active -= 1;
    }
  }
}

/**
 * The stored record-log line (`{"index":…,"record":{…},"sequence":"…"}`, canonical JSON, exactly
 * as on disk) of the first record with `requestId` (the one receipts use), or null.
 */
export async function findRecordLine(ledgerDir: string, requestId: string): Promise<string | null> {
  // The id as it appears in canonical JSON; lines without it are skipped without parsing.
  const needle = JSON.stringify(requestId);
  try {
    for await (const item of readLedgerLines(join(ledgerDir, 'records'))) {
      if (item.kind !== 'line' || !item.line.includes(needle)) continue;
      if (recordIdOf(item.line) === requestId) return item.line;
    }
  } catch (error) {
    // No record log yet: no records.
    if (error instanceof LedgerError && error.details.errno === 'ENOENT') return null;
    throw error;
  }
  return null;
}

/** The record's id of a record-log line, or undefined for a line that is not one (skipped). */
function recordIdOf(line: string): unknown {
  try {
    return (JSON.parse(line) as { record?: { requestId?: unknown } } | null)?.record?.requestId;
  } catch {
    return undefined;
  }
}

/** {@link buildReceipt}, with its failures as API errors. */
export async function receiptFor(ledgerDir: string, requestId: string): Promise<Receipt> {
  try {
    return await buildReceipt(ledgerDir, requestId);
  } catch (error) {
    if (!(error instanceof ReceiptError)) throw error;
    throw apiErrorOf(error, requestId);
  }
}

function apiErrorOf(error: ReceiptError, requestId: string): ApiError {
  switch (error.code) {
    case 'RECEIPT_NOT_FOUND':
      return new ApiError('API_RECORD_NOT_FOUND', `no request record with id ${JSON.stringify(requestId)}`);
    case 'RECEIPT_NOT_YET_CHECKPOINTED':
      // The daemon checkpoints every few batches; a retry after one batch interval may succeed.
      return new ApiError(
        'API_NOT_YET_CHECKPOINTED',
        `the request's batch ${error.details.batchIndex} is not covered by the latest checkpoint yet (tree size ${error.details.treeSize}); retry later`,
        { retryAfterSeconds: 10 },
      );
    default:
      return new ApiError('API_LEDGER_INCONSISTENT', 'the ledger disagrees with itself; see the server log', {
        cause: error,
      });
  }
}
