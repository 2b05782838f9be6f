import { mkdir, open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { signCheckpoint } from '../attest/checkpoint.js';
import type { NoteSigner } from '../attest/note.js';
import { ledgerIoError } from './errors.js';
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
