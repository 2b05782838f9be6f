/**
 * The ledger reader and segment naming against real files in temporary directories.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LedgerError } from '../../../src/ledger/errors.js';
import {
  type LedgerReadError,
  type LedgerReadItem,
  type ReadLedgerOptions,
  type ReadProgress,
  readLedgerLines,
} from '../../../src/ledger/reader.js';
import { parseSegmentFileName, segmentFileName } from '../../../src/ledger/segments.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await makeTmpDir('wattledger-reader-'));
});
afterEach(async () => {
  await cleanup();
});

async function collect(
  source: string | readonly string[],
  options?: ReadLedgerOptions,
): Promise<LedgerReadItem[]> {
  const items: LedgerReadItem[] = [];
  for await (const item of readLedgerLines(source, options)) items.push(item);
  return items;
}

function lines(items: readonly LedgerReadItem[]): string[] {
  return items.flatMap((item) => (item.kind === 'line' ? [item.line] : []));
}

function errors(items: readonly LedgerReadItem[]): LedgerReadError[] {
  return items.filter((item): item is LedgerReadError => item.kind === 'error');
}

async function writeSegment(segmentNumber: number, content: string | Buffer): Promise<string> {
  const path = join(dir, segmentFileName(segmentNumber));
  await writeFile(path, content);
  return path;
}

describe('segment names', () => {
  it('pads segment numbers to six digits and widens past 999999', () => {
    expect(segmentFileName(1)).toBe('ledger-000001.jsonl');
    expect(segmentFileName(1_234_567)).toBe('ledger-1234567.jsonl');
    expect(() => segmentFileName(0)).toThrow(RangeError);
  });

  it('accepts only the canonical spelling of a segment name', () => {
    expect(parseSegmentFileName('ledger-000042.jsonl')).toBe(42);
    expect(parseSegmentFileName('ledger-1234567.jsonl')).toBe(1_234_567);
    for (const name of [
      'ledger-42.jsonl',
      'ledger-0000042.jsonl',
      'ledger-000000.jsonl',
      'ledger-000042.json',
      'ledger.lock',
    ]) {
      expect(parseSegmentFileName(name), name).toBeNull();
    }
  });
});

describe('readLedgerLines', () => {
  it('reads lines across segments in order with per-segment line numbers, global indices and offsets', async () => {
    await writeSegment(1, 'a1\nbb2\n');
    await writeSegment(2, 'c3\n');
    await writeSegment(3, '');
    await writeSegment(4, 'ü4\ne5\n');
    const items = await collect(dir);
    expect(items.map((item) => [item.segment, item.lineNumber, item.index, item.offset])).toEqual([
      ['ledger-000001.jsonl', 1, 0, 0],
      ['ledger-000001.jsonl', 2, 1, 3],
      ['ledger-000002.jsonl', 1, 2, 0],
      ['ledger-000004.jsonl', 1, 3, 0],
      ['ledger-000004.jsonl', 2, 4, 4],
    ]);
    expect(lines(items)).toEqual(['a1', 'bb2', 'c3', 'ü4', 'e5']);
  });

  it('reassembles lines and multi-byte characters split across small chunks', async () => {
    const content = ['{"a":"€€€"}', 'x'.repeat(50), '"ü"', 'z'];
    await writeSegment(1, `${content.join('\n')}\n`);
    const items = await collect(dir, { chunkBytes: 3 });
    expect(lines(items)).toEqual(content);
    expect(errors(items)).toEqual([]);
  });

  it('reports a partial last line as a LEDGER_TORN_TAIL item after the complete lines', async () => {
    await writeSegment(1, 'one\n');
    await writeSegment(2, 'two\n{"partial":');
    const items = await collect(dir, { chunkBytes: 4 });
    expect(lines(items)).toEqual(['one', 'two']);
    const [torn] = errors(items);
    expect(items.at(-1)).toBe(torn);
    expect(torn).toMatchObject({
      segment: 'ledger-000002.jsonl',
      lineNumber: 2,
      index: 2,
      offset: 4,
      sizeBytes: 11,
    });
    expect(torn?.error.code).toBe('LEDGER_TORN_TAIL');
    expect(torn?.error.message).toContain('ledger-000002.jsonl at byte 4');
  });

  it('reports a non-final segment without a final newline as LEDGER_CORRUPT and keeps reading', async () => {
    await writeSegment(1, 'one\ntw');
    await writeSegment(2, 'three\n');
    const items = await collect(dir);
    expect(lines(items)).toEqual(['one', 'three']);
    expect(errors(items).map((item) => [item.error.code, item.segment, item.offset])).toEqual([
      ['LEDGER_CORRUPT', 'ledger-000001.jsonl', 4],
    ]);
  });

  it('throws LEDGER_CORRUPT naming the missing segment when the numbering has a hole', async () => {
    await writeSegment(1, 'one\n');
    await writeSegment(3, 'three\n');
    const read = collect(dir);
    await expect(read).rejects.toBeInstanceOf(LedgerError);
    await expect(read).rejects.toMatchObject({
      code: 'LEDGER_CORRUPT',
      message: expect.stringContaining('ledger-000002.jsonl is missing'),
      details: { segment: 'ledger-000002.jsonl' },
    });
  });

  it('treats a ledger without its first segment as having a hole', async () => {
    await writeSegment(2, 'two\n');
    await expect(collect(dir)).rejects.toMatchObject({
      code: 'LEDGER_CORRUPT',
      details: { segment: 'ledger-000001.jsonl' },
    });
  });

  it('ignores files and directories that are not segments', async () => {
    await writeSegment(1, 'one\n');
    await writeFile(join(dir, 'ledger.lock'), '1\n');
    await writeFile(join(dir, 'ledger-7.jsonl'), 'stray\n');
    await writeFile(join(dir, 'notes.txt'), 'hello\n');
    await mkdir(join(dir, 'torn'));
    await mkdir(join(dir, 'ledger-000002.jsonl'));
    expect(lines(await collect(dir))).toEqual(['one']);
  });

  it('reads an empty directory as an empty ledger and a missing one as LEDGER_IO', async () => {
    expect(await collect(dir)).toEqual([]);
    await expect(collect(join(dir, 'absent'))).rejects.toMatchObject({
      code: 'LEDGER_IO',
      message: expect.stringContaining(join(dir, 'absent')),
    });
  });

  it('orders an explicit list of segment files by number and checks it for holes and duplicates', async () => {
    const one = await writeSegment(1, 'one\n');
    const two = await writeSegment(2, 'two\n');
    const three = await writeSegment(3, 'three\n');
    expect(lines(await collect([three, one, two]))).toEqual(['one', 'two', 'three']);
    expect(lines(await collect([three, two]))).toEqual(['two', 'three']);
    await expect(collect([three, one])).rejects.toMatchObject({
      code: 'LEDGER_CORRUPT',
      details: { segment: 'ledger-000002.jsonl' },
    });
    await mkdir(join(dir, 'copy'));
    const twoAgain = join(dir, 'copy', segmentFileName(2));
    await writeFile(twoAgain, 'two\n');
    await expect(collect([one, two, twoAgain])).rejects.toMatchObject({ code: 'LEDGER_CORRUPT' });
  });

  it('keeps the given order for files outside the naming scheme and reads a single file path', async () => {
    const second = join(dir, 'b.jsonl');
    const first = join(dir, 'z.jsonl');
    await writeFile(first, 'from-z\n');
    await writeFile(second, 'from-b\n');
    expect(lines(await collect([first, second]))).toEqual(['from-z', 'from-b']);
    expect(lines(await collect(second))).toEqual(['from-b']);
  });

  it('reports invalid utf-8, empty and oversized lines as LEDGER_CORRUPT items and continues', async () => {
    const bad = Buffer.concat([
      Buffer.from('ok1\n'),
      Buffer.from([0xc3, 0x28, 0x0a]),
      Buffer.from('\n'),
      Buffer.from(`${'y'.repeat(40)}\nok2\n`),
    ]);
    await writeSegment(1, bad);
    const items = await collect(dir, { maxLineBytes: 16, chunkBytes: 8 });
    expect(lines(items)).toEqual(['ok1', 'ok2']);
    expect(errors(items).map((item) => [item.lineNumber, item.error.code, item.sizeBytes])).toEqual([
      [2, 'LEDGER_CORRUPT', 2],
      [3, 'LEDGER_CORRUPT', 0],
      [4, 'LEDGER_CORRUPT', 40],
    ]);
    expect(errors(items).map((item) => item.error.message)).toEqual([
      expect.stringContaining('not valid utf-8'),
      expect.stringContaining('is empty'),
      expect.stringContaining('40 bytes, over 16'),
    ]);
    expect(items.map((item) => item.index)).toEqual([0, 1, 2, 3, 4]);
  });

  it('reports monotonic progress that ends at the total size of all segments', async () => {
    await writeSegment(1, `${'a'.repeat(100)}\n`.repeat(10));
    await writeSegment(2, `${'b'.repeat(50)}\n`.repeat(4));
    const reports: ReadProgress[] = [];
    await collect(dir, { chunkBytes: 64, onProgress: (progress) => reports.push(progress) });
    expect(reports.length).toBeGreaterThan(10);
    expect(reports.every((report) => report.totalBytes === 1010 + 204)).toBe(true);
    const bytes = reports.map((report) => report.bytesRead);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    expect(bytes.at(-1)).toBe(1214);
  });

  it('reads a file only up to its size when reading began', async () => {
    const path = await writeSegment(1, 'first\nsecond\n');
    const seen: string[] = [];
    for await (const item of readLedgerLines(dir, { chunkBytes: 4 })) {
      if (item.kind === 'line') seen.push(item.line);
      await writeFile(path, 'late\n', { flag: 'a' });
    }
    expect(seen).toEqual(['first', 'second']);
  });
});
