/**
 * Follows a live ledger from a byte position: reads the complete lines appended since, across
 * segment rotations, by positioned reads. The index uses it to catch up after the start-up scan,
 * whether or not the batcher reports each sealed batch. Only bytes are handled: a line's leaf
 * hash is over its UTF-8 bytes, so it is never decoded here.
 */
import { type FileHandle, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LedgerError, ledgerIoError } from '../ledger/errors.js';
import { segmentFileName } from '../ledger/segments.js';

const NEWLINE = 0x0a;
const CHUNK_BYTES = 1024 * 1024;
/** The reader's limit for untrusted files; our own lines are far smaller. */
const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** The first byte not yet read: a segment number and an offset in it. */
export interface TailPosition {
  readonly segmentNumber: number;
  readonly offset: number;
}

/** One complete line found by {@link readNewLines} (its bytes without the newline). */
export interface TailLine {
  readonly segmentNumber: number;
  readonly offset: number;
  readonly bytes: Uint8Array;
}

/**
 * Reads every complete line after `from` and returns the position after the last one. A partial
 * last line of the newest segment is left for the next call (a writer may be mid-append); a
 * partial line in a segment that has a successor is `LEDGER_CORRUPT`, as the reader says.
 */
export async function readNewLines(
  dir: string,
  from: TailPosition,
  onLine: (line: TailLine) => void,
): Promise<TailPosition> {
  let position = from;
  for (;;) {
    // Look for the successor first: once it exists the store has finished this segment, so one
    // more read to its end cannot miss a line written between the two checks.
    const hasNext = await exists(join(dir, segmentFileName(position.segmentNumber + 1)));
    const { end, partial } = await readSegment(dir, position, onLine);
    position = { segmentNumber: position.segmentNumber, offset: end };
    if (!hasNext) return position;
    if (partial) throw partialLine(dir, position);
    position = { segmentNumber: position.segmentNumber + 1, offset: 0 };
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw ledgerIoError('stat segment', path, error);
  }
}

function partialLine(dir: string, at: TailPosition): LedgerError {
  const segment = segmentFileName(at.segmentNumber);
  return new LedgerError(
    'LEDGER_CORRUPT',
    `${join(dir, segment)} ends in a partial line at byte ${at.offset} but is not the last segment`,
    {
      hint: 'the segment was truncated or edited; restore it from a backup',
      details: { segment, offset: at.offset },
    },
  );
}

/** Reads one segment from `from.offset` to its end; `end` is after the last complete line. */
async function readSegment(
  dir: string,
  from: TailPosition,
  onLine: (line: TailLine) => void,
): Promise<{ end: number; partial: boolean }> {
  const path = join(dir, segmentFileName(from.segmentNumber));
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    // No segment yet (an empty ledger): nothing to read.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { end: from.offset, partial: false };
    throw ledgerIoError('open segment', path, error);
  }
  try {
    return await scanLines(handle, from, onLine, path);
  } catch (error) {
    if (error instanceof LedgerError) throw error;
    throw ledgerIoError('read segment', path, error);
  } finally {
    await handle.close();
  }
}

async function scanLines(
  handle: FileHandle,
  from: TailPosition,
  onLine: (line: TailLine) => void,
  path: string,
): Promise<{ end: number; partial: boolean }> {
  let lineStart = from.offset;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const chunk = Buffer.alloc(CHUNK_BYTES);
  for (let position = from.offset; ; ) {
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
    if (bytesRead === 0) return { end: lineStart, partial: pendingBytes > 0 };
    const data = chunk.subarray(0, bytesRead);
    let start = 0;
    for (let nl = data.indexOf(NEWLINE); nl !== -1; nl = data.indexOf(NEWLINE, start)) {
      const bytes = Buffer.concat([...pending, data.subarray(start, nl)]);
      if (bytes.length === 0) throw corruptLine(path, lineStart, 'is empty');
      onLine({ segmentNumber: from.segmentNumber, offset: lineStart, bytes });
      lineStart += bytes.length + 1;
      [pending, pendingBytes, start] = [[], 0, nl + 1];
    }
    // Copied: the chunk buffer is reused by the next read.
    pending.push(Buffer.from(data.subarray(start)));
    pendingBytes += bytesRead - start;
    if (pendingBytes > MAX_LINE_BYTES) throw corruptLine(path, lineStart, `is over ${MAX_LINE_BYTES} bytes`);
    position += bytesRead;
  }
}

function corruptLine(path: string, offset: number, what: string): LedgerError {
  return new LedgerError('LEDGER_CORRUPT', `the line at byte ${offset} of ${path} ${what}`, {
    hint: 'the segment was damaged or edited; restore it from a backup',
    details: { offset },
  });
}
