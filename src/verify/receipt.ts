import { z } from 'zod';
import { bytesFromHex, constantTimeEqual, hexFromBytes, utf8FromString } from '../attest/bytes.js';
import { canonicalBytes, canonicalString } from '../attest/canonical.js';
import { type Checkpoint, openCheckpoint, parseCheckpoint } from '../attest/checkpoint.js';
import { DSSE_MAX_PAYLOAD_BYTES, DSSE_MAX_SIGNATURES, type DsseEnvelope } from '../attest/dsse.js';
import type { Ed25519Verify } from '../attest/ed25519.js';
import { AttestError } from '../attest/errors.js';
import { leafHash, rootFromInclusionProof, verifyConsistency } from '../attest/merkle.js';
import { NOTE_MAX_BYTES, parseNote } from '../attest/note.js';
import { checkBatch } from './batch-checks.js';
import { noteKeysFor } from './checkpoints.js';
import { verificationErrorFromAttest } from './errors.js';
import { type Finding, finding } from './findings.js';
import { Keyring, type VerifierKey } from './keyring.js';
import { type OpenedBatch, openBatchLine } from './open-batch.js';
import { checkRecordPhysics } from './records.js';

/**
 * Receipt format v1: everything needed to prove, offline and with only the agent's public key,
 * that one request record was sealed into a signed batch that is part of a checkpointed log
 * (DESIGN.md §6; the same idea as c2sp.org/tlog-proof, carried as JSON with two proofs):
 *
 *     { "receiptVersion": 1, "requestId": "...",
 *       "record": {...}, "recordIndex": 3, "recordProof": ["<hex>", ...],
 *       "batch": { DSSE envelope: exactly the ledger line, parsed }, "batchIndex": 17,
 *       "batchProof": ["<hex>", ...], "checkpoint": "<C2SP signed note, verbatim>" }
 *
 * `recordProof` is the RFC 9162 inclusion proof of `leafHash(JCS(record))` in the batch's record
 * tree of `requests.count` leaves; `batchProof` that of `leafHash(UTF-8 of JCS(batch))` in the
 * agent's log at the checkpoint's size. Proof hashes are lowercase hex, leaf's sibling first.
 * PURE: no `node:` imports; this module is part of the browser-safe verifier.
 */

/** The only receipt format version this verifier reads. */
export const RECEIPT_VERSION = 1;
/** Most hashes in one proof: a tree below 2^53 leaves needs at most 53. */
export const RECEIPT_MAX_PROOF_HASHES = 64;
/** Largest record accepted, as canonical JSON bytes. */
export const RECEIPT_MAX_RECORD_BYTES = 64 * 1024;
/** Longest request id accepted: what every producer writes (event API, span intake, proxy UUIDs). */
export const RECEIPT_MAX_REQUEST_ID_LENGTH = 128;

/** A request record: canonical-JSON object with a `requestId` (the attribution step defines the rest). */
export interface ReceiptRecord {
  readonly requestId: string;
  readonly [field: string]: unknown;
}

/** A receipt, format v1 (see the module comment). */
export interface Receipt {
  readonly receiptVersion: 1;
  readonly requestId: string;
  readonly record: ReceiptRecord;
  readonly recordIndex: number;
  readonly recordProof: readonly string[];
  readonly batch: DsseEnvelope;
  readonly batchIndex: number;
  readonly batchProof: readonly string[];
  readonly checkpoint: string;
}

/** Options of {@link verifyReceipt}. */
export interface VerifyReceiptOptions {
  /** Signature check; default tweetnacl. Node callers may pass the node:crypto fast path. */
  readonly verify?: Ed25519Verify;
  /** Sequence of the log's first batch (default 0): then `batchIndex` must equal sequence − this. */
  readonly expectFirstSequence?: bigint;
  /**
   * A checkpoint the reader kept from earlier (or got from elsewhere): the receipt's log must be
   * consistent with it. With another tree size than the receipt's checkpoint, `consistencyProof`
   * (RFC 9162, hex, from the smaller size to the larger, as `/v1/proofs/consistency` serves it)
   * proves one log extends the other.
   */
  readonly keptCheckpoint?: {
    readonly note: string;
    readonly consistencyProof?: {
      readonly from: number;
      readonly to: number;
      readonly proof: readonly string[];
    };
  };
}

/**
 * The outcome. `record` is what the receipt claims (null when unreadable): trust it only when
 * `ok`. `sequence` and `origin` are known once the batch envelope verified.
 */
export interface ReceiptReport {
  readonly ok: boolean;
  readonly requestId: string | null;
  readonly sequence: string | null;
  readonly origin: string | null;
  /** True when the batch measured simulated devices: then the record measures nothing real. */
  readonly simulated: boolean;
  readonly findings: readonly Finding[];
  readonly record: ReceiptRecord | null;
  /** True when a kept checkpoint was given and checked against (§7 step 8). */
  readonly keptCheckpoint?: boolean;
}

const hash = z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits');
const proof = z.array(hash).max(RECEIPT_MAX_PROOF_HASHES);
const index = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const envelope = z.strictObject({
  payloadType: z.string().max(256),
  payload: z.string().max(Math.ceil(DSSE_MAX_PAYLOAD_BYTES / 3) * 4),
  signatures: z
    .array(z.strictObject({ keyid: z.string().max(256).optional(), sig: z.string().max(256) }))
    .min(1)
    .max(DSSE_MAX_SIGNATURES),
});
const receiptSchema = z.strictObject({
  receiptVersion: z.literal(RECEIPT_VERSION),
  requestId: z.string().min(1).max(RECEIPT_MAX_REQUEST_ID_LENGTH),
  record: z.looseObject({ requestId: z.string().min(1).max(RECEIPT_MAX_REQUEST_ID_LENGTH) }),
  recordIndex: index,
  recordProof: proof,
  batch: envelope,
  batchIndex: index,
  batchProof: proof,
  checkpoint: z.string().min(1).max(NOTE_MAX_BYTES),
});

/** Locations named in findings. */
const AT = {
  receipt: 'receipt',
  record: 'receipt.record',
  batch: 'receipt.batch',
  checkpoint: 'receipt.checkpoint',
  keptCheckpoint: 'kept checkpoint',
};

/**
 * Verifies a receipt (attacker-controlled, any JSON value) with trusted public keys only. Each
 * failed check is a named finding: shape (`VERIFY_MALFORMED`); the batch envelope's signature,
 * checked before its payload is parsed; the record's id; the record's inclusion in the batch's
 * record root and the batch's inclusion in the checkpoint root (`VERIFY_INCLUSION_PROOF_INVALID`,
 * checks `record-inclusion` / `batch-inclusion`); the checkpoint's origin and signature under
 * key name = the batch's origin; the signing key's validity window; and `batchIndex` against
 * the signed sequence. Checks after a failed envelope are skipped: they all rest on it.
 */
export function verifyReceipt(
  receipt: unknown,
  keys: readonly VerifierKey[],
  options: VerifyReceiptOptions = {},
): ReceiptReport {
  const parsed = receiptSchema.safeParse(receipt);
  if (!parsed.success) return unreadableReceiptReport([shapeFinding(parsed.error.issues)]);
  const r = parsed.data as Receipt;
  const keyring = new Keyring(keys);
  // The ledger line is the canonical JSON of the envelope, so this reproduces its exact bytes.
  const opened = openBatchLine(canonicalString(r.batch), AT.batch, keyring, options.verify);
  const base = { ...unreadableReceiptReport(), requestId: r.requestId, record: r.record };
  if (!opened.ok) return { ...base, findings: [opened.finding] };
  const batch = opened.batch;
  const log = checkLog(r, batch, keyring, options);
  const findings = [
    ...checkRecord(r, batch),
    ...checkKeyWindow(batch, keyring),
    // The batch's own arithmetic and physics, and the record's physics against its devices.
    ...checkBatch(batch.statement, AT.batch, batch),
    ...checkRecordPhysics(r.record, powerLimitsOf(batch), where(batch, AT.record)),
    ...log.findings,
    ...(options.keptCheckpoint && log.checkpoint
      ? checkKept(options.keptCheckpoint, log.checkpoint, batch, keyring, options.verify)
      : []),
  ];
  const { origin, sequence, simulated } = batch.statement.predicate;
  const kept = options.keptCheckpoint ? { keptCheckpoint: true } : {};
  return { ...base, ok: findings.length === 0, sequence, origin, simulated, findings, ...kept };
}

function shapeFinding(issues: readonly { path: readonly PropertyKey[]; message: string }[]): Finding {
  const text = issues.slice(0, 5).map((i) => `$.${i.path.map(String).join('.')}: ${i.message}`);
  return finding(
    'VERIFY_MALFORMED',
    { sequence: null, location: AT.receipt },
    'receipt-shape',
    text.join('; '),
  );
}

/** The report of a receipt that did not get far enough to name its batch. */
export function unreadableReceiptReport(findings: readonly Finding[] = []): ReceiptReport {
  const none = { requestId: null, sequence: null, origin: null, record: null };
  return { ok: false, ...none, simulated: false, findings };
}

function where(batch: OpenedBatch, location: string): { sequence: string; location: string } {
  return { sequence: batch.statement.predicate.sequence, location };
}

/** The record is the one asked about, is canonical JSON, and is a leaf of the batch's record tree. */
function checkRecord(r: Receipt, batch: OpenedBatch): Finding[] {
  const at = where(batch, AT.record);
  const values = { expected: r.requestId, found: r.record.requestId };
  const out =
    r.record.requestId === r.requestId
      ? []
      : [finding('VERIFY_MALFORMED', at, 'request-id', 'the record is of another request', values)];
  let bytes: Uint8Array;
  try {
    bytes = canonicalBytes(r.record);
  } catch (error) {
    if (!(error instanceof AttestError)) throw error;
    return [
      ...out,
      finding('VERIFY_MALFORMED', at, 'record-json', `record is not signable JSON: ${error.message}`),
    ];
  }
  if (bytes.length > RECEIPT_MAX_RECORD_BYTES)
    return [
      ...out,
      finding('VERIFY_MALFORMED', at, 'record-size', 'record is too large', { found: bytes.length }),
    ];
  const { count, merkleRootSha256 } = batch.statement.predicate.requests;
  const claim = { leafIndex: r.recordIndex, treeSize: count, leaf: leafHash(bytes), proof: r.recordProof };
  const mismatch = proofFinding(claim, bytesFromHex(merkleRootSha256), at, 'record-inclusion');
  return mismatch ? [...out, mismatch] : out;
}

/** Mirrors the ledger verifier: some signing key must be valid at the batch's end time. */
function checkKeyWindow(batch: OpenedBatch, keyring: Keyring): Finding[] {
  const { endUnixNanos, endedAt } = batch.statement.predicate.window;
  const at = BigInt(endUnixNanos);
  if (batch.keyIds.some((keyId) => keyring.windowProblem(keyId, at) === null)) return [];
  const problem = keyring.windowProblem(batch.keyIds[0] ?? '', at);
  const message = `signed by key ${batch.keyIds[0]}, which is ${problem} at the batch's end time`;
  return [
    finding('VERIFY_KEY_NOT_VALID_AT_TIME', where(batch, AT.batch), 'key-window', message, {
      found: endedAt,
    }),
  ];
}

function powerLimitsOf(batch: OpenedBatch): Map<string, number | null> {
  return new Map(batch.statement.predicate.devices.map((d) => [d.deviceId, d.powerLimitMilliWatts]));
}

/**
 * The receipt's checkpoint against one the reader kept: the same log (origin, trusted signature),
 * and either the same root at the same size or a consistency proof from the smaller to the larger
 * (`kept-checkpoint`, `kept-consistency`). This is what binds a receipt to the log a reader already
 * knows: a second log under the same key, or a rewritten one, fails here.
 */
function checkKept(
  kept: NonNullable<VerifyReceiptOptions['keptCheckpoint']>,
  receiptCheckpoint: Checkpoint,
  batch: OpenedBatch,
  keyring: Keyring,
  verify: Ed25519Verify | undefined,
): Finding[] {
  const at = where(batch, AT.keptCheckpoint);
  const opened = openTrustedCheckpoint(kept.note, batch, keyring, verify, AT.keptCheckpoint);
  if ('findings' in opened) return opened.findings.map((f) => ({ ...f, check: `kept-${f.check}` }));
  const [small, large] =
    opened.treeSize <= receiptCheckpoint.treeSize ? [opened, receiptCheckpoint] : [receiptCheckpoint, opened];
  const sizes = `sizes ${small.treeSize} and ${large.treeSize}`;
  const proof = kept.consistencyProof;
  const inconsistent = (message: string): Finding[] => [
    finding('VERIFY_CONSISTENCY_PROOF_INVALID', at, 'kept-consistency', message),
  ];
  if (small.treeSize !== large.treeSize && proof === undefined)
    return inconsistent(
      `the kept checkpoint and the receipt's are of ${sizes}: give the consistency proof between them (GET /v1/proofs/consistency?from=${small.treeSize}&to=${large.treeSize})`,
    );
  if (proof !== undefined && (proof.from !== small.treeSize || proof.to !== large.treeSize))
    return inconsistent(`the consistency proof is from ${proof.from} to ${proof.to}, not between ${sizes}`);
  try {
    const hashes = (proof?.proof ?? []).map((h) => bytesFromHex(h));
    verifyConsistency(small.treeSize, large.treeSize, hashes, small.rootHash, large.rootHash);
  } catch (error) {
    if (!(error instanceof AttestError)) throw error;
    return inconsistent(
      `the receipt's log and the kept checkpoint's are not one log (${sizes}): ${error.message}; the log was rewritten, or the receipt is from another log`,
    );
  }
  return [];
}

/** The checkpoint is the batch's log's, verifies, and its root includes the batch at `batchIndex`. */
function checkLog(
  r: Receipt,
  batch: OpenedBatch,
  keyring: Keyring,
  options: VerifyReceiptOptions,
): { findings: Finding[]; checkpoint: Checkpoint | null } {
  const opened = openTrustedCheckpoint(r.checkpoint, batch, keyring, options.verify);
  if ('findings' in opened) return { findings: opened.findings, checkpoint: null };
  const at = where(batch, AT.batch);
  const claim = {
    leafIndex: r.batchIndex,
    treeSize: opened.treeSize,
    leaf: batch.leafHash,
    proof: r.batchProof,
  };
  const out = [proofFinding(claim, opened.rootHash, at, 'batch-inclusion')].filter((f) => f !== null);
  // Line index = leaf index, and sequences count up by one from the log's first batch, so in a
  // log that starts at 0 a batch's leaf index is its sequence; anything else shows the batch at
  // another position (a replayed copy, or a reordered log).
  const expected = batch.sequence - (options.expectFirstSequence ?? 0n);
  if (BigInt(r.batchIndex) !== expected) {
    const message = 'batchIndex is not the position of the signed sequence';
    out.push(
      finding('VERIFY_SEQUENCE_REORDERED', at, 'batch-index', message, { expected, found: r.batchIndex }),
    );
  }
  return { findings: out, checkpoint: opened };
}

/**
 * The checkpoint, verified under key name = the batch's origin with every trusted key; or why
 * not. Its origin is read before the signature only to name that problem: a checkpoint of
 * another log would otherwise surface as "no trusted key signed it".
 */
function openTrustedCheckpoint(
  note: string,
  batch: OpenedBatch,
  keyring: Keyring,
  verify: Ed25519Verify | undefined,
  location: string = AT.checkpoint,
): Checkpoint | { findings: Finding[] } {
  const origin = batch.statement.predicate.origin;
  const at = where(batch, location);
  const claimed = claimedOrigin(note);
  if (claimed !== null && claimed !== origin) {
    const values = { expected: origin, found: claimed };
    return {
      findings: [
        finding('VERIFY_ORIGIN_MISMATCH', at, 'checkpoint-origin', 'a checkpoint of another log', values),
      ],
    };
  }
  try {
    const options = { expectedOrigin: origin, ...(verify ? { verify } : {}) };
    return openCheckpoint(utf8FromString(note), noteKeysFor(origin, keyring), options).checkpoint;
  } catch (error) {
    if (!(error instanceof AttestError)) throw error;
    const { code } = verificationErrorFromAttest(error, { check: 'checkpoint' });
    return { findings: [finding(code, at, 'checkpoint', error.message)] };
  }
}

function claimedOrigin(note: string): string | null {
  try {
    return parseCheckpoint(parseNote(utf8FromString(note)).text).origin;
  } catch (error) {
    if (error instanceof AttestError) return null;
    throw error;
  }
}

interface InclusionClaim {
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly leaf: Uint8Array;
  readonly proof: readonly string[];
}

/** Null when the proof leads from the leaf to `root`; else the finding that says how it fails. */
function proofFinding(
  claim: InclusionClaim,
  root: Uint8Array,
  at: { sequence: string; location: string },
  check: string,
): Finding | null {
  const sizes = `leaf ${claim.leafIndex} of ${claim.treeSize}`;
  let computed: Uint8Array;
  try {
    const hashes = claim.proof.map((h) => bytesFromHex(h));
    computed = rootFromInclusionProof(claim.leafIndex, claim.treeSize, claim.leaf, hashes);
  } catch (error) {
    if (!(error instanceof AttestError)) throw error;
    return finding('VERIFY_INCLUSION_PROOF_INVALID', at, check, `${error.message} (${sizes})`);
  }
  if (constantTimeEqual(computed, root)) return null;
  const values = { expected: hexFromBytes(root), found: hexFromBytes(computed) };
  return finding(
    'VERIFY_INCLUSION_PROOF_INVALID',
    at,
    check,
    `the proof of ${sizes} misses the root`,
    values,
  );
}
