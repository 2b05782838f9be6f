import type { SealedBatch } from '../ledger/batcher.js';
import type { Logger } from '../log.js';
import type { MeterTick } from '../meter/types.js';

/** How the daemon's exports stand, as the summary line names it. */
export type ExportState = 'off' | 'ok' | 'failing';

/**
 * One line a person can follow per published checkpoint (`DAEMON_CHECKPOINT`): the batches,
 * requests and energy sealed since the last one, the measurement gaps meanwhile, the ledger's
 * size and how export stands. On a terminal the logger prints it as text (see `log.ts`).
 */
export class CheckpointSummary {
  private batches = 0;
  private requests = 0;
  private energyMicroJoules = 0n;
  private gaps = 0;
  private exportState: ExportState;

  constructor(
    private readonly logger: Logger,
    exporting: boolean,
  ) {
    this.exportState = exporting ? 'ok' : 'off';
  }

  /** Meter listener: counts intervals that are gaps. */
  onTick(tick: MeterTick): void {
    for (const interval of tick.intervals) if (interval.gap !== null) this.gaps += 1;
  }

  /** Export progress (`exported`, `export-failed`). */
  onExport(kind: string): void {
    if (kind === 'exported') this.exportState = 'ok';
    else if (kind === 'export-failed') this.exportState = 'failing';
  }

  /** Batcher `onSealed`. */
  onSealed(sealed: SealedBatch): void {
    this.batches += 1;
    this.requests += sealed.recordCount;
    this.energyMicroJoules += sealed.energyMicroJoules;
    if (sealed.checkpoint === null) return;
    const size = /\n(\d+)\n/.exec(sealed.checkpoint)?.[1] ?? '?';
    this.logger.info(
      {
        code: 'DAEMON_CHECKPOINT',
        sequence: sealed.sequence,
        treeSize: size,
        batches: this.batches,
        requests: this.requests,
        energyMicroJoules: this.energyMicroJoules,
        gaps: this.gaps,
        export: this.exportState,
      },
      `checkpoint at batch ${sealed.sequence} (log size ${size}): ${this.batches} batches, ${this.requests} requests, ${formatJoules(this.energyMicroJoules)}, ${this.gaps} gap${this.gaps === 1 ? '' : 's'}, export ${this.exportState}`,
    );
    this.reset();
  }

  /** Logs what was sealed since the last checkpoint line (the stop's own checkpoint covers it). */
  atStop(): void {
    if (this.batches === 0) return;
    this.logger.info(
      {
        code: 'DAEMON_SEALED_AT_STOP',
        batches: this.batches,
        requests: this.requests,
        energyMicroJoules: this.energyMicroJoules,
        gaps: this.gaps,
        export: this.exportState,
      },
      `sealed since the last checkpoint line: ${this.batches} batches, ${this.requests} requests, ${formatJoules(this.energyMicroJoules)}, ${this.gaps} gap${this.gaps === 1 ? '' : 's'}`,
    );
    this.reset();
  }

  private reset(): void {
    this.batches = 0;
    this.requests = 0;
    this.energyMicroJoules = 0n;
    this.gaps = 0;
  }
}

/** `12.3 kJ`, `456 J`: for people only (the ledger keeps exact µJ). */
export function formatJoules(microJoules: bigint): string {
  const joules = Number(microJoules) / 1e6;
  if (joules >= 1e6) return `${(joules / 1e6).toFixed(2)} MJ`;
  if (joules >= 1e3) return `${(joules / 1e3).toFixed(2)} kJ`;
  return `${joules.toFixed(1)} J`;
}
