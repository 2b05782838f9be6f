import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ed25519Verify } from '../attest/ed25519.js';
import { rfc3339 } from '../clock.js';
import { CHECKPOINT_DIR } from '../ledger/checkpoint-writer.js';
import { ledgerIoError } from '../ledger/errors.js';
import type { ReadProgress } from '../ledger/reader.js';
import { describeFinding, type Finding, finding } from '../verify/findings.js';
import type { VerifierKey } from '../verify/keyring.js';
import { LedgerVerifier } from '../verify/verifier.js';
import { ReportAggregator } from './aggregate.js';
import { BOUNDARY_NOTE } from './boundary.js';
import { compareModels } from './comparison.js';
import { ReportError } from './errors.js';
import { scanLedger } from './ledger-scan.js';
import { reportRecordOf } from './record-fields.js';
import { REPORT_VERSION, type Report, type VerificationSummary } from './report-types.js';
import { inWindow, type TimeWindow } from './time-window.js';

/** Options of {@link buildReport}. */
export interface ReportOptions {
  readonly ledgerDir: string;
  readonly window: TimeWindow;
  /** Only this model (exact match); absent: all. */
  readonly model?: string | undefined;
  /** Only this engine id; absent: all. */
  readonly engineId?: string | undefined;
  /** Trusted keys: verify every batch with them (the same verifier as `wattledger verify`). Empty: not verified. */
  readonly keys?: readonly VerifierKey[] | undefined;
  /** Signature check for the verifier (Node callers pass the node:crypto fast path). */
  readonly verify?: Ed25519Verify | undefined;
  readonly onProgress?: ((progress: ReadProgress) => void) | undefined;
}

const FIRST_FINDINGS = 20;

/**
 * Reads a ledger once and summarises the sealed request records that ended in the window, per
 * (model, engine) and in total. With keys, every batch is verified on the same pass (checkpoints
 * first, as `wattledger verify` does), and the records count as verified through their batch's
 * Merkle root. Throws `REPORT_LEDGER_NOT_FOUND` or `REPORT_LEDGER_DAMAGED`.
 */
export async function buildReport(options: ReportOptions): Promise<Report> {
  const { ledgerDir, window } = options;
  await requireDirectory(ledgerDir);
  const keys = options.keys ?? [];
  const verifier =
    keys.length > 0
      ? new LedgerVerifier({ keys, ...(options.verify ? { verify: options.verify } : {}) })
      : null;
  if (verifier !== null)
    for (const note of await checkpointNotes(ledgerDir)) verifier.addCheckpoint(note.text, note.path);
  const readFindings: Finding[] = [];
  const aggregator = new ReportAggregator();
  let unreadable = 0;
  let simulated = false;
  const counts = await scanLedger(ledgerDir, {
    onRecord: (value, batch) => {
      const record = reportRecordOf(value);
      if (record === null) {
        unreadable += 1;
        return;
      }
      if (!inWindow(window, record.endedAtUnixNanos)) return;
      if (options.model !== undefined && record.model !== options.model) return;
      if (options.engineId !== undefined && record.engineId !== options.engineId) return;
      aggregator.add(record);
      simulated ||= batch.simulated;
    },
    onBatchLine: verifier === null ? undefined : (line, location) => verifier.addLine(line, location),
    onBatchDamage: (item) =>
      void readFindings.push(
        finding(
          'VERIFY_MALFORMED',
          { sequence: null, location: `${item.path}:${item.lineNumber}` },
          'ledger-read',
          item.error.message,
        ),
      ),
    onProgress: options.onProgress,
  });
  const { models, totals } = aggregator.result();
  return {
    reportVersion: REPORT_VERSION,
    window: {
      by: 'record.endedAt',
      from: window.fromUnixNanos === null ? null : rfc3339(window.fromUnixNanos),
      to: window.toUnixNanos === null ? null : rfc3339(window.toUnixNanos),
      fromUnixNanos: window.fromUnixNanos?.toString() ?? null,
      toUnixNanos: window.toUnixNanos?.toString() ?? null,
    },
    filters: { model: options.model ?? null, engineId: options.engineId ?? null },
    verification: verification(verifier, readFindings),
    ledger: {
      origin: counts.origin,
      batchesRead: counts.batchesRead,
      recordLinesRead: counts.recordLinesRead,
      recordsSealed: counts.recordsSealed,
      recordsUnreadable: unreadable,
      recordsInReport: aggregator.requests,
      batchesMissingRecords: counts.batchesMissingRecords,
      batchesUnreadable: counts.batchesUnreadable + readFindings.length,
      simulated,
      warnings: counts.warnings,
    },
    models,
    totals,
    comparison: compareModels(models),
    boundaryNote: BOUNDARY_NOTE,
  };
}

async function requireDirectory(dir: string): Promise<void> {
  const info = await stat(dir).catch(() => null);
  if (info === null || !info.isDirectory())
    throw new ReportError('REPORT_LEDGER_NOT_FOUND', `${dir} is not a ledger directory`, {
      hint: "give --ledger-dir the daemon's ledger.dir (default /var/lib/wattledger/ledger)",
    });
}

/** The ledger's checkpoint notes, oldest first (all of them: each is checked when the log reaches its size). */
async function checkpointNotes(dir: string): Promise<{ path: string; text: string }[]> {
  const folder = join(dir, CHECKPOINT_DIR);
  const names = await readdir(folder).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[];
    throw ledgerIoError('list checkpoints in', folder, error);
  });
  const notes: { path: string; text: string }[] = [];
  // One at a time: a month of checkpoints is tens of thousands of small files.
  for (const name of names.filter((n) => n.endsWith('.note')).sort()) {
    const path = join(folder, name);
    const text = await readFile(path, 'utf8').catch((error: unknown) => {
      throw ledgerIoError('read checkpoint', path, error);
    });
    notes.push({ path, text });
  }
  return notes;
}

function verification(
  verifier: LedgerVerifier | null,
  readFindings: readonly Finding[],
): VerificationSummary {
  if (verifier === null)
    return { status: 'not-verified', batches: 0, checkpointsVerified: 0, findings: 0, firstFindings: [] };
  const report = verifier.finish();
  const findings = [...readFindings, ...report.findings];
  // An empty ledger verifies vacuously; saying verified would hide that every segment was removed.
  if (report.logSize === 0 && findings.length === 0)
    findings.push(
      finding(
        'VERIFY_MALFORMED',
        { sequence: null, location: '-' },
        'ledger-empty',
        'no batches were read; it proves nothing',
      ),
    );
  return {
    status: findings.length === 0 ? 'verified' : 'failed',
    batches: report.batches,
    checkpointsVerified: report.checkpointsVerified,
    findings: findings.length,
    firstFindings: findings.slice(0, FIRST_FINDINGS).map(describeFinding),
  };
}
