import { base64FromBytes, bytesFromBase64 } from './bytes.js';
import type { Ed25519Verify } from './ed25519.js';
import { AttestError } from './errors.js';
import { isValidKeyName, type NoteVerifierKey } from './key-id.js';
import { MERKLE_HASH_BYTES } from './merkle.js';
import { type NoteSigner, type OpenedNote, openNote, signNote } from './note.js';

/**
 * C2SP transparency-log checkpoints (https://c2sp.org/tlog-checkpoint): the text of a signed
 * note made of at least three lines,
 *
 *     <origin>\n                 unique log identity, e.g. "example.com/energy/node-7"
 *     <tree size>\n              ASCII decimal, no leading zeros ("0" for the empty tree)
 *     <base64 root hash>\n       RFC 6962 / 9162 root at that size, standard base64
 *     [<extension line>\n ...]   optional, non-empty, opaque (NOT RECOMMENDED by the spec)
 */

/** Most extension lines accepted; the spec sets no limit, the note size limit bounds it anyway. */
export const CHECKPOINT_MAX_EXTENSION_LINES = 16;

/** A parsed checkpoint. `treeSize` is a safe integer (see merkle.ts on sizes). */
export interface Checkpoint {
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: Uint8Array;
  readonly extensions: readonly string[];
}

const TREE_SIZE = /^(?:0|[1-9][0-9]{0,15})$/;

function malformed(message: string, cause?: unknown): AttestError {
  return new AttestError('ATTEST_CHECKPOINT_MALFORMED', message, cause === undefined ? {} : { cause });
}

function hasControl(line: string): boolean {
  for (let i = 0; i < line.length; i++) if (line.charCodeAt(i) < 0x20) return true;
  return false;
}

/**
 * The note text of a checkpoint. Stricter than the parser: the origin must also be a valid key
 * name (no spaces, no '+'), as the spec recommends, so the log can sign with key name = origin.
 * Throws `ATTEST_CHECKPOINT_MALFORMED`.
 */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, treeSize, rootHash, extensions } = checkpoint;
  if (!isValidKeyName(origin)) throw malformed('origin must be non-empty, without spaces, "+" or controls');
  if (!Number.isSafeInteger(treeSize) || treeSize < 0)
    throw malformed('tree size must be a safe integer ≥ 0');
  if (rootHash.length !== MERKLE_HASH_BYTES) throw malformed('root hash must be 32 bytes');
  if (extensions.length > CHECKPOINT_MAX_EXTENSION_LINES) throw malformed('too many extension lines');
  for (const line of extensions) {
    if (line.length === 0 || hasControl(line))
      throw malformed('extension lines must be non-empty, without controls');
  }
  return [origin, String(treeSize), base64FromBytes(rootHash), ...extensions].map((l) => `${l}\n`).join('');
}

/**
 * Parses checkpoint note text strictly (attacker-controlled until the note verified; use
 * {@link openCheckpoint} to do both). Throws `ATTEST_CHECKPOINT_MALFORMED`.
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw malformed('checkpoint text must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  const [origin, sizeText, rootText, ...extensions] = lines;
  if (origin === undefined || sizeText === undefined || rootText === undefined) {
    throw malformed('a checkpoint has at least three lines');
  }
  if (lines.some((l) => l.length === 0 || hasControl(l)))
    throw malformed('checkpoint lines must be non-empty');
  if (extensions.length > CHECKPOINT_MAX_EXTENSION_LINES) throw malformed('too many extension lines');
  // Digits only, no sign, no leading zeros, at most 16 digits; then the 2^53 bound.
  const treeSize = TREE_SIZE.test(sizeText) ? Number(sizeText) : Number.NaN;
  if (!Number.isSafeInteger(treeSize)) throw malformed('tree size is not a decimal integer below 2^53');
  let rootHash: Uint8Array;
  try {
    rootHash = bytesFromBase64(rootText);
  } catch (cause) {
    throw malformed('root hash is not valid standard base64', cause);
  }
  if (rootHash.length !== MERKLE_HASH_BYTES) throw malformed('root hash is not 32 bytes');
  return { origin, treeSize, rootHash, extensions };
}

/** Formats and signs a checkpoint; returns the signed note text. */
export function signCheckpoint(checkpoint: Checkpoint, signers: readonly NoteSigner[]): string {
  return signNote(formatCheckpoint(checkpoint), signers);
}

/** Options of {@link openCheckpoint}. */
export interface OpenCheckpointOptions {
  /** The origin the caller expects; a checkpoint of another log is rejected. */
  readonly expectedOrigin: string;
  readonly maxSizeBytes?: number;
  readonly verify?: Ed25519Verify;
}

/**
 * Verifies a signed checkpoint note against trusted keys, then parses its text and checks its
 * origin. Throws what `openNote` throws, `ATTEST_CHECKPOINT_MALFORMED`, or
 * `ATTEST_CHECKPOINT_ORIGIN_MISMATCH`.
 */
export function openCheckpoint(
  noteBytes: Uint8Array,
  trusted: readonly NoteVerifierKey[],
  options: OpenCheckpointOptions,
): { readonly checkpoint: Checkpoint; readonly note: OpenedNote } {
  const { expectedOrigin, ...noteOptions } = options;
  const note = openNote(noteBytes, trusted, noteOptions);
  const checkpoint = parseCheckpoint(note.text);
  if (checkpoint.origin !== expectedOrigin) {
    throw new AttestError(
      'ATTEST_CHECKPOINT_ORIGIN_MISMATCH',
      `checkpoint is for origin ${checkpoint.origin}`,
      {
        details: { origin: checkpoint.origin, expectedOrigin },
      },
    );
  }
  return { checkpoint, note };
}
