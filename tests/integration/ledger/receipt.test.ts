/**
 * Receipts end to end: a ledger written by the batcher with generated request records (several
 * per batch, several batches, a checkpoint every 2), receipts cut from disk by `buildReceipt`
 * and the CLI, verified offline with only the public key, and every way cutting one must fail.
 */
import { cp, readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64FromBytes, hexFromBytes, utf8FromString } from '../../../src/attest/bytes.js';
import { pemFromEd25519PublicKey } from '../../../src/attest/key-id.js';
import { consistencyProof, inclusionProof, leafHash } from '../../../src/attest/merkle.js';
import { RECEIPT_DESCRIPTION, runReceipt, runVerifyReceipt } from '../../../src/cli/receipt.js';
import { LATEST_CHECKPOINT_FILE } from '../../../src/ledger/checkpoint-writer.js';
import { buildReceipt, ReceiptError } from '../../../src/ledger/receipt-builder.js';
import { verifyReceipt } from '../../../src/verify/receipt.js';
import { checkpointNotes, ledgerLines, testSigner, writeLedger } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

let root: string;
let cleanup: () => Promise<void>;
let ledger: string;
let lines: string[];
const { signer } = testSigner(1);
const KEYS = [{ keyId: signer.keyId, publicKey: signer.publicKey }];

/** Three records at every fourth tick: several per 1 s batch, none in some. */
function records(tick: number) {
  if (tick % 4 !== 2) return [];
  return [0, 1, 2].map((j) => ({
    requestId: `req-${tick}-${j}`,
    model: 'm',
    inputTokens: tick,
    outputTokens: j,
  }));
}

beforeAll(async () => {
  ({ dir: root, cleanup } = await makeTmpDir('wattledger-receipt-'));
  ledger = join(root, 'ledger');
  await writeLedger(ledger, { ticks: 80, checkpointEvery: 2, records });
  lines = await ledgerLines(ledger);
});
afterAll(async () => {
  await cleanup();
});

/** A copy of the ledger a test may damage. */
async function copyLedger(name: string): Promise<string> {
  const dir = join(root, name);
  await cp(ledger, dir, { recursive: true });
  return dir;
}

async function expectReceiptError(promise: Promise<unknown>, code: string): Promise<ReceiptError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ReceiptError);
  expect((error as ReceiptError).code).toBe(code);
  return error as ReceiptError;
}

describe('buildReceipt', () => {
  it('cuts a receipt for a record in the middle that verifies with only the public key', async () => {
    expect(lines.length).toBeGreaterThanOrEqual(8);
    const receipt = await buildReceipt(ledger, 'req-38-1');
    const report = verifyReceipt(JSON.parse(JSON.stringify(receipt)), KEYS);
    expect(report.findings).toEqual([]);
    expect(report).toMatchObject({ ok: true, requestId: 'req-38-1' });
    expect(receipt.batchIndex).toBeGreaterThan(0);
    expect(receipt.batchIndex).toBeLessThan(lines.length - 1);
    expect(receipt.recordIndex).toBeGreaterThan(0);
  });

  it('gives every record a verifying receipt, with the streamed batch proof equal to PATH(m, n)', async () => {
    const leaves = lines.map((line) => leafHash(utf8FromString(line)));
    for (let tick = 2; tick < 80; tick += 4) {
      for (const j of [0, 2]) {
        const receipt = await buildReceipt(ledger, `req-${tick}-${j}`);
        expect(verifyReceipt(receipt, KEYS).findings).toEqual([]);
        const size = Number(receipt.checkpoint.split('\n')[1]);
        const expected = inclusionProof(leaves, receipt.batchIndex, size).map(hexFromBytes);
        expect(receipt.batchProof).toEqual(expected);
      }
    }
  });

  it('says RECEIPT_NOT_FOUND for an unknown request id, and for a ledger without records', async () => {
    const error = await expectReceiptError(buildReceipt(ledger, 'no-such-request'), 'RECEIPT_NOT_FOUND');
    expect(error.message).toContain('"no-such-request"');
    expect(error.hint).toBeDefined();
    const empty = join(root, 'empty');
    await writeLedger(empty, { ticks: 20 });
    await expectReceiptError(buildReceipt(empty, 'req-2-0'), 'RECEIPT_NOT_FOUND');
  });

  it('says RECEIPT_NOT_YET_CHECKPOINTED for a batch after the latest checkpoint', async () => {
    const dir = await copyLedger('stale-checkpoint');
    const first = (await checkpointNotes(dir))[0]!; // covers batches 0 and 1 only
    await writeFile(join(dir, LATEST_CHECKPOINT_FILE), first);
    const error = await expectReceiptError(buildReceipt(dir, 'req-74-0'), 'RECEIPT_NOT_YET_CHECKPOINTED');
    expect(error.message).toMatch(/covers batches 0–1/);
    expect(error.hint).toContain('checkpointEveryBatches');
    // A record of a covered batch still gets a receipt, proven at the older size.
    const early = await buildReceipt(dir, 'req-2-1');
    expect(early.checkpoint).toBe(first);
    expect(verifyReceipt(early, KEYS).ok).toBe(true);
    await unlink(join(dir, LATEST_CHECKPOINT_FILE));
    await expectReceiptError(buildReceipt(dir, 'req-2-1'), 'RECEIPT_NOT_YET_CHECKPOINTED');
  });

  it('says RECEIPT_LEDGER_INCONSISTENT when a stored record was edited', async () => {
    const dir = await copyLedger('edited-record');
    const recordsDir = join(dir, 'records');
    const [segment] = (await readdir(recordsDir)).filter((n) => n.endsWith('.jsonl'));
    const path = join(recordsDir, segment!);
    await writeFile(path, (await readFile(path, 'utf8')).replace('"outputTokens":2', '"outputTokens":3'));
    await expectReceiptError(buildReceipt(dir, 'req-2-0'), 'RECEIPT_LEDGER_INCONSISTENT');
  });

  it('explains a record left by a crash before its batch was sealed', async () => {
    const dir = await copyLedger('orphan');
    const recordsDir = join(dir, 'records');
    const [segment] = (await readdir(recordsDir)).filter((n) => n.endsWith('.jsonl'));
    // As a crash leaves it: a run of records for batch 1 that the sealed batch 1 never included.
    const orphan = { index: 0, record: { requestId: 'lost' }, sequence: '1' };
    const text = await readFile(join(recordsDir, segment!), 'utf8');
    await writeFile(join(recordsDir, segment!), `${JSON.stringify(orphan)}\n${text}`);
    const error = await expectReceiptError(buildReceipt(dir, 'lost'), 'RECEIPT_LEDGER_INCONSISTENT');
    expect(error.hint).toContain('before sealing');
    expect(verifyReceipt(await buildReceipt(dir, 'req-6-0'), KEYS).ok).toBe(true);
  });

  it('says RECEIPT_LEDGER_INCONSISTENT when a batch no longer matches the checkpoint', async () => {
    const dir = await copyLedger('edited-batch');
    const [segment] = (await readdir(dir)).filter((n) => n.startsWith('ledger-'));
    const path = join(dir, segment!);
    const edited = (await readFile(path, 'utf8')).split('\n');
    edited[0] = edited[0]!.replace('"payloadType"', '"payloadType" ');
    await writeFile(path, edited.join('\n'));
    await expectReceiptError(buildReceipt(dir, 'req-38-1'), 'RECEIPT_LEDGER_INCONSISTENT');
  });
});

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

async function cli<T>(run: (io: { stdout: PassThrough; stderr: PassThrough }) => Promise<T>) {
  const [out, err] = [capture(), capture()];
  const code = await run({ stdout: out.stream, stderr: err.stream });
  return { code, stdout: out.text(), stderr: err.text() };
}

describe('receipt CLI', () => {
  it('writes a receipt file 0644, refuses to overwrite it, and verifies it with each key form', async () => {
    expect(RECEIPT_DESCRIPTION).toContain('receipt');
    const out = join(root, 'req-38-1.receipt.json');
    const made = await cli((io) => runReceipt({ requestId: 'req-38-1', ledgerDir: ledger, out }, io));
    expect(made).toMatchObject({ code: 0, stdout: '' });
    expect((await stat(out)).mode & 0o777).toBe(0o644);
    const written = await readFile(out, 'utf8');
    const again = await cli((io) => runReceipt({ requestId: 'req-6-0', ledgerDir: ledger, out }, io));
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('refusing to overwrite');
    expect(await readFile(out, 'utf8')).toBe(written);
    const pemFile = join(root, 'key.pub');
    await writeFile(pemFile, pemFromEd25519PublicKey(signer.publicKey));
    for (const keyText of [base64FromBytes(signer.publicKey), pemFile]) {
      const verified = await cli((io) => runVerifyReceipt({ file: out, keys: [keyText] }, io));
      expect(verified.code).toBe(0);
      expect(verified.stdout).toContain('VERIFIED: request req-38-1');
    }
  });

  it('prints to stdout, reports failures with codes, and exits 1 or 2', async () => {
    const printed = await cli((io) => runReceipt({ requestId: 'req-10-2', ledgerDir: ledger }, io));
    expect(printed.code).toBe(0);
    const file = join(root, 'tampered.json');
    const receipt = JSON.parse(printed.stdout);
    receipt.record.outputTokens = 99;
    await writeFile(file, JSON.stringify(receipt));
    const key = base64FromBytes(signer.publicKey);
    const failed = await cli((io) => runVerifyReceipt({ file, keys: [key], json: true }, io));
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout).findings[0].code).toBe('VERIFY_INCLUSION_PROOF_INVALID');
    const other = base64FromBytes(testSigner(2).signer.publicKey);
    const wrongKey = await cli((io) => runVerifyReceipt({ file, keys: [other] }, io));
    expect(wrongKey).toMatchObject({ code: 1 });
    expect(wrongKey.stdout).toContain('VERIFY_UNKNOWN_KEY');
    expect((await cli((io) => runVerifyReceipt({ file, keys: [] }, io))).code).toBe(2);
    expect((await cli((io) => runVerifyReceipt({ file, keys: ['not-a-key'] }, io))).code).toBe(2);
    expect((await cli((io) => runVerifyReceipt({ file: join(root, 'missing'), keys: [key] }, io))).code).toBe(
      2,
    );
    const missing = await cli((io) => runReceipt({ requestId: 'nope', ledgerDir: ledger }, io));
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('RECEIPT_NOT_FOUND');
  });

  it('verify-receipt --checkpoint checks the receipt against a kept checkpoint and its consistency proof', async () => {
    const printed = await cli((io) => runReceipt({ requestId: 'req-38-1', ledgerDir: ledger }, io));
    const file = join(root, 'kept.receipt.json');
    await writeFile(file, printed.stdout);
    const key = base64FromBytes(signer.publicKey);
    const latest = join(ledger, LATEST_CHECKPOINT_FILE);
    const same = await cli((io) => runVerifyReceipt({ file, keys: [key], checkpoint: latest }, io));
    expect(same).toMatchObject({ code: 0 });
    const older = join(root, 'kept-4.note');
    await writeFile(older, (await checkpointNotes(ledger)).find((n) => n.split('\n')[1] === '4') as string);
    const noProof = await cli((io) => runVerifyReceipt({ file, keys: [key], checkpoint: older }, io));
    expect(noProof.code).toBe(1);
    expect(noProof.stdout).toContain('/v1/proofs/consistency?from=4&to=');
    const size = Number(JSON.parse(printed.stdout).checkpoint.split('\n')[1]);
    const leaves = lines.slice(0, size).map((line) => leafHash(utf8FromString(line)));
    const proofFile = join(root, 'consistency.json');
    await writeFile(
      proofFile,
      JSON.stringify({ from: 4, to: size, proof: consistencyProof(leaves, 4).map(hexFromBytes) }),
    );
    const proven = await cli((io) =>
      runVerifyReceipt({ file, keys: [key], checkpoint: older, consistencyProof: proofFile }, io),
    );
    expect(proven).toMatchObject({ code: 0 });
    const usage = await cli((io) => runVerifyReceipt({ file, keys: [key], consistencyProof: proofFile }, io));
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--consistency-proof needs --checkpoint');
  });
});

describe('receipts bound to their ledger and checked for physics', () => {
  /** The note of tree size `size` in a ledger directory. */
  async function noteOf(dir: string, size: number): Promise<string> {
    const notes = await checkpointNotes(dir);
    const note = notes.find((n) => n.split('\n')[1] === String(size));
    if (note === undefined) throw new Error(`no checkpoint of size ${size}`);
    return note;
  }

  it('verifies against an older checkpoint the reader kept, with the consistency proof', async () => {
    const receipt = JSON.parse(JSON.stringify(await buildReceipt(ledger, 'req-38-1')));
    const latestSize = Number(String(receipt.checkpoint).split('\n')[1]);
    const kept = await noteOf(ledger, 4);
    const leaves = lines.slice(0, latestSize).map((line) => leafHash(utf8FromString(line)));
    const proof = consistencyProof(leaves, 4).map(hexFromBytes);
    const ok = verifyReceipt(receipt, KEYS, {
      keptCheckpoint: { note: kept, consistencyProof: { from: 4, to: latestSize, proof } },
    });
    expect(ok.findings).toEqual([]);
    // Without the proof the sizes cannot be joined; with another proof they do not join.
    expect(verifyReceipt(receipt, KEYS, { keptCheckpoint: { note: kept } }).findings).toEqual([
      expect.objectContaining({ code: 'VERIFY_CONSISTENCY_PROOF_INVALID', check: 'kept-consistency' }),
    ]);
    const wrong = consistencyProof([...leaves.slice(0, -1), leafHash(utf8FromString('x'))], 4).map(
      hexFromBytes,
    );
    const forked = verifyReceipt(receipt, KEYS, {
      keptCheckpoint: { note: kept, consistencyProof: { from: 4, to: latestSize, proof: wrong } },
    });
    expect(forked.findings.map((f) => f.check)).toEqual(['kept-consistency']);
  });

  it('fails against a checkpoint of another ledger: another origin', async () => {
    const other = join(root, 'other-ledger');
    const { signer: sameKey } = testSigner(1);
    expect(sameKey.keyId).toBe(signer.keyId);
    await writeLedger(other, { ticks: 20, checkpointEvery: 2, records });
    // Re-sign the other ledger's latest checkpoint under another origin with the same key: what a
    // second ledger of the same host, with its own identity, publishes.
    const { signCheckpoint, parseCheckpoint } = await import('../../../src/attest/checkpoint.js');
    const { parseNote } = await import('../../../src/attest/note.js');
    const text = await readFile(join(other, LATEST_CHECKPOINT_FILE), 'utf8');
    const parsed = parseCheckpoint(parseNote(utf8FromString(text)).text);
    const foreign = signCheckpoint({ ...parsed, origin: 'wattledger/test-host/00000000000000ff' }, [
      { name: 'wattledger/test-host/00000000000000ff', signer },
    ]);
    const receipt = JSON.parse(JSON.stringify(await buildReceipt(ledger, 'req-38-1')));
    expect(verifyReceipt(receipt, KEYS, { keptCheckpoint: { note: foreign } }).findings).toEqual([
      expect.objectContaining({ code: 'VERIFY_ORIGIN_MISMATCH', check: 'kept-checkpoint-origin' }),
    ]);
    expect(verifyReceipt({ ...receipt, checkpoint: foreign }, KEYS).findings).toEqual([
      expect.objectContaining({ code: 'VERIFY_ORIGIN_MISMATCH', check: 'checkpoint-origin' }),
    ]);
  });

  it("checks the batch's arithmetic and the record's physics", async () => {
    const gpu = 'GPU-5140a7ed-0000-4000-8000-000000000001';
    const dir = join(root, 'impossible-record');
    await writeLedger(dir, {
      ticks: 30,
      checkpointEvery: 2,
      records: (tick) =>
        tick === 3
          ? [
              {
                requestId: 'five-kJ',
                durationNanos: '300000000',
                devices: [{ deviceId: gpu, microJoules: '5000000000', idleShareMicroJoules: '0' }],
              },
            ]
          : [],
    });
    const receipt = JSON.parse(JSON.stringify(await buildReceipt(dir, 'five-kJ')));
    const report = verifyReceipt(receipt, KEYS);
    expect(report.findings).toEqual([
      expect.objectContaining({
        code: 'VERIFY_IMPLAUSIBLE',
        check: 'record-ceiling',
        location: 'receipt.record',
      }),
    ]);
    expect(report.findings[0]?.message).toContain('five-kJ');
  });
});
