/**
 * OTLP logs: every signed batch and checkpoint, read from the ledger after a persisted cursor and
 * sent in bounded requests. Nothing is held only in memory, so a collector outage or a restart
 * loses nothing: export resumes where the collector last acknowledged.
 *
 * Retries happen at two levels. The SDK exporter retries one request on 429/502/503/504 and
 * network errors, honouring `Retry-After`, within `OTEL_EXPORTER_OTLP_TIMEOUT`; when it gives up,
 * this loop waits with exponential backoff (with jitter, so a fleet does not return in step) and
 * reads the ledger again from the cursor. Requests are sent one at a time, in log order.
 */
import { ExportResultCode, hrTime } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { Config } from '../config/schema.js';
import { ExportError } from './errors.js';
import { type CursorPosition, ExportCursor } from './export-cursor.js';
import { readPendingChunk } from './ledger-source.js';
import { logRecordOf } from './log-records.js';
import { createLogExporter } from './otlp-options.js';

/** How a pass ended: `error` is `null` when everything on disk was acknowledged. */
interface PassResult {
  readonly error: unknown;
}

/** Most body bytes per request: far below collectors' usual 20 MiB request limit. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

/** What the exporter reports, for the daemon's log. */
export type LogExportEvent =
  | { readonly kind: 'exported'; readonly records: number; readonly position: CursorPosition }
  /** `retryInMs`: when the loop tries again; `null` for a failed `flush()`/`stop()`, which schedules nothing. */
  | { readonly kind: 'export-failed'; readonly error: unknown; readonly retryInMs: number | null }
  | { readonly kind: 'cursor-reset'; readonly message: string };

/** Options of {@link OtlpLedgerLogs.open}. */
export interface OtlpLogsOptions {
  readonly ledgerDir: string;
  /** From `buildOtlpResource()`, shared with the metrics. */
  readonly resource: Resource;
  readonly settings: Pick<
    Config['otlp'],
    | 'endpoint'
    | 'protocol'
    | 'logsPollIntervalMs'
    | 'logsMaxBatchRecords'
    | 'retryInitialDelayMs'
    | 'retryMaxDelayMs'
  >;
  readonly onEvent?: (event: LogExportEvent) => void;
}

/** Exports the ledger as OTLP log records; see the module comment. */
export class OtlpLedgerLogs {
  private readonly o: OtlpLogsOptions;
  private readonly cursor: ExportCursor;
  private readonly exporter: LogRecordExporter;
  private running: Promise<PassResult> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private failures = 0;
  private started = false;
  /** A batch was sealed during a pass: look again right after it. */
  private notified = false;
  private stopped = false;

  private constructor(options: OtlpLogsOptions, cursor: ExportCursor) {
    this.o = options;
    this.cursor = cursor;
    this.exporter = createLogExporter(options.settings);
  }

  /** Loads the cursor (`<ledgerDir>/export/otlp-cursor.json`) and builds the exporter; sends nothing yet. */
  static async open(options: OtlpLogsOptions): Promise<OtlpLedgerLogs> {
    const { cursor, problem } = await ExportCursor.open(options.ledgerDir);
    const logs = new OtlpLedgerLogs(options, cursor);
    if (problem !== null) logs.emit({ kind: 'cursor-reset', message: problem });
    return logs;
  }

  /** What the collector has acknowledged so far. */
  get position(): CursorPosition {
    return this.cursor.position;
  }

  /** Starts exporting now, then every `logsPollIntervalMs` (or after a backoff). */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.schedule(0);
  }

  /** A batch was sealed (`Batcher` `onSealed`): look at the ledger now rather than at the next poll. */
  notify(): void {
    if (!this.started || this.stopped || this.failures > 0) return;
    if (this.running) this.notified = true;
    else this.schedule(0);
  }

  /**
   * Exports everything on disk now, waiting for a pass already running first. Resolves `true`
   * when the collector has acknowledged all of it, `false` when an attempt failed (the cursor then
   * stays at the last acknowledged request).
   */
  async flush(): Promise<boolean> {
    if (this.running) await this.running;
    const result = await this.run();
    if (result.error !== null) this.emit({ kind: 'export-failed', error: result.error, retryInMs: null });
    return result.error === null;
  }

  /** Stops the loop, makes one last attempt to send what is on disk, and closes the exporter. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
    await this.exporter.shutdown();
  }

  /** Reports to `onEvent`; a listener's exception must not stop the loop (it runs in a timer). */
  private emit(event: LogExportEvent): void {
    try {
      this.o.onEvent?.(event);
    } catch {
      // The event is informational; export goes on.
    }
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.run().then((result) => this.afterPass(result));
    }, delayMs);
    // The daemon's servers keep the process alive; a pending export alone should not.
    this.timer.unref();
  }

  private afterPass({ error }: PassResult): void {
    if (this.stopped) return;
    if (error === null) {
      this.failures = 0;
      this.schedule(this.notified ? 0 : this.o.settings.logsPollIntervalMs);
      this.notified = false;
      return;
    }
    this.failures += 1;
    const retryInMs = this.backoffMs();
    this.emit({ kind: 'export-failed', error, retryInMs });
    this.schedule(retryInMs);
  }

  /** Exponential backoff from `retryInitialDelayMs`, capped at `retryMaxDelayMs`, ±20 % jitter. */
  private backoffMs(): number {
    const { retryInitialDelayMs: initial, retryMaxDelayMs } = this.o.settings;
    const capped = Math.min(
      initial * 2 ** Math.min(this.failures - 1, 30),
      Math.max(initial, retryMaxDelayMs),
    );
    return Math.round(capped * (0.8 + 0.4 * Math.random()));
  }

  /** One pass, single-flight: chunks until the ledger is exhausted or a request fails. */
  private run(): Promise<PassResult> {
    if (this.running) return this.running;
    this.running = this.pass().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async pass(): Promise<PassResult> {
    try {
      for (;;) {
        const chunk = await readPendingChunk(this.o.ledgerDir, this.cursor.position, {
          maxRecords: this.o.settings.logsMaxBatchRecords,
          maxBytes: MAX_REQUEST_BYTES,
        });
        if (chunk.items.length === 0) return { error: null };
        const now = hrTime();
        await this.send(chunk.items.map((item) => logRecordOf(item, this.o.resource, now)));
        // Only now is the position acknowledged; a crash before this line re-sends the chunk.
        await this.cursor.save(chunk.next);
        this.emit({ kind: 'exported', records: chunk.items.length, position: chunk.next });
      }
    } catch (error) {
      return { error };
    }
  }

  /** One export request; resolves on acknowledgement, throws `EXPORT_FAILED` otherwise. */
  private send(records: ReadableLogRecord[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.exporter.export(records, (result) => {
        if (result.code === ExportResultCode.SUCCESS) resolve();
        else {
          const message = `the collector did not acknowledge ${records.length} log records`;
          reject(new ExportError('EXPORT_FAILED', message, { cause: result.error }));
        }
      });
    });
  }
}
