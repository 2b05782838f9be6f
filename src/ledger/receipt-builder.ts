import { join } from 'node:path';
import {
  bytesFromBase64,
  constantTimeEqual,
  hexFromBytes,
  stringFromUtf8,
  utf8FromString,
} from '../attest/bytes.js';
import { canonicalBytes } from '../attest/canonical.js';
import type { Checkpoint } from '../attest/checkpoint.js';
import { inclusionProof, leafHash, rootFromLeafHashes } from '../attest/merkle.js';
import { MerkleTreeBuilder } from '../attest/merkle-builder.js';
import { BaseError } from '../errors.js';
import { RECEIPT_VERSION, type Receipt, type ReceiptRecord } from '../verify/receipt.js';
import { LATEST_CHECKPOINT_FILE, readCheckpointNote } from './checkpoint-writer.js';
import { LedgerError } from './errors.js';
import { type ReadProgress, readLedgerLines } from './reader.js';

/** Stable codes of {@link buildReceipt}. */
export type ReceiptErrorCode =
  /** No request record with that id is in the ledger's record log. */
  | 'RECEIPT_NOT_FOUND'
  /** The record's batch is not covered by the latest checkpoint yet. */
  | 'RECEIPT_NOT_YET_CHECKPOINTED'
  /** Records, batches and checkpoint disagree (a crash between writing records and sealing, or damage). */
  | 'RECEIPT_LEDGER_INCONSISTENT';

/** A receipt cannot be cut; `hint` says what to do, `details` names the numbers involved. */
export class ReceiptError extends BaseError<ReceiptErrorCode> {
  readonly hint: string | undefined;
  readonly details: Readonly<Record<string, string | number>>;
  constructor(
    code: ReceiptErrorCode,
    message: string,
    options?: { cause?: unknown; hint?: string; details?: Readonly<Record<string, string | number>> },
  ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.hint = options?.hint;
    this.details = options?.details ?? {};
  }
}

/** Options of {@link buildReceipt}. */
export interface BuildReceiptOptions {
  /** Progress of the two scans: first the record log, then the batches. */
  readonly onProgress?: (progress: ReadProgress & { readonly phase: 'records' | 'batches' }) => void;
}

const RESTORE =
  'the ledger was damaged or edited; run `wattledger verify` on it and restore it from a backup';

/**
 * Cuts the receipt (format v1, see verify/receipt.ts) of request `requestId` from a ledger
 * directory: its record and the proof into its batch's record tree, the batch line, and the
 * batch's inclusion proof in the log at the size of the latest checkpoint (`<dir>/checkpoint`).
 * A request id should be unique; when it occurs more than once, the first occurrence in the
 * record log is used and later ones cannot be receipted here. Reads a live ledger safely (the
 * checkpoint is read first, and covers only what was on disk before it). Memory is O(records of
 * one batch + log2 of the log size). Throws {@link ReceiptError}, or `LedgerError` (`LEDGER_IO`).
 */
export async function buildReceipt(
  ledgerDir: string,
  requestId: string,
  options: BuildReceiptOptions = {},
): Promise<Receipt> {
  const checkpoint = await readLatestCheckpoint(ledgerDir);
  const group = await findRecordGroup(join(ledgerDir, 'records'), requestId, options);
  if (group === null)
    throw new ReceiptError(
      'RECEIPT_NOT_FOUND',
      `no request record with id ${JSON.stringify(requestId)} in ${ledgerDir}`,
      {
        hint: 'check the request id and --ledger-dir; a record is sealed once every request that overlapped it on its devices has ended (at most attribution.maxDelayMs, 60 s by default) and its batch closes (ledger.batchIntervalMs, 10 s): `wattledger receipt --wait` waits for it',
      },
    );
  const batchIndex = Number(group.sequence);
  if (checkpoint === null || checkpoint.treeSize <= batchIndex)
    throw notYetCheckpointed(batchIndex, checkpoint);
  const log = await scanLog(ledgerDir, batchIndex, checkpoint, options);
  const leaves = group.records.map((record) => leafHash(canonicalBytes(record)));
  checkBatchCommitsTo(log.line, group.sequence, leaves, checkpoint.origin);
  return {
    receiptVersion: RECEIPT_VERSION,
    requestId,
    record: group.records[group.index]!,
    recordIndex: group.index,
    recordProof: inclusionProof(leaves, group.index).map(hexFromBytes),
    batch: JSON.parse(log.line),
    batchIndex,
    batchProof: log.proof.map(hexFromBytes),
    checkpoint: checkpoint.text,
  };
}

function notYetCheckpointed(batchIndex: number, checkpoint: { treeSize: number } | null): ReceiptError {
  const covered =
    checkpoint === null
      ? 'no checkpoint is published yet'
      : `the latest checkpoint covers batches 0–${checkpoint.treeSize - 1}`;
  return new ReceiptError(
    'RECEIPT_NOT_YET_CHECKPOINTED',
    `the record is in batch ${batchIndex}, but ${covered}`,
    {
      hint: 'the daemon publishes a checkpoint every ledger.checkpointEveryBatches batches (default 10 × 10 s: up to 100 s) and when it stops; `wattledger receipt --wait` waits for it',
      details: { batchIndex, treeSize: checkpoint?.treeSize ?? 0 },
    },
  );
}

async function readLatestCheckpoint(ledgerDir: string): Promise<(Checkpoint & { text: string }) | null> {
  const path = join(ledgerDir, LATEST_CHECKPOINT_FILE);
  try {
    const note = await readCheckpointNote(path);
    return note === null ? null : { ...note.checkpoint, text: stringFromUtf8(note.bytes) };
  } catch (cause) {
    if (cause instanceof LedgerError) throw cause;
    throw new ReceiptError('RECEIPT_LEDGER_INCONSISTENT', `${path} is not a C2SP checkpoint`, {
      cause,
      hint: RESTORE,
    });
  }
}

/** The records of one batch, as stored, and the position of the requested one among them. */
interface RecordGroup {
  readonly sequence: string;
  readonly records: ReceiptRecord[];
  index: number;
}

/**
 * Scans the record log for the first record with `requestId` and returns its batch's records.
 * A batch's records are consecutive lines with one sequence and indices 0, 1, …; a line with
 * index 0 starts a new run, because a crash before sealing leaves a run that the next batch of
 * the same sequence follows. Damaged lines end a run (the root check then refuses it).
 */
async function findRecordGroup(
  dir: string,
  requestId: string,
  options: BuildReceiptOptions,
): Promise<RecordGroup | null> {
  const onProgress = (p: ReadProgress): void => options.onProgress?.({ ...p, phase: 'records' });
  let group: RecordGroup | null = null;
  try {
    for await (const item of readLedgerLines(dir, { onProgress })) {
      const line = item.kind === 'line' ? parseRecordLine(item.line) : null;
      if (group !== null && line !== null && continuesGroup(group, line)) group.records.push(line.record);
      else if (group !== null && group.index >= 0)
        return group; // the run holding the record ended
      else group = line?.index === 0 ? { sequence: line.sequence, records: [line.record], index: -1 } : null;
      // When a group exists now, the current line is its last record.
      if (group !== null && group.index < 0 && line?.record.requestId === requestId)
        group.index = group.records.length - 1;
    }
  } catch (error) {
    if (error instanceof LedgerError && error.details.errno === 'ENOENT') return null;
    throw error;
  }
  return group !== null && group.index >= 0 ? group : null;
}

function continuesGroup(group: RecordGroup, line: RecordLine): boolean {
  return line.sequence === group.sequence && line.index === group.records.length;
}

interface RecordLine {
  readonly sequence: string;
  readonly index: number;
  readonly record: ReceiptRecord;
}

/** One record-log line, or null when it is not `{sequence, index, record}` as RecordLog writes it. */
function parseRecordLine(text: string): RecordLine | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  const { sequence, index, record } = (value ?? {}) as Record<string, unknown>;
  const recordOk =
    typeof record === 'object' && record !== null && typeof (record as ReceiptRecord).requestId === 'string';
  const sequenceOk = typeof sequence === 'string' && /^(0|[1-9]\d{0,15})$/.test(sequence);
  if (!sequenceOk || !Number.isSafeInteger(Number(sequence)) || !Number.isSafeInteger(index) || !recordOk)
    return null;
  return { sequence, index: index as number, record: record as ReceiptRecord };
}

/**
 * Reads the first `checkpoint.treeSize` ledger lines once: keeps line `batchIndex`, builds its
 * inclusion proof on the fly, and checks the log root against the checkpoint.
 */
async function scanLog(
  ledgerDir: string,
  batchIndex: number,
  checkpoint: Checkpoint,
  options: BuildReceiptOptions,
): Promise<{ line: string; proof: Uint8Array[] }> {
  const onProgress = (p: ReadProgress): void => options.onProgress?.({ ...p, phase: 'batches' });
  const size = checkpoint.treeSize;
  const path = new PathCollector(batchIndex, size);
  const tree = new MerkleTreeBuilder();
  let line: string | null = null;
  for await (const item of readLedgerLines(ledgerDir, { onProgress })) {
    if (item.index >= size) break;
    if (item.kind === 'error')
      throw inconsistent(
        `ledger line ${item.index} (${item.path}) is damaged but the checkpoint covers it: ${item.error.message}`,
      );
    const hash = leafHash(utf8FromString(item.line));
    tree.appendLeafHash(hash);
    path.add(item.index, hash);
    if (item.index === batchIndex) line = item.line;
  }
  if (tree.size < size)
    throw inconsistent(`the checkpoint covers ${size} batches but the ledger holds ${tree.size}`);
  if (!constantTimeEqual(tree.root(), checkpoint.rootHash))
    throw inconsistent(`the batches do not match the checkpoint's root at size ${size}`);
  return { line: line!, proof: path.proof() };
}

function inconsistent(message: string, hint = RESTORE): ReceiptError {
  return new ReceiptError('RECEIPT_LEDGER_INCONSISTENT', message, { hint });
}

/** The (unverified) batch line has the record run's sequence and commits to exactly its records. */
function checkBatchCommitsTo(
  line: string,
  sequence: string,
  leaves: readonly Uint8Array[],
  origin: string,
): void {
  let predicate: {
    sequence?: unknown;
    origin?: unknown;
    requests?: { count?: unknown; merkleRootSha256?: unknown };
  };
  try {
    const envelope = JSON.parse(line) as { payload: string };
    predicate =
      JSON.parse(stringFromUtf8(bytesFromBase64(envelope.payload, { allowUrlSafe: true }))).predicate ?? {};
  } catch {
    throw inconsistent(`batch ${sequence} is not a readable DSSE envelope`);
  }
  if (predicate.sequence !== sequence)
    throw inconsistent(
      `ledger line ${sequence} holds batch ${String(predicate.sequence)}: receipts need a log whose sequence equals the line index (starting at 0)`,
    );
  if (predicate.origin !== origin)
    throw inconsistent(
      `batch ${sequence} is from origin ${String(predicate.origin)}, the checkpoint from ${origin}`,
    );
  const root = hexFromBytes(rootFromLeafHashes(leaves));
  if (predicate.requests?.count !== leaves.length || predicate.requests.merkleRootSha256 !== root)
    throw inconsistent(
      `batch ${sequence} commits to ${String(predicate.requests?.count)} records, not the ${leaves.length} stored for it`,
      'the daemon probably stopped after storing this request record and before sealing its batch, so the batch never included it; no receipt can prove it',
    );
}

/** k = the largest power of two smaller than n, for n > 1 (RFC 9162 §2.1.1). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * RFC 9162 PATH(m, D[n]) computed while the leaves stream past: the path is the roots of a few
 * disjoint leaf ranges (one per level), so one incremental builder per range is enough and the
 * log's leaf hashes never need to be held. Equals `inclusionProof(allLeaves, m, n)`.
 */
class PathCollector {
  /** Ranges in proof order (leaf's sibling first). */
  private readonly ranges: { start: number; end: number; tree: MerkleTreeBuilder }[] = [];

  constructor(leafIndex: number, treeSize: number) {
    let [start, end, m] = [0, treeSize, leafIndex];
    while (end - start > 1) {
      const k = splitPoint(end - start);
      if (m < k) {
        this.ranges.unshift({ start: start + k, end, tree: new MerkleTreeBuilder() });
        end = start + k;
      } else {
        this.ranges.unshift({ start, end: start + k, tree: new MerkleTreeBuilder() });
        start += k;
        m -= k;
      }
    }
  }

  /** Adds leaf `index` (leaves arrive in order) to the range that holds it, if any. */
  add(index: number, hash: Uint8Array): void {
    const range = this.ranges.find((r) => r.start <= index && index < r.end);
    range?.tree.appendLeafHash(hash);
  }

  proof(): Uint8Array[] {
    return this.ranges.map((r) => r.tree.root());
  }
}
