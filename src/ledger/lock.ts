/**
 * The ledger directory's single-writer lock, so two daemons never append to one ledger.
 *
 * The lock is an OS file lock (`flock(2)`, exclusive, non-blocking) on `<dir>/ledger.lock`, held
 * through an open descriptor for as long as the store is open. The kernel drops it when the
 * process dies, however it dies (kill -9, OOM kill), so a restarted daemon takes it again whatever
 * its pid: a container's daemon is pid 1 before and after its restart. It refuses a second live
 * daemon in this process, in another process or PID namespace of this host, and (on NFS, where
 * Linux maps `flock` onto byte-range locks) on another host through a shared volume.
 *
 * The file's content is the owner record (pid, boot id, hostname, pid namespace, process start
 * time), for the error message and the take-over event only; the lock itself decides. Where
 * `flock` cannot be called (no koffi build for the platform), the record decides instead: the
 * holder is alive when it was written in this boot, in this pid namespace, and its pid runs with
 * the same start time.
 */

import type { FileHandle } from 'node:fs/promises';
import { open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LedgerError, ledgerIoError } from './errors.js';
import { type OsFileLock, osFileLock } from './os-lock.js';

/** Name of the lock file inside the ledger directory. */
export const LOCK_FILE_NAME = 'ledger.lock';

/** A held ledger lock; `release` removes the file and drops the lock. */
export interface LedgerLock {
  readonly path: string;
  /** How the lock is held: an OS file lock, or (where none is available) the owner record. */
  readonly method: 'flock' | 'record';
  release(): Promise<void>;
}

/** What a lock file says about its writer. Every field but `pid` may be '' (an older or torn record). */
export interface LockOwner {
  readonly pid: number | null;
  readonly bootId: string;
  readonly hostname: string;
  readonly pidNamespace: string;
  readonly startTime: string;
}

/** Test seams: the OS lock (null: there is none) and this process's identity. */
export interface LockOptions {
  readonly osLock?: OsFileLock | null;
  readonly self?: LockOwner;
}

/**
 * Takes `<dir>/ledger.lock`. A lock file left by a holder that is gone (a crash, kill -9, an
 * earlier boot, an earlier container) is taken over, with `onStaleTakeOver` told the pid it
 * named. Throws `LEDGER_LOCKED` when a live holder has it, `LEDGER_IO` when the file cannot be
 * opened or written.
 */
export async function acquireLock(
  dir: string,
  onStaleTakeOver: (lockPath: string, stalePid: number | null) => void,
  options: LockOptions = {},
): Promise<LedgerLock> {
  const lockPath = join(dir, LOCK_FILE_NAME);
  const self = options.self ?? (await currentOwner());
  const osLock = options.osLock === undefined ? await osFileLock() : options.osLock;
  return osLock === null
    ? acquireByRecord(lockPath, self, onStaleTakeOver)
    : acquireByFlock(lockPath, self, osLock, onStaleTakeOver);
}

async function acquireByFlock(
  lockPath: string,
  self: LockOwner,
  osLock: OsFileLock,
  onStaleTakeOver: (lockPath: string, stalePid: number | null) => void,
): Promise<LedgerLock> {
  for (let attempt = 0; attempt < 5; attempt++) {
    let handle: FileHandle;
    try {
      handle = await open(lockPath, 'a+', 0o600);
    } catch (error) {
      throw ledgerIoError('open lock file', lockPath, error);
    }
    let keep = false;
    try {
      if (!osLock.tryLockExclusive(handle.fd)) {
        throw lockedError(lockPath, parseOwner(await handle.readFile('utf8')));
      }
      // A holder removes the file before it unlocks: a lock taken on a removed file is no lock.
      if (!(await sameFile(handle, lockPath))) continue;
      const previous = parseOwner(await handle.readFile('utf8'));
      // Whatever the file still says was written by a holder the kernel has since let go of.
      if (previous.pid !== null || previous.bootId !== '') onStaleTakeOver(lockPath, previous.pid);
      await handle.truncate(0);
      await handle.write(formatOwner(self), 0);
      const owned = handle;
      keep = true; // the descriptor now holds the lock for the returned object
      return {
        path: lockPath,
        method: 'flock',
        release: async () => {
          await rm(lockPath, { force: true });
          await owned.close(); // closing the last descriptor drops the flock
        },
      };
    } catch (error) {
      if (error instanceof LedgerError) throw error;
      throw ledgerIoError('write lock file', lockPath, error);
    } finally {
      if (!keep) await handle.close().catch(() => undefined);
    }
  }
  throw lockedError(lockPath, null);
}

/** Whether `handle` is still the file at `path` (not removed or replaced by a releasing holder). */
async function sameFile(handle: FileHandle, path: string): Promise<boolean> {
  const [opened, named] = await Promise.all([handle.stat(), stat(path).catch(() => null)]);
  return named !== null && opened.ino === named.ino && opened.dev === named.dev;
}

/** Without an OS lock: create the file exclusively; the record says whether an existing one is stale. */
async function acquireByRecord(
  lockPath: string,
  self: LockOwner,
  onStaleTakeOver: (lockPath: string, stalePid: number | null) => void,
): Promise<LedgerLock> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const holder = await readOwner(lockPath);
    if (holder && (await isOwnerAlive(holder, self))) throw lockedError(lockPath, holder);
    if (holder) await rm(lockPath, { force: true });
    try {
      await writeFile(lockPath, formatOwner(self), { flag: 'wx', mode: 0o600 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue; // raced another opener
      throw ledgerIoError('create lock file', lockPath, error);
    }
    if (holder) onStaleTakeOver(lockPath, holder.pid);
    return { path: lockPath, method: 'record', release: () => rm(lockPath, { force: true }) };
  }
  throw lockedError(lockPath, null);
}

async function readOwner(lockPath: string): Promise<LockOwner | null> {
  try {
    return parseOwner(await readFile(lockPath, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ledgerIoError('read lock file', lockPath, error);
  }
}

/**
 * Whether the record's writer still runs, as far as a record can tell: a record of another boot,
 * host or pid namespace names a pid that is not ours to look up, so it counts as gone; in ours,
 * the pid must run with the start time it was written with (a reused pid, such as a restarted
 * container's pid 1, has another).
 */
export async function isOwnerAlive(owner: LockOwner, self: LockOwner): Promise<boolean> {
  if (owner.pid === null) return false;
  const differs = (a: string, b: string): boolean => a !== '' && b !== '' && a !== b;
  if (differs(owner.bootId, self.bootId) || differs(owner.hostname, self.hostname)) return false;
  if (differs(owner.pidNamespace, self.pidNamespace)) return false;
  if (owner.pid === self.pid) return owner.startTime === '' || owner.startTime === self.startTime;
  try {
    process.kill(owner.pid, 0); // signal 0: existence check only
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false; // EPERM: alive, another user's
  }
  if (owner.startTime === '') return true;
  const now = await processStartTime(owner.pid);
  return now === '' || now === owner.startTime;
}

/** The lock file's text: one `pid`, one boot id line, then `key=value` lines. */
export function formatOwner(owner: LockOwner): string {
  return (
    `${owner.pid ?? ''}\n${owner.bootId}\n` +
    `host=${owner.hostname}\npidns=${owner.pidNamespace}\nstart=${owner.startTime}\n`
  );
}

/** Parses a lock file; an unreadable pid (a crash while writing it) is `pid: null`. */
export function parseOwner(text: string): LockOwner {
  const [pidText = '', bootId = '', ...rest] = text.split('\n');
  const fields = new Map(
    rest.flatMap((line) => {
      const at = line.indexOf('=');
      return at > 0 ? [[line.slice(0, at), line.slice(at + 1)] as const] : [];
    }),
  );
  return {
    pid: /^[1-9]\d{0,9}$/.test(pidText) ? Number(pidText) : null,
    bootId: /^[0-9a-f-]{1,64}$/.test(bootId) ? bootId : '',
    hostname: fields.get('host') ?? '',
    pidNamespace: fields.get('pidns') ?? '',
    startTime: fields.get('start') ?? '',
  };
}

function lockedError(lockPath: string, owner: LockOwner | null): LedgerError {
  const pid = owner?.pid ?? null;
  const where = owner?.hostname ? ` on host ${owner.hostname}` : '';
  const who = pid === null ? 'another process' : `process ${pid}${where}`;
  return new LedgerError('LEDGER_LOCKED', `ledger lock ${lockPath} is held by ${who}`, {
    hint: `stop the other wattledger daemon using this ledger (the lock is released when it exits, even by kill -9); the file ${lockPath} only names the holder`,
    details: {
      lockPath,
      ...(pid === null ? {} : { pid }),
      ...(owner?.hostname ? { hostname: owner.hostname } : {}),
    },
  });
}

/** This process's identity as a lock record. */
export async function currentOwner(): Promise<LockOwner> {
  const [bootId, pidNamespace, startTime] = await Promise.all([
    readFile('/proc/sys/kernel/random/boot_id', 'utf8').then(
      (text) => text.trim(),
      () => '',
    ),
    import('node:fs/promises').then(({ readlink }) => readlink('/proc/self/ns/pid').catch(() => '')),
    processStartTime(process.pid),
  ]);
  return { pid: process.pid, bootId, hostname: hostname(), pidNamespace, startTime };
}

/**
 * A process's start time in clock ticks since boot (`/proc/<pid>/stat` field 22), '' where there
 * is no procfs. Two processes with one pid in one boot never share it.
 */
export async function processStartTime(pid: number): Promise<string> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? '';
  } catch {
    return '';
  }
}
