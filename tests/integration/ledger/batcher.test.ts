import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkpointNotes, ledgerLines, verifyLines, writeLedger } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTmpDir()));
afterEach(async () => cleanup());

describe('Batcher writing a real ledger', () => {
  it('writes contiguous signed batches that verify with only the public key', async () => {
    await writeLedger(dir, { ticks: 55, batchIntervalMs: 1000, checkpointEvery: 2 });
    const lines = await ledgerLines(dir);
    expect(lines.length).toBeGreaterThanOrEqual(5);
    const checkpoints = await checkpointNotes(dir);
    expect(checkpoints.length).toBeGreaterThanOrEqual(2);
    const report = verifyLines(lines, checkpoints);
    expect(report.findings).toEqual([]);
    expect(report).toMatchObject({ ok: true, batches: lines.length, firstSequence: '0', simulated: true });
    expect(report.checkpointsVerified).toBe(checkpoints.length);
  });

  it('resumes the chain after a restart, counting the downtime energy from the counters', async () => {
    const { clock } = await writeLedger(dir, { ticks: 25 });
    const before = (await ledgerLines(dir)).length;
    clock.advanceMillis(5_000); // the agent is down for 5 s; the simulated counters keep counting
    await writeLedger(dir, { ticks: 25, clock });
    const lines = await ledgerLines(dir);
    expect(lines.length).toBeGreaterThan(before);
    const report = verifyLines(lines, await checkpointNotes(dir));
    expect(report.findings).toEqual([]);
    const resumed = JSON.parse(
      Buffer.from(JSON.parse(lines[before] as string).payload, 'base64').toString(),
    ).predicate;
    expect(BigInt(resumed.window.downtimeNanos)).toBeGreaterThanOrEqual(5_000_000_000n);
    expect(
      resumed.devices[0].gaps.some(
        (g: { reason: string; bridged: boolean }) => g.reason === 'agent-downtime' && g.bridged,
      ),
    ).toBe(true);
    expect(BigInt(resumed.devices[0].downtimeEnergyMicroJoules)).toBeGreaterThan(0n);
  });
});
