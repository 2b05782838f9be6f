import type { ReadProgress } from '../ledger/reader.js';

/** How often a progress line is redrawn at most. */
const PROGRESS_INTERVAL_MS = 500;

/** A progress line on stderr (`verify`, `report`). */
export interface ProgressLine {
  /** Redraws the line, at most every 500 ms. */
  update(): void;
  /** On a TTY the line is cleared; in a log the final state is kept. */
  finish(): void;
}

/**
 * A throttled progress line: rewritten in place on a TTY, one line per update otherwise. `text`
 * is called for each line drawn; a disabled line draws nothing.
 */
export function progressLine(
  enabled: boolean,
  stderr: NodeJS.WritableStream & { isTTY?: boolean },
  text: () => string,
): ProgressLine {
  if (!enabled) return { update: () => {}, finish: () => {} };
  const tty = stderr.isTTY === true;
  let last = Number.NEGATIVE_INFINITY;
  return {
    update() {
      const now = Date.now();
      if (now - last < PROGRESS_INTERVAL_MS) return;
      last = now;
      stderr.write(tty ? `\r${text()}\x1b[K` : `${text()}\n`);
    },
    finish: () => void stderr.write(tty ? '\r\x1b[K' : `${text()}\n`),
  };
}

/** `12% of 3.4 MiB`: how far a ledger read has come. */
export function readShare(progress: ReadProgress): string {
  const percent =
    progress.totalBytes === 0 ? 100 : Math.floor((progress.bytesRead * 100) / progress.totalBytes);
  return `${percent}% of ${(progress.totalBytes / 2 ** 20).toFixed(1)} MiB`;
}
