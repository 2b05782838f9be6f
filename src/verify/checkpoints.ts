import { bytesFromHex, constantTimeEqual, hexFromBytes, utf8FromString } from '../attest/bytes.js';
import { openCheckpoint } from '../attest/checkpoint.js';
import type { Ed25519Verify } from '../attest/ed25519.js';
import { AttestError } from '../attest/errors.js';
import { type NoteVerifierKey, signedNoteKeyHash } from '../attest/key-id.js';
import { verificationErrorFromAttest } from './errors.js';
import { type Finding, finding } from './findings.js';
import type { Keyring } from './keyring.js';

/** A checkpoint whose signature verified, waiting for the log to reach its size. */
export interface PendingCheckpoint {
  readonly treeSize: number;
  readonly rootHex: string;
  readonly location: string;
}

/** The signed-note keys for a log: every trusted key under the log's origin as key name. */
export function noteKeysFor(origin: string, keyring: Keyring): NoteVerifierKey[] {
  return keyring
    .publicKeys()
    .map((publicKey) => ({ name: origin, keyHash: signedNoteKeyHash(origin, publicKey), publicKey }));
}

/**
 * Verifies a C2SP checkpoint note's signature and origin. Returns the pending checkpoint or the
 * finding that rejected it. Its root is compared later, when the log reaches its size.
 */
export function openLogCheckpoint(
  noteText: string,
  location: string,
  origin: string,
  keyring: Keyring,
  verify?: Ed25519Verify,
): { ok: true; checkpoint: PendingCheckpoint } | { ok: false; finding: Finding } {
  try {
    const { checkpoint } = openCheckpoint(utf8FromString(noteText), noteKeysFor(origin, keyring), {
      expectedOrigin: origin,
      ...(verify ? { verify } : {}),
    });
    return {
      ok: true,
      checkpoint: { treeSize: checkpoint.treeSize, rootHex: hexFromBytes(checkpoint.rootHash), location },
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
export function compareCheckpointRoot(checkpoint: PendingCheckpoint, rootAtSize: Uint8Array): Finding | null {
  if (constantTimeEqual(bytesFromHex(checkpoint.rootHex), rootAtSize)) return null;
  return finding(
    'VERIFY_CONSISTENCY_PROOF_INVALID',
    { sequence: String(checkpoint.treeSize - 1), location: checkpoint.location },
    'checkpoint-root',
    `the signed checkpoint for ${checkpoint.treeSize} batches does not match the batches in the ledger (the log was rewritten)`,
    { expected: checkpoint.rootHex, found: hexFromBytes(rootAtSize) },
  );
}
