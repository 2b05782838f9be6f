import { bytesFromHex, constantTimeEqual, hexFromBytes, utf8FromString } from '../attest/bytes.js';
import { openCheckpoint, parseCheckpoint } from '../attest/checkpoint.js';
import type { Ed25519Verify } from '../attest/ed25519.js';
import { AttestError } from '../attest/errors.js';
import { type NoteVerifierKey, signedNoteKeyHash } from '../attest/key-id.js';
import { parseNote } from '../attest/note.js';
import { verificationErrorFromAttest } from './errors.js';
import { type Finding, finding } from './findings.js';
import type { Keyring } from './keyring.js';

/** A checkpoint waiting for the log to reach its size; its signature is checked then. */
export interface PendingCheckpoint {
  readonly treeSize: number;
  readonly text: string;
  readonly location: string;
}

/**
 * Reads the tree size a checkpoint claims, without trusting it yet: the signature is checked when
 * the log reaches that size, so that a key announced by an earlier batch (rotation) is known by then.
 */
export function pendingCheckpoint(
  noteText: string,
  location: string,
): { ok: true; checkpoint: PendingCheckpoint } | { ok: false; finding: Finding } {
  try {
    const { text } = parseNote(utf8FromString(noteText));
    return { ok: true, checkpoint: { treeSize: parseCheckpoint(text).treeSize, text: noteText, location } };
  } catch (error) {
    if (!(error instanceof AttestError)) throw error;
    return {
      ok: false,
      finding: finding('VERIFY_MALFORMED', { sequence: null, location }, 'checkpoint', error.message),
    };
  }
}

/** The signed-note keys for a log: every trusted key under the log's origin as key name. */
export function noteKeysFor(origin: string, keyring: Keyring): NoteVerifierKey[] {
  return keyring
    .publicKeys()
    .map((publicKey) => ({ name: origin, keyHash: signedNoteKeyHash(origin, publicKey), publicKey }));
}

/**
 * Verifies a C2SP checkpoint note's signature and origin. Returns its size and root, or the
 * finding that rejected it.
 */
export function openLogCheckpoint(
  noteText: string,
  location: string,
  origin: string,
  keyring: Keyring,
  verify?: Ed25519Verify,
):
  | {
      ok: true;
      rootHex: string;
      treeSize: number;
      checkpoint: { treeSize: number; rootHex: string; location: string };
    }
  | { ok: false; finding: Finding } {
  try {
    const { checkpoint } = openCheckpoint(utf8FromString(noteText), noteKeysFor(origin, keyring), {
      expectedOrigin: origin,
      ...(verify ? { verify } : {}),
    });
    const rootHex = hexFromBytes(checkpoint.rootHash);
    return {
      ok: true,
      rootHex,
      treeSize: checkpoint.treeSize,
      checkpoint: { treeSize: checkpoint.treeSize, rootHex, location },
    };
  } catch (error) {
    if (!(error instanceof AttestError)) throw error;
    const mapped = verificationErrorFromAttest(error, { check: 'checkpoint' });
    return {
      ok: false,
      finding: finding(mapped.code, { sequence: null, location }, 'checkpoint', error.message),
    };
  }
}

/** Compares a checkpoint's root with the root recomputed from the batches at its size. */
export function compareCheckpointRoot(
  checkpoint: PendingCheckpoint,
  rootHex: string,
  rootAtSize: Uint8Array,
): Finding | null {
  if (constantTimeEqual(bytesFromHex(rootHex), rootAtSize)) return null;
  return finding(
    'VERIFY_CONSISTENCY_PROOF_INVALID',
    { sequence: String(checkpoint.treeSize - 1), location: checkpoint.location },
    'checkpoint-root',
    `the signed checkpoint for ${checkpoint.treeSize} batches does not match the batches in the ledger (the log was rewritten)`,
    { expected: rootHex, found: hexFromBytes(rootAtSize) },
  );
}
