/**
 * The ledger's on-disk store: append-only, crash-safe, size-rotated segments of opaque lines (one
 * DSSE envelope each). An append resolves only after its bytes are on stable storage; a crash can
 * leave at most one partial line, which the next open quarantines under `torn/`, never drops.
 */
import { isUtf8 } from 'node:buffer';
import { type FileHandle, mkdir, open, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LedgerError, ledgerIoError } from './errors.js';
import { acquireLock, type LedgerLock } from './lock.js';
import { type LedgerLine, type LedgerReadError, readLedgerLines } from './reader.js';
import {
  fsyncDirectory,
  listSegments,
  repairTornTail,
  type SegmentRef,
  segmentFileName,
} from './segments.js';

/** Default rotation size: 64 MiB per segment. */
export const DEFAULT_MAX_SEGMENT_BYTES = 64 * 1024 * 1024;

/** Something the store did that an operator should see in the logs. */
export type LedgerEvent =
  | {
      readonly kind: 'torn-tail-repaired';
      readonly segment: string;
      readonly offset: number;
      readonly bytes: number;
      readonly quarantinePath: string;
    }
  | { readonly kind: 'stale-lock-taken-over'; readonly lockPath: string; readonly stalePid: number | null }
  | { readonly kind: 'segment-created'; readonly segment: string };

/** Options of {@link LedgerStore.open}. */
export interface LedgerStoreOptions {
  /** Ledger directory; created with mode 0700 when missing. */
  readonly dir: string;
  /** Rotate before a segment would exceed this size (default 64 MiB). */
  readonly maxSegmentBytes?: number;
  /** Receives events; an exception it throws is ignored, because the durable work is already done. */
  readonly onEvent?: (event: LedgerEvent) => void;
  /**
   * Receives every complete line, in order, as the open reads them to count the lines (after a torn
   * tail was quarantined), so whatever else needs the ledger's content at start-up (the chain
   * state, the API index) gets it from this one pass instead of reading the ledger again. An
   * exception it throws fails the open (the lock is released).
   */
  readonly onLine?: (line: LedgerLine) => void;
  /**
   * Lines a signed checkpoint covers (its tree size; 0 or absent: none). Those lines were sealed
   * and published, so the open never repairs them: a torn line among them, or fewer lines than
   * this, is damage (`LEDGER_CORRUPT`, naming the file and line), not a torn tail.
   */
  readonly checkpointedLines?: number;
}

/** Where an appended line landed: segment file name, byte offset in it, 0-based index in the ledger. */
export interface AppendResult {
  readonly segment: string;
  readonly offset: number;
  readonly index: number;
}

interface ActiveSegment {
  readonly ref: SegmentRef;
  readonly handle: FileHandle;
  sizeBytes: number;
}

const LINE_BREAK = /[\n\r]/;
const LF = 0x0a;
const CR = 0x0d;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * An open, exclusively locked ledger. Appends are serialised through one queue, so concurrent
 * callers never interleave and indices follow call order.
 */
export class LedgerStore {
  readonly dir: string;
  readonly maxSegmentBytes: number;
  readonly #emit: (event: LedgerEvent) => void;
  readonly #lock: LedgerLock;
  #active: ActiveSegment | undefined;
  /** The newest segment's number, also while none is open (a rotation that failed). */
  #lastSegmentNumber: number;
  #lineCount: number;
  #lastLine: string | null;
  #queue: Promise<unknown> = Promise.resolve();
  #failure: LedgerError | undefined;
  #closing: Promise<void> | undefined;

  private constructor(
    options: Required<Omit<LedgerStoreOptions, 'onEvent' | 'onLine' | 'checkpointedLines'>>,
    emit: (event: LedgerEvent) => void,
    state: {
      lock: LedgerLock;
      active: ActiveSegment | undefined;
      lineCount: number;
      lastLine: string | null;
    },
  ) {
    this.dir = options.dir;
    this.maxSegmentBytes = options.maxSegmentBytes;
    this.#emit = emit;
    this.#lock = state.lock;
    this.#active = state.active;
    this.#lastSegmentNumber = state.active?.ref.segmentNumber ?? 0;
    this.#lineCount = state.lineCount;
    this.#lastLine = state.lastLine;
  }

  /**
   * Opens (creating if needed) the ledger in `options.dir`: takes `ledger.lock`, repairs a torn
   * tail of the last segment (event `torn-tail-repaired`) and counts the lines in one read of the
   * ledger, handing each to `options.onLine`. Throws
   * `LEDGER_LOCKED` when a live process holds the lock, `LEDGER_CORRUPT` for a missing segment or
   * damaged line, `LEDGER_IO` for file-system failures.
   */
  static async open(options: LedgerStoreOptions): Promise<LedgerStore> {
    const maxSegmentBytes = options.maxSegmentBytes ?? DEFAULT_MAX_SEGMENT_BYTES;
    if (!Number.isSafeInteger(maxSegmentBytes) || maxSegmentBytes < 1) {
      throw new RangeError(`maxSegmentBytes must be a positive integer, got ${maxSegmentBytes}`);
    }
    const emit = (event: LedgerEvent): void => {
      try {
        options.onEvent?.(event);
      } catch {
        // A failing log sink must not fail the ledger; the event only reports finished work.
      }
    };
    await createDirectory(options.dir);
    const lock = await acquireLock(options.dir, (lockPath, stalePid) =>
      emit({ kind: 'stale-lock-taken-over', lockPath, stalePid }),
    );
    try {
      const state = await recover(options.dir, emit, options.onLine, options.checkpointedLines ?? 0);
      return new LedgerStore({ dir: options.dir, maxSegmentBytes }, emit, { lock, ...state });
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  /** The last complete line (to resume the hash chain), or `null` for an empty ledger. */
  lastLine(): string | null {
    return this.#lastLine;
  }

  /** Number of complete lines in the ledger, which is also the index the next append gets. */
  lineCount(): number {
    return this.#lineCount;
  }

  /**
   * Appends one line (a `\n` is added) and resolves once it is on stable storage. Rejects with
   * `LEDGER_INVALID_LINE` (nothing written) for an empty line or one containing `\n`, `\r` or a
   * lone surrogate; with `LEDGER_IO` when the store is closed, or when a write or fsync failed, after
   * which every append fails until the store is reopened (which repairs the tail).
   */
  append(line: string): Promise<AppendResult> {
    if (this.#closing) return Promise.reject(closedError(this.dir));
    let bytes: Buffer;
    try {
      bytes = encodeLine(line, this.dir);
    } catch (error) {
      return Promise.reject(error);
    }
    const result = this.#queue.then(() => this.#write(bytes, line));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Appends several lines with one write and one fdatasync, in order, and resolves once all are on
   * stable storage (a batch's request records: 10,000 single appends would be 10,000 fsyncs). The
   * group is never split across segments. Rejects as {@link append} does; nothing is written when
   * any line is invalid.
   */
  appendMany(lines: readonly string[]): Promise<AppendResult[]> {
    if (this.#closing) return Promise.reject(closedError(this.dir));
    if (lines.length === 0) return Promise.resolve([]);
    try {
      for (const line of lines) checkLine(line, this.dir);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.appendEncodedLines(Buffer.from(`${lines.join('\n')}\n`, 'utf8'));
  }

  /**
   * Appends complete lines that are already UTF-8, each ending in `\n`, with one write and one
   * fdatasync, as {@link appendMany} does but without encoding them again (the record log lays out
   * a batch's lines from the records' bytes). The store writes `bytes` itself, later: the caller
   * must not change them afterwards. Rejects with `LEDGER_INVALID_LINE` (nothing written) unless
   * `bytes` is well-formed UTF-8 of non-empty lines, each ended by `\n` and holding no `\r`.
   */
  appendEncodedLines(bytes: Uint8Array): Promise<AppendResult[]> {
    if (this.#closing) return Promise.reject(closedError(this.dir));
    if (bytes.length === 0) return Promise.resolve([]);
    const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    let lineBytes: number[];
    try {
      lineBytes = encodedLineLengths(buffer, this.dir);
    } catch (error) {
      return Promise.reject(error);
    }
    const lastLine = (): string => {
      const lastLength = lineBytes[lineBytes.length - 1] as number;
      return buffer.toString('utf8', buffer.length - lastLength, buffer.length - 1);
    };
    return this.#enqueue(() => this.#writeGroup(buffer, lineBytes, lastLine));
  }

  #enqueue(write: () => Promise<AppendResult[]>): Promise<AppendResult[]> {
    const result = this.#queue.then(write);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  /** Whether appends are refused after a failed write (until {@link recover} succeeds). */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /**
   * After a failed write or fsync (a full disk, EIO): cuts the open segment back to its last
   * acknowledged byte, fsyncs that, and takes appends again. The cut removes whatever part of the
   * failed write reached the file, so no acknowledged line changes and no partial line stays.
   * Rejects with `LEDGER_IO` (and the store stays failed) when the file system still fails; call
   * again later. Does nothing on a healthy store.
   */
  recover(): Promise<void> {
    const run = async (): Promise<AppendResult[]> => {
      if (this.#failure === undefined || this.#closing) return [];
      const active = this.#active;
      try {
        if (active) {
          await active.handle.truncate(active.sizeBytes);
          await active.handle.datasync();
        } else {
          // A rotation failed after the old segment was closed: a new segment file may be left, empty.
          await removeEmptySegment(this.dir, this.#lastSegmentNumber + 1);
        }
      } catch (error) {
        throw ledgerIoError('recover', active?.ref.path ?? this.dir, error);
      }
      this.#failure = undefined;
      return [];
    };
    return this.#enqueue(run).then(() => undefined);
  }

  /** Waits for queued appends, closes the segment and removes the lock. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#queue;
      try {
        await this.#active?.handle.close();
      } finally {
        this.#active = undefined;
        await this.#lock.release();
      }
    })();
    return this.#closing;
  }

  async #write(bytes: Buffer, line: string): Promise<AppendResult> {
    const [result] = await this.#writeGroup(bytes, [bytes.length], () => line);
    return result as AppendResult;
  }

  /** Writes `bytes` (whole lines of `lineBytes` bytes each, newline included) and fdatasyncs. */
  async #writeGroup(
    bytes: Buffer,
    lineBytes: readonly number[],
    lastLine: () => string,
  ): Promise<AppendResult[]> {
    if (this.#failure) throw this.#failure;
    let path = this.dir;
    try {
      const active = await this.#segmentFor(bytes.length);
      path = active.ref.path;
      const offset = active.sizeBytes;
      await writeAll(active.handle, bytes, offset);
      // fdatasync, not fsync: it flushes the data and the new size (needed to read it back) and
      // skips timestamps. Only after it may the caller treat the line as part of the ledger.
      await active.handle.datasync();
      active.sizeBytes += bytes.length;
      this.#lastLine = lastLine();
      let lineOffset = offset;
      const results: AppendResult[] = new Array(lineBytes.length);
      for (let i = 0; i < lineBytes.length; i++) {
        results[i] = { segment: active.ref.name, offset: lineOffset, index: this.#lineCount++ };
        lineOffset += lineBytes[i] as number;
      }
      return results;
    } catch (error) {
      // After a failed write or fsync the file's content is unknown, and Linux may drop the dirty
      // pages and report success on a retried fsync ("fsyncgate"), so the store refuses further
      // appends; reopening truncates whatever partial line is left.
      this.#failure = ledgerIoError('append to', path, error);
      throw this.#failure;
    }
  }

  /** The segment to write `lineBytes` into, rotating first when the current one would overflow. */
  async #segmentFor(lineBytes: number): Promise<ActiveSegment> {
    const current = this.#active;
    // An empty segment takes any line, so a line over maxSegmentBytes sits alone in a fresh one.
    if (current && (current.sizeBytes === 0 || current.sizeBytes + lineBytes <= this.maxSegmentBytes)) {
      return current;
    }
    this.#active = undefined;
    // The old segment needs no fsync here: every append to it was fdatasync'ed before resolving.
    await current?.handle.close();
    const segmentNumber = (current?.ref.segmentNumber ?? this.#lastSegmentNumber) + 1;
    this.#active = await createSegment(this.dir, segmentNumber);
    this.#lastSegmentNumber = segmentNumber;
    this.#emit({ kind: 'segment-created', segment: this.#active.ref.name });
    return this.#active;
  }
}

function closedError(dir: string): LedgerError {
  return new LedgerError('LEDGER_IO', `cannot append to ledger ${dir}: the store is closed`, {
    hint: 'open the store again with LedgerStore.open',
    details: { dir },
  });
}

/** Validates a line and encodes it with its newline, so the write is one buffer. */
/** Well-formed UTF-16 (native `isWellFormed` where the runtime has it). */
function wellFormed(line: string): boolean {
  const native = (line as unknown as { isWellFormed?: () => boolean }).isWellFormed;
  return typeof native === 'function' ? native.call(line) : !LONE_SURROGATE.test(line);
}

/** Throws `LEDGER_INVALID_LINE` unless `line` can be appended as one line. */
function checkLine(line: string, dir: string): void {
  const problem =
    typeof line !== 'string' || line.length === 0
      ? 'the line is empty'
      : // includes() is ~10× cheaper than the regex, which only runs to name the position.
        line.includes('\n') || line.includes('\r')
        ? `the line contains a line break at position ${line.search(LINE_BREAK)}`
        : !wellFormed(line)
          ? 'the line contains a lone utf-16 surrogate, which has no utf-8 encoding'
          : undefined;
  if (problem !== undefined) throw invalidLine(dir, problem);
}

function invalidLine(dir: string, problem: string): LedgerError {
  return new LedgerError('LEDGER_INVALID_LINE', `cannot append to ledger ${dir}: ${problem}`, {
    hint: 'append one compact JSON document per call (JSON.stringify without indentation)',
    details: { dir },
  });
}

/**
 * The byte length (newline included) of each line in `bytes`; throws `LEDGER_INVALID_LINE` unless
 * they are well-formed UTF-8 (which excludes encoded surrogates) of non-empty lines, each ended by
 * `\n`, with no `\r`. The scans are native (simdutf, memchr).
 */
function encodedLineLengths(bytes: Buffer, dir: string): number[] {
  if (!isUtf8(bytes)) throw invalidLine(dir, 'the bytes are not well-formed utf-8');
  const cr = bytes.indexOf(CR);
  if (cr !== -1) throw invalidLine(dir, `the bytes contain a carriage return at byte ${cr}`);
  if (bytes[bytes.length - 1] !== LF) throw invalidLine(dir, 'the last line does not end with a line break');
  const lengths: number[] = [];
  for (let start = 0; start < bytes.length; ) {
    const end = bytes.indexOf(LF, start);
    if (end === start) throw invalidLine(dir, `the bytes contain an empty line at byte ${start}`);
    lengths.push(end + 1 - start);
    start = end + 1;
  }
  return lengths;
}

/** The bytes of one line and its newline; throws `LEDGER_INVALID_LINE` for a line that cannot be one. */
function encodeLine(line: string, dir: string): Buffer {
  checkLine(line, dir);
  return Buffer.from(`${line}\n`, 'utf8');
}

/** Writes all of `bytes` at `position`; loops only on a short write, which regular files rarely do. */
async function writeAll(handle: FileHandle, bytes: Buffer, position: number): Promise<void> {
  for (let written = 0; written < bytes.length; ) {
    const { bytesWritten } = await handle.write(bytes, written, bytes.length - written, position + written);
    if (bytesWritten === 0) throw new Error('write made no progress');
    written += bytesWritten;
  }
}

/** Creates the ledger directory (0700) and makes each new directory entry durable. */
async function createDirectory(dir: string): Promise<void> {
  let created: string | undefined;
  try {
    created = await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw ledgerIoError('create ledger directory', dir, error);
  }
  // Every directory from `created` down to `dir` is new; each one's name lives in its parent.
  for (let entry = dir; created !== undefined; entry = dirname(entry)) {
    await fsyncDirectory(dirname(entry));
    if (entry === created) break;
  }
}

/**
 * Counts the lines (handing each to `onLine`), then repairs the last segment's torn tail and opens
 * the last segment for appending. The lines are read before anything is truncated, so a tail that
 * lies under a signed checkpoint (`checkpointedLines`) is refused as damage instead of repaired.
 */
async function recover(
  dir: string,
  emit: (event: LedgerEvent) => void,
  onLine: ((line: LedgerLine) => void) | undefined,
  checkpointedLines: number,
): Promise<{ active: ActiveSegment | undefined; lineCount: number; lastLine: string | null }> {
  const segments = await listSegments(dir);
  const last = segments.at(-1);
  let lineCount = 0;
  let lastLine: string | null = null;
  let torn: LedgerReadError | null = null;
  // The store trusts its own lines' length, so the reader's untrusted-input limit is lifted.
  for await (const item of readLedgerLines(dir, { maxLineBytes: Number.MAX_SAFE_INTEGER })) {
    // Only the last segment can be torn: the store moves on to a new segment only after the
    // previous line was fdatasync'ed. A partial line elsewhere is LEDGER_CORRUPT.
    if (item.kind === 'error' && item.error.code === 'LEDGER_TORN_TAIL') {
      torn = item;
      continue;
    }
    if (item.kind === 'error') throw item.error;
    lineCount = item.index + 1;
    lastLine = item.line;
    onLine?.(item);
  }
  if (lineCount < checkpointedLines) throw belowCheckpoint(dir, lineCount, checkpointedLines, torn);
  if (torn !== null && last) {
    const repair = await repairTornTail(dir, last);
    if (repair) emit({ kind: 'torn-tail-repaired', ...repair });
  }
  if (!last) return { active: undefined, lineCount, lastLine };
  let handle: FileHandle | undefined;
  try {
    handle = await open(last.path, 'r+');
    return { active: { ref: last, handle, sizeBytes: (await handle.stat()).size }, lineCount, lastLine };
  } catch (error) {
    await handle?.close();
    throw ledgerIoError('open segment', last.path, error);
  }
}

/** The ledger holds fewer whole lines than a signed checkpoint covers: damage, never repaired. */
function belowCheckpoint(
  dir: string,
  lineCount: number,
  checkpointedLines: number,
  torn: LedgerReadError | null,
): LedgerError {
  const where =
    torn === null
      ? `it ends after line ${lineCount}`
      : `line ${torn.lineNumber} of ${torn.path} (batch ${torn.index}) is cut short at byte ${torn.offset}`;
  return new LedgerError(
    'LEDGER_CORRUPT',
    `the ledger in ${dir} holds ${lineCount} whole batches, but a signed checkpoint covers ${checkpointedLines}: ${where}; a published batch is damaged, so the ledger is not extended`,
    {
      hint:
        'keep the directory as it is for inspection (`wattledger verify` on it names every damaged line) and restore the ledger from a backup; ' +
        'or point ledger.dir at a new directory to start a new ledger, and keep this one beside it',
      details: {
        dir,
        lines: lineCount,
        checkpointedLines,
        ...(torn === null ? {} : { path: torn.path, line: torn.lineNumber, offset: torn.offset }),
      },
    },
  );
}

/** Removes segment `segmentNumber` when it exists and is empty (left by a failed rotation). */
async function removeEmptySegment(dir: string, segmentNumber: number): Promise<void> {
  const path = join(dir, segmentFileName(segmentNumber));
  const info = await stat(path).catch(() => null);
  if (info !== null && info.size === 0) await unlink(path);
}

/** Creates segment `segmentNumber` (0600) and makes its directory entry durable. */
async function createSegment(dir: string, segmentNumber: number): Promise<ActiveSegment> {
  const name = segmentFileName(segmentNumber);
  const path = join(dir, name);
  // `wx`: a segment that already exists was written by someone else; never truncate or share it.
  const handle = await open(path, 'wx', 0o600).catch((error: unknown) => {
    throw ledgerIoError('create segment', path, error);
  });
  try {
    // Without this a power loss could keep the segment's data blocks but lose its name.
    await fsyncDirectory(dir);
  } catch (error) {
    await handle.close();
    throw error;
  }
  return { ref: { segmentNumber, name, path }, handle, sizeBytes: 0 };
}
