import { describe, expect, it } from 'vitest';
import { AttestError } from '../../../src/attest/errors.js';
import { BaseError } from '../../../src/errors.js';
import { VerificationError, verificationErrorFromAttest } from '../../../src/verify/errors.js';

describe('VerificationError', () => {
  it('carries a VERIFY_ code, the failed check and the numbers', () => {
    const error = new VerificationError('VERIFY_PREV_HASH_MISMATCH', 'batch 7 does not chain to batch 6', {
      batchSeq: 7,
      check: 'prev-hash',
      expected: 'ab',
      found: 'cd',
    });
    expect(error).toBeInstanceOf(BaseError);
    expect(error.name).toBe('VerificationError');
    expect(error.context).toEqual({ batchSeq: 7, check: 'prev-hash', expected: 'ab', found: 'cd' });
  });

  it('maps attestation failures to verifier codes and keeps the cause', () => {
    const cause = new AttestError('ATTEST_SIGNATURE_INVALID', 'bad');
    const error = verificationErrorFromAttest(cause, { batchSeq: 1, check: 'signature' });
    expect(error.code).toBe('VERIFY_SIGNATURE_INVALID');
    expect(error.cause).toBe(cause);
    expect(
      verificationErrorFromAttest(new AttestError('ATTEST_DSSE_UNTRUSTED', 'x'), { check: 's' }).code,
    ).toBe('VERIFY_UNKNOWN_KEY');
    expect(
      verificationErrorFromAttest(new AttestError('ATTEST_CANONICAL_MISMATCH', 'x'), { check: 'c' }).code,
    ).toBe('VERIFY_NONCANONICAL_PAYLOAD');
  });

  it('lets the caller say which Merkle proof failed', () => {
    const rootMismatch = new AttestError('ATTEST_MERKLE_ROOT_MISMATCH', 'x');
    expect(verificationErrorFromAttest(rootMismatch, { check: 'receipt' }).code).toBe(
      'VERIFY_INCLUSION_PROOF_INVALID',
    );
    expect(
      verificationErrorFromAttest(rootMismatch, { check: 'log' }, 'VERIFY_CONSISTENCY_PROOF_INVALID').code,
    ).toBe('VERIFY_CONSISTENCY_PROOF_INVALID');
    const other = new AttestError('ATTEST_NOTE_MALFORMED', 'x');
    expect(verificationErrorFromAttest(other, { check: 'n' }, 'VERIFY_MERKLE_ROOT_MISMATCH').code).toBe(
      'VERIFY_MALFORMED',
    );
  });
});
