import { describe, expect, it } from 'vitest';
import { finding } from '../../../src/verify/findings.js';
import type { ReceiptReport } from '../../../src/verify/receipt.js';
import {
  RECEIPT_CHECKS,
  receiptCheckOutcomes,
  renderReceiptChecks,
} from '../../../src/verify/receipt-checks.js';

const at = { sequence: '3', location: 'receipt.record' };

function report(findings: ReceiptReport['findings']): ReceiptReport {
  return {
    ok: findings.length === 0,
    requestId: 'r',
    sequence: '3',
    origin: 'o',
    simulated: false,
    findings,
    record: { requestId: 'r' },
  };
}

describe('the receipt checks in words', () => {
  it('passes every check of a verified receipt, in order', () => {
    const outcomes = receiptCheckOutcomes(report([]));
    // The kept-checkpoint check is shown only when one was given.
    expect(outcomes.map((o) => o.id)).toEqual(RECEIPT_CHECKS.map((c) => c.id).filter((id) => id !== 'kept'));
    expect(receiptCheckOutcomes({ ...report([]), keptCheckpoint: true }).map((o) => o.id)).toContain('kept');
    expect(outcomes.every((o) => o.status === 'passed')).toBe(true);
    expect(renderReceiptChecks(report([]))[0]).toBe('  ✓ The receipt is well-formed (receipt format v1)');
  });

  it('fails the check a finding belongs to and keeps the others that do not rest on it', () => {
    const bad = finding('VERIFY_INCLUSION_PROOF_INVALID', at, 'record-inclusion', 'misses the root');
    const outcomes = receiptCheckOutcomes(report([bad]));
    expect(outcomes.find((o) => o.id === 'record')).toMatchObject({ status: 'failed', findings: [bad] });
    expect(outcomes.filter((o) => o.status === 'passed').map((o) => o.id)).toEqual([
      'shape',
      'signature',
      'key-window',
      'physics',
      'checkpoint',
      'log',
    ]);
    expect(renderReceiptChecks(report([bad]))).toContain(
      '      VERIFY_INCLUSION_PROOF_INVALID [record-inclusion] receipt.record: misses the root',
    );
  });

  it('marks everything after a failed signature as not checked', () => {
    const bad = finding('VERIFY_UNKNOWN_KEY', at, 'signature', 'no trusted key');
    const outcomes = receiptCheckOutcomes(report([bad]));
    expect(outcomes.map((o) => o.status)).toEqual([
      'passed',
      'failed',
      'not-checked',
      'not-checked',
      'not-checked',
      'not-checked',
      'not-checked',
    ]);
  });

  it('names the physics of the batch and the record, and the kept checkpoint, as checks of their own', () => {
    const physics = finding('VERIFY_IMPLAUSIBLE', at, 'record-ceiling', 'five kJ in 0.3 s');
    expect(receiptCheckOutcomes(report([physics])).find((o) => o.id === 'physics')?.status).toBe('failed');
    const kept = finding('VERIFY_CONSISTENCY_PROOF_INVALID', at, 'kept-consistency', 'another log');
    const outcomes = receiptCheckOutcomes({ ...report([kept]), keptCheckpoint: true });
    expect(outcomes.find((o) => o.id === 'kept')).toMatchObject({ status: 'failed', findings: [kept] });
    expect(outcomes.some((o) => o.id === 'other')).toBe(false);
  });

  it('never drops a finding of a check it does not know', () => {
    const odd = finding('VERIFY_MALFORMED', at, 'a-new-check', 'something new');
    const outcomes = receiptCheckOutcomes(report([odd]));
    expect(outcomes.at(-1)).toMatchObject({ id: 'other', status: 'failed', findings: [odd] });
  });
});
