import type { AttestError, AttestErrorCode } from '../attest/errors.js';
import { BaseError } from '../errors.js';

/**
 * Codes of the verifier (DESIGN.md §7). Each names one check, so a report, a test vector
 * (`wantErr`) and a CI gate can match on it. The set is open to additions; renaming is a breaking
 * change of the public `./verify` API.
 */
export type VerificationErrorCode =
  /** Input is not a DSSE envelope, signed note, checkpoint or proof of the expected shape. */
  | 'VERIFY_MALFORMED'
  /** A signed payload is not its RFC 8785 canonical form (or holds a non-integer number). */
  | 'VERIFY_NONCANONICAL_PAYLOAD'
  /** A signature from a trusted key does not verify (any changed byte ends here). */
  | 'VERIFY_SIGNATURE_INVALID'
  /** No signature is from a trusted key. */
  | 'VERIFY_UNKNOWN_KEY'
  /** The signing key is trusted, but not for the batch's time (outside its validity window). */
  | 'VERIFY_KEY_NOT_VALID_AT_TIME'
  /** The payload type or predicate type is not the one wattledger writes. */
  | 'VERIFY_WRONG_TYPE'
  /** A batch sequence number is missing (a batch was dropped). */
  | 'VERIFY_SEQUENCE_GAP'
  /** A batch sequence number repeats (replay or duplicate). */
  | 'VERIFY_SEQUENCE_DUPLICATE'
  /** Batches are out of order. */
  | 'VERIFY_SEQUENCE_REORDERED'
  /** A batch's previous-batch digest does not match the batch before it. */
  | 'VERIFY_PREV_HASH_MISMATCH'
  /** A device counter does not continue from the previous batch, and no reset or gap is declared. */
  | 'VERIFY_COUNTER_DISCONTINUITY'
  /** Per device, attributed + unattributed energy does not equal the measured delta exactly. */
  | 'VERIFY_SUM_MISMATCH'
  /** Power or energy outside physical bounds (rated limit × margin, ∫ power residual). */
  | 'VERIFY_IMPLAUSIBLE'
  /** The request-record Merkle root does not recompute from the records. */
  | 'VERIFY_MERKLE_ROOT_MISMATCH'
  /** A receipt's inclusion proof does not lead to the batch or log root. */
  | 'VERIFY_INCLUSION_PROOF_INVALID'
  /** Two checkpoints are not consistent (the log was rewritten). */
  | 'VERIFY_CONSISTENCY_PROOF_INVALID'
  /** A checkpoint is for another log origin. */
  | 'VERIFY_ORIGIN_MISMATCH';

/** Where a verification failure happened and the numbers involved. */
export interface VerificationContext {
  /** Batch sequence number, when the failure concerns one batch. */
  readonly batchSeq?: number;
  /** The check that failed, in words ("prev-hash", "merkle-root", "signature"). */
  readonly check: string;
  readonly expected?: string;
  readonly found?: string;
}

/** A verification failure: which check, on which batch, with which numbers. */
export class VerificationError extends BaseError<VerificationErrorCode> {
  readonly context: VerificationContext;
  constructor(
    code: VerificationErrorCode,
    message: string,
    context: VerificationContext,
    options?: { cause?: unknown },
  ) {
    super(code, message, options);
    this.context = context;
  }
}

const FROM_ATTEST: Readonly<Record<AttestErrorCode, VerificationErrorCode>> = {
  ATTEST_CANONICAL_UNSUPPORTED_VALUE: 'VERIFY_NONCANONICAL_PAYLOAD',
  ATTEST_CANONICAL_MISMATCH: 'VERIFY_NONCANONICAL_PAYLOAD',
  ATTEST_ENCODING_INVALID: 'VERIFY_MALFORMED',
  ATTEST_KEY_INVALID: 'VERIFY_MALFORMED',
  ATTEST_KEY_AMBIGUOUS: 'VERIFY_UNKNOWN_KEY',
  ATTEST_SIGNATURE_INVALID: 'VERIFY_SIGNATURE_INVALID',
  ATTEST_DSSE_MALFORMED: 'VERIFY_MALFORMED',
  ATTEST_DSSE_PAYLOAD_TYPE_MISMATCH: 'VERIFY_WRONG_TYPE',
  ATTEST_DSSE_UNTRUSTED: 'VERIFY_UNKNOWN_KEY',
  ATTEST_NOTE_MALFORMED: 'VERIFY_MALFORMED',
  ATTEST_NOTE_UNVERIFIED: 'VERIFY_UNKNOWN_KEY',
  ATTEST_CHECKPOINT_MALFORMED: 'VERIFY_MALFORMED',
  ATTEST_CHECKPOINT_ORIGIN_MISMATCH: 'VERIFY_ORIGIN_MISMATCH',
  ATTEST_MERKLE_ARGUMENT_INVALID: 'VERIFY_INCLUSION_PROOF_INVALID',
  ATTEST_MERKLE_PROOF_MALFORMED: 'VERIFY_INCLUSION_PROOF_INVALID',
  ATTEST_MERKLE_ROOT_MISMATCH: 'VERIFY_INCLUSION_PROOF_INVALID',
};

/**
 * Wraps a failure of an attestation primitive as a verification error, keeping it as `cause`.
 * Merkle failures map to `VERIFY_INCLUSION_PROOF_INVALID` unless `merkleCode` says which proof
 * (consistency, or a recomputed batch root) was being checked.
 */
export function verificationErrorFromAttest(
  error: AttestError,
  context: VerificationContext,
  merkleCode?: 'VERIFY_CONSISTENCY_PROOF_INVALID' | 'VERIFY_MERKLE_ROOT_MISMATCH',
): VerificationError {
  const isMerkle = error.code.startsWith('ATTEST_MERKLE_');
  const code = isMerkle && merkleCode !== undefined ? merkleCode : FROM_ATTEST[error.code];
  return new VerificationError(code, error.message, context, { cause: error });
}
