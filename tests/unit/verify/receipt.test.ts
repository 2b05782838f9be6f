/**
 * `verifyReceipt` over a receipt cut from a real ledger (simulated GPUs, manual clock, generated
 * request records): the honest receipt verifies with only the public key, and every mutation of
 * every part is caught and named by its code and check.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { base64FromBytes, bytesFromBase64 } from '../../../src/attest/bytes.js';
import { parseCheckpoint, signCheckpoint } from '../../../src/attest/checkpoint.js';
import { parseNote } from '../../../src/attest/note.js';
import { buildReceipt } from '../../../src/ledger/receipt-builder.js';
import type { VerifierKey } from '../../../src/verify/keyring.js';
import { type Receipt, type ReceiptReport, verifyReceipt } from '../../../src/verify/receipt.js';
import { TEST_ORIGIN, testSigner, writeLedger } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

let receipt: Receipt;
/** A receipt a test may edit. */
type Editable = { -readonly [K in keyof Receipt]: Receipt[K] } & Record<string, unknown>;

function key(seedByte = 1, window: Partial<VerifierKey> = {}): VerifierKey {
  const { signer } = testSigner(seedByte);
  return { keyId: signer.keyId, publicKey: signer.publicKey, ...window };
}

beforeAll(async () => {
  const { dir, cleanup } = await makeTmpDir('wattledger-receipt-unit-');
  await writeLedger(dir, {
    ticks: 60,
    checkpointEvery: 2,
    records: (tick) =>
      tick % 4 === 1
        ? [0, 1].map((j) => ({ requestId: `req-${tick}-${j}`, model: 'm', outputTokens: tick * 10 + j }))
        : [],
  });
  receipt = await buildReceipt(dir, 'req-25-1');
  await cleanup();
});

/** A deep copy (so every test mutates its own) after `edit`. */
function mutated(edit: (r: Editable) => void): unknown {
  const copy = structuredClone(receipt) as Editable;
  edit(copy);
  return copy;
}

function flipHex(hex: string): string {
  return (hex[0] === '0' ? '1' : '0') + hex.slice(1);
}

function checksOf(report: ReceiptReport): string[] {
  return report.findings.map((f) => `${f.code} ${f.check}`);
}

describe('verifyReceipt', () => {
  it('verifies the honest receipt with only the public key, also after a JSON round trip', () => {
    const report = verifyReceipt(JSON.parse(JSON.stringify(receipt, null, 2)), [key()]);
    expect(report.findings).toEqual([]);
    expect(report).toMatchObject({ ok: true, requestId: 'req-25-1', origin: TEST_ORIGIN, simulated: true });
    expect(report.record).toMatchObject({ requestId: 'req-25-1', outputTokens: 251 });
    expect(Number(report.sequence)).toBeGreaterThan(0);
    expect(receipt.batchIndex).toBe(Number(report.sequence));
    expect(receipt.recordProof.length).toBeGreaterThan(0);
  });

  const cases: [string, (r: Editable) => void, string][] = [
    [
      'a record field changed',
      (r) => Object.assign(r.record, { outputTokens: 1 }),
      'VERIFY_INCLUSION_PROOF_INVALID record-inclusion',
    ],
    [
      'a record field added',
      (r) => Object.assign(r.record, { extra: 'x' }),
      'VERIFY_INCLUSION_PROOF_INVALID record-inclusion',
    ],
    [
      'a record proof hash flipped',
      (r) => {
        r.recordProof = [flipHex(r.recordProof[0]!), ...r.recordProof.slice(1)];
      },
      'VERIFY_INCLUSION_PROOF_INVALID record-inclusion',
    ],
    [
      'a wrong recordIndex',
      (r) => {
        r.recordIndex = r.recordIndex === 0 ? 1 : 0;
      },
      'VERIFY_INCLUSION_PROOF_INVALID record-inclusion',
    ],
    [
      'a recordIndex past the count',
      (r) => {
        r.recordIndex = 1000;
      },
      'VERIFY_INCLUSION_PROOF_INVALID record-inclusion',
    ],
    [
      'an extra record proof hash',
      (r) => {
        r.recordProof = [...r.recordProof, '0'.repeat(64)];
      },
      'VERIFY_INCLUSION_PROOF_INVALID record-inclusion',
    ],
    [
      'the requestId of another request',
      (r) => {
        r.requestId = 'req-1-0';
      },
      'VERIFY_MALFORMED request-id',
    ],
    [
      'a batch payload byte flipped',
      (r) => {
        r.batch = { ...r.batch, payload: flipBase64(r.batch.payload) };
      },
      'VERIFY_SIGNATURE_INVALID signature',
    ],
    [
      'a batch signature byte flipped',
      (r) => {
        r.batch = {
          ...r.batch,
          signatures: [{ ...r.batch.signatures[0]!, sig: flipBase64(r.batch.signatures[0]!.sig) }],
        };
      },
      'VERIFY_SIGNATURE_INVALID signature',
    ],
    [
      'a batch proof truncated',
      (r) => {
        r.batchProof = r.batchProof.slice(0, -1);
      },
      'VERIFY_INCLUSION_PROOF_INVALID batch-inclusion',
    ],
    [
      'a batch proof hash flipped',
      (r) => {
        r.batchProof = [flipHex(r.batchProof[0]!), ...r.batchProof.slice(1)];
      },
      'VERIFY_INCLUSION_PROOF_INVALID batch-inclusion',
    ],
    [
      'a checkpoint signature flipped',
      (r) => {
        r.checkpoint = flipNoteSignature(r.checkpoint);
      },
      'VERIFY_SIGNATURE_INVALID checkpoint',
    ],
    [
      'a checkpoint from another origin',
      (r) => {
        r.checkpoint = resignCheckpoint(r.checkpoint, 'example.com/other-log');
      },
      'VERIFY_ORIGIN_MISMATCH checkpoint-origin',
    ],
    [
      'a checkpoint signed by another key',
      (r) => {
        r.checkpoint = resignCheckpoint(r.checkpoint, TEST_ORIGIN, 2);
      },
      'VERIFY_UNKNOWN_KEY checkpoint',
    ],
    [
      'a checkpoint with its size edited',
      (r) => {
        r.checkpoint = r.checkpoint.replace(/\n\d+\n/, '\n999\n');
      },
      'VERIFY_SIGNATURE_INVALID checkpoint',
    ],
  ];
  for (const [name, edit, expected] of cases) {
    it(`catches ${name}`, () => {
      const report = verifyReceipt(mutated(edit), [key()]);
      expect(report.ok).toBe(false);
      expect(checksOf(report)).toEqual([expected]);
    });
  }

  it('catches a wrong batchIndex: the proof fails and the index is not the signed sequence', () => {
    const report = verifyReceipt(
      mutated((r) => {
        r.batchIndex += 1;
      }),
      [key()],
    );
    expect(checksOf(report)).toEqual([
      'VERIFY_INCLUSION_PROOF_INVALID batch-inclusion',
      'VERIFY_SEQUENCE_REORDERED batch-index',
    ]);
    expect(report.findings[1]).toMatchObject({
      expected: String(receipt.batchIndex),
      found: String(receipt.batchIndex + 1),
    });
  });

  it('honours expectFirstSequence for logs that do not start at 0', () => {
    const report = verifyReceipt(receipt, [key()], { expectFirstSequence: 1n });
    expect(checksOf(report)).toEqual(['VERIFY_SEQUENCE_REORDERED batch-index']);
  });

  it('rejects a receipt checked with the wrong key (the batch is from an unknown key)', () => {
    const report = verifyReceipt(receipt, [key(2)]);
    expect(checksOf(report)).toEqual(['VERIFY_UNKNOWN_KEY signature']);
    expect(report).toMatchObject({ ok: false, sequence: null, requestId: 'req-25-1' });
  });

  it('rejects a key used outside its validity window', () => {
    const report = verifyReceipt(receipt, [key(1, { validUntilUnixNanos: 1n })]);
    expect(checksOf(report)).toEqual(['VERIFY_KEY_NOT_VALID_AT_TIME key-window']);
  });

  const shapes: [string, () => unknown][] = [
    ['not an object', () => 'receipt'],
    ['null', () => null],
    ['another version', () => ({ ...receipt, receiptVersion: 2 })],
    ['an unknown member', () => ({ ...receipt, note: 'x' })],
    ['a missing member', () => ({ ...receipt, checkpoint: undefined })],
    [
      'an uppercase proof hash',
      () => ({ ...receipt, recordProof: receipt.recordProof.map((h) => h.toUpperCase()) }),
    ],
    ['an over-long proof', () => ({ ...receipt, batchProof: Array(65).fill('0'.repeat(64)) })],
    ['a negative index', () => ({ ...receipt, recordIndex: -1 })],
    ['a fractional index', () => ({ ...receipt, batchIndex: 1.5 })],
    ['a record without requestId', () => ({ ...receipt, record: { model: 'm' } })],
    ['an envelope with an unknown member', () => ({ ...receipt, batch: { ...receipt.batch, extra: 1 } })],
    ['an oversized checkpoint', () => ({ ...receipt, checkpoint: 'x'.repeat(70_000) })],
  ];
  for (const [name, value] of shapes) {
    it(`rejects the shape: ${name}`, () => {
      const report = verifyReceipt(value(), [key()]);
      expect(checksOf(report)).toEqual(['VERIFY_MALFORMED receipt-shape']);
      expect(report.ok).toBe(false);
    });
  }

  it('rejects a record that is not signable JSON (a float)', () => {
    const report = verifyReceipt(
      mutated((r) => Object.assign(r.record, { joules: 1.5 })),
      [key()],
    );
    expect(checksOf(report)).toEqual(['VERIFY_MALFORMED record-json']);
  });

  it('is browser-safe: imports nothing from node:', () => {
    const source = readFileSync(
      fileURLToPath(new URL('../../../src/verify/receipt.ts', import.meta.url)),
      'utf8',
    );
    expect(source).not.toMatch(/from 'node:/);
  });
});

function flipBase64(text: string): string {
  const bytes = bytesFromBase64(text, { allowUrlSafe: true });
  bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
  return base64FromBytes(bytes);
}

/** Flips one bit of the Ed25519 signature in the note's signature line, keeping the key id. */
function flipNoteSignature(note: string): string {
  const [body, line] = [note.slice(0, note.lastIndexOf('\u2014 ')), note.slice(note.lastIndexOf('\u2014 '))];
  const [dash, name, sig] = line.trim().split(' ') as [string, string, string];
  const bytes = bytesFromBase64(sig);
  bytes[10]! ^= 0x01;
  return `${body}${dash} ${name} ${base64FromBytes(bytes)}\n`;
}

/** The same size and root, signed for `origin` (key name = origin) by test key `seedByte`. */
function resignCheckpoint(note: string, origin: string, seedByte = 1): string {
  const checkpoint = parseCheckpoint(parseNote(new TextEncoder().encode(note)).text);
  const { signer } = testSigner(seedByte);
  return signCheckpoint({ ...checkpoint, origin }, [{ name: origin, signer }]);
}
