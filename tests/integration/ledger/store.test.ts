/**
 * The ledger store against real files: resume, torn-tail repair, rotation, locking, modes,
 * concurrency, and a real crash (a child process SIGKILLed mid-append). The crash child is plain
 * JS importing the compiled store from `dist/` (`npm test` runs `tsc` first), because Node 20
 * cannot import `.ts` without a loader.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readLedgerLines } from '../../../src/ledger/reader.js';
import { segmentFileName } from '../../../src/ledger/segments.js';
import { type LedgerEvent, LedgerStore, type LedgerStoreOptions } from '../../../src/ledger/store.js';
import { itUnless } from '../../helpers/skip.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const COMPILED_STORE = join(REPO_ROOT, 'dist', 'src', 'ledger', 'store.js');
const CHILD_TIMEOUT_MS = 20_000;

let tmp: string;
let cleanup: () => Promise<void>;
const stores: LedgerStore[] = [];
const children: ChildProcess[] = [];
beforeEach(async () => {
  ({ dir: tmp, cleanup } = await makeTmpDir('wattledger-store-'));
});
afterEach(async () => {
  await Promise.all(stores.splice(0).map((store) => store.close()));
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await cleanup();
});

async function openStore(
  options: Partial<LedgerStoreOptions> = {},
): Promise<{ store: LedgerStore; events: LedgerEvent[] }> {
  const events: LedgerEvent[] = [];
  const store = await LedgerStore.open({
    dir: join(tmp, 'ledger'),
    onEvent: (event) => events.push(event),
    ...options,
  });
  stores.push(store);
  return { store, events };
}

async function readBack(dir: string): Promise<string[]> {
  const lines: string[] = [];
  for await (const item of readLedgerLines(dir)) {
    if (item.kind === 'error') throw item.error;
    lines.push(item.line);
  }
  return lines;
}

function mode(info: { mode: number }): number {
  return info.mode & 0o777;
}

/** Spawns a Node child running `script`; it is SIGKILLed in afterEach if still running. */
function spawnNode(args: readonly string[]): ChildProcess {
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: CHILD_TIMEOUT_MS,
  });
  children.push(child);
  return child;
}

describe('LedgerStore', () => {
  it('starts an empty ledger and resumes lastLine and lineCount after reopening', async () => {
    const first = await openStore();
    expect(first.store.lastLine()).toBeNull();
    expect(first.store.lineCount()).toBe(0);
    expect(await first.store.append('{"n":1}')).toEqual({
      segment: 'ledger-000001.jsonl',
      offset: 0,
      index: 0,
    });
    expect(await first.store.append('{"n":2}')).toEqual({
      segment: 'ledger-000001.jsonl',
      offset: 8,
      index: 1,
    });
    await first.store.close();
    const second = await openStore();
    expect(second.store.lastLine()).toBe('{"n":2}');
    expect(second.store.lineCount()).toBe(2);
    expect(await second.store.append('{"n":3}')).toEqual({
      segment: 'ledger-000001.jsonl',
      offset: 16,
      index: 2,
    });
    expect(await readFile(join(tmp, 'ledger', 'ledger-000001.jsonl'), 'utf8')).toBe(
      '{"n":1}\n{"n":2}\n{"n":3}\n',
    );
    expect(second.events).toEqual([]);
  });

  it('creates the directory 0700 and the segment and lock files 0600', async () => {
    const dir = join(tmp, 'state', 'ledger');
    const { store } = await openStore({ dir });
    await store.append('x');
    expect(mode(await stat(join(tmp, 'state')))).toBe(0o700);
    expect(mode(await stat(dir))).toBe(0o700);
    expect(mode(await stat(join(dir, 'ledger-000001.jsonl')))).toBe(0o600);
    expect(mode(await stat(join(dir, 'ledger.lock')))).toBe(0o600);
  });

  it('rejects lines with a newline, a carriage return, a lone surrogate or no content, writing nothing', async () => {
    const { store } = await openStore();
    for (const line of ['a\nb', 'a\r', '\n', '', 'bad\uD800']) {
      await expect(store.append(line), JSON.stringify(line)).rejects.toMatchObject({
        code: 'LEDGER_INVALID_LINE',
      });
    }
    expect(await store.append('good 😀')).toMatchObject({ index: 0, offset: 0 });
    expect(await readBack(store.dir)).toEqual(['good 😀']);
  });

  it('rotates before a segment would exceed maxSegmentBytes and puts an oversized line alone in a fresh segment', async () => {
    const { store, events } = await openStore({ maxSegmentBytes: 32 });
    const ten = (n: number) => `line-${String(n).padStart(5, '0')}`; // 10 bytes + newline
    const results = [];
    for (const line of [ten(1), ten(2), ten(3), 'L'.repeat(100), ten(4)])
      results.push(await store.append(line));
    expect(results.map((result) => [result.segment, result.offset])).toEqual([
      ['ledger-000001.jsonl', 0],
      ['ledger-000001.jsonl', 11],
      ['ledger-000002.jsonl', 0],
      ['ledger-000003.jsonl', 0],
      ['ledger-000004.jsonl', 0],
    ]);
    expect(events.filter((event) => event.kind === 'segment-created')).toHaveLength(4);
    await store.close();
    const reopened = await openStore({ maxSegmentBytes: 32 });
    expect(await reopened.store.append(ten(5))).toEqual({
      segment: 'ledger-000004.jsonl',
      offset: 11,
      index: 5,
    });
    expect(await readBack(store.dir)).toEqual([ten(1), ten(2), ten(3), 'L'.repeat(100), ten(4), ten(5)]);
  });

  it('keeps call order and never interleaves when many callers append at once', async () => {
    const { store } = await openStore({ maxSegmentBytes: 2048 });
    const expected = Array.from({ length: 300 }, (_, n) =>
      JSON.stringify({ n, pad: 'p'.repeat((n * 37) % 200) }),
    );
    const results = await Promise.all(expected.map((line) => store.append(line)));
    expect(results.map((result) => result.index)).toEqual(expected.map((_, n) => n));
    expect(await readBack(store.dir)).toEqual(expected);
    for (const name of await readdir(store.dir)) {
      if (name.endsWith('.jsonl')) expect((await stat(join(store.dir, name))).size).toBeLessThanOrEqual(2048);
    }
  });

  it('continues in an empty last segment left by a crash right after rotation', async () => {
    const first = await openStore();
    await first.store.append('one');
    await first.store.close();
    await writeFile(join(first.store.dir, segmentFileName(2)), '', { mode: 0o600 });
    const { store } = await openStore();
    expect([store.lineCount(), store.lastLine()]).toEqual([1, 'one']);
    expect(await store.append('two')).toEqual({ segment: 'ledger-000002.jsonl', offset: 0, index: 1 });
  });

  it('refuses to open a ledger with a missing middle segment and releases the lock', async () => {
    const { store } = await openStore({ maxSegmentBytes: 8 });
    for (const line of ['first', 'second', 'third']) await store.append(line);
    await store.close();
    const removed = join(store.dir, segmentFileName(2));
    const bytes = await readFile(removed);
    await unlink(removed);
    await expect(openStore()).rejects.toMatchObject({
      code: 'LEDGER_CORRUPT',
      message: expect.stringContaining('ledger-000002.jsonl is missing'),
    });
    expect(existsSync(join(store.dir, 'ledger.lock'))).toBe(false);
    await writeFile(removed, bytes);
    expect((await openStore()).store.lineCount()).toBe(3);
  });

  it('rejects appends after close and closes idempotently', async () => {
    const { store } = await openStore();
    const pending = store.append('queued before close');
    await Promise.all([store.close(), store.close()]);
    await expect(pending).resolves.toMatchObject({ index: 0 });
    await expect(store.append('late')).rejects.toMatchObject({
      code: 'LEDGER_IO',
      message: expect.stringContaining('closed'),
    });
    expect(existsSync(join(store.dir, 'ledger.lock'))).toBe(false);
  });
});

describe('LedgerStore torn-tail recovery', () => {
  it('quarantines a partial last line under torn/ with its bytes intact and truncates the segment', async () => {
    const first = await openStore();
    await first.store.append('{"n":1}');
    await first.store.append('{"n":2}');
    await first.store.close();
    const segment = join(first.store.dir, 'ledger-000001.jsonl');
    const partial = Buffer.from('{"n":3,"ü":"hal', 'utf8');
    await writeFile(segment, partial, { flag: 'a' });
    const { store, events } = await openStore();
    const quarantinePath = join(store.dir, 'torn', 'ledger-000001.jsonl.16.torn');
    expect(events).toEqual([
      {
        kind: 'torn-tail-repaired',
        segment: 'ledger-000001.jsonl',
        offset: 16,
        bytes: partial.length,
        quarantinePath,
      },
    ]);
    expect(await readFile(quarantinePath)).toEqual(partial);
    expect(mode(await stat(quarantinePath))).toBe(0o600);
    expect(mode(await stat(join(store.dir, 'torn')))).toBe(0o700);
    expect(await readFile(segment, 'utf8')).toBe('{"n":1}\n{"n":2}\n');
    expect([store.lineCount(), store.lastLine()]).toEqual([2, '{"n":2}']);
    expect(await store.append('{"n":3}')).toEqual({ segment: 'ledger-000001.jsonl', offset: 16, index: 2 });
  });

  it('truncates a last segment that holds only a partial line to empty', async () => {
    const dir = join(tmp, 'ledger');
    const first = await openStore({ maxSegmentBytes: 4 });
    await first.store.append('one');
    await first.store.close();
    await writeFile(join(dir, segmentFileName(2)), 'tw', { mode: 0o600 });
    const { store, events } = await openStore({ maxSegmentBytes: 4 });
    expect(events).toMatchObject([
      { kind: 'torn-tail-repaired', segment: 'ledger-000002.jsonl', offset: 0, bytes: 2 },
    ]);
    expect((await stat(join(dir, segmentFileName(2)))).size).toBe(0);
    expect(await store.append('two')).toEqual({ segment: 'ledger-000002.jsonl', offset: 0, index: 1 });
  });

  it('keeps an earlier quarantine of the same offset and reuses an identical one after a crash mid-repair', async () => {
    const dir = join(tmp, 'ledger');
    const first = await openStore();
    await first.store.append('one');
    await first.store.close();
    const segment = join(dir, segmentFileName(1));
    await writeFile(segment, 'first tear', { flag: 'a' });
    await (await openStore()).store.close();
    await writeFile(segment, 'second tear', { flag: 'a' });
    // A crash after the quarantine copy but before the truncate: the copy exists, the tail too.
    await writeFile(join(dir, 'torn', 'ledger-000001.jsonl.4-2.torn'), 'second tear');
    const { events } = await openStore();
    expect(events).toMatchObject([{ quarantinePath: join(dir, 'torn', 'ledger-000001.jsonl.4-2.torn') }]);
    expect(await readFile(join(dir, 'torn', 'ledger-000001.jsonl.4.torn'), 'utf8')).toBe('first tear');
    expect(await readdir(join(dir, 'torn'))).toHaveLength(2);
  });
});

describe('LedgerStore lock', () => {
  it('refuses a second open of a ledger this process holds, and allows it after close', async () => {
    const { store } = await openStore();
    const second = openStore();
    await expect(second).rejects.toMatchObject({ code: 'LEDGER_LOCKED', details: { pid: process.pid } });
    await expect(second).rejects.toHaveProperty('hint', expect.stringContaining('ledger.lock'));
    expect(await readFile(join(store.dir, 'ledger.lock'), 'utf8')).toMatch(new RegExp(`^${process.pid}\\n`));
    await store.close();
    await expect(openStore()).resolves.toBeDefined();
  });
  // Other processes, kill -9 and stale records: tests/integration/ledger/lock.test.ts.
});

/** Line `i` of the crash test; every 40th is 1 MiB so a kill can land inside one large write. */
function crashLine(i: number): string {
  return JSON.stringify({ i, pad: i % 40 === 39 ? 'B'.repeat(1 << 20) : 'x'.repeat((i * 7919) % 3000) });
}

/** Opens the compiled store, reports what it recovered, then appends crashLine(i) in bursts of 4 forever. */
const CRASH_CHILD = `
const [storeUrl, dir] = process.argv.slice(2);
const { LedgerStore } = await import(storeUrl);
const crashLine = (i) => JSON.stringify({ i, pad: i % 40 === 39 ? 'B'.repeat(1 << 20) : 'x'.repeat((i * 7919) % 3000) });
const say = (message) => process.stdout.write(JSON.stringify(message) + '\\n');
const store = await LedgerStore.open({ dir, maxSegmentBytes: 64 * 1024, onEvent: (event) => say({ event }) });
say({ opened: store.lineCount() });
for (let i = store.lineCount(); ; i += 4) {
  await Promise.all([0, 1, 2, 3].map((k) => store.append(crashLine(i + k)).then(() => say({ acked: i + k }))));
}
`;

interface CrashCycle {
  readonly opened: number;
  readonly maxAcked: number;
  readonly events: LedgerEvent[];
}

/** Runs the crash child until it has acknowledged `killAfterAcks` appends, then SIGKILLs it. */
function crashCycle(scriptPath: string, dir: string, killAfterAcks: number): Promise<CrashCycle> {
  const child = spawnNode([scriptPath, pathToFileURL(COMPILED_STORE).href, dir]);
  const cycle = { opened: -1, maxAcked: -1, events: [] as LedgerEvent[] };
  let acks = 0;
  let pending = '';
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  child.stdout?.on('data', (chunk: Buffer) => {
    const parts = (pending + chunk.toString()).split('\n');
    pending = parts.pop() ?? '';
    for (const message of parts.map((part) => JSON.parse(part))) {
      if ('event' in message) cycle.events.push(message.event);
      if ('opened' in message) cycle.opened = message.opened;
      if ('acked' in message) {
        cycle.maxAcked = Math.max(cycle.maxAcked, message.acked);
        if (++acks === killAfterAcks) child.kill('SIGKILL');
      }
    }
  });
  return new Promise((done, fail) => {
    child.once('close', (code, signal) => {
      if (signal === 'SIGKILL' && acks >= killAfterAcks) done(cycle);
      else fail(new Error(`crash child ended with code ${code}, signal ${signal}: ${stderr}`));
    });
  });
}

const crashSkipReason = existsSync(COMPILED_STORE)
  ? undefined
  : `${COMPILED_STORE} is missing; run \`npx tsc -p .\` (npm test does) first`;

describe('LedgerStore after a real crash', () => {
  itUnless(crashSkipReason)(
    'recovers after SIGKILL mid-append with every acknowledged line complete and in order',
    async () => {
      const dir = join(tmp, 'ledger');
      const scriptPath = join(tmp, 'crash-child.mjs');
      await writeFile(scriptPath, CRASH_CHILD);
      const cycles: CrashCycle[] = [];
      for (const killAfterAcks of [23, 97, 151])
        cycles.push(await crashCycle(scriptPath, dir, killAfterAcks));
      const final = await openStore({ maxSegmentBytes: 64 * 1024 });
      cycles.push({ opened: final.store.lineCount(), maxAcked: -1, events: final.events });

      const lines = await readBack(dir);
      expect(lines.length).toBe(final.store.lineCount());
      lines.forEach((line, i) => {
        if (line !== crashLine(i)) expect.fail(`line ${i} is not crashLine(${i}): ${line.slice(0, 80)}`);
      });
      for (const [k, cycle] of cycles.entries()) {
        // Nothing acknowledged is ever lost: each run resumes after the previous run's last ack.
        expect(cycle.opened).toBeGreaterThan(cycles[k - 1]?.maxAcked ?? -1);
        for (const event of cycle.events) {
          if (event.kind !== 'torn-tail-repaired') continue;
          // A quarantined tail is a strict prefix of the line that was being written.
          const torn = (await readFile(event.quarantinePath)).toString('utf8');
          expect(`${crashLine(cycle.opened)}\n`.startsWith(torn) && torn.length > 0).toBe(true);
        }
      }
      expect((await readdir(dir)).filter((name) => name.endsWith('.jsonl')).length).toBeGreaterThan(3);
    },
    60_000,
  );
});
