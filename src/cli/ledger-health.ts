import { describeError } from '../errors.js';
import type { Batcher, WriteState } from '../ledger/batcher.js';
import type { Logger } from '../log.js';

/** Seconds an intake client is told to wait (`Retry-After`) while the ledger cannot write. */
export const UNWRITABLE_RETRY_AFTER_SECONDS = 30;

/**
 * The daemon's view of whether its ledger takes writes, for readiness, intake and the proxy. It
 * logs once per change: `LEDGER_UNWRITABLE` (error) when a batch cannot be written — the daemon
 * then holds what it measured, refuses new requests (503 with `Retry-After`), lets the proxy relay
 * unmeasured, and retries with back-off — and `LEDGER_WRITABLE` (info) when writing works again,
 * with how long it failed and what was refused or relayed unmeasured meanwhile.
 */
export class LedgerHealth {
  private state: WriteState = { writable: true };
  /** New requests refused (event API, spans) or relayed unmeasured (proxy) during this outage. */
  private refused = 0;
  private unmeasured = 0;

  constructor(
    batcher: Batcher | null,
    private readonly logger: Logger,
  ) {
    batcher?.onWriteState((state) => this.change(state));
  }

  get writable(): boolean {
    return this.state.writable;
  }

  /** For the event API and span intake: null while writable, else why and when to retry. */
  admission(): { reason: string; retryAfterSeconds: number } | null {
    if (this.state.writable) return null;
    this.refused += 1;
    return {
      reason: 'the ledger cannot write (is its disk full?), so new requests cannot be sealed',
      retryAfterSeconds: UNWRITABLE_RETRY_AFTER_SECONDS,
    };
  }

  /** Counts a proxied request relayed without measurement while the ledger cannot write. */
  countUnmeasured(): void {
    this.unmeasured += 1;
  }

  /** `/readyz` detail while not writable. */
  detail(): Record<string, unknown> {
    if (this.state.writable) return { ledgerWritable: true };
    return {
      ledgerWritable: false,
      ledgerError: describe(this.state.error),
      ledgerUnwritableSince: new Date(Number(this.state.sinceUnixNanos / 1_000_000n)).toISOString(),
    };
  }

  private change(state: WriteState): void {
    this.state = state;
    if (!state.writable) {
      this.refused = 0;
      this.unmeasured = 0;
      this.logger.error(
        { code: 'LEDGER_UNWRITABLE', err: describe(state.error), heldBatches: state.heldBatches },
        `the ledger cannot write (${describe(state.error)}): holding what was measured and retrying; new requests are refused (503) and the proxy relays unmeasured until it can`,
      );
      return;
    }
    this.logger.info(
      {
        code: 'LEDGER_WRITABLE',
        outageMs: state.outageMs,
        retries: state.retries,
        refusedRequests: this.refused,
        unmeasuredProxied: this.unmeasured,
      },
      `the ledger writes again after ${Math.round((state.outageMs ?? 0) / 1000)} s: everything held is sealed (${this.refused} new requests were refused, ${this.unmeasured} proxied unmeasured meanwhile)`,
    );
  }
}

const describe = describeError;
