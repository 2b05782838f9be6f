/**
 * The ledger directory's single-writer lock, so two daemons never append to one ledger.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LedgerError, ledgerIoError } from './errors.js';

/** Name of the lock file inside the ledger directory. */
export const LOCK_FILE_NAME = 'ledger.lock';

/**
 * Takes `<dir>/ledger.lock` by creating it exclusively (`wx`) with our pid and boot id. A lock
 * whose holder is gone (dead pid, or written in an earlier boot) is removed and retaken, with a
 * `stale-lock-taken-over` event. The lock is advisory and not fsync'ed: losing it in a power cut
 * only makes it look stale, which is what it then is. Two daemons that find the same stale lock at
 * the same instant could both take it; start one daemon per ledger (systemd does).
 */
export async function acquireLock(
  dir: string,
  onStaleTakeOver: (lockPath: string, stalePid: number | null) => void,
): Promise<string> {
  const lockPath = join(dir, LOCK_FILE_NAME);
  const bootId = await currentBootId();
  for (let attempt = 0; attempt < 3; attempt++) {
    const holder = await readLockHolder(lockPath);
    if (holder && isLockHolderAlive(holder, bootId)) throw lockedError(lockPath, holder.pid);
    if (holder) await rm(lockPath, { force: true });
    try {
      await writeFile(lockPath, `${process.pid}\n${bootId}\n`, { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue; // raced another opener
      throw ledgerIoError('create lock file', lockPath, error);
    }
    if (holder) onStaleTakeOver(lockPath, holder.pid);
    return lockPath;
  }
  throw lockedError(lockPath, null);
}

interface LockHolder {
  readonly pid: number | null;
  readonly bootId: string;
}

/** The lock's content, or `null` when there is no lock. An unreadable pid (a crash while writing it) is `pid: null`. */
async function readLockHolder(lockPath: string): Promise<LockHolder | null> {
  let text: string;
  try {
    text = await readFile(lockPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ledgerIoError('read lock file', lockPath, error);
  }
  const [pidText = '', bootId = ''] = text.split('\n');
  const pid = /^[1-9]\d*$/.test(pidText) ? Number(pidText) : null;
  return { pid, bootId };
}

function isLockHolderAlive(holder: LockHolder, bootId: string): boolean {
  if (holder.pid === null) return false;
  // A pid from an earlier boot says nothing about today's process with that number.
  if (holder.bootId !== '' && bootId !== '' && holder.bootId !== bootId) return false;
  if (holder.pid === process.pid) return true; // another LedgerStore in this process
  try {
    process.kill(holder.pid, 0); // signal 0: existence check only
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'; // alive, owned by another user
  }
}

function lockedError(lockPath: string, pid: number | null): LedgerError {
  const who = pid === null ? 'another process' : `process ${pid}`;
  return new LedgerError('LEDGER_LOCKED', `ledger lock ${lockPath} is held by ${who}`, {
    hint: `stop the other wattledger daemon using this ledger; if no such process exists, remove ${lockPath}`,
    details: { lockPath, ...(pid === null ? {} : { pid }) },
  });
}

/** Linux boot id, so a lock from before a reboot is recognised as stale; '' elsewhere. */
async function currentBootId(): Promise<string> {
  return readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
    (text) => text.trim(),
    () => '',
  );
}
