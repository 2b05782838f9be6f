/**
 * The log exporter's ledger source on a real ledger: each poll resumes at the cursor's byte offset
 * and reads only what was appended since (plus the acknowledged line, to check the offset still
 * holds), across segment rotation, a line being written, and a restart from the cursor on disk;
 * when the offset no longer holds, it falls back to scanning and still sends the right batches.
 */
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type CursorPosition, ExportCursor, START_POSITION } from '../../../src/export/export-cursor.js';
import { type PendingBatch, readPendingChunk } from '../../../src/export/ledger-source.js';
import { ledgerLines, writeLedger } from '../../helpers/ledger-fixture.js';
import type { ManualClock } from '../../helpers/manual-clock.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

/** Small reads, so that what a chunk reads past its last batch is bounded well below a segment. */
const READ_BYTES = 4096;
const LIMITS = { maxRecords: 5, maxBytes: 4 * 1024 * 1024, readChunkBytes: READ_BYTES };

let dir: string;
let cleanup: () => Promise<void>;
let clock: ManualClock | undefined;

beforeEach(async () => {
  ({ dir, cleanup } = await makeTmpDir('wattledger-ledger-source-'));
  clock = undefined;
});
afterEach(async () => {
  await cleanup();
});

/** Appends `ticks` × 100 ms of metering: a batch every 200 ms, a checkpoint every 3 batches. */
async function grow(ticks: number, maxSegmentBytes?: number): Promise<void> {
  const segments = maxSegmentBytes === undefined ? {} : { maxSegmentBytes };
  const options = { ticks, batchIntervalMs: 200, checkpointEvery: 3, ...segments };
  clock = (await writeLedger(dir, clock ? { ...options, clock } : options)).clock;
}

async function segmentSizes(): Promise<Map<string, number>> {
  const names = (await readdir(dir)).filter((name) => /^ledger-\d+\.jsonl$/.test(name)).sort();
  return new Map(await Promise.all(names.map(async (n) => [n, (await stat(join(dir, n))).size] as const)));
}

const totalBytes = (sizes: Map<string, number>) => [...sizes.values()].reduce((a, b) => a + b, 0);

/** Polls until nothing is left, as the exporter does; returns the batch lines and bytes read. */
async function drain(from: CursorPosition) {
  let position = from;
  const batches: PendingBatch[] = [];
  let bytesRead = 0;
  for (let reads = 1; ; reads++) {
    const chunk = await readPendingChunk(dir, position, LIMITS);
    bytesRead += chunk.bytesRead;
    if (chunk.items.length === 0) return { position, batches, bytesRead, reads };
    for (const item of chunk.items) if (item.kind === 'batch') batches.push(item);
    position = chunk.next;
  }
}

/** Bytes the resume check reads: the acknowledged line, its `\n` and the `\n` before it. */
const checkBytes = (position: CursorPosition) => (position.resume?.lastLineBytes ?? 0) + 2;

/**
 * Most a chunk may read besides its new lines: the resume check, a batch read but left for the
 * next chunk because a checkpoint took its place, and the rest of the last read.
 */
async function perChunkOverhead(): Promise<number> {
  const longest = Math.max(...(await ledgerLines(dir)).map((line) => Buffer.byteLength(line)));
  return 2 * (longest + 2) + READ_BYTES;
}

describe('readPendingChunk resuming at the cursor offset', () => {
  it('reads only the bytes appended since the last poll, not the segment again', async () => {
    await grow(40);
    const first = await drain(START_POSITION);
    const sizes = await segmentSizes();
    expect(sizes.size).toBe(1);
    expect(first.batches.map((b) => b.line)).toEqual(await ledgerLines(dir));
    expect(first.position.resume?.nextOffset).toBe(totalBytes(sizes));
    // Each chunk's read starts where the previous chunk ended: the file once, plus a bounded
    // overhead per chunk (rather than the segment again from its start).
    expect(first.batches.length).toBeGreaterThan(3 * LIMITS.maxRecords);
    expect(first.bytesRead).toBeLessThanOrEqual(totalBytes(sizes) + first.reads * (await perChunkOverhead()));

    const idle = await readPendingChunk(dir, first.position, LIMITS);
    expect(idle.items).toEqual([]);
    expect(idle.bytesRead).toBe(checkBytes(first.position));

    await grow(10);
    const grown = await segmentSizes();
    const appended = totalBytes(grown) - totalBytes(sizes);
    const chunk = await readPendingChunk(dir, first.position, { ...LIMITS, maxRecords: 1000 });
    const lines = await ledgerLines(dir);
    expect(chunk.items.filter((i) => i.kind === 'batch').map((b) => (b as PendingBatch).line)).toEqual(
      lines.slice(first.batches.length),
    );
    expect(chunk.bytesRead).toBe(checkBytes(first.position) + appended);
    expect(chunk.next.resume?.nextOffset).toBe(totalBytes(grown));
  });

  it('follows the ledger into new segments and numbers their batches right', async () => {
    // About seven 5 KB batches per segment.
    await grow(20, 36_000);
    const first = await drain(START_POSITION);
    const before = await segmentSizes();
    await grow(60, 36_000);
    const after = await segmentSizes();
    expect(after.size).toBeGreaterThanOrEqual(before.size + 3);
    const second = await drain(first.position);
    const lines = await ledgerLines(dir);
    expect([...first.batches, ...second.batches].map((b) => b.line)).toEqual(lines);
    expect(second.batches.map((b) => b.sequence)).toEqual(
      lines.slice(first.batches.length).map((_, i) => BigInt(first.batches.length + i)),
    );
    // New bytes, plus one check per chunk: nothing before the cursor was read twice.
    const appended = totalBytes(after) - totalBytes(before);
    expect(second.bytesRead).toBeGreaterThanOrEqual(appended);
    expect(second.bytesRead).toBeLessThanOrEqual(appended + second.reads * (await perChunkOverhead()));
    const last = second.batches.at(-1) as PendingBatch;
    expect(second.position.segment).toBe([...after.keys()].at(-1));
    expect(last.segmentFirstSequence).toBe(second.position.segmentFirstSequence);
    expect(second.position.resume?.nextOffset).toBe(after.get(last.segment));
  });

  it('leaves a line being written for a later poll, then sends it whole, once', async () => {
    await grow(10);
    const lines = await ledgerLines(dir);
    const segment = join(dir, [...(await segmentSizes()).keys()][0] as string);
    const full = await readFile(segment);
    const lastLine = Buffer.from(`${lines.at(-1)}\n`);
    // The last batch half written: the writer is mid-append.
    await truncate(segment, full.length - Math.floor(lastLine.length / 2));
    const partial = await drain(START_POSITION);
    expect(partial.batches.map((b) => b.line)).toEqual(lines.slice(0, -1));
    expect(partial.position.resume?.nextOffset).toBe(full.length - lastLine.length);

    await writeFile(segment, full);
    const rest = await drain(partial.position);
    expect(rest.batches.map((b) => b.line)).toEqual([lines.at(-1)]);
    expect(rest.batches[0]?.sequence).toBe(BigInt(lines.length - 1));
  });

  it('resumes at the offset after a restart: the cursor on disk keeps it', async () => {
    await grow(20);
    const { cursor } = await ExportCursor.open(dir);
    const first = await drain(cursor.position);
    await cursor.save(first.position);
    await grow(10);
    const { cursor: reopened, problem } = await ExportCursor.open(dir);
    expect(problem).toBeNull();
    expect(reopened.position).toEqual(first.position);
    const appended = totalBytes(await segmentSizes()) - (first.position.resume?.nextOffset ?? 0);
    const chunk = await readPendingChunk(dir, reopened.position, { ...LIMITS, maxRecords: 1000 });
    expect(chunk.bytesRead).toBe(checkBytes(first.position) + appended);
    expect(chunk.items.length).toBeGreaterThan(0);
  });

  it('scans instead when the offset no longer holds, and still sends exactly the next batches', async () => {
    await grow(30);
    const first = await drain(START_POSITION);
    await grow(10);
    const lines = await ledgerLines(dir);
    const expected = lines.slice(first.batches.length);
    const size = totalBytes(await segmentSizes());
    const resume = first.position.resume;
    if (resume === null) throw new Error('no resume point');
    for (const wrong of [
      { ...resume, lastLineSha256: '0'.repeat(64) },
      { ...resume, nextOffset: resume.nextOffset - 7 },
      { ...resume, nextOffset: size + 100 },
    ]) {
      const result = await drain({ ...first.position, resume: wrong });
      expect(result.batches.map((b) => b.line)).toEqual(expected);
      expect(result.bytesRead).toBeGreaterThanOrEqual(size);
    }
    // A cursor written before resume points existed: one scan, then offsets again.
    const old = await drain({ ...first.position, resume: null });
    expect(old.batches.map((b) => b.line)).toEqual(expected);
    expect(old.position.resume?.nextOffset).toBe(size);
  });

  it('still refuses a ledger that ends before the cursor, offset or not', async () => {
    await grow(20);
    const first = await drain(START_POSITION);
    const segment = join(dir, [...(await segmentSizes()).keys()][0] as string);
    const lines = await ledgerLines(dir);
    await truncate(
      segment,
      (first.position.resume?.nextOffset ?? 0) - Buffer.byteLength(`${lines.at(-1)}\n`),
    );
    await expect(readPendingChunk(dir, first.position, LIMITS)).rejects.toMatchObject({
      code: 'EXPORT_LEDGER_UNREADABLE',
    });
  });
});
