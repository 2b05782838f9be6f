import { describe, expect, it } from 'vitest';
import { hexFromBytes, stringFromUtf8 } from '../../../src/attest/bytes.js';
import { canonicalBytes, canonicalString } from '../../../src/attest/canonical.js';
import { leafHash, rootFromLeafHashes } from '../../../src/attest/merkle.js';
import { RecordBatch, type RequestRecord } from '../../../src/ledger/record-log.js';

/** Records of varied size and content: non-ASCII, escapes, keys out of order, nesting. */
function records(count: number): RequestRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    status: i % 5 === 0 ? 'error' : 'ok',
    requestId: `req-${i}`,
    model: ['llama', 'Qwen/Qwen2.5-72B', 'modèle-é€😀', 'quote"back\\slash\ttab'][i % 4] as string,
    promptTokens: i * 37,
    energyMicroJoules: String(BigInt(i) * 123_456_789n),
    gpuIds: Array.from({ length: (i % 3) + 1 }, (_, g) => `GPU-${g}`),
    pad: 'x'.repeat((i * 97) % 3000),
    nested: { b: i, a: [null, true, { z: 'z', '10': 'index-like key' }] },
  }));
}

describe('RecordBatch', () => {
  it('lays out each line as canonical JSON of {index, record, sequence}, byte for byte, across buffer growth', () => {
    const list = records(300); // ~450 KiB: the 16 KiB start doubles several times
    const batch = new RecordBatch(12_345_678_901_234_567_890n);
    for (const record of list) batch.add(record);
    const want = list
      .map((record, index) => `${canonicalString({ sequence: '12345678901234567890', index, record })}\n`)
      .join('');
    expect(batch.count).toBe(300);
    expect(stringFromUtf8(batch.lines())).toBe(want);
  });

  it('keeps the RFC 9162 root of the canonical records as they arrive, equal to the root over all leaves', () => {
    for (const count of [0, 1, 2, 3, 7, 8, 9, 100, 1025]) {
      const list = records(count);
      const batch = new RecordBatch(1n);
      for (const record of list) batch.add(record);
      const leaves = list.map((record) => leafHash(canonicalBytes(record)));
      expect(batch.merkleRootHex(), `${count} records`).toBe(hexFromBytes(rootFromLeafHashes(leaves)));
    }
  });

  it('adds nothing for a record that cannot be signed', () => {
    const batch = new RecordBatch(3n);
    batch.add({ requestId: 'a' });
    const before = { lines: batch.lines().slice(), root: batch.merkleRootHex() };
    expect(() => batch.add({ requestId: 'b', watts: 1.5 })).toThrow(
      expect.objectContaining({ code: 'ATTEST_CANONICAL_UNSUPPORTED_VALUE' }),
    );
    expect(batch.count).toBe(1);
    expect(batch.lines()).toEqual(before.lines);
    expect(batch.merkleRootHex()).toBe(before.root);
    batch.add({ requestId: 'c' });
    expect(stringFromUtf8(batch.lines())).toBe(
      '{"index":0,"record":{"requestId":"a"},"sequence":"3"}\n{"index":1,"record":{"requestId":"c"},"sequence":"3"}\n',
    );
  });
});
