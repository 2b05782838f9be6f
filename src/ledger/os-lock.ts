/**
 * `flock(2)` through koffi, for the ledger lock. Loaded once, lazily; `null` where koffi or the C
 * library's `flock` is not available (the lock then falls back to its owner record). Besides
 * `probes/nvml-binding.ts`, this is the only module that imports koffi.
 */

/** An exclusive, non-blocking OS lock on an open file descriptor. */
export interface OsFileLock {
  /** True when taken; false when another open file holds it; throws on any other failure. */
  tryLockExclusive(fd: number): boolean;
}

const LOCK_EX = 2;
const LOCK_NB = 4;

let loaded: Promise<OsFileLock | null> | undefined;

/** The process's `flock`, or `null` where it cannot be called. */
export function osFileLock(): Promise<OsFileLock | null> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<OsFileLock | null> {
  if (process.platform === 'win32') return null;
  try {
    const koffi = (await import('koffi')).default;
    const flock = koffi.load(null).func('int flock(int fd, int operation)') as (
      fd: number,
      operation: number,
    ) => number;
    const wouldBlock = new Set([koffi.os.errno.EWOULDBLOCK, koffi.os.errno.EAGAIN]);
    return {
      tryLockExclusive: (fd) => {
        if (flock(fd, LOCK_EX | LOCK_NB) === 0) return true;
        const errno = koffi.errno();
        if (wouldBlock.has(errno)) return false;
        throw Object.assign(new Error(`flock failed with errno ${errno}`), { code: errnoName(koffi, errno) });
      },
    };
  } catch {
    return null;
  }
}

function errnoName(koffi: { os: { errno: Record<string, number> } }, errno: number): string {
  return Object.entries(koffi.os.errno).find(([, value]) => value === errno)?.[0] ?? `ERRNO_${errno}`;
}
