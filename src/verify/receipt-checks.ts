import type { Finding } from './findings.js';
import type { ReceiptReport } from './receipt.js';

/**
 * The checks a receipt goes through, in words, in the order {@link verifyReceipt} makes them:
 * the one list the terminal (`verify-receipt`) and the receipt page both show. Each groups the
 * `check` names its findings carry. PURE: part of the browser-safe verifier.
 */
export const RECEIPT_CHECKS = [
  {
    id: 'shape',
    words: 'The receipt is well-formed (receipt format v1)',
    checks: ['receipt-json', 'receipt-shape'],
  },
  {
    id: 'signature',
    words: 'The batch is signed by a trusted key, over its canonical bytes',
    checks: [
      'envelope-json',
      'envelope-shape',
      'payload-type',
      'signature',
      'canonical-payload',
      'predicate-type',
      'canonical-line',
      'statement-schema',
    ],
  },
  {
    id: 'record',
    words: "The record is this request's and is in the signed batch (Merkle inclusion proof)",
    checks: ['request-id', 'record-json', 'record-size', 'record-inclusion'],
  },
  {
    id: 'key-window',
    words: 'The signing key was valid when the batch was sealed',
    checks: ['key-window'],
  },
  {
    id: 'physics',
    words: "The batch's energy adds up and is physically possible, and so is the record's",
    checks: [
      'subject-digest',
      'counter-arithmetic',
      'energy-composition',
      'downtime-energy',
      'conservation',
      'idle-split',
      'totals',
      'window-order',
      'downtime',
      'covered-span',
      'energy-ceiling',
      'power-ceiling',
      'residual',
      'idle-ceiling',
      'idle-baseline',
      'discontinuity',
      'wrap-range',
      'record-ceiling',
    ],
  },
  {
    id: 'checkpoint',
    words: "The checkpoint is signed by the same log's key",
    checks: ['checkpoint-origin', 'checkpoint'],
  },
  {
    id: 'log',
    words: "The batch is in the log at the checkpoint's size, at its signed position (inclusion proof)",
    checks: ['batch-inclusion', 'batch-index'],
  },
  {
    id: 'kept',
    words: 'The log is the one of the checkpoint you kept (same origin, consistent)',
    checks: ['kept-checkpoint', 'kept-checkpoint-origin', 'kept-consistency'],
  },
] as const;

/** Checks shown only when their input was given: `kept` needs a kept checkpoint. */
function applies(id: string, report: ReceiptReport): boolean {
  return id !== 'kept' || report.keptCheckpoint === true;
}

/** One check's outcome. `not-checked`: an earlier check it rests on failed. */
export interface ReceiptCheckOutcome {
  readonly id: string;
  readonly words: string;
  readonly status: 'passed' | 'failed' | 'not-checked';
  readonly findings: readonly Finding[];
}

/** Each check of {@link RECEIPT_CHECKS} with its outcome in `report`; unknown findings fail a last `other` entry. */
export function receiptCheckOutcomes(report: ReceiptReport): ReceiptCheckOutcome[] {
  const known = new Set<string>(RECEIPT_CHECKS.flatMap((c) => c.checks));
  let blocked = false;
  const out: ReceiptCheckOutcome[] = RECEIPT_CHECKS.filter((c) => applies(c.id, report)).map((c) => {
    const findings = report.findings.filter((f) => (c.checks as readonly string[]).includes(f.check));
    const status = blocked ? 'not-checked' : findings.length > 0 ? 'failed' : 'passed';
    // Everything after the shape and the envelope rests on them.
    if (findings.length > 0 && (c.id === 'shape' || c.id === 'signature')) blocked = true;
    return { id: c.id, words: c.words, status, findings };
  });
  const other = report.findings.filter((f) => !known.has(f.check));
  if (other.length > 0) out.push({ id: 'other', words: 'Other checks', status: 'failed', findings: other });
  return out;
}

/** The outcomes as lines for a terminal: `  ✓ words`, `  ✗ words` with each finding, `  - words (not checked)`. */
export function renderReceiptChecks(report: ReceiptReport): string[] {
  const lines: string[] = [];
  for (const outcome of receiptCheckOutcomes(report)) {
    const mark = outcome.status === 'passed' ? '✓' : outcome.status === 'failed' ? '✗' : '-';
    lines.push(`  ${mark} ${outcome.words}${outcome.status === 'not-checked' ? ' (not checked)' : ''}`);
    for (const f of outcome.findings) {
      const values =
        f.expected !== undefined || f.found !== undefined
          ? ` (expected ${f.expected ?? '-'}, found ${f.found ?? '-'})`
          : '';
      lines.push(`      ${f.code} [${f.check}] ${f.location}: ${f.message}${values}`);
    }
  }
  return lines;
}
