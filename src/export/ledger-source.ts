/**
 * What the log exporter sends, read from the ledger on disk rather than from memory, so that a
 * collector outage or a daemon restart loses nothing: the signed lines after the cursor, and the
 * checkpoints published since, in log order (a checkpoint right after the last batch it covers).
 * Lines are passed on exactly as stored; they are parsed only for their timestamp and origin.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesFromBase64, stringFromUtf8 } from '../attest/bytes.js';
import { CHECKPOINT_DIR, checkpointFileName, LATEST_CHECKPOINT_FILE } from '../ledger/checkpoint-writer.js';
import { readLedgerLines } from '../ledger/reader.js';
import { listSegments } from '../ledger/segments.js';
import { ExportError } from './errors.js';
import type { CursorPosition } from './export-cursor.js';

/** One signed batch as stored. Its sequence is its 0-based line number in the ledger (FORMAT.md). */
export interface PendingBatch {
  readonly kind: 'batch';
  readonly sequence: bigint;
  readonly line: string;
  readonly segment: string;
  readonly segmentFirstSequence: bigint;
  /** From the signed payload, for the record's timestamp and attributes; `null` when unreadable. */
  readonly endUnixNanos: bigint | null;
  readonly origin: string | null;
}

/** One checkpoint note as published. */
export interface PendingCheckpoint {
  readonly kind: 'checkpoint';
  readonly treeSize: number;
  readonly note: string;
  readonly origin: string | null;
}

export type PendingItem = PendingBatch | PendingCheckpoint;

/** Bounds of one export request. */
export interface ChunkLimits {
  readonly maxRecords: number;
  /** Bodies stop being added past this many bytes (a single larger body still goes alone). */
  readonly maxBytes: number;
}

/** The next items to send, and the cursor position once the collector has acknowledged them. */
export interface PendingChunk {
  readonly items: readonly PendingItem[];
  readonly next: CursorPosition;
}

/** Reads the next chunk after `position`; an empty chunk means everything on disk was sent. */
export async function readPendingChunk(
  ledgerDir: string,
  position: CursorPosition,
  limits: ChunkLimits,
): Promise<PendingChunk> {
  const batches = await readBatchesAfter(ledgerDir, position, limits.maxRecords);
  const covered = Number((batches.at(-1)?.sequence ?? position.lastSequence ?? -1n) + 1n);
  const sizes = await checkpointSizesBetween(ledgerDir, position.checkpointTreeSize, covered);
  const merged = bounded(mergeInLogOrder(batches, sizes), limits);
  const items: PendingItem[] = [];
  let next = position;
  for (const item of merged) {
    if (typeof item === 'number') {
      const note = await readCheckpointNote(ledgerDir, item);
      items.push({ kind: 'checkpoint', treeSize: item, note, origin: note.split('\n', 1)[0] || null });
      next = { ...next, checkpointTreeSize: item };
    } else {
      items.push(item);
      const { sequence, segment, segmentFirstSequence } = item;
      next = { ...next, lastSequence: sequence, segment, segmentFirstSequence };
    }
  }
  return { items, next };
}

/**
 * Up to `max` batches after `position.lastSequence`. Starts at the cursor's segment when it still
 * exists. A partial last line (a write in progress) ends the read quietly; any other damage is an
 * error, because skipping a line would shift every later sequence.
 */
async function readBatchesAfter(dir: string, position: CursorPosition, max: number): Promise<PendingBatch[]> {
  const segments = await listSegments(dir).catch((cause: unknown) => {
    throw new ExportError('EXPORT_LEDGER_UNREADABLE', `cannot list the ledger ${dir}`, { cause });
  });
  const from = segments.findIndex((s) => s.name === position.segment);
  const base = from >= 0 ? position.segmentFirstSequence : 0n;
  const files = segments.slice(Math.max(from, 0)).map((s) => s.path);
  const batches: PendingBatch[] = [];
  let lastSeen = base - 1n;
  for await (const item of files.length > 0 ? readLedgerLines(files) : []) {
    const sequence = base + BigInt(item.index);
    if (item.kind === 'error') {
      if (item.error.code === 'LEDGER_TORN_TAIL') return batches;
      throw new ExportError('EXPORT_LEDGER_UNREADABLE', `ledger line ${sequence} cannot be read`, {
        cause: item.error,
        hint: 'run `wattledger verify` on the ledger directory',
      });
    }
    lastSeen = sequence;
    if (position.lastSequence !== null && sequence <= position.lastSequence) continue;
    const segmentFirstSequence = sequence - BigInt(item.lineNumber - 1);
    batches.push({
      kind: 'batch',
      sequence,
      line: item.line,
      segment: item.segment,
      segmentFirstSequence,
      ...facts(item.line),
    });
    if (batches.length >= max) return batches;
  }
  if (position.lastSequence !== null && lastSeen < position.lastSequence)
    throw shorterThanCursor(dir, position);
  return batches;
}

/** The cursor is past the ledger's end: a different or truncated ledger; never guess which. */
function shorterThanCursor(dir: string, position: CursorPosition): ExportError {
  return new ExportError(
    'EXPORT_LEDGER_UNREADABLE',
    `the ledger ${dir} ends before batch ${position.lastSequence}, which the export cursor says was sent`,
    {
      hint: 'if the ledger was replaced on purpose, delete export/otlp-cursor.json to export it from the start',
    },
  );
}

/** Window end and origin from the signed payload; the line itself is never altered. */
function facts(line: string): { endUnixNanos: bigint | null; origin: string | null } {
  try {
    const envelope = JSON.parse(line) as { payload: string };
    const statement = JSON.parse(stringFromUtf8(bytesFromBase64(envelope.payload))) as {
      predicate: { origin?: unknown; window?: { endUnixNanos?: unknown } };
    };
    const end = statement.predicate.window?.endUnixNanos;
    const origin = statement.predicate.origin;
    return {
      endUnixNanos: typeof end === 'string' && /^\d{1,30}$/.test(end) ? BigInt(end) : null,
      origin: typeof origin === 'string' ? origin : null,
    };
  } catch {
    return { endUnixNanos: null, origin: null };
  }
}

/**
 * Tree sizes of the checkpoints published in `(after, upTo]`. The latest checkpoint is read first,
 * so the (ever-growing) checkpoint folder is listed only when there is something new.
 */
async function checkpointSizesBetween(dir: string, after: number, upTo: number): Promise<number[]> {
  if (upTo <= after) return [];
  const latest = await readFile(join(dir, LATEST_CHECKPOINT_FILE), 'utf8').catch(() => null);
  const latestSize = latest === null ? Number.NaN : Number(latest.split('\n', 2)[1]);
  if (!(latestSize > after)) return [];
  const names = await readdir(join(dir, CHECKPOINT_DIR)).catch(() => [] as string[]);
  const sizes = names.map((name) => /^checkpoint-(\d{1,16})\.note$/.exec(name)?.[1]).map(Number);
  return sizes.filter((size) => size > after && size <= upTo).sort((a, b) => a - b);
}

function readCheckpointNote(dir: string, treeSize: number): Promise<string> {
  const path = join(dir, CHECKPOINT_DIR, checkpointFileName(treeSize));
  return readFile(path, 'utf8').catch((cause: unknown) => {
    throw new ExportError('EXPORT_LEDGER_UNREADABLE', `cannot read checkpoint ${path}`, { cause });
  });
}

/** Batches and checkpoint sizes in log order: checkpoint `n` right after batch `n − 1`. */
function mergeInLogOrder(
  batches: readonly PendingBatch[],
  sizes: readonly number[],
): (PendingBatch | number)[] {
  const out: (PendingBatch | number)[] = [];
  let next = 0;
  for (const batch of batches) {
    while (next < sizes.length && BigInt(sizes[next] as number) <= batch.sequence)
      out.push(sizes[next++] as number);
    out.push(batch);
  }
  return [...out, ...sizes.slice(next)];
}

/** A prefix of `items` within the limits; always at least one item when there is one. */
function bounded(items: readonly (PendingBatch | number)[], limits: ChunkLimits): (PendingBatch | number)[] {
  const out: (PendingBatch | number)[] = [];
  let bytes = 0;
  for (const item of items) {
    // Checkpoint notes are a few hundred bytes; counting them as 1 KiB keeps this simple.
    const size = typeof item === 'number' ? 1024 : Buffer.byteLength(item.line);
    if (out.length > 0 && (out.length >= limits.maxRecords || bytes + size > limits.maxBytes)) break;
    out.push(item);
    bytes += size;
  }
  return out;
}
