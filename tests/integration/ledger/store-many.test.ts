import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readLedgerLines } from '../../../src/ledger/reader.js';
import { LedgerStore } from '../../../src/ledger/store.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await makeTmpDir()));
afterEach(async () => cleanup());

describe('LedgerStore.appendMany', () => {
  it('writes a group in order with consecutive indices and offsets, interleaving correctly with single appends', async () => {
    const store = await LedgerStore.open({ dir });
    await store.append('first');
    const results = await store.appendMany(['a', 'bb', 'ccc']);
    await store.append('last');
    expect(results.map((r) => [r.index, r.offset])).toEqual([
      [1, 6],
      [2, 8],
      [3, 11],
    ]);
    expect(store.lineCount()).toBe(5);
    await store.close();
    const lines: string[] = [];
    for await (const item of readLedgerLines(dir)) if (item.kind === 'line') lines.push(item.line);
    expect(lines).toEqual(['first', 'a', 'bb', 'ccc', 'last']);
    const reopened = await LedgerStore.open({ dir });
    expect(reopened.lastLine()).toBe('last');
    await reopened.close();
  });

  it('writes nothing when any line of the group is invalid', async () => {
    const store = await LedgerStore.open({ dir });
    await expect(store.appendMany(['ok', 'bad\nline'])).rejects.toMatchObject({
      code: 'LEDGER_INVALID_LINE',
    });
    expect(store.lineCount()).toBe(0);
    expect(await store.appendMany([])).toEqual([]);
    await store.close();
  });

  it('keeps a group in one segment, rotating before it when it would overflow', async () => {
    const store = await LedgerStore.open({ dir, maxSegmentBytes: 10 });
    await store.append('12345');
    const results = await store.appendMany(['abcdef', 'ghijkl']);
    expect(new Set(results.map((r) => r.segment)).size).toBe(1);
    expect(results[0]?.segment).toBe('ledger-000002.jsonl');
    await store.close();
  });
});
