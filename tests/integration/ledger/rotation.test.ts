import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LedgerVerifier } from '../../../src/verify/verifier.js';
import { checkpointNotes, ledgerLines, testSigner, writeLedger } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTmpDir()));
afterEach(async () => cleanup());

function verify(lines: string[], checkpoints: string[], validUntilUnixNanos?: bigint) {
  const { signer } = testSigner(1); // only the OLD key is given to the verifier
  const verifier = new LedgerVerifier({
    keys: [
      {
        keyId: signer.keyId,
        publicKey: signer.publicKey,
        ...(validUntilUnixNanos ? { validUntilUnixNanos } : {}),
      },
    ],
  });
  for (const [i, note] of checkpoints.entries()) verifier.addCheckpoint(note, `checkpoint#${i}`);
  for (const [i, line] of lines.entries()) verifier.addLine(line, `line ${i + 1}`);
  return verifier.finish();
}

describe('key rotation', () => {
  it('trusts a new key announced in a batch signed by the old one, even after the old key expires', async () => {
    const { clock } = await writeLedger(dir, { ticks: 30, seedByte: 1 });
    const rotatedAt = clock.wallUnixNanos();
    await writeLedger(dir, { ticks: 30, seedByte: 2, rotateFromSeedByte: 1, clock });
    const report = verify(await ledgerLines(dir), await checkpointNotes(dir), rotatedAt + 2_000_000_000n); // the old key expires just after the rotation batch
    expect(report.findings).toEqual([]);
    expect(report.checkpointsVerified).toBeGreaterThan(1);
  });

  it('rejects batches from a new key that nobody announced', async () => {
    const { clock } = await writeLedger(dir, { ticks: 30, seedByte: 1 });
    await writeLedger(dir, { ticks: 30, seedByte: 2, clock });
    const report = verify(await ledgerLines(dir), []);
    expect(report.findings.some((f) => f.code === 'VERIFY_UNKNOWN_KEY')).toBe(true);
  });

  it('follows the chain across rotated segment files', async () => {
    await writeLedger(dir, { ticks: 40, maxSegmentBytes: 16_384 });
    const { readdir } = await import('node:fs/promises');
    const segments = (await readdir(dir)).filter((n) => n.startsWith('ledger-'));
    expect(segments.length).toBeGreaterThan(1);
    expect(verify(await ledgerLines(dir), await checkpointNotes(dir)).findings).toEqual([]);
  });
});
