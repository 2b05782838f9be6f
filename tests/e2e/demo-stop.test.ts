/**
 * `wattledger demo` stops cleanly on Ctrl+C (SIGINT): it cancels the open requests, seals the
 * last window and exits 0; a second run on the same `--dir` resumes the signed chain, and the
 * ledger of both runs verifies as one.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliSkipReason, runCli } from '../helpers/cli.js';
import { eventually, startDemo } from '../helpers/demo.js';
import { describeUnless } from '../helpers/skip.js';
import { makeTmpDir } from '../helpers/tmp-dir.js';

let dir: string;
let cleanup: () => Promise<void>;

/** Batches the ledger's verification reports (`batches N, sequence 0..M`). */
async function verifiedBatches(ledger: string, key: string): Promise<number> {
  const result = await runCli(['verify', ledger, '--key', key], { timeoutMs: 60_000 });
  expect(result.code, result.stdout + result.stderr).toBe(0);
  return Number(/batches\s+(\d+)/.exec(result.stdout)?.[1]);
}

describeUnless(cliSkipReason())('wattledger demo on Ctrl+C', () => {
  beforeAll(async () => {
    ({ dir, cleanup } = await makeTmpDir('wattledger-demo-stop-'));
  });
  afterAll(async () => {
    await cleanup();
  });

  it('seals the last window and exits 0; a second run on the same --dir resumes the chain', async () => {
    const d = join(dir, 'D');
    const demo = await startDemo(d, [], 90_000);
    // Wait for sealed records (the progress line counts them), then press Ctrl+C.
    await eventually(
      async () => (/sealed \d+ batches · [1-9]\d* records/.test(demo.stdout()) ? true : undefined),
      60_000,
      'sealed records',
    );
    demo.child.kill('SIGINT');
    const stopped = await demo.done;
    expect(stopped.code, stopped.stdout + stopped.stderr).toBe(0);
    expect(stopped.stdout).toContain('stopping: cancelling open requests, sealing the last window');
    expect(stopped.stdout).toContain(`stopped. Everything is in ${d}`);
    const key = join(d, 'signing.key.pub');
    const first = await verifiedBatches(join(d, 'ledger'), key);
    expect(first).toBeGreaterThan(0);
    const again = await startDemo(d, ['--seconds', '5'], 60_000);
    expect((await again.done).code).toBe(0);
    expect(await verifiedBatches(join(d, 'ledger'), key)).toBeGreaterThan(first);
  }, 150_000);
});
