import { mkdir, open, readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { type Checkpoint, parseCheckpoint, signCheckpoint } from '../attest/checkpoint.js';
import { AttestError } from '../attest/errors.js';
import { type NoteSigner, parseNote } from '../attest/note.js';
import { LedgerError, ledgerIoError } from './errors.js';
import { fsyncDirectory } from './segments.js';

/** The file that always holds the newest checkpoint. */
export const LATEST_CHECKPOINT_FILE = 'checkpoint';
/** Folder of every checkpoint ever published, one file per tree size. */
export const CHECKPOINT_DIR = 'checkpoints';

/** `checkpoints/checkpoint-000000000120.note`: zero-padded so names sort by tree size. */
export function checkpointFileName(treeSize: number): string {
  return `checkpoint-${String(treeSize).padStart(12, '0')}.note`;
}

/**
 * Signs a C2SP checkpoint for the log's current size and root and writes it durably: to
 * `checkpoints/<size>.note` and as the latest `checkpoint`, each through a temporary file, fsync
 * and rename, so a reader never sees half a checkpoint.
 */
export async function writeCheckpoint(
  ledgerDir: string,
  origin: string,
  treeSize: number,
  rootHash: Uint8Array,
  signer: NoteSigner,
): Promise<string> {
  const note = signCheckpoint({ origin, treeSize, rootHash, extensions: [] }, [signer]);
  const dir = join(ledgerDir, CHECKPOINT_DIR);
  await mkdir(dir, { recursive: true, mode: 0o700 }).catch((error: unknown) => {
    throw ledgerIoError('create checkpoint directory', dir, error);
  });
  await writeDurably(join(dir, checkpointFileName(treeSize)), note);
  await writeDurably(join(ledgerDir, LATEST_CHECKPOINT_FILE), note);
  await fsyncDirectory(dir);
  await fsyncDirectory(ledgerDir);
  return note;
}

async function writeDurably(path: string, text: string): Promise<void> {
  const temporary = `${path}.tmp`;
  try {
    const handle = await open(temporary, 'w', 0o644);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    throw ledgerIoError('write checkpoint', path, error);
  }
}

/** The newest checkpoint the agent published for a ledger, and the file it was read from. */
export interface PublishedCheckpoint extends Checkpoint {
  readonly path: string;
}

const CHECKPOINT_NOTE_NAME = /^checkpoint-\d{12,}\.note$/;

/**
 * The newest checkpoint published in `ledgerDir`: the larger of the root `checkpoint` file and the
 * largest-numbered `checkpoints/*.note`; null when there is none. Read, not verified (the agent's
 * own files): what it says bounds what the agent may repair. Throws `LEDGER_CORRUPT` naming the
 * file when one is not a checkpoint note, `LEDGER_IO` when it cannot be read.
 */
export async function readPublishedCheckpoint(ledgerDir: string): Promise<PublishedCheckpoint | null> {
  const folder = join(ledgerDir, CHECKPOINT_DIR);
  const names = await readdir(folder).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[];
    throw ledgerIoError('list', folder, error);
  });
  const newestNote = names
    .filter((name) => CHECKPOINT_NOTE_NAME.test(name))
    .sort()
    .at(-1);
  const candidates = [
    join(ledgerDir, LATEST_CHECKPOINT_FILE),
    ...(newestNote ? [join(folder, newestNote)] : []),
  ];
  let newest: PublishedCheckpoint | null = null;
  for (const path of candidates) {
    const checkpoint = await readCheckpointFile(path);
    if (checkpoint !== null && (newest === null || checkpoint.treeSize > newest.treeSize))
      newest = checkpoint;
  }
  return newest;
}

/**
 * One checkpoint note file, parsed but not verified: its checkpoint and its bytes; null when the
 * file does not exist. Throws `LEDGER_IO` when it cannot be read, and the parser's `AttestError`
 * when it is not a checkpoint note (each caller names that failure in its own terms).
 */
export async function readCheckpointNote(
  path: string,
): Promise<{ checkpoint: Checkpoint; bytes: Buffer } | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ledgerIoError('read checkpoint', path, error);
  }
  return { checkpoint: parseCheckpoint(parseNote(bytes).text), bytes };
}

async function readCheckpointFile(path: string): Promise<PublishedCheckpoint | null> {
  try {
    const note = await readCheckpointNote(path);
    return note === null ? null : { ...note.checkpoint, path };
  } catch (error) {
    if (!(error instanceof AttestError)) throw error;
    throw new LedgerError('LEDGER_CORRUPT', `${path} is not a checkpoint note: ${error.message}`, {
      cause: error,
      hint: 'restore the file from a backup, or move it aside if the ledger itself verifies (`wattledger verify`)',
      details: { path },
    });
  }
}
