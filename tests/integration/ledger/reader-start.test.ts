/**
 * `readLedgerLines` with a start position: reading resumes inside the first file, numbering
 * continues from the given line, and the bytes before the start are never read.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LedgerReadItem, type ReadLedgerOptions, readLedgerLines } from '../../../src/ledger/reader.js';
import { segmentFileName } from '../../../src/ledger/segments.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTmpDir('wattledger-reader-start-'));
});
afterEach(async () => {
  await cleanup();
});

async function writeSegment(segmentNumber: number, content: string): Promise<string> {
  const path = join(dir, segmentFileName(segmentNumber));
  await writeFile(path, content);
  return path;
}

async function collect(source: readonly string[], options: ReadLedgerOptions) {
  const items: LedgerReadItem[] = [];
  let bytesRead = 0;
  let totalBytes = 0;
  const onProgress = (p: { bytesRead: number; totalBytes: number }) => {
    ({ bytesRead, totalBytes } = p);
  };
  for await (const item of readLedgerLines(source, { ...options, onProgress })) items.push(item);
  return { items, bytesRead, totalBytes };
}

describe('readLedgerLines from a start position', () => {
  it('reads only the bytes after the start, numbering on from the given line, into later segments', async () => {
    const first = await writeSegment(1, 'aaaa\nbbbb\ncccc\n'); // lines at 0, 5, 10
    const second = await writeSegment(2, 'dd\nee\n');
    const { items, bytesRead, totalBytes } = await collect([first, second], {
      start: { offset: 5, lineNumber: 2, index: 1 },
    });
    expect(items.map((i) => [i.kind, i.segment, i.lineNumber, i.index, i.offset])).toEqual([
      ['line', 'ledger-000001.jsonl', 2, 1, 5],
      ['line', 'ledger-000001.jsonl', 3, 2, 10],
      ['line', 'ledger-000002.jsonl', 1, 3, 0],
      ['line', 'ledger-000002.jsonl', 2, 4, 3],
    ]);
    expect(items.map((i) => (i.kind === 'line' ? i.line : ''))).toEqual(['bbbb', 'cccc', 'dd', 'ee']);
    expect(bytesRead).toBe(15 - 5 + 6);
    expect(totalBytes).toBe(bytesRead);
  });

  it('reads nothing of a file whose end is the start, and reports a torn tail at its true offset', async () => {
    const first = await writeSegment(1, 'aaaa\n');
    const second = await writeSegment(2, 'bb\ncc'); // a write in progress
    const atEnd = await collect([first, second], { start: { offset: 5, lineNumber: 2, index: 1 } });
    expect(atEnd.bytesRead).toBe(5);
    expect(atEnd.items.map((i) => [i.kind, i.segment, i.offset])).toEqual([
      ['line', 'ledger-000002.jsonl', 0],
      ['error', 'ledger-000002.jsonl', 3],
    ]);
    const torn = await collect([second], { start: { offset: 3, lineNumber: 2, index: 7 } });
    const [tail] = torn.items;
    expect(
      tail?.kind === 'error' ? [tail.error.code, tail.offset, tail.lineNumber, tail.index] : tail,
    ).toEqual(['LEDGER_TORN_TAIL', 3, 2, 7]);
    expect(torn.bytesRead).toBe(2);
  });

  it('refuses a start that is not a position', async () => {
    const first = await writeSegment(1, 'aaaa\n');
    for (const start of [
      { offset: -1, lineNumber: 1, index: 0 },
      { offset: 0, lineNumber: 0, index: 0 },
      { offset: 1.5, lineNumber: 1, index: 0 },
    ]) {
      await expect(collect([first], { start })).rejects.toThrow(RangeError);
    }
  });
});
