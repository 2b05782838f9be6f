import { sumBigints } from '../attribution/allocate.js';
import type { IdleBaselineUse, IntervalAllocation, RequestEnergyRecord } from '../attribution/types.js';
import type { MicroJoules, MonoNanos } from '../units.js';

/**
 * Σ records + idle + unattributed against what the meter measured, over a whole run; and the idle
 * part against the records' idle shares + the idle no request shared (the comprehensive boundary).
 */
export interface ConservationCheck {
  /** Σ interval energy the meter measured on the GPU. */
  readonly measuredMicroJoules: MicroJoules;
  /** Σ `activeEnergyMicroJoules` over the request records. */
  readonly recordsMicroJoules: MicroJoules;
  readonly idleMicroJoules: MicroJoules;
  readonly unattributedMicroJoules: MicroJoules;
  /** measured − (records + idle + unattributed); 0 when conserved. */
  readonly residualMicroJoules: MicroJoules;
  /** Σ `idleShareMicroJoules` over the request records. */
  readonly recordsIdleShareMicroJoules: MicroJoules;
  /** Σ idle of the allocations that no request shared (intervals with no request in flight). */
  readonly idleUnsharedMicroJoules: MicroJoules;
  /** idle − (records' idle shares + unshared idle); 0 when conserved. */
  readonly idleResidualMicroJoules: MicroJoules;
  /** Both residuals are 0. */
  readonly exact: boolean;
}

/** Per-request relative error of attributed vs true active energy, in percent (display numbers). */
export interface ErrorStats {
  readonly requests: number;
  readonly meanPercent: number;
  readonly p95Percent: number;
  readonly maxPercent: number;
  /** Σ attributed / Σ true − 1: where the error is systematic rather than a reshuffle. */
  readonly biasPercent: number;
}

/** Collects the attributor's outputs: every allocation's totals and every record. */
export class AttributionCollector {
  readonly records: RequestEnergyRecord[] = [];
  private measured = 0n;
  private idle = 0n;
  private unattributed = 0n;
  private idleShared = 0n;
  /** The idle baseline of the last allocation (which the run ended with). */
  lastIdleBaseline: IdleBaselineUse | null = null;
  private first: MonoNanos | null = null;
  private last: MonoNanos | null = null;

  /** For `AttributorOptions.onAllocation`. */
  readonly onAllocation = (allocation: IntervalAllocation): void => {
    this.measured += allocation.energyMicroJoules;
    this.idle += allocation.idleMicroJoules;
    this.unattributed += allocation.unattributedMicroJoules;
    this.idleShared += allocation.idleSharedMicroJoules;
    this.lastIdleBaseline = allocation.idleBaseline;
    this.first ??= allocation.intervalStartMonoNanos;
    this.last = allocation.intervalEndMonoNanos;
  };

  /** For `AttributorOptions.onRecord`. */
  readonly onRecord = (record: RequestEnergyRecord): void => {
    this.records.push(record);
  };

  /** The span the allocations covered, `[first start, last end]`; null before any. */
  window(): { readonly from: MonoNanos; readonly to: MonoNanos } | null {
    return this.first === null || this.last === null ? null : { from: this.first, to: this.last };
  }

  /** The conservation check over everything collected so far. */
  conservation(): ConservationCheck {
    const records = sumBigints(this.records.map((r) => BigInt(r.activeEnergyMicroJoules)));
    const residual = this.measured - (records + this.idle + this.unattributed);
    const idleShares = sumBigints(this.records.map((r) => BigInt(r.idleShareMicroJoules)));
    const idleUnshared = this.idle - this.idleShared;
    const idleResidual = this.idle - (idleShares + idleUnshared);
    return {
      measuredMicroJoules: this.measured,
      recordsMicroJoules: records,
      idleMicroJoules: this.idle,
      unattributedMicroJoules: this.unattributed,
      residualMicroJoules: residual,
      recordsIdleShareMicroJoules: idleShares,
      idleUnsharedMicroJoules: idleUnshared,
      idleResidualMicroJoules: idleResidual,
      exact: residual === 0n && idleResidual === 0n,
    };
  }
}

/** Error statistics over (attributed, true) pairs; requests with zero true energy are skipped. */
export function errorStats(pairs: ReadonlyArray<readonly [MicroJoules, MicroJoules]>): ErrorStats {
  const errors: number[] = [];
  let attributed = 0n;
  let truth = 0n;
  for (const [got, want] of pairs) {
    if (want <= 0n) continue;
    errors.push((Math.abs(Number(got - want)) / Number(want)) * 100);
    attributed += got;
    truth += want;
  }
  errors.sort((x, y) => x - y);
  const n = errors.length;
  return {
    requests: n,
    meanPercent: n === 0 ? 0 : errors.reduce((sum, e) => sum + e, 0) / n,
    p95Percent: n === 0 ? 0 : (errors[Math.ceil(0.95 * n) - 1] as number),
    maxPercent: n === 0 ? 0 : (errors[n - 1] as number),
    biasPercent: truth === 0n ? 0 : (Number(attributed - truth) / Number(truth)) * 100,
  };
}
