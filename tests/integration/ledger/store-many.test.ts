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

describe('LedgerStore.appendEncodedLines', () => {
  const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

  it('writes UTF-8 lines as given, with indices and byte offsets, and resumes from the last one', async () => {
    const store = await LedgerStore.open({ dir });
    await store.append('first');
    const results = await store.appendEncodedLines(utf8('a\né€😀\nccc\n'));
    expect(results.map((r) => [r.index, r.offset])).toEqual([
      [1, 6],
      [2, 8],
      [3, 18],
    ]);
    expect(store.lastLine()).toBe('ccc');
    await store.append('last');
    expect(store.lineCount()).toBe(5);
    await store.close();
    const lines: string[] = [];
    for await (const item of readLedgerLines(dir)) if (item.kind === 'line') lines.push(item.line);
    expect(lines).toEqual(['first', 'a', 'é€😀', 'ccc', 'last']);
  });

  it('writes nothing for bytes that are not whole, well-formed lines', async () => {
    const store = await LedgerStore.open({ dir });
    const bad: Record<string, Uint8Array> = {
      'no final line break': utf8('a\nb'),
      'an empty line': utf8('a\n\nb\n'),
      'a leading empty line': utf8('\na\n'),
      'a carriage return': utf8('a\r\nb\n'),
      'invalid utf-8': Uint8Array.of(0x61, 0xff, 0x0a),
      'an encoded surrogate': Uint8Array.of(0x61, 0xed, 0xa0, 0x80, 0x0a),
      'a truncated sequence': Uint8Array.of(0x61, 0xe2, 0x82, 0x0a),
    };
    for (const [name, bytes] of Object.entries(bad)) {
      await expect(store.appendEncodedLines(bytes), name).rejects.toMatchObject({
        code: 'LEDGER_INVALID_LINE',
      });
    }
    expect(await store.appendEncodedLines(new Uint8Array(0))).toEqual([]);
    expect(store.lineCount()).toBe(0);
    await store.append('still writable');
    await store.close();
    const lines: string[] = [];
    for await (const item of readLedgerLines(dir)) if (item.kind === 'line') lines.push(item.line);
    expect(lines).toEqual(['still writable']);
  });
});
