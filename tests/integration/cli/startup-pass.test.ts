import { existsSync, readFileSync } from 'node:fs';
import { appendFile, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LedgerIndex } from '../../../src/api/ledger-index.js';
import { hexFromBytes } from '../../../src/attest/bytes.js';
import { openLedger } from '../../../src/cli/ledger-wiring.js';
import { configSchema } from '../../../src/config/schema.js';
import { generateKeyFile } from '../../../src/keys/key-file.js';
import { loadChainState } from '../../../src/ledger/chain-state.js';
import { TEST_ORIGIN, writeLedger } from '../../helpers/ledger-fixture.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

// The daemon's start-up (openLedger with the API index seeded from it, then the index's build)
// must read the ledger once: the store's open quarantines a torn tail and hands every line to the
// chain state and the index. Bytes are counted by the kernel (/proc/self/io rchar: every read(2)
// of this process; vitest runs each file in its own process), so no module of ours is faked.

/** Bytes this process has read through read(2) and friends so far. */
function bytesReadByProcess(): number {
  const line = readFileSync('/proc/self/io', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('rchar:'));
  return Number(line?.split(/\s+/)[1]);
}

async function segmentBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir)) {
    if (/^ledger-\d+\.jsonl$/.test(name)) total += (await stat(join(dir, name))).size;
  }
  return total;
}

/** Opens the ledger as the daemon does; the logs are collected as parsed JSON objects. */
async function startUp(dir: string) {
  const ledgerDir = join(dir, 'ledger');
  const key = join(dir, 'signing.key');
  if (!existsSync(key)) await generateKeyFile(key, { name: TEST_ORIGIN });
  const config = configSchema.parse({
    ledger: { dir: ledgerDir, origin: TEST_ORIGIN },
    keys: { signingKeyPath: key },
  });
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const index = new LedgerIndex(ledgerDir);
  const before = bytesReadByProcess();
  const opened = await openLedger({
    config,
    clock: new ManualClock(),
    logger: pino({ level: 'info' }, sink),
    devices: [],
    credentialsDirectory: undefined,
    onStartupLine: (line) => index.seed(line),
  });
  await index.build();
  const bytesRead = bytesReadByProcess() - before;
  return { ledgerDir, index, opened, logs, bytesRead };
}

describe('daemon start-up', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0)) await cleanup();
  });

  async function dayLedger(): Promise<{ dir: string; ledgerDir: string; ledgerBytes: number }> {
    const { dir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    const ledgerDir = join(dir, 'ledger');
    // 8 GPUs and one batch per tick: ~150 batches of a few KiB, across several segments.
    await writeLedger(ledgerDir, { ticks: 150, gpus: 8, batchIntervalMs: 100, maxSegmentBytes: 256 * 1024 });
    return { dir, ledgerDir, ledgerBytes: await segmentBytes(ledgerDir) };
  }

  it('reads the ledger once and resumes the chain and serves the index as full scans would', async () => {
    const { dir, ledgerDir, ledgerBytes } = await dayLedger();
    expect(ledgerBytes).toBeGreaterThan(1024 * 1024);
    const recordsBytes = await segmentBytes(join(ledgerDir, 'records'));
    // What a start-up reads besides the ledger (host identity, key, lazily loaded modules): a
    // start on an empty ledger first, which also loads those modules before the measured start.
    const { dir: emptyDir, cleanup } = await makeTmpDir();
    cleanups.push(cleanup);
    let baseline = 0;
    for (let run = 0; run < 2; run++) {
      const empty = await startUp(emptyDir);
      await empty.opened.close();
      baseline = empty.bytesRead;
    }
    const { index, opened, logs, bytesRead } = await startUp(dir);
    try {
      // One pass over the batches (plus the record log's own count); three passes, as before,
      // would be over 3 × ledgerBytes.
      // The baseline start read its own one-batch ledger, which the measured start does not have.
      const ledgerRead = bytesRead - baseline - recordsBytes + (await segmentBytes(join(emptyDir, 'ledger')));
      expect(ledgerRead).toBeGreaterThanOrEqual(ledgerBytes);
      expect(ledgerRead).toBeLessThan(ledgerBytes * 1.25);

      const expected = await loadChainState(ledgerDir);
      const open = logs.find((l) => l.code === 'LEDGER_OPEN');
      expect(String(open?.nextSequence)).toBe(String(expected.nextSequence));
      expect(expected.nextSequence).toBeGreaterThan(100n);

      const scanned = new LedgerIndex(ledgerDir);
      await scanned.build();
      expect(index.status()).toEqual(scanned.status());
      expect(index.size).toBe(Number(expected.nextSequence));
      expect(hexFromBytes(index.root(index.size))).toBe(hexFromBytes(scanned.root(scanned.size)));
      expect(hexFromBytes(index.root(index.size))).toBe(hexFromBytes(expected.tree.root()));
      for (let seq = 0; seq < index.size; seq++) expect(index.location(seq)).toEqual(scanned.location(seq));
    } finally {
      await opened.close();
    }
  });

  it('quarantines a torn tail, resumes after the last whole batch and indexes only whole batches', async () => {
    const { dir, ledgerDir } = await dayLedger();
    const segments = (await readdir(ledgerDir)).filter((n) => n.startsWith('ledger-')).sort();
    const last = join(ledgerDir, segments.at(-1) as string);
    const sizeBefore = (await stat(last)).size;
    const torn = '{"payloadType":"application/vnd.in-toto+json","payload":"eyJf';
    await appendFile(last, torn);
    const whole = await loadChainState(ledgerDir).catch((error: unknown) => error);
    expect(whole).toMatchObject({ code: 'LEDGER_TORN_TAIL' });

    const { index, opened, logs } = await startUp(dir);
    try {
      const repaired = logs.find((l) => l.code === 'LEDGER_EVENT' && l.kind === 'torn-tail-repaired');
      expect(repaired).toMatchObject({ segment: segments.at(-1), offset: sizeBefore, bytes: torn.length });
      expect(await readFile(repaired?.quarantinePath as string, 'utf8')).toBe(torn);
      expect((await stat(last)).size).toBe(sizeBefore);
      const expected = await loadChainState(ledgerDir);
      expect(String(logs.find((l) => l.code === 'LEDGER_OPEN')?.nextSequence)).toBe(
        String(expected.nextSequence),
      );
      expect(index.size).toBe(Number(expected.nextSequence));
      expect(hexFromBytes(index.root(index.size))).toBe(hexFromBytes(expected.tree.root()));
    } finally {
      await opened.close();
    }

    // A second start finds nothing torn and the same chain.
    const again = await startUp(dir);
    try {
      expect(again.logs.some((l) => l.kind === 'torn-tail-repaired')).toBe(false);
      // The clean stop above sealed one more batch (the agent-start event), which chains on.
      const expected = await loadChainState(ledgerDir);
      expect(expected.nextSequence).toBe(BigInt(index.size + 1));
      expect(again.index.size).toBe(Number(expected.nextSequence));
      expect(hexFromBytes(again.index.root(again.index.size))).toBe(hexFromBytes(expected.tree.root()));
    } finally {
      await again.opened.close();
    }
  });
});
