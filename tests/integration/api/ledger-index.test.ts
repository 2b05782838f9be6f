/**
 * The API's ledger index: proofs from its cached tree equal attest/merkle.ts's byte for byte;
 * built from a real multi-segment ledger it locates every line exactly; it follows appends
 * made after (and during) the build, with or without notices; and it refuses damage.
 */
import { appendFile, open, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HashTree } from '../../../src/api/hash-tree.js';
import { LedgerIndex } from '../../../src/api/ledger-index.js';
import { utf8FromString } from '../../../src/attest/bytes.js';
import {
  consistencyProof,
  inclusionProof,
  leafHash,
  rootFromLeafHashes,
} from '../../../src/attest/merkle.js';
import { sha256 } from '../../../src/attest/sha256.js';
import { checkpointNotes, ledgerLines } from '../../helpers/ledger-fixture.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { writeApiLedger } from './api-fixture.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTmpDir('wattledger-api-index-')));
afterEach(async () => cleanup());

const leaves = Array.from({ length: 300 }, (_, i) => sha256(utf8FromString(`leaf ${i}`)));

describe('HashTree', () => {
  it('gives the same roots and proofs as attest/merkle.ts for every small size and sampled large ones', () => {
    const tree = new HashTree();
    for (const leaf of leaves) tree.append(leaf);
    const sizes = [...Array.from({ length: 70 }, (_, i) => i + 1), 127, 128, 129, 200, 255, 256, 257, 300];
    for (const size of sizes) {
      expect(tree.root(size)).toEqual(rootFromLeafHashes(leaves.slice(0, size)));
      for (const m of new Set(
        [0, 1, Math.floor(size / 2), size - 2, size - 1].filter((m) => m >= 0 && m < size),
      ))
        expect(tree.inclusionProof(m, size), `inclusion ${m}/${size}`).toEqual(
          inclusionProof(leaves, m, size),
        );
      for (const old of new Set(
        [1, 2, 15, 16, 17, Math.floor(size / 3), size - 1, size].filter((s) => s >= 1 && s <= size),
      ))
        expect(tree.consistencyProof(old, size), `consistency ${old}→${size}`).toEqual(
          consistencyProof(leaves, old, size),
        );
    }
    expect(tree.consistencyProof(0, 10)).toEqual([]);
    expect(() => tree.inclusionProof(5, 5)).toThrow(RangeError);
    expect(() => tree.consistencyProof(2, 301)).toThrow(RangeError);
  });
});

describe('LedgerIndex', () => {
  it('indexes every line of a multi-segment ledger at its exact byte position, and its checkpoints', async () => {
    await writeApiLedger(dir);
    const lines = await ledgerLines(dir);
    const progress: number[] = [];
    const index = new LedgerIndex(dir);
    await index.build({ onProgress: (p) => progress.push(p.bytesRead) });
    expect(index.ready).toBe(true);
    expect(index.size).toBe(lines.length);
    expect(progress.length).toBeGreaterThan(0);
    const segments = new Set<string>();
    for (const [seq, line] of lines.entries()) {
      const at = index.location(seq)!;
      segments.add(at.segment);
      const bytes = (await readFile(at.path)).subarray(at.offset, at.offset + at.length);
      expect(bytes.toString('utf8')).toBe(line);
      expect(index.leafHash(seq)).toEqual(leafHash(utf8FromString(line)));
    }
    expect(segments.size).toBeGreaterThan(3);
    expect(index.location(lines.length)).toBeUndefined();
    const notes = await checkpointNotes(dir);
    expect(index.status()).toMatchObject({
      state: 'ready',
      batches: lines.length,
      checkpoints: notes.length,
      error: null,
    });
    expect(index.status().latestCheckpointSize).toBe(lines.length);
  });

  it('follows batches appended after the build when refreshed', async () => {
    await writeApiLedger(dir, 30);
    const index = new LedgerIndex(dir);
    await index.build();
    const before = index.size;
    await writeApiLedger(dir, 30); // a restarted daemon continues the chain in new segments
    const lines = await ledgerLines(dir);
    expect(lines.length).toBeGreaterThan(before);
    await index.refresh();
    expect(index.size).toBe(lines.length);
    expect(index.root(lines.length)).toEqual(
      rootFromLeafHashes(lines.map((l) => leafHash(utf8FromString(l)))),
    );
    expect(index.status().latestCheckpointSize).toBe(lines.length);
  });

  it('checks each notice against the disk and reports a batch that is not there', async () => {
    await writeApiLedger(dir, 30);
    const errors: unknown[] = [];
    const index = new LedgerIndex(dir, { onError: (e) => errors.push(e) });
    const lines = await ledgerLines(dir);
    // A notice before the build is picked up by it; one during the build is checked after it.
    index.append({ sequence: 0n, line: lines[0]!, checkpoint: null });
    const build = index.build();
    index.append({ sequence: 1n, line: lines[1]!, checkpoint: null });
    await build;
    await index.refresh();
    expect(errors).toEqual([]);
    index.append({ sequence: 2n, line: lines[0]!, checkpoint: null });
    await index.refresh();
    await new Promise((r) => setImmediate(r));
    expect(index.status().error).toBe('INDEX_MISMATCH');
    expect(errors).toHaveLength(1);
  });

  it('leaves a partial last line (a writer mid-append) for later, and takes it once complete', async () => {
    await writeApiLedger(dir, 30);
    const lines = await ledgerLines(dir);
    const last = await lastSegment(dir);
    const tail = lines.at(-1)!;
    await appendFile(last, tail.slice(0, 100));
    const index = new LedgerIndex(dir);
    await index.build();
    expect(index.size).toBe(lines.length);
    await appendFile(last, `${tail.slice(100)}\n`);
    await index.refresh();
    expect(index.size).toBe(lines.length + 1);
    expect(index.leafHash(lines.length)).toEqual(leafHash(utf8FromString(tail)));
  });

  it('fails the build on a damaged line and then refuses to refresh', async () => {
    await writeApiLedger(dir, 30);
    const first = join(dir, 'ledger-000001.jsonl');
    const handle = await open(first, 'r+');
    await handle.write(Buffer.from('\n'), 0, 1, 0); // an empty first line
    await handle.close();
    const index = new LedgerIndex(dir);
    await expect(index.build()).rejects.toMatchObject({ code: 'LEDGER_CORRUPT' });
    expect(index.status()).toMatchObject({ state: 'failed', error: 'LEDGER_CORRUPT' });
    await expect(index.refresh()).rejects.toThrow(/failed/);
  });

  it('indexes an empty ledger directory and picks up its first segment later', async () => {
    const index = new LedgerIndex(dir);
    await index.build();
    expect(index.size).toBe(0);
    await writeFile(join(dir, 'unrelated.txt'), 'x');
    await writeApiLedger(dir, 15);
    await index.refresh();
    expect(index.size).toBe((await ledgerLines(dir)).length);
  });
});

async function lastSegment(ledgerDir: string): Promise<string> {
  const names = (await readdir(ledgerDir)).filter((n) => /^ledger-\d+\.jsonl$/.test(n)).sort();
  return join(ledgerDir, names.at(-1)!);
}
