/**
 * The log exporter's persisted position in the ledger: what the collector has acknowledged. It
 * lives beside the ledger (`<ledgerDir>/export/otlp-cursor.json`) and is replaced atomically
 * (temporary file, fsync, rename, directory fsync) only after an export was acknowledged, so after
 * a crash it is either the old or the new position, never a torn one.
 *
 * Delivery is therefore at-least-once across crashes: a crash between the collector's
 * acknowledgement and the rename re-sends that one request on the next start. Within a run, an
 * acknowledged record is never sent again.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory } from '../ledger/segments.js';
import { ExportError } from './errors.js';

/** Folder of exporter state inside the ledger directory. */
export const EXPORT_DIR = 'export';
export const CURSOR_FILE = 'otlp-cursor.json';

/** Where export stands. */
export interface CursorPosition {
  /** Sequence of the last batch the collector acknowledged; `null` before the first. */
  readonly lastSequence: bigint | null;
  /** Tree size of the last checkpoint acknowledged; 0 before the first. */
  readonly checkpointTreeSize: number;
  /**
   * The segment holding `lastSequence` and the sequence of its first line, so that the next read
   * starts there instead of at the first segment. A hint only: when the segment is gone, reading
   * starts from the beginning and skips what the sequence says was sent.
   */
  readonly segment: string | null;
  readonly segmentFirstSequence: bigint;
  /**
   * Where in `segment` the line after `lastSequence` begins, so that a poll reads only the bytes
   * appended since; `null` before the first batch and in cursors written before it existed. Also a
   * hint: it is used only when the bytes just before it are still the acknowledged line.
   */
  readonly resume: ResumePoint | null;
}

/** A byte position in the cursor's segment, with a fingerprint of the line that ends there. */
export interface ResumePoint {
  /** Byte offset, in `segment`, of the first byte after the `\n` of line `lastSequence`. */
  readonly nextOffset: number;
  /** Length in bytes of line `lastSequence` (without its `\n`), and its SHA-256 in hex. */
  readonly lastLineBytes: number;
  readonly lastLineSha256: string;
}

/** The position of an exporter that has sent nothing. */
export const START_POSITION: CursorPosition = {
  lastSequence: null,
  checkpointTreeSize: 0,
  segment: null,
  segmentFirstSequence: 0n,
  resume: null,
};

interface CursorFile {
  readonly version: 1;
  readonly lastSequence: string | null;
  readonly checkpointTreeSize: number;
  readonly segment: string | null;
  readonly segmentFirstSequence: string;
  /** Absent in cursors written before resume points existed; those start with a scan. */
  readonly resume?: ResumePoint | null;
}

/** The persisted cursor of one ledger. */
export class ExportCursor {
  readonly path: string;
  private readonly dir: string;
  #position: CursorPosition;

  private constructor(dir: string, position: CursorPosition) {
    this.dir = dir;
    this.path = join(dir, CURSOR_FILE);
    this.#position = position;
  }

  /**
   * Loads the cursor of `ledgerDir`. A missing file starts from the beginning; so does an
   * unreadable one (`problem` says why), because re-sending is better than losing batches.
   */
  static async open(ledgerDir: string): Promise<{ cursor: ExportCursor; problem: string | null }> {
    const dir = join(ledgerDir, EXPORT_DIR);
    let text: string;
    try {
      text = await readFile(join(dir, CURSOR_FILE), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        return { cursor: new ExportCursor(dir, START_POSITION), problem: null };
      }
      throw new ExportError('EXPORT_CURSOR_IO', `cannot read ${join(dir, CURSOR_FILE)}`, { cause: error });
    }
    const position = parseCursor(text);
    const problem = position
      ? null
      : `${join(dir, CURSOR_FILE)} is not a valid cursor; exporting from the start`;
    return { cursor: new ExportCursor(dir, position ?? START_POSITION), problem };
  }

  get position(): CursorPosition {
    return this.#position;
  }

  /** Persists a new position durably, then adopts it. */
  async save(position: CursorPosition): Promise<void> {
    const file: CursorFile = {
      version: 1,
      lastSequence: position.lastSequence === null ? null : position.lastSequence.toString(),
      checkpointTreeSize: position.checkpointTreeSize,
      segment: position.segment,
      segmentFirstSequence: position.segmentFirstSequence.toString(),
      resume: position.resume,
    };
    const temporary = `${this.path}.tmp`;
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      const handle = await open(temporary, 'w', 0o644);
      try {
        await handle.writeFile(`${JSON.stringify(file)}\n`, 'utf8');
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temporary, this.path);
      await fsyncDirectory(this.dir);
    } catch (error) {
      throw new ExportError('EXPORT_CURSOR_IO', `cannot write ${this.path}`, { cause: error });
    }
    this.#position = position;
  }
}

function parseCursor(text: string): CursorPosition | null {
  try {
    const file = JSON.parse(text) as Partial<CursorFile>;
    const decimal = (value: unknown) => typeof value === 'string' && /^\d{1,20}$/.test(value);
    if (file.version !== 1) return null;
    if (file.lastSequence !== null && !decimal(file.lastSequence)) return null;
    if (!Number.isSafeInteger(file.checkpointTreeSize) || (file.checkpointTreeSize ?? -1) < 0) return null;
    if (file.segment !== null && typeof file.segment !== 'string') return null;
    if (!decimal(file.segmentFirstSequence)) return null;
    return {
      lastSequence: file.lastSequence === null ? null : BigInt(file.lastSequence as string),
      checkpointTreeSize: file.checkpointTreeSize as number,
      segment: file.segment ?? null,
      segmentFirstSequence: BigInt(file.segmentFirstSequence as string),
      // A damaged resume point costs one scan, not a reset: the sequence is what counts.
      resume: parseResume(file.resume),
    };
  } catch {
    return null;
  }
}

function parseResume(value: unknown): ResumePoint | null {
  if (typeof value !== 'object' || value === null) return null;
  const { nextOffset, lastLineBytes, lastLineSha256 } = value as Partial<ResumePoint>;
  const count = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!count(nextOffset) || !count(lastLineBytes) || nextOffset <= lastLineBytes) return null;
  if (typeof lastLineSha256 !== 'string' || !/^[0-9a-f]{64}$/.test(lastLineSha256)) return null;
  return { nextOffset, lastLineBytes, lastLineSha256 };
}
