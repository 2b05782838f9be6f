/**
 * What the log exporter sends, read from the ledger on disk rather than from memory, so that a
 * collector outage or a daemon restart loses nothing: the signed lines after the cursor, and the
 * checkpoints published since, in log order (a checkpoint right after the last batch it covers).
 * Lines are passed on exactly as stored; they are parsed only for their timestamp and origin.
 *
 * A poll reads only what was appended since the cursor: the cursor keeps the byte offset of the next
 * line in its segment and a fingerprint (length, SHA-256) of the acknowledged line before it. When
 * those bytes are still that line, reading resumes there; otherwise (a cursor from an older
 * version, a segment rewritten or truncated) the segment is scanned from its start as before, so
 * the sequence in the cursor, not the offset, decides what was sent.
 */
import { createHash } from 'node:crypto';
import { open, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesFromBase64, stringFromUtf8 } from '../attest/bytes.js';
import { CHECKPOINT_DIR, checkpointFileName, LATEST_CHECKPOINT_FILE } from '../ledger/checkpoint-writer.js';
import { type ReadLedgerOptions, type ReadStart, readLedgerLines } from '../ledger/reader.js';
import { listSegments } from '../ledger/segments.js';
import { ExportError } from './errors.js';
import type { CursorPosition, ResumePoint } from './export-cursor.js';

/** One signed batch as stored. Its sequence is its 0-based line number in the ledger (FORMAT.md). */
export interface PendingBatch {
  readonly kind: 'batch';
  readonly sequence: bigint;
  readonly line: string;
  readonly segment: string;
  readonly segmentFirstSequence: bigint;
  /** Byte offset of the line in its segment. */
  readonly offset: number;
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
  /**
   * Size of each file read (default 64 KiB). A chunk that stops at `maxRecords` wastes at most
   * this much read past its last line; the reader's 1 MiB default would re-read up to 1 MiB of a
   * backlog per request.
   */
  readonly readChunkBytes?: number;
}

const DEFAULT_READ_CHUNK_BYTES = 64 * 1024;

/** The next items to send, and the cursor position once the collector has acknowledged them. */
export interface PendingChunk {
  readonly items: readonly PendingItem[];
  readonly next: CursorPosition;
  /** Ledger segment bytes read to build this chunk (the resume check included). */
  readonly bytesRead: number;
}

/** Reads the next chunk after `position`; an empty chunk means everything on disk was sent. */
export async function readPendingChunk(
  ledgerDir: string,
  position: CursorPosition,
  limits: ChunkLimits,
): Promise<PendingChunk> {
  const { batches, bytesRead } = await readBatchesAfter(ledgerDir, position, limits);
  const covered = Number((batches.at(-1)?.sequence ?? position.lastSequence ?? -1n) + 1n);
  const sizes = await checkpointSizesBetween(ledgerDir, position.checkpointTreeSize, covered);
  const merged = bounded(mergeInLogOrder(batches, sizes), limits);
  const items: PendingItem[] = [];
  let next = position;
  let lastBatch: PendingBatch | null = null;
  for (const item of merged) {
    if (typeof item === 'number') {
      const note = await readCheckpointNote(ledgerDir, item);
      items.push({ kind: 'checkpoint', treeSize: item, note, origin: note.split('\n', 1)[0] || null });
      next = { ...next, checkpointTreeSize: item };
    } else {
      items.push(item);
      lastBatch = item;
      const { sequence, segment, segmentFirstSequence } = item;
      next = { ...next, lastSequence: sequence, segment, segmentFirstSequence };
    }
  }
  if (lastBatch !== null) next = { ...next, resume: resumePointAfter(lastBatch) };
  return { items, next, bytesRead };
}

/** The resume point just after `batch`'s line. */
function resumePointAfter(batch: PendingBatch): ResumePoint {
  const bytes = Buffer.from(batch.line, 'utf8');
  return {
    nextOffset: batch.offset + bytes.length + 1,
    lastLineBytes: bytes.length,
    lastLineSha256: createHash('sha256').update(bytes).digest('hex'),
  };
}

/**
 * Whether `position.resume` still holds in `segmentPath`: the bytes before it are a whole line
 * (preceded by `\n` or the file's start) with the recorded length and SHA-256. Any doubt, including
 * an I/O error, answers `false`, and the caller scans instead. `bytesRead` is what was read.
 */
async function resumeHolds(
  segmentPath: string,
  resume: ResumePoint,
): Promise<{ holds: boolean; bytesRead: number }> {
  const lineStart = resume.nextOffset - resume.lastLineBytes - 1;
  const from = Math.max(lineStart - 1, 0);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(segmentPath, 'r');
    const buffer = Buffer.alloc(resume.nextOffset - from);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, from);
    if (bytesRead !== buffer.length) return { holds: false, bytesRead };
    const line = buffer.subarray(lineStart - from, buffer.length - 1);
    const holds =
      (lineStart === 0 || buffer[0] === NEWLINE) &&
      buffer[buffer.length - 1] === NEWLINE &&
      createHash('sha256').update(line).digest('hex') === resume.lastLineSha256;
    return { holds, bytesRead };
  } catch {
    return { holds: false, bytesRead: 0 };
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

const NEWLINE = 0x0a;

/**
 * Up to `limits.maxRecords` batches after `position.lastSequence`. Starts at the cursor's resume point when it
 * holds, else at the start of the cursor's segment when it still exists, else at the first
 * segment. A partial last line (a write in progress) ends the read quietly; it is read again, whole,
 * by a later poll. Any other damage is an error, because skipping a line would shift every later
 * sequence.
 */
async function readBatchesAfter(
  dir: string,
  position: CursorPosition,
  limits: ChunkLimits,
): Promise<{ batches: PendingBatch[]; bytesRead: number }> {
  const max = limits.maxRecords;
  const segments = await listSegments(dir).catch((cause: unknown) => {
    throw new ExportError('EXPORT_LEDGER_UNREADABLE', `cannot list the ledger ${dir}`, { cause });
  });
  const from = segments.findIndex((s) => s.name === position.segment);
  const base = from >= 0 ? position.segmentFirstSequence : 0n;
  const files = segments.slice(Math.max(from, 0)).map((s) => s.path);
  let bytesRead = 0;
  let start: ReadStart | undefined;
  const { lastSequence, resume } = position;
  if (from >= 0 && lastSequence !== null && resume !== null && lastSequence >= base) {
    const check = await resumeHolds(files[0] as string, resume);
    bytesRead += check.bytesRead;
    const lineIndex = Number(lastSequence - base);
    if (check.holds) start = { offset: resume.nextOffset, lineNumber: lineIndex + 2, index: lineIndex + 1 };
  }
  const batches: PendingBatch[] = [];
  // Resuming, the check has just seen line `lastSequence`.
  let lastSeen = start ? (lastSequence as bigint) : base - 1n;
  let readerBytes = 0;
  const options: ReadLedgerOptions = {
    ...(start ? { start } : {}),
    chunkBytes: limits.readChunkBytes ?? DEFAULT_READ_CHUNK_BYTES,
    onProgress: (progress) => {
      readerBytes = progress.bytesRead;
    },
  };
  const done = () => ({ batches, bytesRead: bytesRead + readerBytes });
  for await (const item of files.length > 0 ? readLedgerLines(files, options) : []) {
    const sequence = base + BigInt(item.index);
    if (item.kind === 'error') {
      if (item.error.code === 'LEDGER_TORN_TAIL') return done();
      throw new ExportError('EXPORT_LEDGER_UNREADABLE', `ledger line ${sequence} cannot be read`, {
        cause: item.error,
        hint: 'run `wattledger verify` on the ledger directory',
      });
    }
    lastSeen = sequence;
    if (lastSequence !== null && sequence <= lastSequence) continue;
    const segmentFirstSequence = sequence - BigInt(item.lineNumber - 1);
    batches.push({
      kind: 'batch',
      sequence,
      line: item.line,
      segment: item.segment,
      segmentFirstSequence,
      offset: item.offset,
      ...facts(item.line),
    });
    if (batches.length >= max) return done();
  }
  if (lastSequence !== null && lastSeen < lastSequence) throw shorterThanCursor(dir, position);
  return done();
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
