/**
 * Segment files of a ledger directory: `ledger-000001.jsonl`, `ledger-000002.jsonl`, … numbered
 * from 1 without holes. Other entries (`ledger.lock`, `torn/`, editor backups) are ignored. Also
 * the durable file-level operations on segments: directory fsync and torn-tail repair.
 */
import { type FileHandle, mkdir, open, readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { LedgerError, ledgerIoError } from './errors.js';

/** Digits of zero padding in a segment name; numbers past 999999 simply grow wider. */
const SEGMENT_DIGITS = 6;
const SEGMENT_NAME = /^ledger-(\d+)\.jsonl$/;

/** One segment file: its number, its base name and its path. */
export interface SegmentRef {
  readonly segmentNumber: number;
  readonly name: string;
  readonly path: string;
}

/** The file name of segment `segmentNumber` (≥ 1): `segmentFileName(3)` → `ledger-000003.jsonl`. */
export function segmentFileName(segmentNumber: number): string {
  if (!Number.isSafeInteger(segmentNumber) || segmentNumber < 1) {
    throw new RangeError(`segment number must be a positive integer, got ${segmentNumber}`);
  }
  return `ledger-${String(segmentNumber).padStart(SEGMENT_DIGITS, '0')}.jsonl`;
}

/**
 * The segment number a file name denotes, or `null` when the name is not exactly the canonical
 * form (`ledger-1.jsonl`, `ledger-0000001.jsonl` and `ledger-000000.jsonl` are not segments).
 */
export function parseSegmentFileName(name: string): number | null {
  const digits = SEGMENT_NAME.exec(name)?.[1];
  if (digits === undefined) return null;
  const segmentNumber = Number(digits);
  if (!Number.isSafeInteger(segmentNumber) || segmentNumber < 1) return null;
  // Round-trip so exactly one spelling is a segment; a second spelling would be a silent fork.
  return segmentFileName(segmentNumber) === name ? segmentNumber : null;
}

/**
 * The segments in `dir`, ordered by number. Throws `LEDGER_CORRUPT` naming the first missing
 * segment when the numbering does not run 1, 2, 3… without a hole (a deleted or lost segment would
 * otherwise vanish from the chain unnoticed), and `LEDGER_IO` when `dir` cannot be listed.
 */
export async function listSegments(dir: string): Promise<readonly SegmentRef[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw ledgerIoError('list ledger directory', dir, error);
  }
  const segments: SegmentRef[] = [];
  for (const entry of entries) {
    const segmentNumber = entry.isFile() ? parseSegmentFileName(entry.name) : null;
    if (segmentNumber !== null)
      segments.push({ segmentNumber, name: entry.name, path: join(dir, entry.name) });
  }
  segments.sort((a, b) => a.segmentNumber - b.segmentNumber);
  assertContiguous(segments, 1, dir);
  return segments;
}

/**
 * Orders an explicit list of files (what the verifier CLI was given). When every base name follows
 * the naming scheme they are sorted by number and must be contiguous (the first may be > 1, so a
 * verifier can check a tail of the ledger); otherwise the given order is kept and numbers are 0.
 * Throws `LEDGER_CORRUPT` for a hole or for two files with the same segment number.
 */
export function orderSegmentFiles(files: readonly string[]): readonly SegmentRef[] {
  const refs = files.map((path) => ({
    path,
    name: basename(path),
    segmentNumber: parseSegmentFileName(basename(path)),
  }));
  if (refs.some((ref) => ref.segmentNumber === null)) {
    return refs.map((ref) => ({ ...ref, segmentNumber: 0 }));
  }
  const numbered = refs as SegmentRef[];
  numbered.sort((a, b) => a.segmentNumber - b.segmentNumber);
  const first = numbered[0];
  if (first) assertContiguous(numbered, first.segmentNumber, 'the given files');
  return numbered;
}

function assertContiguous(segments: readonly SegmentRef[], firstNumber: number, where: string): void {
  segments.forEach((segment, position) => {
    const expected = firstNumber + position;
    if (segment.segmentNumber === expected) return;
    const duplicate = segment.segmentNumber < expected;
    const name = duplicate ? segment.name : segmentFileName(expected);
    throw new LedgerError(
      'LEDGER_CORRUPT',
      duplicate
        ? `segment ${name} is given twice in ${where} (${segment.path})`
        : `segment ${name} is missing from ${where}; the ledger has a hole before ${segment.name}`,
      {
        hint: 'restore the missing segment from a backup; a ledger with a hole cannot be extended or verified',
        details: { segment: name, where },
      },
    );
  });
}

/**
 * Flushes a directory's entries to disk. A new file's data is durable after `fdatasync`, but its
 * *name* lives in the parent directory, which needs its own fsync or the file may be gone after a
 * power loss (see fsync(2), "Calling fsync() does not necessarily ensure that the entry in the
 * directory containing the file has also reached disk"). Throws `LEDGER_IO`.
 */
export async function fsyncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw ledgerIoError('fsync directory', dir, error);
  }
}

const NEWLINE = 0x0a;
const TAIL_SCAN_BYTES = 64 * 1024;

/** What {@link repairTornTail} did: where the partial line began, how long it was, where it went. */
export interface TornTailRepair {
  readonly segment: string;
  readonly offset: number;
  readonly bytes: number;
  readonly quarantinePath: string;
}

/**
 * Moves a partial last line (bytes after the last `\n`) of `segment` to
 * `<dir>/torn/<segment>.<offset>.torn` and truncates the segment to its last newline. Returns
 * `null` when the segment already ends with `\n` or is empty. Crash-safe and idempotent: the
 * quarantine copy is durable before the truncate, and a rerun finding an identical copy reuses it.
 * Throws `LEDGER_IO`.
 */
export async function repairTornTail(dir: string, segment: SegmentRef): Promise<TornTailRepair | null> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(segment.path, 'r+');
    const { size } = await handle.stat();
    const offset = await endOfLastLine(handle, size);
    if (offset === size) return null;
    const torn = Buffer.alloc(size - offset);
    await handle.read(torn, 0, torn.length, offset);
    const quarantinePath = await quarantine(join(dir, 'torn'), `${segment.name}.${offset}`, torn);
    // Only now drop the bytes from the segment: a crash before this line repeats the repair.
    await handle.truncate(offset);
    // fdatasync covers the new size: it is metadata needed to read the file back (fdatasync(2)).
    await handle.datasync();
    return { segment: segment.name, offset, bytes: torn.length, quarantinePath };
  } catch (error) {
    throw ledgerIoError('repair torn tail of', segment.path, error);
  } finally {
    await handle?.close();
  }
}

/** Byte length up to and including the last `\n`, scanning backwards so only the tail is read. */
async function endOfLastLine(handle: FileHandle, sizeBytes: number): Promise<number> {
  const chunk = Buffer.alloc(Math.min(TAIL_SCAN_BYTES, sizeBytes));
  for (let end = sizeBytes; end > 0; ) {
    const start = Math.max(0, end - chunk.length);
    const { bytesRead } = await handle.read(chunk, 0, end - start, start);
    const newline = chunk.subarray(0, bytesRead).lastIndexOf(NEWLINE);
    if (newline !== -1) return start + newline + 1;
    end = start;
  }
  return 0;
}

/** Writes `bytes` durably to a new file `<tornDir>/<stem>[-n].torn`; reuses an identical earlier copy. */
async function quarantine(tornDir: string, stem: string, bytes: Buffer): Promise<string> {
  if (await mkdir(tornDir, { recursive: true, mode: 0o700 })) await fsyncDirectory(dirname(tornDir));
  for (let attempt = 1; ; attempt++) {
    const path = join(tornDir, `${stem}${attempt === 1 ? '' : `-${attempt}`}.torn`);
    // The same segment and offset can tear twice (crash, repair, crash again at that offset), so
    // an existing copy with other bytes is kept and the next name is tried.
    if ((await createDurably(path, bytes)) || (await readFile(path)).equals(bytes)) {
      await fsyncDirectory(tornDir);
      return path;
    }
  }
}

/** Creates `path` (0600, exclusive) holding `bytes`, fdatasync'ed; `false` when it already exists. */
async function createDurably(path: string, bytes: Buffer): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(bytes);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  return true;
}
