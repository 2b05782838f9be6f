import { join } from 'node:path';
import { bytesFromBase64, hexFromBytes, stringFromUtf8, utf8FromString } from '../attest/bytes.js';
import { canonicalBytes } from '../attest/canonical.js';
import { leafHash, rootFromLeafHashes } from '../attest/merkle.js';
import { LedgerError } from '../ledger/errors.js';
import { type LedgerReadError, type ReadProgress, readLedgerLines } from '../ledger/reader.js';
import { ReportError } from './errors.js';

/**
 * One pass over a ledger's batches and its record log side by side, streaming both: memory is one
 * batch's records at a time. A batch's records are the run of record-log lines with its sequence
 * and indices 0, 1, … whose count and RFC 9162 root equal the batch's `requests` (FORMAT.md §5.4);
 * runs that match no batch (a crash between writing records and sealing) are skipped, so only
 * sealed records are ever reported. The batches are parsed, not verified: the caller may feed
 * each line to the verifier through `onBatchLine`.
 */

/** What a report uses of a batch. */
export interface BatchFacts {
  readonly sequence: bigint;
  readonly origin: string;
  readonly simulated: boolean;
}

export interface ScanCallbacks {
  /** Each sealed record, in ledger order. */
  readonly onRecord: (record: unknown, batch: BatchFacts) => void;
  /** Each complete batch line, before its records (for a verifier). */
  readonly onBatchLine?: ((line: string, location: string) => void) | undefined;
  /** A damaged batch line (not a torn tail; that is a warning). */
  readonly onBatchDamage?: ((item: LedgerReadError) => void) | undefined;
  /** Bytes read of both stores together. */
  readonly onProgress?: ((progress: ReadProgress) => void) | undefined;
}

export interface ScanCounts {
  origin: string | null;
  batchesRead: number;
  batchesUnreadable: number;
  batchesMissingRecords: number;
  recordLinesRead: number;
  recordsSealed: number;
  readonly warnings: string[];
}

interface RecordRun {
  readonly sequence: bigint;
  readonly records: unknown[];
  /** Each record's JSON text as stored, when its line has RecordLog's canonical layout; else null. */
  readonly texts: (string | null)[];
}

/** Reads `ledgerDir` (batches) and `ledgerDir/records`. Throws `REPORT_LEDGER_DAMAGED` for a segment hole. */
export async function scanLedger(ledgerDir: string, callbacks: ScanCallbacks): Promise<ScanCounts> {
  const counts: ScanCounts = {
    origin: null,
    batchesRead: 0,
    batchesUnreadable: 0,
    batchesMissingRecords: 0,
    recordLinesRead: 0,
    recordsSealed: 0,
    warnings: [],
  };
  const bytes = { batches: { bytesRead: 0, totalBytes: 0 }, records: { bytesRead: 0, totalBytes: 0 } };
  const progress = (part: 'batches' | 'records') => (p: ReadProgress) => {
    bytes[part] = p;
    callbacks.onProgress?.({
      bytesRead: bytes.batches.bytesRead + bytes.records.bytesRead,
      totalBytes: bytes.batches.totalBytes + bytes.records.totalBytes,
    });
  };
  const runs = new RunQueue(recordRuns(join(ledgerDir, 'records'), counts, progress('records')));
  try {
    for await (const item of readLedgerLines(ledgerDir, { onProgress: progress('batches') })) {
      if (item.kind === 'error') {
        if (item.error.code === 'LEDGER_TORN_TAIL') counts.warnings.push(item.error.message);
        else callbacks.onBatchDamage?.(item);
        continue;
      }
      callbacks.onBatchLine?.(item.line, `${item.path}:${item.lineNumber}`);
      const batch = batchOf(item.line);
      if (batch === null) {
        counts.batchesUnreadable += 1;
        continue;
      }
      counts.batchesRead += 1;
      counts.origin ??= batch.origin;
      if (batch.count === 0) continue;
      const run = await runs.take(batch);
      if (run === null) {
        counts.batchesMissingRecords += 1;
        continue;
      }
      counts.recordsSealed += run.records.length;
      for (const record of run.records) callbacks.onRecord(record, batch);
    }
    await runs.drain();
  } catch (error) {
    throw damaged(error);
  }
  return counts;
}

/** A hole or duplicate in segment numbering: the ledger cannot be read in order as a whole. */
function damaged(error: unknown): unknown {
  if (!(error instanceof LedgerError) || error.code !== 'LEDGER_CORRUPT') return error;
  return new ReportError('REPORT_LEDGER_DAMAGED', error.message, {
    cause: error,
    hint: 'run `wattledger verify` on the ledger directory; restore the missing segment from a backup',
  });
}

interface ParsedBatch extends BatchFacts {
  readonly count: number;
  readonly rootHex: string;
}

/** The facts of a batch line, or null when it is not a readable DSSE envelope of a batch statement. */
function batchOf(line: string): ParsedBatch | null {
  try {
    const envelope = JSON.parse(line) as { payload?: unknown };
    if (typeof envelope.payload !== 'string') return null;
    const statement = JSON.parse(stringFromUtf8(bytesFromBase64(envelope.payload, { allowUrlSafe: true })));
    const p = (statement as { predicate?: Record<string, unknown> }).predicate;
    const requests = p?.requests as { count?: unknown; merkleRootSha256?: unknown } | undefined;
    if (
      typeof p?.sequence !== 'string' ||
      !/^(0|[1-9]\d{0,29})$/.test(p.sequence) ||
      typeof p.origin !== 'string' ||
      !Number.isSafeInteger(requests?.count) ||
      typeof requests?.merkleRootSha256 !== 'string'
    )
      return null;
    return {
      sequence: BigInt(p.sequence),
      origin: p.origin,
      simulated: p.simulated === true,
      count: requests.count as number,
      rootHex: requests.merkleRootSha256,
    };
  } catch {
    return null;
  }
}

/**
 * Runs of the record log: consecutive lines with one sequence and indices 0, 1, …; a line with
 * index 0 starts a new run. A line that is not a record-log line ends the run it interrupts.
 */
async function* recordRuns(
  dir: string,
  counts: ScanCounts,
  onProgress: (p: ReadProgress) => void,
): AsyncGenerator<RecordRun, void, undefined> {
  let run: RecordRun | null = null;
  try {
    for await (const item of readLedgerLines(dir, { onProgress })) {
      if (item.kind === 'line') counts.recordLinesRead += 1;
      else if (item.error.code === 'LEDGER_TORN_TAIL') counts.warnings.push(item.error.message);
      const line = item.kind === 'line' ? recordLineOf(item.line) : null;
      if (
        run !== null &&
        line !== null &&
        line.sequence === run.sequence &&
        line.index === run.records.length
      ) {
        run.records.push(line.record);
        run.texts.push(line.text);
        continue;
      }
      if (run !== null) yield run;
      run =
        line?.index === 0 ? { sequence: line.sequence, records: [line.record], texts: [line.text] } : null;
    }
  } catch (error) {
    // No record log: a ledger without requests.
    if (error instanceof LedgerError && error.details.errno === 'ENOENT') return;
    throw error;
  }
  if (run !== null) yield run;
}

function recordLineOf(
  text: string,
): { sequence: bigint; index: number; record: unknown; text: string | null } | null {
  try {
    const { sequence, index, record } = JSON.parse(text) as Record<string, unknown>;
    if (typeof sequence !== 'string' || !/^(0|[1-9]\d{0,29})$/.test(sequence)) return null;
    if (!Number.isSafeInteger(index) || typeof record !== 'object' || record === null) return null;
    const stored = storedRecordText(text, index as number, sequence);
    return { sequence: BigInt(sequence), index: index as number, record, text: stored };
  } catch {
    return null;
  }
}

/**
 * The record's text inside a line in RecordLog's layout (`{"index":…,"record":…,"sequence":"…"}`,
 * members in canonical order), or null for another layout. When the stored line is canonical this
 * is the record's canonical JSON, so its leaf is hashed without re-encoding; {@link matches} falls
 * back to re-encoding the parsed record when the root does not come out right that way.
 */
function storedRecordText(line: string, index: number, sequence: string): string | null {
  const head = `{"index":${index},"record":`;
  const tail = `,"sequence":"${sequence}"}`;
  return line.startsWith(head) && line.endsWith(tail)
    ? line.slice(head.length, line.length - tail.length)
    : null;
}

/** Hands each batch the run that belongs to it, skipping runs that belong to none. */
class RunQueue {
  #next: RecordRun | null | undefined;

  constructor(private readonly runs: AsyncGenerator<RecordRun, void, undefined>) {}

  async #peek(): Promise<RecordRun | null> {
    if (this.#next === undefined) this.#next = (await this.runs.next()).value ?? null;
    return this.#next;
  }

  /** The run of `batch`, or null when the record log holds none (the next run is later). */
  async take(batch: ParsedBatch): Promise<RecordRun | null> {
    for (let run = await this.#peek(); run !== null; run = await this.#peek()) {
      if (run.sequence > batch.sequence) return null;
      this.#next = undefined;
      if (run.sequence === batch.sequence && matches(run, batch)) return run;
      // An earlier sequence, or this one's unsealed run (a crash before the seal): never reported.
    }
    return null;
  }

  /** Reads the rest of the record log (its counts and warnings stay complete). */
  async drain(): Promise<void> {
    while ((await this.#peek()) !== null) this.#next = undefined;
  }
}

function matches(run: RecordRun, batch: ParsedBatch): boolean {
  if (run.records.length !== batch.count) return false;
  const rootMatches = (leaves: Uint8Array[]) => hexFromBytes(rootFromLeafHashes(leaves)) === batch.rootHex;
  // Fast path: the stored bytes as RecordLog wrote them (canonical), hashed as they are.
  const texts = run.texts.filter((text) => text !== null);
  if (texts.length === run.records.length && rootMatches(texts.map((t) => leafHash(utf8FromString(t)))))
    return true;
  try {
    return rootMatches(run.records.map((record) => leafHash(canonicalBytes(record))));
  } catch {
    return false; // a record outside canonical JSON (a float) cannot be a sealed one
  }
}
