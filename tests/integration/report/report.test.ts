/**
 * buildReport over a real ledger written by the batcher: the window by end time, per-model figures
 * recomputed here from the fixture records with plain arithmetic, unsealed records left out, the
 * verified / failed / not-verified states, filters and errors.
 */
import { cp, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unixNanosFromRfc3339 } from '../../../src/keys/trusted-keys.js';
import { buildReport } from '../../../src/report/build-report.js';
import { ReportError } from '../../../src/report/errors.js';
import { testSigner } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { FIXTURE_RECORDS, writeReportLedger } from './report-fixture.js';

let root: string;
let cleanup: () => Promise<void>;
let ledger: string;
const { signer } = testSigner();
const KEY = { keyId: signer.keyId, publicKey: signer.publicKey };

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTmpDir('wattledger-report-'));
  ledger = join(root, 'ledger');
  await writeReportLedger(ledger);
});
afterAll(async () => {
  await cleanup();
});

const at = (text: string) => unixNanosFromRfc3339(text)!;
const WINDOW = { fromUnixNanos: at('2025-11-24T16:00:10Z'), toUnixNanos: at('2025-11-24T16:00:30Z') };

/** Expected figures of one model, computed from the fixture with plain arithmetic. */
function expected(model: string, inWindow: (i: number) => boolean) {
  const records = FIXTURE_RECORDS.filter((r, i) => r.model === model && inWindow(i));
  const energies = records.map((r) => BigInt(r.activeEnergyMicroJoules as string));
  const total = energies.reduce((a, b) => a + b, 0n);
  const sorted = [...energies].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const rank = (p: number) => sorted[Math.ceil((p / 100) * sorted.length) - 1]!.toString();
  const withOutput = records.filter((r) => typeof r.outputTokens === 'number' && r.outputTokens > 0);
  const outEnergy = withOutput.reduce((a, r) => a + BigInt(r.activeEnergyMicroJoules as string), 0n);
  const outTokens = withOutput.reduce((a, r) => a + BigInt(r.outputTokens as number), 0n);
  const co2e = records.reduce(
    (a, r) => a + BigInt((r.activeImpact as { co2eLocationMicrograms: string }).co2eLocationMicrograms),
    0n,
  );
  return {
    requests: records.length,
    total: total.toString(),
    mean: (total / BigInt(records.length)).toString(),
    p50: rank(50),
    p90: rank(90),
    p99: rank(99),
    outRequests: withOutput.length,
    outEnergy: outEnergy.toString(),
    outTokens: outTokens.toString(),
    co2e: co2e.toString(),
    errors: records.filter((r) => r.outcome === 'error').length,
    estimated: records.filter((r) => r.estimated).length,
  };
}

describe('buildReport', () => {
  it('summarises the records that ended in [from, to), per model, exactly', async () => {
    const report = await buildReport({ ledgerDir: ledger, window: WINDOW });
    const inWindow = (i: number) => i >= 10 && i < 30;
    expect(report.ledger.recordsInReport).toBe(20);
    expect(report.models.map((m) => m.model)).toEqual(['large-70b', 'small-1b']);
    for (const stats of report.models) {
      const e = expected(stats.model!, inWindow);
      expect(stats.requests).toBe(e.requests);
      expect(stats.outcomes.error ?? 0).toBe(e.errors);
      expect(stats.estimatedRequests).toBe(e.estimated);
      expect(stats.active.energyMicroJoules).toBe(e.total);
      expect(stats.active.perRequest).toEqual({
        meanMicroJoules: e.mean,
        p50MicroJoules: e.p50,
        p90MicroJoules: e.p90,
        p99MicroJoules: e.p99,
      });
      expect(stats.active.perOutputToken).toMatchObject({
        requests: e.outRequests,
        energyMicroJoules: e.outEnergy,
        tokens: e.outTokens,
      });
      expect(stats.active.co2eLocationMicrograms).toEqual({ total: e.co2e, requests: e.requests });
      // The window ends before record 30, the first with the comprehensive boundary.
      expect(stats.comprehensive).toBeNull();
    }
    expect(report.totals.requests).toBe(20);
    const sum = report.models.reduce((a, m) => a + BigInt(m.active.energyMicroJoules), 0n);
    expect(report.totals.active.energyMicroJoules).toBe(sum.toString());
  });

  it('states the window by end time, and compares the models per output token', async () => {
    const report = await buildReport({ ledgerDir: ledger, window: WINDOW });
    expect(report.reportVersion).toBe(1);
    expect(report.window).toEqual({
      by: 'record.endedAt',
      from: '2025-11-24T16:00:10.000Z',
      to: '2025-11-24T16:00:30.000Z',
      fromUnixNanos: WINDOW.fromUnixNanos.toString(),
      toUnixNanos: WINDOW.toUnixNanos.toString(),
    });
    const large = expected('large-70b', (i) => i >= 10 && i < 30);
    const small = expected('small-1b', (i) => i >= 10 && i < 30);
    const ratio =
      Number(large.outEnergy) / Number(large.outTokens) / (Number(small.outEnergy) / Number(small.outTokens));
    expect(report.comparison?.baseline).toEqual({ model: 'small-1b', engineId: 'vllm' });
    const entry = report.comparison?.entries.find((e) => e.model === 'large-70b');
    expect(entry?.ratio).toBeCloseTo(ratio, 2);
    expect(report.boundaryNote).toMatch(/active.*comprehensive.*never added/s);
  });

  it('reads the whole ledger without a window, and never reports an unsealed record', async () => {
    const report = await buildReport({
      ledgerDir: ledger,
      window: { fromUnixNanos: null, toUnixNanos: null },
    });
    expect(report.ledger.recordLinesRead).toBe(41);
    expect(report.ledger.recordsSealed).toBe(40);
    expect(report.ledger.recordsInReport).toBe(40);
    expect(report.ledger.batchesMissingRecords).toBe(0);
    expect(report.ledger.origin).toBe('wattledger/test-host');
    expect(report.ledger.simulated).toBe(true);
    const comprehensive = report.totals.comprehensive!;
    // Records 30..39 carry the comprehensive boundary; it is summed over those only.
    const facility = FIXTURE_RECORDS.slice(30).reduce(
      (a, r) =>
        a + BigInt((r.comprehensive as { facilityEnergyMicroJoules: string }).facilityEnergyMicroJoules),
      0n,
    );
    expect(comprehensive.requests).toBe(10);
    expect(comprehensive.energyMicroJoules).toBe(facility.toString());
    expect(comprehensive.waterMicroliters).toEqual({ total: '30', requests: 10 });
    expect(report.totals.active.requests).toBe(40);
    // Record 7 has no token counts: counted as a request, left out of the per-token figures.
    expect(report.totals.tokens.requestsWithOutputTokens).toBe(39);
  });

  it('filters by model and engine', async () => {
    const all = { fromUnixNanos: null, toUnixNanos: null };
    const small = await buildReport({ ledgerDir: ledger, window: all, model: 'small-1b' });
    expect(small.models.map((m) => m.model)).toEqual(['small-1b']);
    expect(small.totals.requests).toBe(FIXTURE_RECORDS.filter((r) => r.model === 'small-1b').length);
    expect(small.comparison).toBeNull();
    const none = await buildReport({ ledgerDir: ledger, window: all, engineId: 'other' });
    expect(none.totals.requests).toBe(0);
    expect(none.models).toEqual([]);
    expect(none.totals.active.perRequest).toBeNull();
  });

  it('is an explicit empty report for a window without records', async () => {
    const report = await buildReport({
      ledgerDir: ledger,
      window: { fromUnixNanos: at('2026-01-01T00:00:00Z'), toUnixNanos: null },
    });
    expect(report.totals.requests).toBe(0);
    expect(report.ledger.recordsSealed).toBe(40);
    expect(report.comparison).toBeNull();
  });

  it('verifies every batch when keys are given, and says not verified otherwise', async () => {
    const all = { fromUnixNanos: null, toUnixNanos: null };
    const plain = await buildReport({ ledgerDir: ledger, window: all });
    expect(plain.verification.status).toBe('not-verified');
    const verified = await buildReport({ ledgerDir: ledger, window: all, keys: [KEY] });
    expect(verified.verification).toMatchObject({ status: 'verified', findings: 0 });
    expect(verified.verification.batches).toBe(plain.ledger.batchesRead);
    expect(verified.verification.checkpointsVerified).toBeGreaterThan(0);
    const stranger = testSigner(9).signer;
    const wrongKey = await buildReport({
      ledgerDir: ledger,
      window: all,
      keys: [{ keyId: stranger.keyId, publicKey: stranger.publicKey }],
    });
    expect(wrongKey.verification.status).toBe('failed');
    expect(wrongKey.verification.firstFindings[0]).toMatch(/VERIFY_UNKNOWN_KEY/);
  });

  it('fails verification when a batch was changed on disk', async () => {
    const copy = join(root, 'tampered');
    await cp(ledger, copy, { recursive: true });
    const segment = join(copy, 'ledger-000001.jsonl');
    const lines = (await readFile(segment, 'utf8')).split('\n');
    const line = lines[2]!;
    const at = line.indexOf('"payload":"') + 60;
    lines[2] = line.slice(0, at) + (line[at] === 'A' ? 'B' : 'A') + line.slice(at + 1);
    await writeFile(segment, lines.join('\n'));
    const report = await buildReport({
      ledgerDir: copy,
      window: { fromUnixNanos: null, toUnixNanos: null },
      keys: [KEY],
    });
    expect(report.verification.status).toBe('failed');
    expect(report.verification.findings).toBeGreaterThan(0);
  });

  it('matches records stored in another member order by their canonical JSON, and skips records of no batch', async () => {
    const copy = join(root, 'reordered');
    await cp(ledger, copy, { recursive: true });
    const path = join(copy, 'records', 'ledger-000001.jsonl');
    const lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l !== '');
    const reordered = lines.map((l) => {
      const { index, record, sequence } = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify({ sequence, record, index });
    });
    // A record changed after sealing no longer matches its batch's root: that batch's records are left out.
    const changed = JSON.parse(reordered[0]!) as { record: Record<string, unknown> };
    changed.record.activeEnergyMicroJoules = '1';
    reordered[0] = JSON.stringify(changed);
    await writeFile(path, `${reordered.join('\n')}\n`);
    const report = await buildReport({ ledgerDir: copy, window: { fromUnixNanos: null, toUnixNanos: null } });
    const sequenceOf = (l: string) => (JSON.parse(l) as { sequence: string }).sequence;
    const firstBatch = lines.filter((l) => sequenceOf(l) === sequenceOf(lines[0]!)).length;
    expect(firstBatch).toBeGreaterThan(1);
    expect(report.ledger.recordLinesRead).toBe(41);
    expect(report.ledger.batchesMissingRecords).toBe(1);
    // Every other batch's records still match, through the fallback to canonical re-encoding.
    expect(report.ledger.recordsSealed).toBe(40 - firstBatch);
    expect(report.totals.active.perRequest?.p50MicroJoules).not.toBe('1');
  });

  it('refuses a ledger with a missing segment with REPORT_LEDGER_DAMAGED', async () => {
    const copy = join(root, 'hole');
    await cp(ledger, copy, { recursive: true });
    await rename(join(copy, 'ledger-000001.jsonl'), join(copy, 'ledger-000002.jsonl'));
    const error = await buildReport({
      ledgerDir: copy,
      window: { fromUnixNanos: null, toUnixNanos: null },
    }).catch((e: unknown) => e);
    expect((error as ReportError).code).toBe('REPORT_LEDGER_DAMAGED');
  });

  it('is empty for an empty ledger directory, and an empty ledger does not verify', async () => {
    const empty = join(root, 'empty');
    await mkdir(empty);
    const all = { fromUnixNanos: null, toUnixNanos: null };
    const report = await buildReport({ ledgerDir: empty, window: all });
    expect(report.ledger).toMatchObject({ batchesRead: 0, recordLinesRead: 0, origin: null });
    expect(report.totals.requests).toBe(0);
    const verified = await buildReport({ ledgerDir: empty, window: all, keys: [KEY] });
    expect(verified.verification.status).toBe('failed');
    expect(verified.verification.firstFindings[0]).toMatch(/ledger-empty/);
  });

  it('refuses a missing ledger directory with REPORT_LEDGER_NOT_FOUND', async () => {
    const error = await buildReport({
      ledgerDir: join(root, 'nope'),
      window: { fromUnixNanos: null, toUnixNanos: null },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ReportError);
    expect((error as ReportError).code).toBe('REPORT_LEDGER_NOT_FOUND');
  });
});
