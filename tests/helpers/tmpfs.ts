import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A small tmpfs, so that a test can fill a real file system and see the kernel answer ENOSPC:
 * the fault is real, at the file-system boundary, not a mock of our own code. Mounting needs root
 * (or CAP_SYS_ADMIN); {@link tmpfsSkipReason} says why a test cannot run where it cannot.
 */
export interface SmallDisk {
  readonly dir: string;
  /** Writes a filler file until the file system is full; returns its size in bytes. */
  fill(): Promise<number>;
  /** Removes the filler: the space is free again. */
  free(): Promise<void>;
  unmount(): Promise<void>;
}

/** Why a tmpfs cannot be mounted here, or undefined when it can (tried once, at import). */
export const tmpfsSkipReason: string | undefined = probeMount();

function probeMount(): string | undefined {
  if (process.platform !== 'linux') return 'tmpfs mounts need Linux';
  const dir = mkdtempSync(join(tmpdir(), 'wattledger-tmpfs-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return `cannot mount a tmpfs to fill a disk (needs root or CAP_SYS_ADMIN): ${String((error as Error).message).split('\n')[0]}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Mounts a tmpfs of `sizeBytes` on a new directory under `parent`. */
export async function mountSmallDisk(parent: string, sizeBytes: number): Promise<SmallDisk> {
  const dir = join(parent, 'disk');
  execFileSync('mkdir', ['-p', dir]);
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tmpfs', dir], {
    stdio: 'pipe',
  });
  const filler = join(dir, 'filler');
  return {
    dir,
    fill: async () => {
      const handle = await open(filler, 'a');
      const chunk = Buffer.alloc(4096, 0x61);
      let written = 0;
      try {
        for (;;) {
          const { bytesWritten } = await handle.write(chunk);
          written += bytesWritten;
          if (bytesWritten < chunk.length) break;
        }
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      } finally {
        await handle.close();
      }
      return written;
    },
    free: () => rm(filler, { force: true }),
    unmount: async () => {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    },
  };
}
