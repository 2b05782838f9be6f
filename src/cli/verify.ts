export { VERIFY_DESCRIPTION } from './descriptions.js';

import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type Ed25519Verify, ed25519Verify } from '../attest/ed25519.js';
import { createNodeEd25519Verify } from '../attest/ed25519-node.js';
import { CliError } from '../errors.js';
import { CHECKPOINT_DIR, LATEST_CHECKPOINT_FILE } from '../ledger/checkpoint-writer.js';
import { LedgerError } from '../ledger/errors.js';
import { type ReadProgress, readLedgerLines } from '../ledger/reader.js';
import { RECORDS_DIR } from '../ledger/record-log.js';
import { describeFinding, type Finding, finding } from '../verify/findings.js';
import type { VerifierKey } from '../verify/keyring.js';
import { LedgerVerifier, type VerificationReport } from '../verify/verifier.js';
import { SIMULATED_BANNER } from './format.js';
import { KEY_HINT, loadVerifierKeys } from './key-args.js';
import { progressLine, readShare } from './progress.js';

/** Options of `wattledger verify`. */
export interface VerifyOptions {
  /** One ledger directory (its `checkpoints/*.note` added) or its `.jsonl` segments, plus any `.note`s. */
  readonly paths: readonly string[];
  /** Trusted public keys, each in any form (base64, hex, PEM, C2SP vkey) or a path to a file holding one. */
  readonly keys: readonly string[];
  /** A trusted-keys JSON document; its entries (with windows) win over a `keys` entry of the same key. */
  readonly trustedKeysFile?: string | undefined;
  /** Extra checkpoint notes. */
  readonly checkpoints?: readonly string[] | undefined;
  readonly json?: boolean | undefined;
  /** Progress on stderr; default: when stderr is a TTY. */
  readonly progress?: boolean | undefined;
  /** The first batch's expected sequence (decimal), to verify a tail of a ledger; default 0. */
  readonly fromSequence?: string | undefined;
  /** Signature engine: node:crypto (default, fast) or tweetnacl (the browser's path). */
  readonly engine?: 'node' | 'tweetnacl' | undefined;
}

/** Where `verify` writes: the report to stdout, progress to stderr. */
export interface VerifyIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** The verifier's report plus what the file reader noticed that is not a failure (a torn tail). */
export interface CliVerificationReport extends VerificationReport {
  /** The ledger directory, or the first segment file given. */
  readonly path: string;
  readonly warnings: readonly string[];
  /** Batches covered by no verified signed checkpoint (from index `checkpointedSize` on). */
  readonly uncoveredBatches: number;
  /** Record lines read from `records/` (0 when there is none or segment files were given). */
  readonly recordLines: number;
}

const MAX_FINDING_LINES = 100;
const PATHS_HINT =
  "give ledger directories, or one ledger's .jsonl segments, plus any .note checkpoint files";

/**
 * `wattledger verify`. Returns 0 when every ledger given verified and 1 when one did not (any
 * finding: a changed byte, a missing segment, an empty ledger, a bad checkpoint, an edited
 * record). Several ledger directories are verified one after the other, each on its own (own
 * origin, checkpoints and records), with a summary per ledger. Usage and I/O problems (no key, bad
 * key text, an unreadable or unknown path) are thrown as `CliError` `CLI_USAGE`/`CLI_IO`, which
 * `main` maps to exit 2; this function never returns 2. A torn tail (a partial last line left by a
 * crash or a live writer) and batches no checkpoint covers yet are warnings, not failures.
 */
export async function runVerify(options: VerifyOptions, io: VerifyIo): Promise<number> {
  const verify = signatureVerifier(options.engine);
  const expectFirstSequence = parseFromSequence(options.fromSequence);
  const keys = await loadKeys(options);
  const ledgers = await classifyPaths(options.paths, options.checkpoints ?? [], expectFirstSequence);
  const reports: CliVerificationReport[] = [];
  for (const inputs of ledgers) {
    reports.push(await verifyLedger(inputs, { keys, verify, expectFirstSequence }, options, io));
  }
  const json = options.json === true;
  if (reports.length === 1) {
    const [report] = reports as [CliVerificationReport];
    io.stdout.write(`${json ? renderJson(report) : renderText(report)}\n`);
  } else {
    io.stdout.write(
      `${json ? renderJson({ ok: reports.every((r) => r.ok), ledgers: reports }) : renderMany(reports)}\n`,
    );
  }
  return reports.every((r) => r.ok) ? 0 : 1;
}

async function verifyLedger(
  inputs: Inputs,
  verifierOptions: { keys: VerifierKey[]; verify: Ed25519Verify; expectFirstSequence: bigint },
  options: VerifyOptions,
  io: VerifyIo,
): Promise<CliVerificationReport> {
  const verifier = new LedgerVerifier(verifierOptions);
  // The verifier needs every checkpoint before the lines it covers.
  for (const path of inputs.checkpoints) verifier.addCheckpoint(await readText(path, 'checkpoint'), path);
  const progress = progressReporter(options.progress ?? io.stderr.isTTY === true, io.stderr);
  let read: ReadOutcome;
  try {
    read = await feedLines(verifier, inputs.ledger, progress);
  } finally {
    progress.finish();
  }
  const records =
    typeof inputs.ledger === 'string' ? await feedRecords(verifier, join(inputs.ledger, RECORDS_DIR)) : null;
  const path = typeof inputs.ledger === 'string' ? inputs.ledger : (inputs.ledger[0] ?? '-');
  const report = combine(verifier.finish(), read, records, verifierOptions.expectFirstSequence > 0n);
  return { ...report, path };
}

function usage(message: string, hint: string): CliError {
  return new CliError('CLI_USAGE', message, { hint });
}

function signatureVerifier(engine: string | undefined): Ed25519Verify {
  if (engine === undefined || engine === 'node') return createNodeEd25519Verify();
  if (engine === 'tweetnacl') return ed25519Verify;
  throw usage(`unknown signature engine ${JSON.stringify(engine)}`, 'use node (default) or tweetnacl');
}

function parseFromSequence(text: string | undefined): bigint {
  if (text === undefined) return 0n;
  if (/^\d+$/.test(text)) return BigInt(text);
  throw usage(`--from-sequence must be a batch sequence number, got ${JSON.stringify(text)}`, 'e.g. 1200');
}

/** `CLI_IO` for a failed file-system call, naming the path and the errno code. */
function ioError(action: string, error: unknown): CliError {
  const reason = (error as NodeJS.ErrnoException).code ?? String(error);
  return new CliError('CLI_IO', `cannot ${action}: ${reason}`, { cause: error, hint: 'check the path' });
}

async function readText(path: string, what: string): Promise<string> {
  return readFile(path, 'utf8').catch((error: unknown) => {
    throw ioError(`read ${what} ${path}`, error);
  });
}

/** The trusted keys; at least one is needed. */
async function loadKeys(options: VerifyOptions): Promise<VerifierKey[]> {
  const keys = await loadVerifierKeys(options);
  if (keys.length === 0) throw usage('no trusted public key given: nothing can be verified', KEY_HINT);
  return keys;
}

/** What to read for one ledger: a directory or segment files, and every checkpoint note. */
interface Inputs {
  readonly ledger: string | readonly string[];
  readonly checkpoints: readonly string[];
}

/** One {@link Inputs} per ledger: each directory is a ledger, and loose segment files are one more. */
async function classifyPaths(
  paths: readonly string[],
  extra: readonly string[],
  from: bigint,
): Promise<Inputs[]> {
  const dirs: string[] = [];
  const segments: string[] = [];
  const checkpoints = [...extra];
  for (const path of paths) {
    const info = await stat(path).catch((error: unknown) => {
      throw ioError(`read ${path}`, error);
    });
    if (info.isDirectory()) dirs.push(path);
    else if (path.endsWith('.jsonl')) segments.push(path);
    else if (path.endsWith('.note') || basename(path) === LATEST_CHECKPOINT_FILE) checkpoints.push(path);
    else throw usage(`${path} is not a ledger directory, .jsonl segment or checkpoint`, PATHS_HINT);
  }
  const ledgers = dirs.length + (segments.length > 0 ? 1 : 0);
  if (ledgers === 0) throw usage('no ledger given: a directory, or its .jsonl segment files', PATHS_HINT);
  // A loose checkpoint or segment belongs to one ledger; with several it would be ambiguous which.
  if (ledgers > 1 && (segments.length > 0 || checkpoints.length > 0))
    throw usage(
      'with several ledgers, give only ledger directories (each is read with its own checkpoints)',
      'verify segment files or extra checkpoints one ledger at a time',
    );
  // Checkpoints commit to the whole log from batch 0, so a tail of it cannot be checked against them.
  if (from > 0n && checkpoints.length > 0)
    throw usage('checkpoints cannot be checked with --from-sequence', 'drop one or the other');
  if (segments.length > 0) return [{ ledger: segments, checkpoints }];
  const out: Inputs[] = [];
  for (const dir of dirs)
    out.push({ ledger: dir, checkpoints: from > 0n ? [] : [...(await checkpointsIn(dir)), ...checkpoints] });
  return out;
}

async function checkpointsIn(dir: string): Promise<string[]> {
  const folder = join(dir, CHECKPOINT_DIR);
  const names = await readdir(folder).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[];
    throw ioError(`list ${folder}`, error);
  });
  const notes = names
    .filter((name) => name.endsWith('.note'))
    .sort()
    .map((name) => join(folder, name));
  // The root `checkpoint` file is the newest checkpoint: read too, so garbage there is caught.
  const latest = join(dir, LATEST_CHECKPOINT_FILE);
  const hasLatest = await stat(latest).then(
    (info) => info.isFile(),
    () => false,
  );
  return hasLatest ? [...notes, latest] : notes;
}

/** Findings and warnings of the file reader, outside the verifier's own checks. */
interface ReadOutcome {
  readonly findings: Finding[];
  readonly warnings: string[];
}

async function feedLines(
  verifier: LedgerVerifier,
  source: Inputs['ledger'],
  progress: Progress,
): Promise<ReadOutcome> {
  const out: ReadOutcome = { findings: [], warnings: [] };
  try {
    for await (const item of readLedgerLines(source, { onProgress: (p) => progress.update(p) })) {
      const location = `${item.path}:${item.lineNumber}`;
      if (item.kind === 'line') {
        verifier.addLine(item.line, location);
        progress.update();
      } else if (item.error.code === 'LEDGER_TORN_TAIL') out.warnings.push(item.error.message);
      else out.findings.push(fileFinding('VERIFY_MALFORMED', location, 'ledger-read', item.error.message));
    }
  } catch (error) {
    if (!(error instanceof LedgerError)) throw error;
    // A hole in the segment numbering is evidence against the ledger, not a usage problem: exit 1.
    if (error.code !== 'LEDGER_CORRUPT') throw new CliError('CLI_IO', error.message, { cause: error });
    const location = String(error.details.where ?? source);
    out.findings.push(fileFinding('VERIFY_SEQUENCE_GAP', location, 'segments', error.message));
  }
  return out;
}

/** A finding about the files rather than one batch. */
function fileFinding(code: Finding['code'], location: string, check: string, message: string): Finding {
  return finding(code, { sequence: null, location }, check, message);
}

/** The records check's outcome: findings, lines read, and whether `records/` was there at all. */
interface RecordsOutcome {
  readonly findings: readonly Finding[];
  readonly warnings: readonly string[];
  readonly lines: number;
}

/**
 * Reads `records/` (FORMAT.md §5.4) into the verifier's records check. Absent while batches
 * commit to records: a warning (the records were not given, so they cannot be checked).
 */
async function feedRecords(verifier: LedgerVerifier, dir: string): Promise<RecordsOutcome> {
  const check = verifier.recordsCheck();
  const exists = await stat(dir).then(
    (info) => info.isDirectory(),
    () => false,
  );
  if (!exists) {
    const count = check.batchesWithRecords;
    const warnings =
      count === 0 ? [] : [`no records/ folder: the request records of ${count} batches were not checked`];
    return { findings: [], warnings, lines: 0 };
  }
  const findings: Finding[] = [];
  const warnings: string[] = [];
  try {
    for await (const item of readLedgerLines(dir)) {
      const location = `${item.path}:${item.lineNumber}`;
      if (item.kind === 'line') check.addLine(item.line, location);
      else if (item.error.code === 'LEDGER_TORN_TAIL') warnings.push(item.error.message);
      else findings.push(fileFinding('VERIFY_MALFORMED', location, 'records-line', item.error.message));
    }
  } catch (error) {
    if (!(error instanceof LedgerError)) throw error;
    if (error.code !== 'LEDGER_CORRUPT') throw new CliError('CLI_IO', error.message, { cause: error });
    findings.push(
      fileFinding('VERIFY_SEQUENCE_GAP', String(error.details.where ?? dir), 'segments', error.message),
    );
  }
  const result = check.finish();
  return { findings: [...findings, ...result.findings], warnings, lines: result.lines };
}

function combine(
  report: VerificationReport,
  read: ReadOutcome,
  records: RecordsOutcome | null,
  tail: boolean,
): Omit<CliVerificationReport, 'path'> {
  const findings = [...read.findings, ...report.findings, ...(records?.findings ?? [])];
  // An empty ledger verifies vacuously; saying VERIFIED would hide that every segment was removed.
  if (report.logSize === 0 && findings.length === 0)
    findings.push(
      fileFinding('VERIFY_MALFORMED', '-', 'ledger-empty', 'no batches were read; it proves nothing'),
    );
  const uncoveredBatches = report.logSize - report.checkpointedSize;
  const warnings = [...read.warnings, ...(records?.warnings ?? [])];
  if (tail) warnings.push('a tail of a ledger (--from-sequence): no checkpoint can cover it');
  else if (uncoveredBatches > 0)
    warnings.push(
      report.checkpointedSize === 0
        ? `no signed checkpoint covers any of the ${uncoveredBatches} batches: whoever holds the key could rewrite them unseen`
        : `batches ${report.checkpointedSize}..${report.logSize - 1} (${uncoveredBatches}) are covered by no signed checkpoint yet`,
    );
  return {
    ...report,
    ok: findings.length === 0,
    findings,
    warnings,
    uncoveredBatches,
    recordLines: records?.lines ?? 0,
  };
}

/** Throttled progress on stderr: rewritten in place on a TTY, one line per update otherwise. */
interface Progress {
  /** After each chunk read (with the byte counts) and after each line verified (without). */
  update(bytes?: ReadProgress): void;
  finish(): void;
}

function progressReporter(enabled: boolean, stderr: VerifyIo['stderr']): Progress {
  const state: ReadProgress & { lines: number } = { bytesRead: 0, totalBytes: 0, lines: 0 };
  const line = progressLine(enabled, stderr, () => `verifying: ${state.lines} batches, ${readShare(state)}`);
  return {
    update(bytes) {
      if (bytes === undefined) state.lines += 1;
      else Object.assign(state, bytes);
      line.update();
    },
    finish: () => line.finish(),
  };
}

function renderJson(report: unknown): string {
  return JSON.stringify(
    report,
    (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value),
    2,
  );
}

function renderText(report: CliVerificationReport): string {
  const range =
    report.firstSequence === null ? '' : `, sequence ${report.firstSequence}..${report.lastSequence}`;
  const covered = report.checkpointedSize === 0 ? 'none' : `the first ${report.checkpointedSize} batches`;
  const out = [
    `ledger       ${report.path}`,
    `origin       ${report.origin ?? '(unknown: no batch could be read)'}`,
    `batches      ${report.batches}${range}`,
    `log          size ${report.logSize}, root ${report.logRootHex}`,
    `checkpoints  ${report.checkpointsVerified} verified, covering ${covered}`,
    `records      ${report.recordLines} read`,
  ];
  if (report.simulated) out.push(`WARNING: ${SIMULATED_BANNER}`);
  for (const u of report.unmeasured)
    out.push(
      `unmeasured   ${u.deviceId}: ${u.batches} batch${u.batches === 1 ? '' : 'es'} with nothing measured (${u.reasons.join(', ')}); not in the totals`,
    );
  for (const warning of report.warnings) out.push(`warning: ${warning}`);
  const count = report.findings.length;
  out.push(report.ok ? 'VERIFIED' : `FAILED: ${count} finding${count === 1 ? '' : 's'}`);
  out.push(...report.findings.slice(0, MAX_FINDING_LINES).map(describeFinding));
  if (count > MAX_FINDING_LINES)
    out.push(`… and ${count - MAX_FINDING_LINES} more findings (--json lists all)`);
  return out.join('\n');
}

/** Each ledger's report, then one summary line per ledger and the verdict over all of them. */
function renderMany(reports: readonly CliVerificationReport[]): string {
  const blocks = reports.flatMap((report) => [renderText(report), '']);
  const failed = reports.filter((r) => !r.ok).length;
  const summary = reports.map((r) => {
    const verdict = r.ok
      ? 'VERIFIED'
      : `FAILED (${r.findings.length} finding${r.findings.length === 1 ? '' : 's'})`;
    return `${verdict}  ${r.path}  origin ${r.origin ?? '-'}, ${r.batches} batches, ${r.uncoveredBatches} not checkpointed`;
  });
  const verdict =
    failed === 0
      ? `all ${reports.length} ledgers VERIFIED`
      : `FAILED: ${failed} of ${reports.length} ledgers`;
  return [...blocks, 'summary', ...summary, verdict].join('\n');
}
