export { RECEIPT_DESCRIPTION, VERIFY_RECEIPT_DESCRIPTION } from './descriptions.js';

import { open, readFile, stat } from 'node:fs/promises';
import { createNodeEd25519Verify } from '../attest/ed25519-node.js';
import { BaseError, CliError, describeError } from '../errors.js';
import { parseTrustedKeys, type TrustedKey, trustedKeyFromText } from '../keys/trusted-keys.js';
import { buildReceipt, ReceiptError } from '../ledger/receipt-builder.js';
import { finding } from '../verify/findings.js';
import {
  type ReceiptReport,
  unreadableReceiptReport,
  type VerifyReceiptOptions,
  verifyReceipt,
} from '../verify/receipt.js';
import { renderReceiptText } from './receipt-text.js';

/** Where a command writes: its result to stdout, messages for a person to stderr. */
export interface ReceiptIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

/** Options of `wattledger receipt`. */
export interface ReceiptOptions {
  readonly requestId: string;
  readonly ledgerDir: string;
  /** File to create (0644, never overwritten); stdout when absent. */
  readonly out?: string | undefined;
  /** Wait up to this many seconds for the record to be sealed and checkpointed; absent: no wait. */
  readonly waitSeconds?: number | undefined;
}

/** How often `--wait` looks at the ledger again. */
const WAIT_POLL_MS = 1000;

/** Builds the receipt, retrying while it is only not there yet, until `waitSeconds` have passed. */
async function buildWaiting(options: ReceiptOptions, io: ReceiptIo) {
  const deadline = Date.now() + (options.waitSeconds ?? 0) * 1000;
  let told = false;
  for (;;) {
    try {
      return await buildReceipt(options.ledgerDir, options.requestId);
    } catch (error) {
      const pending =
        error instanceof ReceiptError &&
        (error.code === 'RECEIPT_NOT_FOUND' || error.code === 'RECEIPT_NOT_YET_CHECKPOINTED');
      if (!pending || Date.now() + WAIT_POLL_MS > deadline) throw error;
      if (!told) io.stderr.write(`waiting up to ${options.waitSeconds} s: ${(error as Error).message}\n`);
      told = true;
      await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
    }
  }
}

/** Options of `wattledger verify-receipt`. */
export interface VerifyReceiptCliOptions {
  readonly file: string;
  /** Each a public key in any form (raw base64, hex, PEM, C2SP vkey), or a file holding one or a trusted-keys document. */
  readonly keys: readonly string[];
  readonly json?: boolean | undefined;
  /** A signed checkpoint note the reader kept: the receipt's log must be consistent with it. */
  readonly checkpoint?: string | undefined;
  /** RFC 9162 consistency proof between the two checkpoints, as `/v1/proofs/consistency` serves it. */
  readonly consistencyProof?: string | undefined;
}

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
/** Largest receipt file read: a 16 MiB batch payload in base64 plus proofs and the note. */
const RECEIPT_MAX_FILE_BYTES = 32 * 1024 * 1024;

function printError(io: ReceiptIo, error: unknown): void {
  const hint = (error as { hint?: unknown }).hint;
  io.stderr.write(
    `wattledger: ${describeError(error)}\n${typeof hint === 'string' ? `hint: ${hint}\n` : ''}`,
  );
}

/**
 * `wattledger receipt`: builds the receipt of `requestId` from the ledger and writes it as JSON
 * to `out` (created 0644, refusing to overwrite) or stdout. Returns 0 written, 1 when no receipt
 * can be cut (not found, not yet checkpointed, inconsistent ledger), 2 for usage or I/O errors.
 */
export async function runReceipt(options: ReceiptOptions, io: ReceiptIo): Promise<number> {
  if (options.requestId.length === 0) {
    io.stderr.write('wattledger: CLI_USAGE: the request id is empty\n');
    return EXIT_USAGE;
  }
  let text: string;
  try {
    const receipt = await buildWaiting(options, io);
    text = `${JSON.stringify(receipt, null, 2)}\n`;
  } catch (error) {
    if (!(error instanceof BaseError)) throw error;
    printError(io, error);
    return error instanceof ReceiptError ? EXIT_FAILED : EXIT_USAGE;
  }
  if (options.out === undefined) {
    io.stdout.write(text);
    return EXIT_OK;
  }
  try {
    await writeNewFile(options.out, text);
  } catch (error) {
    const exists = (error as NodeJS.ErrnoException).code === 'EEXIST';
    const reason = exists ? 'it exists; refusing to overwrite' : describeError(error);
    io.stderr.write(`wattledger: CLI_IO: cannot write ${options.out}: ${reason}\n`);
    return EXIT_USAGE;
  }
  io.stderr.write(`wrote the receipt of request ${options.requestId} to ${options.out}\n`);
  return EXIT_OK;
}

async function writeNewFile(path: string, text: string): Promise<void> {
  // 'wx' fails on an existing file; chmod undoes a restrictive umask: a receipt is public.
  const handle = await open(path, 'wx', 0o644);
  try {
    await handle.writeFile(text, 'utf8');
    await handle.chmod(0o644);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * `wattledger verify-receipt`: verifies a receipt file with the given keys and prints the
 * report (text, or JSON with `json`). Returns 0 verified, 1 failed, 2 usage (no key, a bad key,
 * an unreadable file).
 */
export async function runVerifyReceipt(options: VerifyReceiptCliOptions, io: ReceiptIo): Promise<number> {
  let keys: TrustedKey[];
  let text: string;
  let kept: VerifyReceiptOptions['keptCheckpoint'];
  try {
    if (options.keys.length === 0)
      throw new CliError('CLI_USAGE', 'give at least one trusted public key with --key');
    keys = (await Promise.all(options.keys.map(keysFromArgument))).flat();
    text = await readReceiptFile(options.file);
    kept = await readKept(options);
  } catch (error) {
    printError(io, error);
    return EXIT_USAGE;
  }
  const report = verifyText(text, keys, kept);
  io.stdout.write(options.json === true ? `${JSON.stringify(report, null, 2)}\n` : renderReceiptText(report));
  return report.ok ? EXIT_OK : EXIT_FAILED;
}

/** A `--key` value: key text itself, else a file holding a key or a trusted-keys document. */
async function keysFromArgument(value: string): Promise<TrustedKey[]> {
  try {
    return [trustedKeyFromText(value)];
  } catch (error) {
    const text = await readFile(value, 'utf8').catch(() => null);
    if (text === null) throw error; // neither a key nor a readable file: the key error says why
    return text.trimStart().startsWith('{') ? parseTrustedKeys(text) : [trustedKeyFromText(text.trim())];
  }
}

async function readReceiptFile(path: string): Promise<string> {
  const info = await stat(path);
  if (info.size > RECEIPT_MAX_FILE_BYTES)
    throw new CliError('CLI_IO', `${path} is over ${RECEIPT_MAX_FILE_BYTES} bytes, too large for a receipt`);
  return readFile(path, 'utf8');
}

/** The kept checkpoint and its consistency proof, when given; usage errors for a bad proof file. */
async function readKept(options: VerifyReceiptCliOptions): Promise<VerifyReceiptOptions['keptCheckpoint']> {
  if (options.checkpoint === undefined) {
    if (options.consistencyProof !== undefined)
      throw new CliError('CLI_USAGE', '--consistency-proof needs --checkpoint', {
        hint: 'give the checkpoint you kept with --checkpoint <file>',
      });
    return undefined;
  }
  const note = await readFile(options.checkpoint, 'utf8');
  if (options.consistencyProof === undefined) return { note };
  const proofHint = 'save the JSON of GET /v1/proofs/consistency?from=<smaller size>&to=<larger size>';
  let value: unknown;
  try {
    value = JSON.parse(await readFile(options.consistencyProof, 'utf8'));
  } catch (cause) {
    throw new CliError('CLI_USAGE', `${options.consistencyProof} is not JSON`, { cause, hint: proofHint });
  }
  const { from, to, proof } = (value ?? {}) as { from?: unknown; to?: unknown; proof?: unknown };
  if (
    !Number.isSafeInteger(from) ||
    !Number.isSafeInteger(to) ||
    !Array.isArray(proof) ||
    proof.length > 64 ||
    !proof.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))
  )
    throw new CliError('CLI_USAGE', `${options.consistencyProof} is not {"from", "to", "proof": [hex, …]}`, {
      hint: proofHint,
    });
  return { note, consistencyProof: { from: from as number, to: to as number, proof: proof as string[] } };
}

function verifyText(
  text: string,
  keys: readonly TrustedKey[],
  keptCheckpoint: VerifyReceiptOptions['keptCheckpoint'],
): ReceiptReport {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    const where = { sequence: null, location: 'receipt' };
    return unreadableReceiptReport([
      finding('VERIFY_MALFORMED', where, 'receipt-json', 'the file is not JSON'),
    ]);
  }
  return verifyReceipt(value, keys, {
    verify: createNodeEd25519Verify(),
    ...(keptCheckpoint ? { keptCheckpoint } : {}),
  });
}
