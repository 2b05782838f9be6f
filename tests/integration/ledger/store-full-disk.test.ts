/**
 * The store on a real file system that fills up (a tmpfs): a write refused with ENOSPC leaves no
 * partial line, the store refuses appends until `recover()`, and after space is freed it takes
 * appends again, every acknowledged line intact and in order.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { readLedgerLines } from '../../../src/ledger/reader.js';
import { LedgerStore } from '../../../src/ledger/store.js';
import { describeUnless } from '../../helpers/skip.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';
import { mountSmallDisk, type SmallDisk, tmpfsSkipReason } from '../../helpers/tmpfs.js';

let tmp: string;
let cleanup: () => Promise<void>;
let disk: SmallDisk;
beforeEach(async () => {
  if (tmpfsSkipReason !== undefined) return;
  ({ dir: tmp, cleanup } = await makeTmpDir('wattledger-full-'));
  disk = await mountSmallDisk(tmp, 256 * 1024);
});
afterEach(async () => {
  if (tmpfsSkipReason !== undefined) return;
  await disk.unmount();
  await cleanup();
});

async function readBack(dir: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const item of readLedgerLines(dir)) {
    if (item.kind === 'error') throw item.error;
    lines.push(item.line);
  }
  return lines;
}

describeUnless(tmpfsSkipReason)('LedgerStore on a full disk', () => {
  it('refuses with LEDGER_IO ENOSPC, recovers after space is freed, and keeps every acknowledged line', async () => {
    const dir = `${disk.dir}/ledger`;
    const store = await LedgerStore.open({ dir, maxSegmentBytes: 64 * 1024 });
    try {
      await store.append('{"n":1}');
      await disk.fill();
      // A line larger than what is left: the kernel may take part of it before ENOSPC.
      const big = `{"pad":"${'x'.repeat(20_000)}"}`;
      await expect(store.append(big)).rejects.toMatchObject({
        code: 'LEDGER_IO',
        details: { errno: 'ENOSPC' },
      });
      expect(store.failed).toBe(true);
      await expect(store.append('{"n":2}')).rejects.toMatchObject({ code: 'LEDGER_IO' });
      // Recovery cuts the segment back even while the disk is still full; appends still fail.
      await store.recover();
      await expect(store.append(big)).rejects.toMatchObject({ details: { errno: 'ENOSPC' } });
      await disk.free();
      await store.recover();
      expect(store.failed).toBe(false);
      expect(await store.append(big)).toMatchObject({ index: 1 });
      expect(await store.append('{"n":3}')).toMatchObject({ index: 2 });
    } finally {
      await store.close();
    }
    expect(await readBack(dir)).toEqual(['{"n":1}', `{"pad":"${'x'.repeat(20_000)}"}`, '{"n":3}']);
    // Reopening finds nothing torn: no partial line was left behind.
    const events: unknown[] = [];
    const again = await LedgerStore.open({ dir, onEvent: (e) => events.push(e) });
    expect([again.lineCount(), events]).toEqual([3, []]);
    await again.close();
  });

  it('recovers from a rotation that failed for lack of space', async () => {
    const dir = `${disk.dir}/ledger`;
    const store = await LedgerStore.open({ dir, maxSegmentBytes: 1024 });
    try {
      await store.append(`{"a":"${'y'.repeat(900)}"}`);
      await disk.fill();
      await expect(store.append(`{"b":"${'z'.repeat(900)}"}`)).rejects.toMatchObject({ code: 'LEDGER_IO' });
      await disk.free();
      await store.recover();
      expect(await store.append(`{"b":"${'z'.repeat(900)}"}`)).toMatchObject({
        segment: 'ledger-000002.jsonl',
        index: 1,
      });
    } finally {
      await store.close();
    }
    expect(await readBack(dir)).toHaveLength(2);
  });
});
