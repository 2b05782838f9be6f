import { closeSync, openSync, writeSync } from 'node:fs';

/** What the demo learns from the daemon's own structured log. */
export interface DaemonEvents {
  proxyUrl: string | null;
  apiUrl: string | null;
  running: boolean;
  batches: number;
  records: number;
}

/** Log codes the demo follows; every other line only goes to the file. */
const FOLLOWED = /"code":"(PROXY_LISTENING|API_LISTENING|DAEMON_RUNNING|LEDGER_SEALED)"/;

/**
 * A pino destination that appends the daemon's JSON lines to `path` and follows a few codes
 * (where the proxy and the API listen, each sealed batch) so the demo can show progress from
 * the same events an operator's log shipper sees, without reaching into the daemon.
 */
export class DaemonLogSink {
  readonly events: DaemonEvents = { proxyUrl: null, apiUrl: null, running: false, batches: 0, records: 0 };
  private readonly fd: number;
  private readonly listeners = new Set<() => void>();

  constructor(path: string) {
    this.fd = openSync(path, 'a', 0o644);
  }

  write(line: string): void {
    writeSync(this.fd, line);
    const code = FOLLOWED.exec(line)?.[1];
    if (code === undefined) return;
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (code === 'PROXY_LISTENING') this.events.proxyUrl = String(entry.url);
    if (code === 'API_LISTENING') this.events.apiUrl = String(entry.url);
    if (code === 'DAEMON_RUNNING') this.events.running = true;
    if (code === 'LEDGER_SEALED') {
      this.events.batches += 1;
      this.events.records += Number(entry.records ?? 0);
    }
    for (const listener of this.listeners) listener();
  }

  /** Resolves once `predicate` holds, or rejects when `failed` does first. */
  until(predicate: (events: DaemonEvents) => boolean, failed: Promise<unknown>): Promise<void> {
    if (predicate(this.events)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this.events)) return;
        this.listeners.delete(check);
        resolve();
      };
      this.listeners.add(check);
      failed.then(
        () => reject(new Error('the daemon stopped before it was ready')),
        (error: unknown) => reject(error),
      );
    });
  }

  close(): void {
    closeSync(this.fd);
  }
}
