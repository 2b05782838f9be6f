export { VERIFY_DESCRIPTION } from './descriptions.js';

import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { type Ed25519Verify, ed25519Verify } from '../attest/ed25519.js';
import { createNodeEd25519Verify } from '../attest/ed25519-node.js';
import { CliError } from '../errors.js';
import { CHECKPOINT_DIR, LATEST_CHECKPOINT_FILE } from '../ledger/checkpoint-writer.js';
import { LedgerError } from '../ledger/errors.js';
import { type ReadProgress, readLedgerLines } from '../ledger/reader.js';
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
  readonly warnings: readonly string[];
}

const MAX_FINDING_LINES = 100;
const PATHS_HINT = 'give a ledger directory, or .jsonl segments, plus any .note checkpoint files';

/**
 * `wattledger verify`. Returns 0 when the ledger verified and 1 when it did not (any finding: a
 * changed byte, a missing segment, an empty ledger, a bad checkpoint). Usage and I/O problems (no
 * key, bad key text, an unreadable or unknown path) are thrown as `CliError` `CLI_USAGE`/`CLI_IO`,
 * which `main` maps to exit 2; this function never returns 2. A torn tail (a partial last line left
 * by a crash or a live writer) is a warning, not a failure: it was never a signed batch.
 */
export async function runVerify(options: VerifyOptions, io: VerifyIo): Promise<number> {
  const verify = signatureVerifier(options.engine);
  const expectFirstSequence = parseFromSequence(options.fromSequence);
  const keys = await loadKeys(options);
  const inputs = await classifyPaths(options.paths, options.checkpoints ?? [], expectFirstSequence);
  const verifier = new LedgerVerifier({ keys, verify, expectFirstSequence });
  // The verifier needs every checkpoint before the lines it covers.
  for (const path of inputs.checkpoints) verifier.addCheckpoint(await readText(path, 'checkpoint'), path);
  const progress = progressReporter(options.progress ?? io.stderr.isTTY === true, io.stderr);
  let read: ReadOutcome;
  try {
    read = await feedLines(verifier, inputs.ledger, progress);
  } finally {
    progress.finish();
  }
  const report = combine(verifier.finish(), read);
  io.stdout.write(`${options.json === true ? renderJson(report) : renderText(report)}\n`);
  return report.ok ? 0 : 1;
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

/** What to read: the ledger (a directory or segment files) and every checkpoint note. */
interface Inputs {
  readonly ledger: string | readonly string[];
  readonly checkpoints: readonly string[];
}

async function classifyPaths(
  paths: readonly string[],
  extra: readonly string[],
  from: bigint,
): Promise<Inputs> {
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
  const dir = dirs[0];
  if (dirs.length + (segments.length > 0 ? 1 : 0) !== 1)
    throw usage('give exactly one ledger: a directory, or its .jsonl segment files', PATHS_HINT);
  // Checkpoints commit to the whole log from batch 0, so a tail of it cannot be checked against them.
  if (from > 0n && checkpoints.length > 0)
    throw usage('checkpoints cannot be checked with --from-sequence', 'drop one or the other');
  if (dir === undefined) return { ledger: segments, checkpoints };
  return { ledger: dir, checkpoints: from > 0n ? [] : [...(await checkpointsIn(dir)), ...checkpoints] };
}

async function checkpointsIn(dir: string): Promise<string[]> {
  const folder = join(dir, CHECKPOINT_DIR);
  const names = await readdir(folder).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[];
    throw ioError(`list ${folder}`, error);
  });
  return names
    .filter((name) => name.endsWith('.note'))
    .sort()
    .map((name) => join(folder, name));
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

function combine(report: VerificationReport, read: ReadOutcome): CliVerificationReport {
  const findings = [...read.findings, ...report.findings];
  // An empty ledger verifies vacuously; saying VERIFIED would hide that every segment was removed.
  if (report.logSize === 0 && findings.length === 0)
    findings.push(
      fileFinding('VERIFY_MALFORMED', '-', 'ledger-empty', 'no batches were read; it proves nothing'),
    );
  return { ...report, ok: findings.length === 0, findings, warnings: read.warnings };
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

function renderJson(report: CliVerificationReport): string {
  return JSON.stringify(
    report,
    (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value),
    2,
  );
}

function renderText(report: CliVerificationReport): string {
  const range =
    report.firstSequence === null ? '' : `, sequence ${report.firstSequence}..${report.lastSequence}`;
  const out = [
    `origin       ${report.origin ?? '(unknown: no batch could be read)'}`,
    `batches      ${report.batches}${range}`,
    `log          size ${report.logSize}, root ${report.logRootHex}`,
    `checkpoints  ${report.checkpointsVerified} verified`,
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
