/**
 * `wattledger report` through the built CLI (dist) against a ledger written by the real batcher:
 * JSON and text output, verified and not verified, the window, filters, an empty window, and bad
 * arguments with their stable codes and exit codes (0 written, 1 verification failed, 2 usage).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { base64FromBytes } from '../../src/attest/bytes.js';
import type { Report } from '../../src/report/report-types.js';
import { cliSkipReason, runCli } from '../helpers/cli.js';
import { testSigner } from '../helpers/ledger-fixture.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';
import { FIXTURE_RECORDS, writeReportLedger } from '../integration/report/report-fixture.js';

const skip = cliSkipReason();

const KEY = base64FromBytes(testSigner().signer.publicKey);
const OTHER_KEY = base64FromBytes(testSigner(9).signer.publicKey);

describeUnless(skip)('wattledger report', () => {
  let root: string;
  let cleanup: () => Promise<void>;
  let ledger: string;

  beforeAll(async () => {
    ({ dir: root, cleanup } = await makeTmpDir('wattledger-report-cli-'));
    ledger = join(root, 'ledger');
    await writeReportLedger(ledger);
  });
  afterAll(async () => {
    await cleanup();
  });

  const report = (...args: string[]) => runCli(['report', '--ledger-dir', ledger, ...args]);

  it('prints the JSON report of a window, not verified without keys', async () => {
    const result = await report('--from', '2025-11-24T16:00:10Z', '--to', '2025-11-24T16:00:30Z', '--json');
    expect(result.code, result.stderr).toBe(0);
    const json = JSON.parse(result.stdout) as Report;
    expect(json.reportVersion).toBe(1);
    expect(json.verification.status).toBe('not-verified');
    expect(json.totals.requests).toBe(20);
    const small = FIXTURE_RECORDS.filter((r, i) => i >= 10 && i < 30 && r.model === 'small-1b');
    const energy = small.reduce((a, r) => a + BigInt(r.activeEnergyMicroJoules as string), 0n);
    expect(json.models.find((m) => m.model === 'small-1b')?.active.energyMicroJoules).toBe(energy.toString());
    expect(result.stderr).toBe('');
  });

  it('says NOT VERIFIED in the text report, names the boundaries and compares the models', async () => {
    const result = await report();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('NOT VERIFIED');
    expect(result.stdout).toContain('MODEL large-70b on engine vllm: 14 requests');
    expect(result.stdout).toContain('MODEL small-1b on engine vllm: 26 requests');
    expect(result.stdout).toContain('ACTIVE boundary');
    expect(result.stdout).toContain(
      'COMPREHENSIVE boundary (active + idle share + host, × PUE) — 4 of 14 requests',
    );
    expect(result.stdout).toMatch(
      /large-70b on vllm used \d+\.\d\d× the energy per output token of small-1b on vllm/,
    );
    expect(result.stdout).toContain('not a benchmark');
    expect(result.stdout).toContain('Accounting boundary.');
    expect(result.stdout).toContain('SIMULATED');
  });

  it('verifies the batches with a key and says VERIFIED; a wrong key fails with exit 1', async () => {
    const verified = await report('--key', KEY);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/integrity {2}VERIFIED: all 9 batches/);
    const trusted = join(root, 'trusted-keys.json');
    await writeFile(trusted, JSON.stringify({ keys: [{ publicKey: KEY }] }));
    const viaFile = await report('--trusted-keys', trusted, '--json');
    expect(viaFile.code).toBe(0);
    expect((JSON.parse(viaFile.stdout) as Report).verification.status).toBe('verified');
    const failed = await report('--key', OTHER_KEY);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('VERIFICATION FAILED');
  });

  it('filters by model, and gives an explicit empty report for an empty window', async () => {
    const small = await report('--model', 'small-1b', '--json');
    expect(small.code).toBe(0);
    expect((JSON.parse(small.stdout) as Report).models.map((m) => m.model)).toEqual(['small-1b']);
    const empty = await report('--from', '2026-01-01');
    expect(empty.code).toBe(0);
    expect(empty.stdout).toContain('No sealed request record ended in this window');
    // A relative window counts back from the real now: the 2025 fixture is outside the last day.
    const lastDay = await report('--from', '24h', '--json');
    expect((JSON.parse(lastDay.stdout) as Report).totals.requests).toBe(0);
  });

  it('refuses bad arguments with a stable code and exit 2', async () => {
    const reversed = await report('--from', '2025-11-24T17:00:00Z', '--to', '2025-11-24T16:00:00Z');
    expect(reversed.code).toBe(2);
    expect(reversed.stderr).toContain('REPORT_BAD_RANGE');
    const badTime = await report('--from', 'last tuesday');
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toContain('REPORT_BAD_TIME');
    expect(badTime.stderr).toContain('hint:');
    const missing = await runCli(['report', '--ledger-dir', join(root, 'missing')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('REPORT_LEDGER_NOT_FOUND');
    const badKey = await report('--key', 'not-a-key');
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toContain('CLI_USAGE');
    expect(reversed.stdout + badTime.stdout + missing.stdout).toBe('');
  });

  it('shows progress on stderr when asked, and documents itself in --help', async () => {
    const progress = await report('--progress', '--json');
    expect(progress.code).toBe(0);
    expect(progress.stderr).toMatch(/reading the ledger: 100% of/);
    const help = await runCli(['report', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: wattledger report');
    expect(help.stdout).toContain('--from <time>');
    expect(help.stdout).toContain('never mixed');
  });
});
