import { hexFromBytes, utf8FromString } from '../attest/bytes.js';
import { canonicalBytes, parseCanonicalJson } from '../attest/canonical.js';
import { AttestError } from '../attest/errors.js';
import { leafHash } from '../attest/merkle.js';
import { MerkleTreeBuilder } from '../attest/merkle-builder.js';
import { type Finding, finding } from './findings.js';
import { ENERGY_MARGIN_DENOMINATOR, ENERGY_MARGIN_NUMERATOR } from './physics-checks.js';

/**
 * The request records beside a ledger (`records/`, FORMAT.md §5.4) against the batches that commit
 * to them: each batch with records needs a run of record lines whose RFC 9162 root and length are
 * the batch's `requests` (`records-root`), and each record of an accepted run is physically
 * possible for its devices (`record-ceiling`). Pure: the caller feeds lines.
 */

/**
 * Slack added to a record's duration for its physics bound: a request shares whole meter
 * intervals (100 ms for GPUs, 1 s for RAPL by default), so at each edge it can be given energy of
 * up to one interval outside its own start and end.
 */
export const RECORD_EDGE_SLACK_NANOS = 2_000_000_000n;

/** What the records check needs of one batch. */
export interface RecordCommitment {
  readonly count: number;
  readonly merkleRootSha256: string;
  /** Each device's power limit in that batch (null: unknown). */
  readonly powerLimits: ReadonlyMap<string, number | null>;
}

interface DeviceShare {
  readonly deviceId: string;
  readonly microJoules: string;
  readonly idleShareMicroJoules: string;
}

const DECIMAL = /^(0|[1-9][0-9]{0,29})$/;

function sharesOf(record: Record<string, unknown>): { durationNanos: string; devices: DeviceShare[] } | null {
  const { durationNanos, devices } = record;
  if (typeof durationNanos !== 'string' || !DECIMAL.test(durationNanos) || !Array.isArray(devices))
    return null;
  const shares: DeviceShare[] = [];
  for (const d of devices as unknown[]) {
    const { deviceId, microJoules, idleShareMicroJoules } = (d ?? {}) as Record<string, unknown>;
    if (typeof deviceId !== 'string' || typeof microJoules !== 'string' || !DECIMAL.test(microJoules))
      return null;
    const idle = idleShareMicroJoules ?? '0';
    if (typeof idle !== 'string' || !DECIMAL.test(idle)) return null;
    shares.push({ deviceId, microJoules, idleShareMicroJoules: idle });
  }
  return { durationNanos, devices: shares };
}

/**
 * A record's energy on each device (its share plus its idle share) is at most that device's power
 * limit × (its duration + {@link RECORD_EDGE_SLACK_NANOS}) × 12/10. Devices with no known limit,
 * and records without the attribution step's `devices` and `durationNanos`, are not checked.
 */
export function checkRecordPhysics(
  record: Record<string, unknown>,
  powerLimits: ReadonlyMap<string, number | null>,
  where: { readonly sequence: string; readonly location: string },
): Finding[] {
  const shares = sharesOf(record);
  if (shares === null) return [];
  const span = BigInt(shares.durationNanos) + RECORD_EDGE_SLACK_NANOS;
  const out: Finding[] = [];
  for (const share of shares.devices) {
    const limit = powerLimits.get(share.deviceId);
    if (limit === undefined || limit === null) continue;
    const energy = BigInt(share.microJoules) + BigInt(share.idleShareMicroJoules);
    if (energy * 1_000_000n * ENERGY_MARGIN_DENOMINATOR > BigInt(limit) * span * ENERGY_MARGIN_NUMERATOR) {
      const ceiling =
        (BigInt(limit) * span * ENERGY_MARGIN_NUMERATOR) / (1_000_000n * ENERGY_MARGIN_DENOMINATOR);
      out.push(
        finding(
          'VERIFY_IMPLAUSIBLE',
          where,
          'record-ceiling',
          `request ${String(record.requestId)}: more energy on ${share.deviceId} than its power limit (${limit} mW) × 1.2 allows over the request's ${shares.durationNanos} ns (+ ${RECORD_EDGE_SLACK_NANOS} ns of interval edges)`,
          { expected: `<= ${ceiling}`, found: energy },
        ),
      );
    }
  }
  return out;
}

interface Run {
  readonly sequence: string;
  readonly location: string;
  readonly tree: MerkleTreeBuilder;
  readonly records: Record<string, unknown>[];
}

/**
 * Groups record lines into runs (consecutive lines of one `sequence` with `index` 0, 1, 2, …) and
 * accepts a run only when its root and length are its batch's. A run that matches no batch is
 * left over from a crash before its batch was sealed (the next batch reuses the sequence), and is
 * not an error; a batch with records and no matching run is.
 */
export class RecordRunsCheck {
  private readonly commitments: ReadonlyMap<string, RecordCommitment>;
  private readonly matched = new Set<string>();
  private readonly findings: Finding[] = [];
  private run: Run | null = null;
  private lines = 0;
  private leftovers = 0;

  constructor(commitments: ReadonlyMap<string, RecordCommitment>) {
    this.commitments = commitments;
  }

  /** How many batches commit to at least one record (what there is to check). */
  get batchesWithRecords(): number {
    let count = 0;
    for (const commitment of this.commitments.values()) if (commitment.count > 0) count += 1;
    return count;
  }

  addLine(text: string, location: string): void {
    this.lines += 1;
    let value: unknown;
    try {
      value = parseCanonicalJson(utf8FromString(text));
    } catch (error) {
      if (!(error instanceof AttestError)) throw error;
      this.malformed(location, `not canonical JSON: ${error.message}`);
      return;
    }
    const { sequence, index, record } = (value ?? {}) as Record<string, unknown>;
    const keys = value !== null && typeof value === 'object' ? Object.keys(value).sort().join(',') : '';
    if (
      keys !== 'index,record,sequence' ||
      typeof sequence !== 'string' ||
      !DECIMAL.test(sequence) ||
      !Number.isSafeInteger(index) ||
      (index as number) < 0 ||
      record === null ||
      typeof record !== 'object' ||
      Array.isArray(record) ||
      typeof (record as { requestId?: unknown }).requestId !== 'string'
    ) {
      this.malformed(location, 'not {"index", "record", "sequence"} with a record that has a requestId');
      return;
    }
    const current = this.run;
    if (current === null || current.sequence !== sequence || index !== current.records.length) {
      this.closeRun();
      if (index !== 0) {
        this.malformed(
          location,
          `record ${String(index)} of batch ${sequence} does not follow a run from index 0`,
        );
        return;
      }
      this.run = { sequence, location, tree: new MerkleTreeBuilder(), records: [] };
    }
    const run = this.run as Run;
    run.tree.appendLeafHash(leafHash(canonicalBytes(record)));
    run.records.push(record as Record<string, unknown>);
  }

  /** Every finding: damaged lines, physics of accepted records, batches whose records do not match. */
  finish(): { findings: Finding[]; lines: number; leftoverRuns: number } {
    this.closeRun();
    for (const [sequence, commitment] of this.commitments) {
      if (commitment.count === 0 || this.matched.has(sequence)) continue;
      this.findings.push(
        finding(
          'VERIFY_MERKLE_ROOT_MISMATCH',
          { sequence, location: 'records/' },
          'records-root',
          `no run of records in records/ has batch ${sequence}'s signed root and count (a record was edited, removed or added)`,
          { expected: `${commitment.count} records, root ${commitment.merkleRootSha256}` },
        ),
      );
    }
    return { findings: this.findings, lines: this.lines, leftoverRuns: this.leftovers };
  }

  private malformed(location: string, message: string): void {
    this.closeRun();
    this.findings.push(finding('VERIFY_MALFORMED', { sequence: null, location }, 'records-line', message));
  }

  private closeRun(): void {
    const run = this.run;
    this.run = null;
    if (run === null) return;
    const commitment = this.commitments.get(run.sequence);
    const fits =
      commitment !== undefined &&
      !this.matched.has(run.sequence) &&
      commitment.count === run.records.length &&
      hexFromBytes(run.tree.root()) === commitment.merkleRootSha256;
    if (!fits || commitment === undefined) {
      this.leftovers += 1;
      return;
    }
    this.matched.add(run.sequence);
    for (const record of run.records)
      this.findings.push(
        ...checkRecordPhysics(record, commitment.powerLimits, {
          sequence: run.sequence,
          location: run.location,
        }),
      );
  }
}
