export { REPORT_DESCRIPTION } from './descriptions.js';

import { createNodeEd25519Verify } from '../attest/ed25519-node.js';
import { systemClock } from '../clock.js';
import { BaseError, describeError } from '../errors.js';
import type { ReadProgress } from '../ledger/reader.js';
import { buildReport } from '../report/build-report.js';
import { ReportError } from '../report/errors.js';
import { renderReportText } from '../report/render-text.js';
import { parseTimeWindow } from '../report/time-window.js';
import { loadVerifierKeys } from './key-args.js';
import { progressLine, readShare } from './progress.js';

/** Options of `wattledger report`. */
export interface ReportCliOptions {
  readonly ledgerDir: string;
  /** RFC 3339, a date, `now`, or a duration before now (`24h`); absent: the ledger's start. */
  readonly from?: string | undefined;
  /** As `from`; absent: the ledger's end. */
  readonly to?: string | undefined;
  readonly json?: boolean | undefined;
  /** Trusted public keys (any form, or a file holding one): verify the batches. */
  readonly keys?: readonly string[] | undefined;
  readonly trustedKeysFile?: string | undefined;
  readonly model?: string | undefined;
  readonly engine?: string | undefined;
  /** Progress on stderr; default: when stderr is a TTY. */
  readonly progress?: boolean | undefined;
  /** Wall time that relative bounds count back from (tests); default: now. */
  readonly nowUnixNanos?: bigint | undefined;
}

/** Where `report` writes: the report to stdout, progress and errors to stderr. */
export interface ReportIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

/**
 * `wattledger report`: per-model energy statistics of the request records that ended in the
 * window. Returns 0 when the report was written (an empty window included: it says so), 1 when
 * keys were given and the ledger did not verify (the report is still written, marked failed) or
 * the ledger is damaged beyond reading, 2 for usage errors (a bad time, from not before to, a
 * missing ledger directory, a bad key).
 */
export async function runReport(options: ReportCliOptions, io: ReportIo): Promise<number> {
  const progress = progressReporter(options.progress ?? io.stderr.isTTY === true, io.stderr);
  try {
    const now = options.nowUnixNanos ?? systemClock.wallUnixNanos();
    const window = parseTimeWindow(options.from, options.to, now);
    const keys = await loadVerifierKeys({
      keys: options.keys ?? [],
      trustedKeysFile: options.trustedKeysFile,
    });
    const report = await buildReport({
      ledgerDir: options.ledgerDir,
      window,
      model: options.model,
      engineId: options.engine,
      keys,
      verify: createNodeEd25519Verify(),
      onProgress: (p) => progress.update(p),
    }).finally(() => progress.finish());
    io.stdout.write(
      options.json === true
        ? `${JSON.stringify(report, null, 2)}\n`
        : renderReportText(report, options.ledgerDir),
    );
    return report.verification.status === 'failed' ? EXIT_FAILED : EXIT_OK;
  } catch (error) {
    if (!(error instanceof BaseError)) throw error;
    const hint = (error as { hint?: unknown }).hint;
    io.stderr.write(
      `wattledger: ${describeError(error)}\n${typeof hint === 'string' ? `hint: ${hint}\n` : ''}`,
    );
    return error instanceof ReportError && error.code === 'REPORT_LEDGER_DAMAGED' ? EXIT_FAILED : EXIT_USAGE;
  }
}

/** `reading the ledger: 12% of 3.4 MiB`, throttled, on stderr. */
function progressReporter(enabled: boolean, stderr: ReportIo['stderr']) {
  let state: ReadProgress = { bytesRead: 0, totalBytes: 0 };
  const line = progressLine(enabled, stderr, () => `reading the ledger: ${readShare(state)}`);
  return {
    update(p: ReadProgress) {
      state = p;
      line.update();
    },
    finish: () => line.finish(),
  };
}
