/**
 * `wattledger demo --seconds 45 --dir D` as a user runs it (issue 14): it serves the dashboard
 * while it runs, seals hundreds of request records from traffic through the real proxy, stops
 * by itself, and leaves in D a ledger that `verify` passes and receipts `verify-receipt` checks.
 */
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliSkipReason, runCli } from '../helpers/cli.js';
import { type RunningDemo, startDemo } from '../helpers/demo.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

let dir: string;
let cleanup: () => Promise<void>;
let demo: RunningDemo;
interface Live {
  simulated: boolean;
  devices: { hwType: string; simulated: boolean }[];
}
const seen: { dashboard?: string; live?: Live } = {};

describeUnless(cliSkipReason())('wattledger demo --seconds 45 --dir D', () => {
  beforeAll(async () => {
    ({ dir, cleanup } = await makeTmpDir('wattledger-demo-e2e-'));
    demo = await startDemo(join(dir, 'D'), ['--seconds', '45'], 120_000);
    seen.dashboard = await (await fetch(`${demo.apiUrl}/dashboard/`)).text();
    seen.live = (await (await fetch(`${demo.apiUrl}/v1/dashboard/live`)).json()) as Live;
  }, 60_000);
  afterAll(async () => {
    demo?.child.kill('SIGKILL');
    await cleanup();
  });

  it('serves the dashboard while it runs, on 8 simulated GPUs labelled so', () => {
    expect(seen.dashboard).toContain('<title>wattledger dashboard</title>');
    expect(seen.live?.simulated).toBe(true);
    const gpus = seen.live?.devices.filter((d) => d.hwType === 'gpu') ?? [];
    expect(gpus).toHaveLength(8);
    expect(gpus.every((d) => d.simulated)).toBe(true);
  });

  it('stops by itself, sealing hundreds of records into a ledger that verify passes', async () => {
    const result = await demo.done;
    expect(result.code, result.stderr + result.stdout).toBe(0);
    expect(result.stdout).toContain('SIMULATED');
    expect(result.stdout).toContain(`wattledger verify ${join(dir, 'D', 'ledger')}`);
    const records = await readRecords(join(dir, 'D', 'ledger', 'records'));
    expect(records.length).toBeGreaterThanOrEqual(200);
    expect(new Set(records.map((r) => r.model)).size).toBeGreaterThanOrEqual(3);
    const verified = await runCli(
      ['verify', join(dir, 'D', 'ledger'), '--key', join(dir, 'D', 'signing.key.pub')],
      {
        timeoutMs: 60_000,
      },
    );
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toContain('VERIFIED');
  }, 120_000);

  it('leaves a config that receipt uses, and verify-receipt prints each check in words', async () => {
    await demo.done;
    const [first] = await readRecords(join(dir, 'D', 'ledger', 'records'));
    const out = join(dir, 'receipt.json');
    const made = await runCli([
      'receipt',
      String(first?.requestId),
      '--config',
      join(dir, 'D', 'config.yaml'),
      '--out',
      out,
    ]);
    expect(made.code, made.stderr).toBe(0);
    const checked = await runCli(['verify-receipt', out, '--key', join(dir, 'D', 'signing.key.pub')]);
    expect(checked.code, checked.stdout).toBe(0);
    expect(checked.stdout).toContain('✓ The batch is signed by a trusted key');
    expect(checked.stdout).toContain("✓ The record is this request's and is in the signed batch");
    expect(checked.stdout).toMatch(/comprehensive\s+\d/);
    const receipt = JSON.parse(await readFile(out, 'utf8'));
    receipt.record.outputTokens += 1;
    await writeFile(join(dir, 'tampered.json'), JSON.stringify(receipt));
    const tampered = await runCli([
      'verify-receipt',
      join(dir, 'tampered.json'),
      '--key',
      join(dir, 'D', 'signing.key.pub'),
    ]);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain("✗ The record is this request's and is in the signed batch");
  }, 60_000);
});

async function readRecords(recordsDir: string): Promise<{ requestId: string; model: string }[]> {
  const out: { requestId: string; model: string }[] = [];
  for (const name of (await readdir(recordsDir)).sort()) {
    for (const line of (await readFile(join(recordsDir, name), 'utf8')).split('\n')) {
      if (line.trim() !== '')
        out.push((JSON.parse(line) as { record: { requestId: string; model: string } }).record);
    }
  }
  return out;
}
