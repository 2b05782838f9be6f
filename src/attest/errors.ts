import { BaseError } from '../errors.js';

/**
 * Stable codes of the attestation primitives. Every code names one check, so a verifier can map
 * it to a `VERIFY_*` code without parsing messages (see `src/verify/errors.ts`).
 */
export type AttestErrorCode =
  /** A value on the signed path is not representable (float, unsafe integer, bigint, undefined…). */
  | 'ATTEST_CANONICAL_UNSUPPORTED_VALUE'
  /** Bytes that claim to be RFC 8785 canonical JSON are not (whitespace, order, duplicates…). */
  | 'ATTEST_CANONICAL_MISMATCH'
  /** Malformed base64, hex or UTF-8, or a value of the wrong byte length. */
  | 'ATTEST_ENCODING_INVALID'
  /** A public key, seed or key string is malformed or its stated key hash does not match. */
  | 'ATTEST_KEY_INVALID'
  /** Two trusted keys share the same (name, key hash) or key id, so a signature is ambiguous. */
  | 'ATTEST_KEY_AMBIGUOUS'
  /** A signature from a trusted key failed to verify. */
  | 'ATTEST_SIGNATURE_INVALID'
  /** A DSSE envelope is not of the DSSE v1 shape, or is over a size limit. */
  | 'ATTEST_DSSE_MALFORMED'
  /** The signed DSSE payloadType is not the one the caller expects. */
  | 'ATTEST_DSSE_PAYLOAD_TYPE_MISMATCH'
  /** No signature of a DSSE envelope verified against a trusted key. */
  | 'ATTEST_DSSE_UNTRUSTED'
  /** A signed note is not in c2sp.org/signed-note form, or is over a size limit. */
  | 'ATTEST_NOTE_MALFORMED'
  /** No signature of a signed note verified against a trusted key. */
  | 'ATTEST_NOTE_UNVERIFIED'
  /** A checkpoint body is not in c2sp.org/tlog-checkpoint form. */
  | 'ATTEST_CHECKPOINT_MALFORMED'
  /** A checkpoint names a different log origin than the caller expects. */
  | 'ATTEST_CHECKPOINT_ORIGIN_MISMATCH'
  /** A Merkle argument is out of range: index ≥ size, size1 > size2, hash not 32 bytes. */
  | 'ATTEST_MERKLE_ARGUMENT_INVALID'
  /** A Merkle proof has the wrong number of hashes for the stated index and sizes. */
  | 'ATTEST_MERKLE_PROOF_MALFORMED'
  /** A Merkle proof recomputes to a root other than the expected one. */
  | 'ATTEST_MERKLE_ROOT_MISMATCH';

/** Numbers and names that locate a failure; values are strings or numbers so they log as JSON. */
export type AttestErrorDetails = Readonly<Record<string, string | number>>;

/**
 * A failure of an attestation primitive: encoding, signing, signature or proof verification.
 * `details` carries the numbers involved (sizes, indices, key ids) for the verifier's report.
 */
export class AttestError extends BaseError<AttestErrorCode> {
  readonly details: AttestErrorDetails;
  constructor(
    code: AttestErrorCode,
    message: string,
    options?: { cause?: unknown; details?: AttestErrorDetails },
  ) {
    super(code, message, options);
    this.details = options?.details ?? {};
  }
}
