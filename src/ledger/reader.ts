/**
 * Streaming reader of ledger segments. It never loads a whole segment: bytes are scanned chunk by
 * chunk for `\n`, and a line split across chunks is reassembled. Lines are split on bytes, not by
 * `readline`, because readline also breaks on a lone `\r` and replaces invalid UTF-8 silently;
 * both would change what a verifier sees.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { LedgerError, ledgerIoError } from './errors.js';
import { listSegments, orderSegmentFiles, type SegmentRef } from './segments.js';

const NEWLINE = 0x0a;
const DEFAULT_CHUNK_BYTES = 1024 * 1024;
const DEFAULT_MAX_LINE_BYTES = 64 * 1024 * 1024;

/**
 * One complete line. `lineNumber` is 1-based within the segment; `index` is 0-based over all files
 * (both continue from {@link ReadLedgerOptions.start} when given).
 */
export interface LedgerLine {
  readonly kind: 'line';
  readonly segment: string;
  readonly path: string;
  readonly lineNumber: number;
  readonly index: number;
  /** Byte offset of the line's first byte within the segment. */
  readonly offset: number;
  readonly line: string;
}

/**
 * A stretch of bytes that is not a valid line: `LEDGER_TORN_TAIL` for a partial last line of the
 * last file, `LEDGER_CORRUPT` for a partial line ending any other file, invalid UTF-8, an empty
 * line or a line over `maxLineBytes`. Reading continues after it.
 */
export interface LedgerReadError {
  readonly kind: 'error';
  readonly segment: string;
  readonly path: string;
  readonly lineNumber: number;
  readonly index: number;
  readonly offset: number;
  readonly sizeBytes: number;
  readonly error: LedgerError;
}

/** What {@link readLedgerLines} yields. */
export type LedgerReadItem = LedgerLine | LedgerReadError;

/** Progress over the whole read; `totalBytes`: the file sizes when reading began, less what `start` skips. */
export interface ReadProgress {
  readonly bytesRead: number;
  readonly totalBytes: number;
}

/** Options of {@link readLedgerLines}. */
export interface ReadLedgerOptions {
  /** Called after every chunk read. */
  readonly onProgress?: (progress: ReadProgress) => void;
  /** Longest line accepted (default 64 MiB); files are untrusted input to a verifier. */
  readonly maxLineBytes?: number;
  /** Read size (default 1 MiB). */
  readonly chunkBytes?: number;
  /**
   * Resume inside the first file instead of at its beginning: `offset` must be the first byte of a
   * line (0, or just after a `\n`), numbered `lineNumber` in its segment and `index` in the read.
   * Bytes before it are not read. An offset past the file's size reads nothing of that file.
   */
  readonly start?: ReadStart;
}

/** Where {@link ReadLedgerOptions.start} resumes: a line boundary and the numbers of that line. */
export interface ReadStart {
  readonly offset: number;
  readonly lineNumber: number;
  readonly index: number;
}

interface FileScan {
  readonly ref: SegmentRef;
  readonly sizeBytes: number;
  readonly isLast: boolean;
  /** Where reading starts in this file (the first file with `start`; 0 and line 1 otherwise). */
  readonly startOffset: number;
  readonly startLineNumber: number;
}

/**
 * Reads every line of a ledger in order. `source` is a ledger directory (segments discovered and
 * checked for holes), one file, or a list of files (ordered by segment number when all follow the
 * naming scheme). Each file is read up to its size at the start, so a live ledger reads as a
 * snapshot; `options.start` skips the first file's bytes before a known line (the exporter's poll). Throws `LEDGER_CORRUPT` for a hole or duplicate and `LEDGER_IO` for an unreadable path
 * before yielding; damaged lines are yielded as {@link LedgerReadError} items.
 */
export async function* readLedgerLines(
  source: string | readonly string[],
  options: ReadLedgerOptions = {},
): AsyncGenerator<LedgerReadItem, void, undefined> {
  const refs = await resolveSource(source);
  const sizes = await Promise.all(refs.map((ref) => fileSize(ref.path)));
  const start = options.start ?? { offset: 0, lineNumber: 1, index: 0 };
  checkStart(start);
  const skipped = Math.min(start.offset, sizes[0] ?? 0);
  const progress = { bytesRead: 0, totalBytes: sizes.reduce((sum, size) => sum + size, 0) - skipped };
  let index = start.index;
  for (const [position, ref] of refs.entries()) {
    const scan: FileScan = {
      ref,
      sizeBytes: sizes[position] ?? 0,
      isLast: position === refs.length - 1,
      startOffset: position === 0 ? start.offset : 0,
      startLineNumber: position === 0 ? start.lineNumber : 1,
    };
    for await (const item of readFile(scan, index, options, progress)) {
      index = item.index + 1;
      yield item;
    }
  }
}

function checkStart(start: ReadStart): void {
  const valid =
    Number.isSafeInteger(start.offset) &&
    start.offset >= 0 &&
    Number.isSafeInteger(start.lineNumber) &&
    start.lineNumber >= 1 &&
    Number.isSafeInteger(start.index) &&
    start.index >= 0;
  if (!valid) throw new RangeError(`invalid read start ${JSON.stringify(start)}`);
}

async function resolveSource(source: string | readonly string[]): Promise<readonly SegmentRef[]> {
  if (typeof source !== 'string') return orderSegmentFiles(source);
  const info = await stat(source).catch((error: unknown) => {
    throw ledgerIoError('read ledger', source, error);
  });
  return info.isDirectory() ? listSegments(source) : orderSegmentFiles([source]);
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    throw ledgerIoError('stat segment', path, error);
  }
}

async function* readFile(
  scan: FileScan,
  firstIndex: number,
  options: ReadLedgerOptions,
  progress: { bytesRead: number; totalBytes: number },
): AsyncGenerator<LedgerReadItem, void, undefined> {
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const splitter = new LineSplitter(scan, firstIndex, maxLineBytes);
  if (scan.sizeBytes <= scan.startOffset) return;
  // `end` is inclusive; bounding it makes the read a snapshot even while a writer appends.
  const stream = createReadStream(scan.ref.path, {
    start: scan.startOffset,
    end: scan.sizeBytes - 1,
    highWaterMark: options.chunkBytes ?? DEFAULT_CHUNK_BYTES,
  });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      progress.bytesRead += chunk.length;
      options.onProgress?.({ ...progress });
      yield* splitter.push(chunk);
    }
  } catch (error) {
    throw ledgerIoError('read segment', scan.ref.path, error);
  }
  const tail = splitter.finish(scan.isLast);
  if (tail) yield tail;
}

/** Splits a byte stream into lines; keeps the partial line between chunks. */
class LineSplitter {
  readonly #decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #lineOffset = 0;
  #lineNumber = 1;
  #index: number;

  private readonly ref: SegmentRef;

  constructor(
    scan: FileScan,
    firstIndex: number,
    private readonly maxLineBytes: number,
  ) {
    this.ref = scan.ref;
    this.#lineOffset = scan.startOffset;
    this.#lineNumber = scan.startLineNumber;
    this.#index = firstIndex;
  }

  *push(chunk: Buffer): Generator<LedgerReadItem, void, undefined> {
    let start = 0;
    for (let newline = chunk.indexOf(NEWLINE); newline !== -1; newline = chunk.indexOf(NEWLINE, start)) {
      this.#append(chunk.subarray(start, newline));
      yield this.#takeLine();
      start = newline + 1;
    }
    this.#append(chunk.subarray(start));
  }

  /** The leftover partial line, if any, as a torn-tail (last file) or corrupt (other file) item. */
  finish(isLast: boolean): LedgerReadError | undefined {
    if (this.#pendingBytes === 0) return undefined;
    const where = `${this.ref.path} at byte ${this.#lineOffset}`;
    return isLast
      ? this.#error(
          'LEDGER_TORN_TAIL',
          `${where} ends in a partial line of ${this.#pendingBytes} bytes`,
          'a writer crashed mid-append; opening the store quarantines it under torn/',
        )
      : this.#error(
          'LEDGER_CORRUPT',
          `${where} ends without a newline but is not the last segment`,
          'the segment was truncated or edited; restore it from a backup',
        );
  }

  #append(bytes: Buffer): void {
    // Past the limit only the count is kept, so a hostile file cannot exhaust memory.
    if (this.#pendingBytes + bytes.length <= this.maxLineBytes) this.#pending.push(bytes);
    else this.#pending = [];
    this.#pendingBytes += bytes.length;
  }

  #takeLine(): LedgerReadItem {
    const item = this.#decodeLine();
    this.#lineOffset += this.#pendingBytes + 1;
    this.#lineNumber += 1;
    this.#index += 1;
    this.#pending = [];
    this.#pendingBytes = 0;
    return item;
  }

  #decodeLine(): LedgerReadItem {
    const where = `line ${this.#lineNumber} of ${this.ref.path}`;
    const restore = 'the segment was damaged or edited; restore it from a backup';
    if (this.#pendingBytes === 0) return this.#error('LEDGER_CORRUPT', `${where} is empty`, restore);
    if (this.#pendingBytes > this.maxLineBytes) {
      return this.#error(
        'LEDGER_CORRUPT',
        `${where} is ${this.#pendingBytes} bytes, over ${this.maxLineBytes}`,
        restore,
      );
    }
    let line: string;
    try {
      line = this.#decoder.decode(Buffer.concat(this.#pending, this.#pendingBytes));
    } catch {
      return this.#error('LEDGER_CORRUPT', `${where} is not valid utf-8`, restore);
    }
    const { name: segment, path } = this.ref;
    return {
      kind: 'line',
      segment,
      path,
      lineNumber: this.#lineNumber,
      index: this.#index,
      offset: this.#lineOffset,
      line,
    };
  }

  #error(code: 'LEDGER_TORN_TAIL' | 'LEDGER_CORRUPT', message: string, hint: string): LedgerReadError {
    const { name: segment, path } = this.ref;
    const at = { segment, path, lineNumber: this.#lineNumber, index: this.#index, offset: this.#lineOffset };
    const error = new LedgerError(code, message, {
      hint,
      details: { segment, offset: at.offset, sizeBytes: this.#pendingBytes },
    });
    return { kind: 'error', ...at, sizeBytes: this.#pendingBytes, error };
  }
}
