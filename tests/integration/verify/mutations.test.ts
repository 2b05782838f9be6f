import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { BATCH_PAYLOAD_TYPE } from '../../../src/attest/batch-format.js';
import { canonicalBytes, canonicalString } from '../../../src/attest/canonical.js';
import { signDsse } from '../../../src/attest/dsse.js';
import { devicesDigestHex } from '../../../src/ledger/batch-builder.js';
import { LedgerVerifier } from '../../../src/verify/verifier.js';
import {
  checkpointNotes,
  ledgerLines,
  testSigner,
  verifyLines,
  writeLedger,
} from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

// A mutation suite over a real ledger written by the batcher (simulated GPUs, manual clock): every
// way of editing, dropping, reordering, replaying or forging batches must be caught and named.
let lines: string[];
let checkpoints: string[];

beforeAll(async () => {
  const { dir, cleanup } = await makeTmpDir();
  await writeLedger(dir, { ticks: 80, batchIntervalMs: 1000, checkpointEvery: 2 });
  lines = await ledgerLines(dir);
  checkpoints = await checkpointNotes(dir);
  await cleanup();
});

type Statement = {
  predicate: Record<string, unknown> & { devices: Record<string, unknown>[] };
  subject: { digest: { sha256: string } }[];
};

function payloadOf(line: string): Statement {
  return JSON.parse(Buffer.from(JSON.parse(line).payload, 'base64').toString('utf8')) as Statement;
}

/** Re-signs an edited statement with the genuine key: an insider rewriting its own numbers. */
function resign(
  line: string,
  edit: (s: Statement) => void,
  options: { fixSubject?: boolean; seedByte?: number } = {},
): string {
  const statement = payloadOf(line);
  edit(statement);
  if (options.fixSubject ?? true)
    statement.subject[0]!.digest.sha256 = devicesDigestHex(statement.predicate.devices as never);
  const { signer } = testSigner(options.seedByte ?? 1);
  return canonicalString(signDsse(BATCH_PAYLOAD_TYPE, canonicalBytes(statement), [signer]));
}

function codes(report: ReturnType<typeof verifyLines>): string[] {
  return [...new Set(report.findings.map((f) => f.code))];
}

describe('verifier mutation suite', () => {
  it('raises no false alarm on the honest ledger, with its checkpoints', () => {
    expect(lines.length).toBeGreaterThanOrEqual(8);
    const report = verifyLines(lines, checkpoints);
    expect(report.findings).toEqual([]);
    expect(report.checkpointsVerified).toBe(checkpoints.length);
  });

  it.each([
    ['payload', (e: Record<string, string>) => (e.payload = flipBase64(e.payload as string, 40))],
    [
      'signature',
      (e: Record<string, string>) =>
        ((e.signatures as unknown as { sig: string }[])[0]!.sig = flipBase64(
          (e.signatures as unknown as { sig: string }[])[0]!.sig,
          10,
        )),
    ],
  ])('catches a flipped byte in the %s as an invalid signature', (_name, edit) => {
    const envelope = JSON.parse(lines[3] as string);
    edit(envelope);
    const report = verifyLines([...lines.slice(0, 3), JSON.stringify(envelope), ...lines.slice(4)]);
    expect(codes(report)).toContain('VERIFY_SIGNATURE_INVALID');
    expect(report.findings[0]?.location).toBe('line 4');
  });

  it('catches a changed payloadType (covered by the PAE)', () => {
    const envelope = JSON.parse(lines[2] as string);
    envelope.payloadType = 'application/vnd.in-toto+jsoN';
    expect(codes(verifyLines([...lines.slice(0, 2), JSON.stringify(envelope), ...lines.slice(3)]))).toContain(
      'VERIFY_SIGNATURE_INVALID',
    );
  });

  it('catches a line that is not JSON at all', () => {
    const report = verifyLines([...lines.slice(0, 2), `${lines[2]?.slice(0, 50)}`, ...lines.slice(3)]);
    expect(report.findings[0]).toMatchObject({ code: 'VERIFY_MALFORMED', location: 'line 3' });
  });

  it('names a dropped batch as a sequence gap with the missing range', () => {
    const report = verifyLines([...lines.slice(0, 4), ...lines.slice(5)]);
    expect(report.findings).toEqual([
      expect.objectContaining({ code: 'VERIFY_SEQUENCE_GAP', sequence: '5', expected: '4', found: '5' }),
    ]);
  });

  it('catches batches removed from the end through the signed checkpoint', () => {
    const report = verifyLines(lines.slice(0, -1), checkpoints);
    expect(codes(report)).toEqual(['VERIFY_SEQUENCE_GAP']);
    expect(report.findings[0]?.check).toBe('checkpoint-size');
  });

  it('catches reordered batches', () => {
    const swapped = [...lines];
    [swapped[3], swapped[4]] = [swapped[4] as string, swapped[3] as string];
    expect(codes(verifyLines(swapped))).toEqual(
      expect.arrayContaining(['VERIFY_SEQUENCE_GAP', 'VERIFY_SEQUENCE_REORDERED']),
    );
  });

  it('catches a replayed (duplicated) batch', () => {
    const report = verifyLines([...lines.slice(0, 5), lines[2] as string, ...lines.slice(5)]);
    expect(report.findings[0]).toMatchObject({ code: 'VERIFY_SEQUENCE_DUPLICATE', sequence: '2' });
  });

  it('catches a batch inserted by someone without the key', () => {
    const forged = resign(lines[4] as string, (s) => (s.predicate.sequence = '4'), { seedByte: 99 });
    const report = verifyLines([...lines.slice(0, 4), forged, ...lines.slice(4)]);
    expect(codes(report)).toContain('VERIFY_UNKNOWN_KEY');
  });

  it('rejects every batch under a wrong key', () => {
    const report = verifyLines(lines, [], 7);
    expect(codes(report)).toEqual(['VERIFY_UNKNOWN_KEY']);
    expect(report.findings).toHaveLength(lines.length);
  });

  it('rejects batches signed outside the key validity window', () => {
    const { signer } = testSigner(1);
    const verifier = new LedgerVerifier({
      keys: [{ keyId: signer.keyId, publicKey: signer.publicKey, validUntilUnixNanos: 1n }],
    });
    for (const [i, line] of lines.entries()) verifier.addLine(line, `line ${i + 1}`);
    const report = verifier.finish();
    expect(codes(report)).toEqual(['VERIFY_KEY_NOT_VALID_AT_TIME']);
  });

  it('catches a counter rolled back, even when re-signed by the genuine key', () => {
    const edited = resign(lines[5] as string, (s) => {
      const device = s.predicate.devices[0] as Record<string, string>;
      device.counterStartMicroJoules = (
        BigInt(device.counterStartMicroJoules as string) - 5_000_000n
      ).toString();
    });
    const report = verifyLines([...lines.slice(0, 5), edited]);
    expect(codes(report)).toEqual(
      expect.arrayContaining(['VERIFY_COUNTER_DISCONTINUITY', 'VERIFY_SUM_MISMATCH']),
    );
    expect(report.findings.find((f) => f.code === 'VERIFY_COUNTER_DISCONTINUITY')?.sequence).toBe('5');
  });

  it('catches broken conservation: energy that does not add up', () => {
    const edited = resign(lines[5] as string, (s) => {
      const device = s.predicate.devices[1] as Record<string, Record<string, string>>;
      const attribution = device.attribution as Record<string, string>;
      attribution.unattributedMicroJoules = (
        BigInt(attribution.unattributedMicroJoules as string) + 1n
      ).toString();
    });
    const report = verifyLines([...lines.slice(0, 5), edited]);
    expect(report.findings).toEqual([
      expect.objectContaining({ code: 'VERIFY_SUM_MISMATCH', check: 'conservation' }),
    ]);
  });

  it('catches energy moved into deferred without carrying it into the outstanding balance', () => {
    // Conservation (invariant A) still holds; the deferred balance (invariant B) does not.
    const edited = resign(lines[5] as string, (s) => {
      const a = (s.predicate.devices[1] as Record<string, unknown>).attribution as Record<string, string>;
      a.unattributedMicroJoules = (BigInt(a.unattributedMicroJoules as string) - 1n).toString();
      a.deferredMicroJoules = (BigInt(a.deferredMicroJoules as string) + 1n).toString();
    });
    expect(verifyLines([...lines.slice(0, 5), edited]).findings).toEqual([
      expect.objectContaining({
        code: 'VERIFY_SUM_MISMATCH',
        check: 'deferred-balance',
        sequence: '5',
        expected: '1',
        found: '0',
      }),
    ]);
  });

  it('catches an idle part that is not its shared plus unshared idle', () => {
    // Conservation (invariant A) still holds: idle moved out of unattributed, but not declared.
    const edited = resign(lines[5] as string, (s) => {
      const a = (s.predicate.devices[1] as Record<string, unknown>).attribution as Record<string, string>;
      a.unattributedMicroJoules = (BigInt(a.unattributedMicroJoules as string) - 1n).toString();
      a.idleMicroJoules = (BigInt(a.idleMicroJoules as string) + 1n).toString();
    });
    const findings = verifyLines([...lines.slice(0, 5), edited]).findings;
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          code: 'VERIFY_SUM_MISMATCH',
          check: 'idle-split',
          sequence: '5',
          expected: '0',
          found: '1',
        }),
      ]),
    );
    expect(findings.map((f) => f.check)).not.toContain('conservation');
  });

  it('catches a resolved idle share that does not add up', () => {
    const edited = resign(lines[5] as string, (s) => {
      const a = (s.predicate.devices[0] as Record<string, unknown>).attribution as Record<string, unknown>;
      (a.resolved as Record<string, string>).idleSharedMicroJoules = '5';
    });
    expect(verifyLines([...lines.slice(0, 5), edited]).findings).toEqual([
      expect.objectContaining({ check: 'idle-split', message: expect.stringContaining('resolved') }),
    ]);
  });

  it('catches idle energy that no declared idle baseline allows, even when every sum holds', () => {
    // This ledger attributes nothing, so no idle baseline is declared: idle must be 0.
    const edited = resign(lines[5] as string, (s) => {
      const a = (s.predicate.devices[1] as Record<string, unknown>).attribution as Record<string, string>;
      a.unattributedMicroJoules = (BigInt(a.unattributedMicroJoules as string) - 1_000n).toString();
      a.idleMicroJoules = '1000';
      a.idleUnsharedMicroJoules = '1000';
    });
    expect(verifyLines([...lines.slice(0, 5), edited]).findings).toEqual([
      expect.objectContaining({
        code: 'VERIFY_IMPLAUSIBLE',
        check: 'idle-ceiling',
        sequence: '5',
        found: '1000',
      }),
    ]);
  });

  it('catches a declared idle baseline that contradicts itself', () => {
    const edited = resign(lines[5] as string, (s) => {
      const a = (s.predicate.devices[0] as Record<string, unknown>).attribution as Record<string, unknown>;
      a.idleBaseline = {
        source: 'configured',
        powerMilliWatts: 90_000,
        minPowerMilliWatts: 95_000,
        maxPowerMilliWatts: 99_000,
        sampleCount: 3,
        idleNanos: '0',
      };
    });
    expect(verifyLines([...lines.slice(0, 5), edited]).findings.map((f) => [f.code, f.check])).toEqual([
      ['VERIFY_IMPLAUSIBLE', 'idle-baseline'],
      ['VERIFY_IMPLAUSIBLE', 'idle-baseline'],
    ]);
  });

  it('catches an outstanding balance that does not follow from the previous batch', () => {
    const edited = resign(lines[5] as string, (s) => {
      const a = (s.predicate.devices[0] as Record<string, unknown>).attribution as Record<string, string>;
      a.outstandingDeferredMicroJoules = '7';
    });
    const report = verifyLines([...lines.slice(0, 5), edited, ...lines.slice(6)]);
    // Batch 5 states a balance it cannot have, and batch 6, which starts from 0, disagrees with it.
    expect(report.findings.filter((f) => f.check === 'deferred-balance')).toEqual([
      expect.objectContaining({ sequence: '5', expected: '0', found: '7' }),
      expect.objectContaining({ sequence: '6', expected: '7', found: '0' }),
    ]);
  });

  it('catches edited totals', () => {
    const edited = resign(lines[5] as string, (s) => {
      (s.predicate.totals as Record<string, string>).gpuEnergyMicroJoules = '1';
    });
    expect(verifyLines([...lines.slice(0, 5), edited]).findings[0]).toMatchObject({
      code: 'VERIFY_SUM_MISMATCH',
      check: 'totals',
    });
  });

  it('catches a wrong previous-batch digest', () => {
    const edited = resign(lines[5] as string, (s) => (s.predicate.previousSha256 = 'a'.repeat(64)));
    expect(codes(verifyLines([...lines.slice(0, 5), edited]))).toEqual(['VERIFY_PREV_HASH_MISMATCH']);
  });

  it('catches a subject digest that does not pin the devices', () => {
    const edited = resign(lines[5] as string, (s) => (s.subject[0]!.digest.sha256 = 'b'.repeat(64)), {
      fixSubject: false,
    });
    expect(verifyLines([...lines.slice(0, 5), edited]).findings[0]).toMatchObject({
      check: 'subject-digest',
    });
  });

  it('catches physically implausible energy even when the arithmetic is consistent', () => {
    const edited = resign(lines[5] as string, (s) => {
      const d = s.predicate.devices[0] as Record<string, unknown>;
      const bump = 10_000_000_000n; // 10 kJ in one second on a 700 W GPU
      for (const key of ['counterEndMicroJoules', 'counterEnergyMicroJoules', 'energyMicroJoules'])
        d[key] = (BigInt(d[key] as string) + bump).toString();
      const a = d.attribution as Record<string, string>;
      a.unattributedMicroJoules = (BigInt(a.unattributedMicroJoules as string) + bump).toString();
      const t = s.predicate.totals as Record<string, string>;
      for (const key of ['energyMicroJoules', 'gpuEnergyMicroJoules'])
        t[key] = (BigInt(t[key] as string) + bump).toString();
    });
    const report = verifyLines([...lines.slice(0, 5), edited]);
    expect(codes(report)).toContain('VERIFY_IMPLAUSIBLE');
    expect(codes(report)).not.toContain('VERIFY_SUM_MISMATCH');
  });

  it('catches non-canonical payload bytes even under a valid signature', () => {
    const statement = payloadOf(lines[2] as string);
    const { signer } = testSigner(1);
    const bytes = new TextEncoder().encode(JSON.stringify(statement, null, 1));
    const line = canonicalString(signDsse(BATCH_PAYLOAD_TYPE, bytes, [signer]));
    const report = verifyLines([...lines.slice(0, 2), line, ...lines.slice(3)]);
    expect(report.findings[0]).toMatchObject({ code: 'VERIFY_NONCANONICAL_PAYLOAD', location: 'line 3' });
    // The rejected batch leaves a hole in the chain, which is reported too.
    expect(report.findings[1]).toMatchObject({ code: 'VERIFY_SEQUENCE_GAP', sequence: '3' });
  });

  it('catches a rewritten history under the checkpoint, even with valid signatures', () => {
    const edited = resign(
      lines[1] as string,
      (s) =>
        (s.predicate.events = [{ kind: 'agent-start', startedAt: '2026-01-01T00:00:00Z', chain: 'genesis' }]),
    );
    const report = verifyLines([lines[0] as string, edited, ...lines.slice(2)], checkpoints);
    // The next batch's digest no longer matches, and the checkpoint root over both is wrong.
    expect(codes(report).sort()).toEqual(['VERIFY_CONSISTENCY_PROOF_INVALID', 'VERIFY_PREV_HASH_MISMATCH']);
  });
});

/** Changes one base64 character to another valid one, so the decoded bytes differ. */
function flipBase64(text: string, index: number): string {
  const c = text[index] === 'A' ? 'B' : 'A';
  return text.slice(0, index) + c + text.slice(index + 1);
}

/**
 * An insider holding the real key forges and re-signs the WHOLE ledger (subjects, digests, chain
 * all fixed up) and nobody kept an earlier checkpoint: arithmetic, signatures and chain all hold,
 * so only the physics and time checks can catch it. `edit` changes statement `i` in place.
 */
function forgeLedger(source: readonly string[], edit: (s: Statement, i: number) => void): string[] {
  const { signer } = testSigner(1);
  let previous: string | null = null;
  return source.map((line, i) => {
    const statement = payloadOf(line);
    edit(statement, i);
    statement.predicate.previousSha256 = previous;
    statement.subject[0]!.digest.sha256 = devicesDigestHex(statement.predicate.devices as never);
    const payload = canonicalBytes(statement);
    previous = createHash('sha256').update(payload).digest('hex');
    return canonicalString(signDsse(BATCH_PAYLOAD_TYPE, payload, [signer]));
  });
}

type Device = Record<string, unknown> & { attribution: Record<string, string> };
type Window = Record<string, string>;

function windowOf(s: Statement): Window {
  return s.predicate.window as Window;
}

/** Adds `delta` µJ to device `index`'s energy, keeping every sum of the batch consistent. */
function addEnergy(s: Statement, index: number, delta: bigint, members: readonly string[]): void {
  const d = s.predicate.devices[index] as Device;
  for (const key of members) d[key] = (BigInt(d[key] as string) + delta).toString();
  d.energyMicroJoules = (BigInt(d.energyMicroJoules as string) + delta).toString();
  d.attribution.unattributedMicroJoules = (
    BigInt(d.attribution.unattributedMicroJoules as string) + delta
  ).toString();
  const t = s.predicate.totals as Record<string, string>;
  for (const key of ['energyMicroJoules', 'gpuEnergyMicroJoules'])
    t[key] = (BigInt(t[key] as string) + delta).toString();
}

const shift = (value: string, by: bigint): string => (BigInt(value) + by).toString();

/** The checks only the physics and time rules make; a forgery must be caught by these alone. */
const PHYSICS_AND_TIME = new Set([
  'window-order',
  'window-overlap',
  'downtime',
  'covered-span',
  'energy-ceiling',
  'power-limit',
  'discontinuity',
  'wrap-range',
  'agent-key-id',
  'run-start',
]);

function checksOf(report: ReturnType<typeof verifyLines>): string[] {
  const checks = [...new Set(report.findings.map((f) => f.check))].sort();
  for (const check of checks)
    expect(PHYSICS_AND_TIME, `only a new check may fire, got ${check}`).toContain(check);
  return checks;
}

describe('forgeries re-signed with the genuine key, with no outside checkpoint', () => {
  it('the untouched ledger, re-signed the same way, is clean', () => {
    expect(forgeLedger(lines, () => {})).toEqual(lines);
  });

  it('catches a window that ends before it starts', () => {
    const forged = forgeLedger(lines, (s, i) => {
      if (i !== 3) return;
      const w = windowOf(s);
      [w.startMonoNanos, w.endMonoNanos] = [w.endMonoNanos as string, w.startMonoNanos as string];
    });
    const report = verifyLines(forged);
    expect(checksOf(report)).toContain('window-order');
    expect(report.findings.find((f) => f.check === 'window-order')?.sequence).toBe('3');
  });

  it('catches windows that overlap or run backwards', () => {
    const forged = forgeLedger(lines, (s, i) => {
      if (i < 4) return;
      // From batch 4 on, every window is moved 500 ms back: batch 4 starts before batch 3 ended.
      const w = windowOf(s);
      for (const key of ['startMonoNanos', 'endMonoNanos', 'startUnixNanos', 'endUnixNanos'])
        w[key] = shift(w[key] as string, -500_000_000n);
    });
    const report = verifyLines(forged);
    expect(checksOf(report)).toEqual(['window-overlap']);
    expect(report.findings.map((f) => f.sequence)).toEqual(['4', '4']);
  });

  it('catches 10 kJ in one batch once the batch raises its own coveredNanos', () => {
    const forged = forgeLedger(lines, (s, i) => {
      if (i !== 5) return;
      addEnergy(s, 0, 10_000_000_000n, ['counterEndMicroJoules', 'counterEnergyMicroJoules']);
      (s.predicate.devices[0] as Device).coveredNanos = '20000000000'; // 20 s: 2 × 700 W × 21 s > 10 kJ
      // Later batches start where the forged counter ended, so continuity holds.
      return;
    });
    const carried = forgeLedger(forged, (s, i) => {
      if (i <= 5) return;
      const d = s.predicate.devices[0] as Device;
      for (const key of ['counterStartMicroJoules', 'counterEndMicroJoules'])
        d[key] = shift(d[key] as string, 10_000_000_000n);
    });
    const report = verifyLines(carried);
    expect(checksOf(report)).toEqual(['covered-span', 'energy-ceiling']);
    expect(report.findings.every((f) => f.sequence === '5')).toBe(true);
  });

  it('catches 10 kJ in one batch once the batch raises its own power limit', () => {
    const forged = forgeLedger(lines, (s, i) => {
      if (i !== 5) return;
      addEnergy(s, 0, 10_000_000_000n, ['counterEndMicroJoules', 'counterEnergyMicroJoules']);
      (s.predicate.devices[0] as Device).powerLimitMilliWatts = 20_000_000; // 20 kW × 1.2 × 1 s > 10 kJ
    });
    const carried = forgeLedger(forged, (s, i) => {
      if (i <= 5) return;
      const d = s.predicate.devices[0] as Device;
      for (const key of ['counterStartMicroJoules', 'counterEndMicroJoules'])
        d[key] = shift(d[key] as string, 10_000_000_000n);
    });
    const report = verifyLines(carried);
    // Batch 5 raised the limit within the run, and batch 6 lowered it back.
    expect(checksOf(report)).toEqual(['power-limit']);
    expect(report.findings.map((f) => f.sequence)).toEqual(['5', '6']);
  });

  it('catches a declared counter reset where the counter went up', () => {
    const forged = forgeLedger(lines, (s, i) => {
      if (i !== 5) return;
      const d = s.predicate.devices[0] as Device;
      // Hide 1 J: a "reset" from the start value up to 1 J above it.
      const from = d.counterStartMicroJoules as string;
      d.discontinuities = [
        { reason: 'counter-reset', fromMicroJoules: from, toMicroJoules: shift(from, 1_000_000n) },
      ];
      addEnergy(s, 0, -1_000_000n, ['counterEnergyMicroJoules']);
    });
    const report = verifyLines(forged);
    expect(checksOf(report)).toEqual(['discontinuity']);
    expect(report.findings[0]).toMatchObject({ code: 'VERIFY_COUNTER_DISCONTINUITY', sequence: '5' });
  });

  it('catches a counter jump blamed on agent downtime in the middle of a run', () => {
    const forged = forgeLedger(lines, (s, i) => {
      if (i !== 5) return;
      const d = s.predicate.devices[0] as Device;
      const from = d.counterStartMicroJoules as string;
      d.discontinuities = [
        { reason: 'agent-downtime-reset', fromMicroJoules: from, toMicroJoules: shift(from, 1_000_000n) },
      ];
      addEnergy(s, 0, -1_000_000n, ['counterEnergyMicroJoules']);
    });
    expect(checksOf(verifyLines(forged))).toEqual(['discontinuity']);
  });

  it('catches a fake wrap range that adds energy', () => {
    const forged = forgeLedger(lines, (s, i) => {
      if (i !== 5) return;
      const d = s.predicate.devices[0] as Device;
      d.wrapRangeMicroJoules = '100000000'; // one "wrap" of 100 J: within 700 W × 1.2 × 1 s
      d.wrapCount = 1;
      addEnergy(s, 0, 100_000_000n, ['counterEnergyMicroJoules']);
    });
    const report = verifyLines(forged);
    expect(checksOf(report)).toEqual(['wrap-range']);
    // Held to the device's first declaration (batch 0: none); batch 6 is back to it.
    expect(report.findings.map((f) => f.sequence)).toEqual(['5']);
  });

  it('catches wraps declared for a counter without a wrap range', () => {
    const forged = forgeLedger(lines, (s, i) => {
      if (i === 5) (s.predicate.devices[0] as Device).wrapCount = 3;
    });
    expect(checksOf(verifyLines(forged))).toEqual(['wrap-range']);
  });

  it('catches agent downtime declared inside one run to widen the span', () => {
    const forged = forgeLedger(lines, (s, i) => {
      if (i !== 5) return;
      windowOf(s).downtimeNanos = '60000000000';
      addEnergy(s, 0, 10_000_000_000n, ['counterEndMicroJoules', 'counterEnergyMicroJoules']);
      (s.predicate.devices[0] as Device).coveredNanos = '61000000000';
    });
    const carried = forgeLedger(forged, (s, i) => {
      if (i <= 5) return;
      const d = s.predicate.devices[0] as Device;
      for (const key of ['counterStartMicroJoules', 'counterEndMicroJoules'])
        d[key] = shift(d[key] as string, 10_000_000_000n);
    });
    const report = verifyLines(carried);
    expect(checksOf(report)).toEqual(['downtime']);
    expect(report.findings[0]).toMatchObject({ sequence: '5', expected: '0', found: '60000000000' });
  });

  it('catches agent.keyId naming a key other than the signing key', () => {
    const forged = forgeLedger(lines, (s) => {
      (s.predicate.agent as Record<string, string>).keyId = 'f'.repeat(64);
    });
    const report = verifyLines(forged);
    expect(checksOf(report)).toEqual(['agent-key-id']);
    expect(report.findings).toHaveLength(lines.length);
  });

  it('catches a new run id without an agent-start event', () => {
    const forged = forgeLedger(lines, (s, i) => {
      if (i >= 5) (s.predicate.agent as Record<string, string>).runId = 'another-run';
    });
    const report = verifyLines(forged);
    expect(checksOf(report)).toEqual(['run-start']);
  });
});
