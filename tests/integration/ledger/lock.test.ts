/**
 * The ledger lock against real processes: a live daemon in another process keeps it, a daemon
 * killed with SIGKILL does not, whatever pid its lock file names (our own, or 1 as in a restarted
 * container). The holder is a child process importing the compiled store from `dist/`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  acquireLock,
  currentOwner,
  formatOwner,
  isOwnerAlive,
  type LedgerLock,
  LOCK_FILE_NAME,
  type LockOwner,
  parseOwner,
  processStartTime,
} from '../../../src/ledger/lock.js';
import { osFileLock } from '../../../src/ledger/os-lock.js';
import { LedgerStore } from '../../../src/ledger/store.js';
import { describeUnless } from '../../helpers/skip.js';
import { makeTmpDir } from '../../helpers/tmp-dir.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const COMPILED_STORE = pathToFileURL(join(REPO_ROOT, 'dist', 'src', 'ledger', 'store.js')).href;
const HOLDER = `
const { LedgerStore } = await import(process.argv[1]);
await LedgerStore.open({ dir: process.argv[2] });
process.stdout.write('held\\n');
setInterval(() => {}, 1000);
`;
const NO_FLOCK = (await osFileLock()) === null ? 'flock(2) cannot be called through koffi here' : undefined;

let tmp: string;
let cleanup: () => Promise<void>;
const children: ChildProcess[] = [];
const locks: LedgerLock[] = [];
beforeEach(async () => {
  ({ dir: tmp, cleanup } = await makeTmpDir('wattledger-lock-'));
});
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await Promise.all(locks.splice(0).map((lock) => lock.release()));
  await cleanup();
});

/** A child process holding the ledger in `dir` through a real LedgerStore, until killed. */
async function startHolder(dir: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', HOLDER, COMPILED_STORE, dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 20_000,
  });
  children.push(child);
  let err = '';
  child.stderr?.on('data', (chunk) => {
    err += chunk;
  });
  const [chunk] = (await Promise.race([
    once(child.stdout as NodeJS.ReadableStream, 'data'),
    once(child, 'exit').then(() => {
      throw new Error(`holder exited: ${err}`);
    }),
  ])) as [Buffer];
  expect(String(chunk)).toBe('held\n');
  return child;
}

async function take(dir: string, options: Parameters<typeof acquireLock>[2] = {}) {
  const stale: (number | null)[] = [];
  const lock = await acquireLock(dir, (_path, pid) => stale.push(pid), options);
  locks.push(lock);
  return { lock, stale };
}

describeUnless(NO_FLOCK)('ledger lock (flock)', () => {
  it('refuses a ledger a live daemon in another process holds, naming its pid and host', async () => {
    const holder = await startHolder(tmp);
    const taking = acquireLock(tmp, () => {});
    await expect(taking).rejects.toMatchObject({
      code: 'LEDGER_LOCKED',
      message: expect.stringContaining(`process ${holder.pid} on host `),
      details: { pid: holder.pid },
    });
    await expect(LedgerStore.open({ dir: tmp })).rejects.toMatchObject({ code: 'LEDGER_LOCKED' });
  });

  it('takes over after the holder is killed with SIGKILL, with the stale pid in the event', async () => {
    const holder = await startHolder(tmp);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    const before = await readFile(join(tmp, LOCK_FILE_NAME), 'utf8');
    expect(parseOwner(before).pid).toBe(holder.pid);
    const { lock, stale } = await take(tmp);
    expect([lock.method, stale]).toEqual(['flock', [holder.pid]]);
    expect(parseOwner(await readFile(lock.path, 'utf8')).pid).toBe(process.pid);
  });

  it.each([
    ['our own pid', () => process.pid],
    ['pid 1 (a restarted container)', () => 1],
  ])("is not blocked by a killed daemon's lock file naming %s in this boot", async (_name, pid) => {
    const self = await currentOwner();
    // Exactly what a daemon with that pid would have written before it was killed.
    await writeFile(join(tmp, LOCK_FILE_NAME), formatOwner({ ...self, pid: pid() }), { mode: 0o600 });
    const { stale } = await take(tmp);
    expect(stale).toEqual([pid()]);
  });

  it('refuses a second holder in this process and lets it in after release', async () => {
    const { lock } = await take(tmp);
    await expect(acquireLock(tmp, () => {})).rejects.toMatchObject({
      code: 'LEDGER_LOCKED',
      details: { pid: process.pid },
    });
    await lock.release();
    locks.splice(locks.indexOf(lock), 1);
    const again = await take(tmp);
    expect(again.stale).toEqual([]); // a released lock leaves no file behind
  });
});

describe('ledger lock (owner record, where flock is unavailable)', () => {
  let self: LockOwner;
  beforeEach(async () => {
    self = await currentOwner();
  });

  it('treats our own pid with another start time as a killed daemon, not as us', async () => {
    await writeFile(join(tmp, LOCK_FILE_NAME), formatOwner({ ...self, startTime: '1' }));
    const { lock, stale } = await take(tmp, { osLock: null });
    expect([lock.method, stale]).toEqual(['record', [process.pid]]);
  });

  it('treats pid 1 of another pid namespace (an earlier container) as gone', async () => {
    const owner = { ...self, pid: 1, pidNamespace: 'pid:[4026531836]', startTime: '' };
    expect(await isOwnerAlive(owner, { ...self, pidNamespace: 'pid:[4026532999]' })).toBe(false);
  });

  it('refuses a record of a live process with its real start time, and of this very process', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(child);
    await once(child, 'spawn');
    const pid = child.pid as number;
    const startTime = await processStartTime(pid);
    await writeFile(join(tmp, LOCK_FILE_NAME), formatOwner({ ...self, pid, startTime }));
    await expect(acquireLock(tmp, () => {}, { osLock: null })).rejects.toMatchObject({
      code: 'LEDGER_LOCKED',
      details: { pid },
    });
    expect(await isOwnerAlive(self, self)).toBe(true);
    // The same pid started later (a pid reused after the holder died) is another process.
    if (startTime !== '') expect(await isOwnerAlive({ ...self, pid, startTime: '1' }, self)).toBe(false);
  });

  it('treats a record of an earlier boot as stale even if its pid runs now', async () => {
    const owner = { ...self, bootId: '00000000-0000-0000-0000-000000000000' };
    expect(await isOwnerAlive(owner, self)).toBe(false);
  });
});
