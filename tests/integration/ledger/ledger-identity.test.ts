/**
 * Opening a ledger as the daemon does (openLedger): each ledger directory gets its own origin at
 * genesis and keeps it; a checkpoint is published at every start, so a crash loop still leaves
 * every earlier batch checkpointed; and what a signed checkpoint covers is never repaired or
 * extended when it is damaged (a torn line under it, missing lines, a changed byte).
 */
import { existsSync } from 'node:fs';
import { readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openLedger } from '../../../src/cli/ledger-wiring.js';
import { configSchema } from '../../../src/config/schema.js';
import { generateKeyFile } from '../../../src/keys/key-file.js';
import { LedgerError } from '../../../src/ledger/errors.js';
import { LedgerVerifier } from '../../../src/verify/verifier.js';
import {
  checkpointNotes,
  ledgerLines,
  TEST_ORIGIN,
  testSigner,
  writeLedger,
} from '../../helpers/ledger-fixture.js';
import { ManualClock } from '../../helpers/manual-clock.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

const SEGMENT = 'ledger-000001.jsonl';
let root: string;
let cleanup: () => Promise<void>;
let keyPath: string;
let publicKey: Uint8Array;
let keyId: string;

beforeEach(async () => {
  ({ dir: root, cleanup } = await makeTmpDir('wattledger-identity-'));
  keyPath = join(root, 'signing.key');
  ({ publicKey, keyId } = await generateKeyFile(keyPath, { name: TEST_ORIGIN }));
});
afterEach(async () => {
  await cleanup();
});

/** One daemon start on `ledgerDir` (no devices); `close` seals a batch and stops cleanly. */
async function start(ledgerDir: string, origin: string | null = TEST_ORIGIN, clock = new ManualClock()) {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(JSON.parse(line));
      done();
    },
  });
  const config = configSchema.parse({
    ledger: { dir: ledgerDir, origin },
    keys: { signingKeyPath: keyPath },
  });
  const opened = await openLedger({
    config,
    clock,
    logger: pino({ level: 'info' }, sink),
    devices: [],
    credentialsDirectory: undefined,
  });
  return { opened, logs };
}

async function startFails(ledgerDir: string): Promise<LedgerError> {
  const error = await start(ledgerDir).then(
    async ({ opened }) => {
      await opened.close();
      throw new Error('the ledger opened');
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LedgerError);
  return error as LedgerError;
}

/** Verifies with the fixture's key and this test's key, with every checkpoint of the directory. */
async function verifyDir(dir: string) {
  const fixture = testSigner(1).signer;
  const verifier = new LedgerVerifier({
    keys: [
      { keyId: fixture.keyId, publicKey: fixture.publicKey },
      { keyId, publicKey },
    ],
  });
  for (const [i, note] of (await checkpointNotes(dir)).entries())
    verifier.addCheckpoint(note, `checkpoint#${i}`);
  for (const [i, line] of (await ledgerLines(dir)).entries()) verifier.addLine(line, `line ${i + 1}`);
  return verifier.finish();
}

describe('a log identity per ledger', () => {
  it('gives each new ledger its own origin under the configured base, and keeps it on resume', async () => {
    const a = await start(join(root, 'a'));
    const b = await start(join(root, 'b'));
    const originA = a.opened.origin;
    expect(originA).toMatch(/^wattledger\/test-host\/[0-9a-f]{16}$/);
    expect(b.opened.origin).toMatch(/^wattledger\/test-host\/[0-9a-f]{16}$/);
    expect(b.opened.origin).not.toBe(originA);
    expect(a.opened.publicKey.verifierKey.startsWith(`${originA}+`)).toBe(true);
    await a.opened.close();
    await b.opened.close();
    const again = await start(join(root, 'a'));
    expect(again.opened.origin).toBe(originA);
    await again.opened.close();
    const report = await verifyDir(join(root, 'a'));
    expect(report.findings).toEqual([]);
    expect(report.origin).toBe(originA);
    // Run 1's stop checkpoint, and run 2's: its start found nothing uncovered, its stop did.
    expect(report.checkpointedSize).toBe(report.logSize);
  });

  it('keeps the origin of a ledger written before per-ledger ids, and refuses a foreign one', async () => {
    const dir = join(root, 'old');
    const { clock } = await writeLedger(dir, { ticks: 20 });
    clock.advanceMillis(5_000);
    const old = await start(dir, TEST_ORIGIN, clock);
    expect(old.opened.origin).toBe(TEST_ORIGIN);
    await old.opened.close();
    expect((await verifyDir(dir)).findings).toEqual([]);
    const error = await start(dir, 'example.com/another-host').then(
      () => null,
      (e: unknown) => e as LedgerError,
    );
    expect(error).toMatchObject({ code: 'LEDGER_CORRUPT', message: expect.stringContaining(TEST_ORIGIN) });
  });
});

describe('checkpoints that survive restarts', () => {
  it('publishes a checkpoint at start that covers what a crashed run left uncovered', async () => {
    const dir = join(root, 'crashed');
    // A run that sealed 20 batches and crashed before any checkpoint: none is on disk.
    const { clock } = await writeLedger(dir, { ticks: 200, batchIntervalMs: 1000, checkpointEvery: 1000 });
    clock.advanceMillis(5_000);
    await rm(join(dir, 'checkpoints'), { recursive: true });
    await rm(join(dir, 'checkpoint'));
    const lines = (await ledgerLines(dir)).length;
    expect(lines).toBeGreaterThanOrEqual(20);
    const { opened, logs } = await start(dir, TEST_ORIGIN, clock);
    // Before this run seals anything, its start already covers every earlier batch.
    expect((await checkpointNotes(dir)).map((note) => note.split('\n')[1])).toEqual([String(lines)]);
    expect(logs).toContainEqual(
      expect.objectContaining({ code: 'LEDGER_CHECKPOINT', treeSize: lines, reason: 'start' }),
    );
    await opened.close();
    const report = await verifyDir(dir);
    expect(report.findings).toEqual([]);
    expect(report.checkpointsVerified).toBe(2); // this run's start and stop
    expect(report.checkpointedSize).toBe(lines + 1);
  });
});

describe('repair never below a checkpoint', () => {
  async function checkpointed() {
    const dir = join(root, 'ledger');
    const { clock } = await writeLedger(dir, { ticks: 40, batchIntervalMs: 1000, checkpointEvery: 2 });
    clock.advanceMillis(5_000);
    const segment = join(dir, SEGMENT);
    return { dir, segment, bytes: await readFile(segment), clock };
  }

  it('refuses a torn line that a signed checkpoint covers, naming the file and line, and changes nothing', async () => {
    const { dir, segment, bytes } = await checkpointed();
    const lines = (await ledgerLines(dir)).length;
    await truncate(segment, bytes.length - 10);
    const error = await startFails(dir);
    expect(error.code).toBe('LEDGER_CORRUPT');
    expect(error.message).toContain(`line ${lines} of ${segment}`);
    expect(error.message).toContain(`a signed checkpoint covers ${lines}`);
    expect(error.hint).toContain('new directory');
    expect(error.details).toMatchObject({ path: segment, line: lines });
    expect((await readFile(segment)).length).toBe(bytes.length - 10);
    expect(existsSync(join(dir, 'torn'))).toBe(false);
  });

  it('refuses a ledger that holds fewer lines than its checkpoint', async () => {
    const { dir, segment, bytes } = await checkpointed();
    const text = bytes.toString('utf8');
    await writeFile(segment, text.slice(0, text.lastIndexOf('\n', text.length - 2) + 1));
    const error = await startFails(dir);
    expect(error.message).toMatch(
      /holds \d+ whole batches, but a signed checkpoint covers \d+: it ends after line/,
    );
  });

  it('still repairs a torn tail that no checkpoint covers', async () => {
    const { dir, segment, bytes, clock } = await checkpointed();
    await writeFile(segment, '{"payload":"abc', { flag: 'a' });
    const { opened } = await start(dir, TEST_ORIGIN, clock);
    await opened.close();
    expect((await readFile(segment)).subarray(0, bytes.length)).toEqual(bytes);
    expect(existsSync(join(dir, 'torn'))).toBe(true);
    expect((await verifyDir(dir)).findings).toEqual([]);
  });

  it('refuses a changed byte under the checkpoint (bit rot), naming the checkpoint', async () => {
    const { dir, segment, bytes } = await checkpointed();
    const at = bytes.indexOf('"payload":"') + 40;
    const rotted = Buffer.from(bytes);
    rotted[at] = rotted[at] === 0x41 ? 0x42 : 0x41;
    await writeFile(segment, rotted);
    const error = await startFails(dir);
    expect(error.message).toContain(`are not the ones signed in ${join(dir, 'checkpoint')}`);
  });

  it('refuses a root checkpoint file that is not a checkpoint', async () => {
    const { dir } = await checkpointed();
    await writeFile(join(dir, 'checkpoint'), 'garbage\n');
    const error = await startFails(dir);
    expect(error.message).toContain(`${join(dir, 'checkpoint')} is not a checkpoint note`);
  });
});
