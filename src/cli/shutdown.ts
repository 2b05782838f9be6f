/**
 * How the daemon and `watch` stop on SIGTERM / SIGINT, in three steps:
 *
 * 1. The first signal aborts `signal`: intake stops, open requests get their drain time, the
 *    last batch is sealed, the process exits with the outcome of that seal.
 * 2. A second signal aborts `hurry` too: the drain waits are cut short (open requests are ended
 *    as cancelled and logged), but the last batch is still written.
 * 3. Only a third signal exits at once (130), without the final seal.
 */
export interface Shutdown {
  /** Aborted by the first signal. */
  readonly signal: AbortSignal;
  /** Aborted by the second: stop waiting for open requests. */
  readonly hurry: AbortSignal;
}

/** What {@link installShutdown} needs of the process; tests pass an EventEmitter. */
export interface SignalSource {
  on(event: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
}

/** Exit code of the forced third-signal exit (128 + SIGINT's number, as shells report it). */
export const EXIT_FORCED = 130;

/** Listens for SIGTERM and SIGINT once; later calls return the same pair. */
export function installShutdown(
  source: SignalSource,
  say: (line: string) => void,
  forceExit: (code: number) => void,
): Shutdown {
  const first = new AbortController();
  const second = new AbortController();
  let count = 0;
  const onSignal = (name: string): void => {
    count += 1;
    if (count === 1) {
      say(
        `${name} received: stopping, sealing everything acknowledged (send again to stop waiting for open requests)`,
      );
      first.abort();
    } else if (count === 2) {
      say(
        `${name} received again: open requests are ended now; the last batch is still written (a third signal exits without it)`,
      );
      second.abort();
    } else {
      say(`${name} received a third time: exiting now, without the final seal`);
      forceExit(EXIT_FORCED);
    }
  };
  source.on('SIGTERM', () => onSignal('SIGTERM'));
  source.on('SIGINT', () => onSignal('SIGINT'));
  return { signal: first.signal, hurry: second.signal };
}
