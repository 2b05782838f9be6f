import { bytesFromBase64, hexFromBytes, utf8FromString } from '../attest/bytes.js';
import { verifyDsse } from '../attest/dsse.js';
import type { Ed25519Verify } from '../attest/ed25519.js';
import { keyIdFromPublicKey } from '../attest/key-id.js';
import { leafHash } from '../attest/merkle.js';
import { MerkleTreeBuilder } from '../attest/merkle-builder.js';
import { checkBatch } from './batch-checks.js';
import { checkFirst, checkLink } from './chain-checks.js';
import {
  compareCheckpointRoot,
  openLogCheckpoint,
  type PendingCheckpoint,
  pendingCheckpoint,
} from './checkpoints.js';
import { type Finding, finding } from './findings.js';
import { Keyring, type VerifierKey } from './keyring.js';
import { type OpenedBatch, openBatchLine } from './open-batch.js';
import { type RecordCommitment, RecordRunsCheck } from './records.js';
import { checkAgentKeyId, checkWindowLink, DeviceHistory } from './run-checks.js';

/** The key a batch announces, or why it cannot be used (signed, but still checked before trusting it). */
function announcedKey(
  publicKeyBase64: string,
  keyId: string,
  validFrom: string,
): { publicKey: Uint8Array; validFromUnixNanos: bigint } | string {
  let publicKey: Uint8Array;
  try {
    publicKey = bytesFromBase64(publicKeyBase64);
  } catch {
    return 'the announced public key is not base64';
  }
  if (publicKey.length !== 32) return `the announced public key has ${publicKey.length} bytes, not 32`;
  if (keyIdFromPublicKey(publicKey) !== keyId) return 'the announced key id does not match the announced key';
  const millis = Date.parse(validFrom);
  if (!Number.isFinite(millis)) return 'the announced validFrom is not a time';
  return { publicKey, validFromUnixNanos: BigInt(millis) * 1_000_000n };
}

export interface LedgerVerifierOptions {
  readonly keys: readonly VerifierKey[];
  /** Signature check; default tweetnacl. Node callers may pass the node:crypto fast path. */
  readonly verify?: Ed25519Verify;
  /** The ledger must start at this sequence (default 0); a later start is a gap. */
  readonly expectFirstSequence?: bigint;
}

/** The outcome of verifying a ledger: every finding, and what was verified. */
export interface VerificationReport {
  readonly ok: boolean;
  readonly batches: number;
  readonly firstSequence: string | null;
  readonly lastSequence: string | null;
  readonly origin: string | null;
  readonly simulated: boolean;
  /**
   * Devices unmeasured in some batches (nothing covered: a state with a reason, not a 0): per
   * device, how many batches and why.
   */
  readonly unmeasured: readonly {
    readonly deviceId: string;
    readonly batches: number;
    readonly reasons: readonly string[];
  }[];
  readonly logSize: number;
  readonly logRootHex: string;
  readonly checkpointsVerified: number;
  /**
   * The largest tree size of a verified checkpoint (0: none). Batches from this index on are
   * covered by no signed checkpoint: anyone holding the key could still rewrite them unseen.
   */
  readonly checkpointedSize: number;
  readonly findings: readonly Finding[];
}

/**
 * Verifies one agent's ledger, batch by batch in log order, with only trusted public keys. Pure:
 * the caller feeds lines and checkpoint notes (from files, an API, a browser upload).
 */
export class LedgerVerifier {
  private readonly keyring: Keyring;
  private readonly verify: Ed25519Verify | undefined;
  private readonly expectFirst: bigint;
  private readonly findings: Finding[] = [];
  private readonly tree = new MerkleTreeBuilder();
  private readonly seen = new Set<bigint>();
  private readonly pending = new Map<number, PendingCheckpoint[]>();
  private readonly history = new DeviceHistory();
  private readonly commitments = new Map<string, RecordCommitment>();
  private checkpointedSize = 0;
  private previous: OpenedBatch | null = null;
  private first: OpenedBatch | null = null;
  private batches = 0;
  private simulated = false;
  private readonly unmeasured = new Map<string, { batches: number; reasons: Set<string> }>();
  private checkpointsVerified = 0;

  constructor(options: LedgerVerifierOptions) {
    this.keyring = new Keyring(options.keys);
    this.verify = options.verify;
    this.expectFirst = options.expectFirstSequence ?? 0n;
  }

  /** Adds a signed checkpoint note (before the lines it covers); checked when the log reaches its size. */
  addCheckpoint(noteText: string, location: string): void {
    const pending = pendingCheckpoint(noteText, location);
    if (!pending.ok) {
      this.findings.push(pending.finding);
      return;
    }
    const { treeSize } = pending.checkpoint;
    if (treeSize <= this.tree.size) {
      this.findings.push(
        finding(
          'VERIFY_MALFORMED',
          { sequence: null, location },
          'checkpoint-order',
          'checkpoint given after the batches it covers; give checkpoints before the ledger',
        ),
      );
      return;
    }
    this.pending.set(treeSize, [...(this.pending.get(treeSize) ?? []), pending.checkpoint]);
  }

  /** Verifies one ledger line. Every line, valid or not, is a leaf of the log. */
  addLine(line: string, location: string): void {
    const opened = openBatchLine(line, location, this.keyring, this.verify);
    if (!opened.ok) {
      this.findings.push(opened.finding);
      this.appendLeaf(leafHash(utf8FromString(line)));
      return;
    }
    const batch = opened.batch;
    this.batches += 1;
    this.simulated ||= batch.statement.predicate.simulated;
    for (const device of batch.statement.predicate.devices) {
      if (device.unmeasuredReason === null) continue;
      const entry = this.unmeasured.get(device.deviceId) ?? { batches: 0, reasons: new Set<string>() };
      entry.batches += 1;
      entry.reasons.add(device.unmeasuredReason);
      this.unmeasured.set(device.deviceId, entry);
    }
    const where = { sequence: batch.statement.predicate.sequence, location };
    this.findings.push(
      ...this.checkKeyWindow(batch, location),
      ...checkAgentKeyId(batch, this.announcedSigners(batch, line), where),
      ...checkBatch(batch.statement, location, batch),
    );
    const linked = this.previous !== null && batch.sequence === this.previous.sequence + 1n;
    this.findings.push(
      ...(this.previous
        ? checkLink(this.previous, batch, location, this.seen)
        : this.checkStart(batch, location)),
      ...(linked && this.previous ? checkWindowLink(this.previous, batch, where) : []),
      ...this.history.check(batch, where),
    );
    this.seen.add(batch.sequence);
    this.previous = batch;
    this.keepCommitment(batch);
    this.findings.push(...this.acceptAnnouncements(batch, location));
    this.appendLeaf(batch.leafHash);
  }

  /**
   * The check of the request records beside this ledger (`records/`), against the record roots of
   * the batches read so far: feed it every record line, in order, and add its findings.
   */
  recordsCheck(): RecordRunsCheck {
    return new RecordRunsCheck(this.commitments);
  }

  private keepCommitment(batch: OpenedBatch): void {
    const { requests, devices, sequence } = batch.statement.predicate;
    if (requests.count === 0 || this.commitments.has(sequence)) return;
    this.commitments.set(sequence, {
      count: requests.count,
      merkleRootSha256: requests.merkleRootSha256,
      powerLimits: new Map(devices.map((d) => [d.deviceId, d.powerLimitMilliWatts])),
    });
  }

  /** Ends verification: remaining checkpoints must not claim more batches than were read. */
  finish(): VerificationReport {
    for (const [size, checkpoints] of this.pending) {
      for (const checkpoint of checkpoints) {
        this.findings.push(
          finding(
            'VERIFY_SEQUENCE_GAP',
            { sequence: String(size - 1), location: checkpoint.location },
            'checkpoint-size',
            `a signed checkpoint covers ${size} batches but the ledger holds ${this.tree.size} (batches were removed from the end)`,
            { expected: `>= ${size}`, found: this.tree.size },
          ),
        );
      }
    }
    this.pending.clear();
    return {
      ok: this.findings.length === 0,
      batches: this.batches,
      firstSequence: this.first?.statement.predicate.sequence ?? null,
      lastSequence: this.previous?.statement.predicate.sequence ?? null,
      origin: this.first?.statement.predicate.origin ?? null,
      simulated: this.simulated,
      unmeasured: [...this.unmeasured].map(([deviceId, e]) => ({
        deviceId,
        batches: e.batches,
        reasons: [...e.reasons],
      })),
      logSize: this.tree.size,
      logRootHex: hexFromBytes(this.tree.root()),
      checkpointsVerified: this.checkpointsVerified,
      checkpointedSize: this.checkpointedSize,
      findings: this.findings,
    };
  }

  private checkStart(batch: OpenedBatch, location: string): Finding[] {
    this.first = batch;
    const out = checkFirst(batch, location);
    if (batch.sequence !== this.expectFirst) {
      out.push(
        finding(
          'VERIFY_SEQUENCE_GAP',
          { sequence: batch.statement.predicate.sequence, location },
          'first-sequence',
          'the ledger does not start where expected',
          { expected: this.expectFirst, found: batch.sequence },
        ),
      );
    }
    return out;
  }

  private checkKeyWindow(batch: OpenedBatch, location: string): Finding[] {
    const at = BigInt(batch.statement.predicate.window.endUnixNanos);
    if (batch.keyIds.some((keyId) => this.keyring.windowProblem(keyId, at) === null)) return [];
    const problem = this.keyring.windowProblem(batch.keyIds[0] ?? '', at);
    return [
      finding(
        'VERIFY_KEY_NOT_VALID_AT_TIME',
        { sequence: batch.statement.predicate.sequence, location },
        'key-window',
        `signed by key ${batch.keyIds[0]}, which is ${problem} at the batch's end time`,
        { found: batch.statement.predicate.window.endedAt },
      ),
    ];
  }

  /**
   * During a rotation `agent.keyId` names the new key, which the verifier may not trust yet: the
   * key ids of keys this batch announces whose signature is on its envelope. Only read when
   * `agent.keyId` is not already a signer (rare: the first batch of a rotation).
   */
  private announcedSigners(batch: OpenedBatch, line: string): ReadonlySet<string> {
    const p = batch.statement.predicate;
    if (batch.keyIds.includes(p.agent.keyId)) return new Set();
    const keys: Uint8Array[] = [];
    for (const event of p.events) {
      if (event.kind !== 'key-announcement') continue;
      const announced = announcedKey(event.publicKeyBase64, event.keyId, event.validFrom);
      if (typeof announced !== 'string') keys.push(announced.publicKey);
    }
    if (keys.length === 0) return new Set();
    try {
      return new Set(verifyDsse(JSON.parse(line), keys, this.verify ? { verify: this.verify } : {}).keyIds);
    } catch {
      return new Set();
    }
  }

  /** Keys announced by a batch that verified under a trusted key become trusted from then on. */
  private acceptAnnouncements(batch: OpenedBatch, location: string): Finding[] {
    const out: Finding[] = [];
    for (const event of batch.statement.predicate.events) {
      if (event.kind !== 'key-announcement') continue;
      const where = { sequence: batch.statement.predicate.sequence, location };
      const announced = announcedKey(event.publicKeyBase64, event.keyId, event.validFrom);
      if (typeof announced === 'string')
        out.push(finding('VERIFY_MALFORMED', where, 'key-announcement', announced));
      else this.keyring.announce(announced.publicKey, announced.validFromUnixNanos);
    }
    return out;
  }

  private appendLeaf(hash: Uint8Array): void {
    this.tree.appendLeafHash(hash);
    const due = this.pending.get(this.tree.size);
    if (!due) return;
    this.pending.delete(this.tree.size);
    const root = this.tree.root();
    const origin = this.first?.statement.predicate.origin;
    for (const checkpoint of due) {
      if (origin === undefined) {
        this.findings.push(
          finding(
            'VERIFY_MALFORMED',
            { sequence: null, location: checkpoint.location },
            'checkpoint',
            'no batch of this log could be read, so its checkpoint cannot be checked',
          ),
        );
        continue;
      }
      const opened = openLogCheckpoint(
        checkpoint.text,
        checkpoint.location,
        origin,
        this.keyring,
        this.verify,
      );
      const problem = opened.ok ? compareCheckpointRoot(checkpoint, opened.rootHex, root) : opened.finding;
      if (problem) this.findings.push(problem);
      else {
        this.checkpointsVerified += 1;
        this.checkpointedSize = Math.max(this.checkpointedSize, checkpoint.treeSize);
      }
    }
  }
}
